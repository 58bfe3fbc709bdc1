"""Compliance tables: the suppression list and the settings an admin can change."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from dbtypes import BigId, UTCDateTime, utcnow, value_enum
from domain_errors import DomainError
from extensions import db


class SuppressionReason(str, enum.Enum):
    OPT_OUT = "opt_out"  # the person asked to stop (keyword, button, UI, API, the provider)
    BLOCK = "block"  # the person blocked the business
    SPAM_REPORT = "spam_report"
    MANUAL = "manual"  # someone on the team decided, with a note
    # A reply that may be a refusal: nobody is messaged until a person decides (``replies.decide_unsure``).
    UNSURE_REPLY = "unsure_reply"
    # The person stopped or blocked one bot: that address only (``scope`` "address"), lifted when they start it again.
    BOT_STOPPED = "bot_stopped"


class SuppressionScope(str, enum.Enum):
    PERSON = "person"  # marketing to this person stops on every channel (38-FZ ties refusal to the subscriber)
    ADDRESS = "address"  # only this messenger address is closed (a stopped bot)


# The reasons that make a number "blocked" rather than "opted out": START lifts an opt-out but never
# one of these, so a block outranks an opt-out wherever a status or an exclusion is named.
BLOCKING_REASONS = (SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT, SuppressionReason.MANUAL)
# Reasons a person or a file may give when suppressing a number. A hold is placed only by the reply
# handler and ended only by a decision, so it is not offered in forms, the API, the CLI or imports.
ASSIGNABLE_REASONS = tuple(reason for reason in SuppressionReason
                           if reason not in (SuppressionReason.UNSURE_REPLY, SuppressionReason.BOT_STOPPED))


class SuppressionError(DomainError):
    """A suppression change that the rules do not allow; the message is a sentence for the user."""


class Suppression(db.Model):
    """One suppression of one number or messenger address, from the moment it began until (if ever) it was lifted.

    Rows are history: a new opt-out after a lift is a new row, and a lift only fills in the
    ``lifted_*`` columns of an open row. At most one row per number (or address) and reason is open at a time.
    A person is keyed by their number where we know it, else by a messenger address key ("max:<user id>",
    ``audience.models.ContactAddress.address_key``); ``scope`` says whether it stops marketing to the person
    on every channel or closes that one address (a stopped bot).
    """

    __tablename__ = "suppressions"
    __table_args__ = (
        Index(
            "uq_suppressions_open", "phone", "reason", unique=True,
            sqlite_where=text("lifted_at IS NULL"), postgresql_where=text("lifted_at IS NULL"),
        ),
        Index(
            "uq_suppressions_open_address", "address_key", "reason", unique=True,
            sqlite_where=text("lifted_at IS NULL"), postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # E.164, not a contact id: deleting and re-importing a contact must not lift its suppression.
    phone: Mapped[str | None] = mapped_column(String(16), index=True)
    address_key: Mapped[str | None] = mapped_column(String(100), index=True)
    scope: Mapped[SuppressionScope] = mapped_column(value_enum(SuppressionScope), default=SuppressionScope.PERSON)
    reason: Mapped[SuppressionReason] = mapped_column(value_enum(SuppressionReason))
    source: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(String(255), default="")  # inbound message id, file hash…
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(254))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lifted_by_label: Mapped[str | None] = mapped_column(String(254))
    lift_reason: Mapped[str | None] = mapped_column(Text)
    lift_evidence: Mapped[str | None] = mapped_column(String(255))

    @property
    def is_open(self) -> bool:
        return self.lifted_at is None


_LIFT_COLUMNS = {"lifted_at", "lifted_by_id", "lifted_by_label", "lift_reason", "lift_evidence"}


@event.listens_for(Suppression, "before_update")
def _keep_history(_mapper, _connection, target: Suppression) -> None:
    # History is evidence: what was recorded stays as recorded; a row can only be lifted, once.
    state = inspect(target)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    if changed - _LIFT_COLUMNS or state.attrs.lifted_at.history.deleted not in ((), [None]):
        raise SuppressionError(f"suppression {target.id} is history; only an open entry can be lifted")


@event.listens_for(Suppression, "before_delete")
def _refuse_delete(_mapper, _connection, target: Suppression) -> None:
    raise SuppressionError(f"suppression {target.id} is history and cannot be deleted")


class ComplianceSetting(db.Model):
    """One section of the compliance policy an admin has changed (keywords, registry, spam, sending)."""

    __tablename__ = "compliance_settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
