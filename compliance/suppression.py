"""The suppression list: numbers nobody may message, why, since when, and who lifted them.

Only these functions change the list; views, the API, the CLI, the reply handler and (later) the
importer and webhooks call them. They add and flush; the caller commits, and every change writes
its audit entry in the same transaction.

Lifting is deliberately hard. An opt-in from the person lifts their own opt-out; an admin may lift
anything with a written reason; nothing else lifts anything — an import in particular never does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from accounts.events import actor_label
from accounts.models import Role, User
from compliance import audit
from compliance.models import Suppression, SuppressionError, SuppressionReason
from compliance.numbers import InvalidNumberError, to_e164
from dbtypes import conflict_insert, keyset_page, utcnow
from extensions import db

PAGE_SIZE = 50
# IN-lists this long stay well inside every database's parameter limit.
_CHUNK = 900

REASON_LABELS = {
    SuppressionReason.OPT_OUT: _l("Opted out"),
    SuppressionReason.BLOCK: _l("Blocked the business"),
    SuppressionReason.SPAM_REPORT: _l("Reported spam"),
    SuppressionReason.MANUAL: _l("Suppressed manually"),
    SuppressionReason.UNSURE_REPLY: _l("On hold: a reply awaits a decision"),
}
# Where a suppression came from (the ``source`` the callers of ``suppress`` pass).
SOURCE_LABELS = {
    "ui": _l("Web interface"),
    "cli": _l("Command line"),
    "api": _l("API"),
    "import": _l("File import"),
    "keyword": _l("Opt-out reply"),
    "webhook": _l("Provider report"),
    "reply": _l("Customer's reply"),
    "decision": _l("Decision on a reply"),
    "preference": _l("Stopped marketing messages in WhatsApp"),
    "block_report": _l("Block or spam report"),
}
# The sources of an opt-out that the person's own provider setting made (the stop in WhatsApp, or the 131050
# failure that follows it): resuming marketing messages there lifts these, and no other opt-out.
PROVIDER_OPT_OUT_SOURCES = ("preference", "webhook")
# Why a suppression was lifted, when the system wrote a code rather than a person a sentence.
LIFT_REASON_LABELS = {
    "opt-in": _l("The person opted back in"),
    "reply_refusal": _l("The reply was a refusal: opted out"),
    "reply_not_refusal": _l("The reply was not a refusal: messages may resume"),
    "preference_resume": _l("The person resumed marketing messages in WhatsApp"),
}


def open_entries(phone: str) -> list[Suppression]:
    """The suppressions of ``phone`` in force now."""
    query = select(Suppression).where(Suppression.phone == phone, Suppression.lifted_at.is_(None))
    return list(db.session.scalars(query.order_by(Suppression.id)))


def history(phone: str) -> list[Suppression]:
    """Every suppression ``phone`` ever had, newest first."""
    return list(
        db.session.scalars(select(Suppression).where(Suppression.phone == phone).order_by(Suppression.id.desc()))
    )


def suppressed_reasons(phones: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For each of ``phones`` that is suppressed now, the reasons; numbers not suppressed are absent."""
    phones = list(dict.fromkeys(phones))
    found: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(phones), _CHUNK):
        rows = db.session.execute(
            select(Suppression.phone, Suppression.reason)
            .where(Suppression.phone.in_(phones[start:start + _CHUNK]), Suppression.lifted_at.is_(None))
        )
        for phone, reason in rows:
            found[phone].append(reason.value)
    return {phone: tuple(sorted(reasons)) for phone, reasons in found.items()}


def suppress(
    phone: str,
    reason: SuppressionReason,
    *,
    source: str,
    actor: User | None = None,
    note: str = "",
    evidence: str = "",
    at: datetime | None = None,
) -> tuple[Suppression, bool]:
    """Suppress ``phone`` (E.164) for ``reason``; returns the entry and whether it is new.

    Suppressing a number already suppressed for the same reason changes nothing (the first
    evidence stands), so a repeated STOP or a re-delivered webhook is harmless.
    """
    note = (note or "").strip()
    if reason is SuppressionReason.MANUAL and not note:
        raise SuppressionError(_l("Write a note saying why this number is suppressed."))
    current = _open_entry(phone, reason)
    if current is not None:
        return current, False
    values = {
        "phone": phone, "reason": reason.value, "source": source, "note": note, "evidence": (evidence or "")[:255],
        "created_at": at or utcnow(), "actor_id": getattr(actor, "id", None), "actor_label": actor_label(actor),
    }
    # Two workers handling the same STOP at once: the unique index on open entries lets one insert
    # win and the other do nothing, inside the caller's transaction (no savepoint, which SQLite's
    # driver would commit on its own).
    insert = conflict_insert(Suppression, db.session.get_bind().dialect.name).values(**values)
    insert = insert.on_conflict_do_nothing(
        index_elements=["phone", "reason"], index_where=Suppression.lifted_at.is_(None)
    )
    new_id = db.session.execute(insert.returning(Suppression.id)).scalar()
    if new_id is None:
        return _open_entry(phone, reason), False
    entry = db.session.get(Suppression, new_id)
    audit.record("suppression.added", actor=actor, target=entry, details=_describe(entry))
    return entry, True


def lift_opt_out(phone: str, *, evidence: str = "", at: datetime | None = None) -> list[Suppression]:
    """The person opted back in (START): lift their opt-out, and nothing else."""
    rows = [row for row in open_entries(phone) if row.reason is SuppressionReason.OPT_OUT]
    return _lift(rows, actor=None, reason_text="opt-in", evidence=evidence, at=at)


def lift_provider_opt_out(phone: str, *, at: datetime, evidence: str = "") -> list[Suppression]:
    """The person resumed marketing messages in the provider's app: lift their opt-out if the provider's setting
    made it (``PROVIDER_OPT_OUT_SOURCES``) before ``at``; a keyword STOP, a block, a spam report or a manual
    suppression stays."""
    rows = [row for row in open_entries(phone) if row.reason is SuppressionReason.OPT_OUT
            and row.source in PROVIDER_OPT_OUT_SOURCES and row.created_at <= at]
    return _lift(rows, actor=None, reason_text="preference_resume", evidence=evidence, at=at)


def resumed_since(phone: str, at: datetime) -> bool:
    """Whether a provider opt-out of ``phone`` was lifted by a resume at or after ``at`` (a stop older than that
    resume, arriving late, must not undo it)."""
    return db.session.scalar(select(Suppression.id).where(
        Suppression.phone == phone, Suppression.reason == SuppressionReason.OPT_OUT,
        Suppression.lift_reason == "preference_resume", Suppression.lifted_at >= at).limit(1)) is not None


def lift_hold(phone: str, *, actor: User | None, reason_text: str) -> list[Suppression]:
    """End the hold an unclear reply put on ``phone`` (``replies.decide_unsure`` decides; nothing else calls this)."""
    rows = [row for row in open_entries(phone) if row.reason is SuppressionReason.UNSURE_REPLY]
    return _lift(rows, actor=actor, reason_text=reason_text, evidence="", at=None)


def lift(phone: str, *, reason_text: str, actor: User | None) -> list[Suppression]:
    """An admin (or the server's operator, ``actor=None``) lifts the suppressions of ``phone``.

    Every reason but an opt-out: the person opted out, so only the person opts back in (START).
    """
    if actor is not None and not actor.has_role(Role.ADMIN):
        raise SuppressionError(_l("Only an admin can lift a suppression."))
    reason_text = (reason_text or "").strip()
    if not reason_text:
        raise SuppressionError(_l("Write the reason for lifting the suppression."))
    rows = open_entries(phone)
    if not rows:
        raise SuppressionError(_l("%(phone)s is not suppressed.", phone=phone))
    liftable = [row for row in rows if row.reason is not SuppressionReason.OPT_OUT]
    if not liftable:
        raise SuppressionError(
            _l("%(phone)s opted out; only the person can opt back in, by replying START.", phone=phone)
        )
    return _lift(liftable, actor=actor, reason_text=reason_text, evidence="", at=None)


def _lift(
    rows: list[Suppression], *, actor: User | None, reason_text: str, evidence: str, at: datetime | None
) -> list[Suppression]:
    lifted = []
    for row in rows:
        # Only a row still open is lifted: of two lifts at once, the second changes nothing rather
        # than overwriting who lifted it and why.
        result = db.session.execute(
            update(Suppression).where(Suppression.id == row.id, Suppression.lifted_at.is_(None)).values(
                lifted_at=at or utcnow(), lifted_by_id=getattr(actor, "id", None), lifted_by_label=actor_label(actor),
                lift_reason=reason_text, lift_evidence=evidence[:255],
            ).execution_options(synchronize_session=False)
        )
        db.session.refresh(row)
        if result.rowcount:
            lifted.append(row)
            audit.record(
                "suppression.lifted", actor=actor, target=row, details={**_describe(row), "lift_reason": reason_text}
            )
    return lifted


def _open_entry(phone: str, reason: SuppressionReason) -> Suppression | None:
    return db.session.scalar(
        select(Suppression).where(
            Suppression.phone == phone, Suppression.reason == reason, Suppression.lifted_at.is_(None)
        )
    )


def _describe(entry: Suppression) -> dict[str, Any]:
    return {"phone": entry.phone, "reason": entry.reason.value, "source": entry.source, "evidence": entry.evidence}


@dataclass(frozen=True)
class SuppressionPage:
    entries: list[Suppression]
    query: str
    include_lifted: bool
    next_before: int | None


def browse(
    query: str = "",
    *,
    region: str = "RU",
    include_lifted: bool = False,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> SuppressionPage:
    """Newest entries first, matching ``query``: a number as typed, some of its digits, or words of the note."""
    query = (query or "").strip()[:64]
    statement = select(Suppression).order_by(Suppression.id.desc()).limit(limit + 1)
    if not include_lifted:
        statement = statement.where(Suppression.lifted_at.is_(None))
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        conditions = [Suppression.note.contains(query, autoescape=True)]
        if digits:
            conditions.append(Suppression.phone.contains(digits, autoescape=True))
        try:  # "8 903 111-22-33" is +79031112233, whose digits do not contain 89031112233
            conditions.append(Suppression.phone == to_e164(query, region))
        except InvalidNumberError:
            pass
        statement = statement.where(or_(*conditions))
    if before_id is not None:
        statement = statement.where(Suppression.id < before_id)
    rows, next_before = keyset_page(list(db.session.scalars(statement)), limit)
    return SuppressionPage(rows, query, include_lifted, next_before)
