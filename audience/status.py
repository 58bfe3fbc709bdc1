"""A contact's subscription status, derived from the suppression list at the moment it is asked.

Nothing is copied onto the contact: the suppression list is keyed by number and is the only truth,
so a re-import, an edit or a restored backup of contacts cannot re-subscribe anybody.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, exists

from audience.models import Contact
from compliance.models import BLOCKING_REASONS, Suppression, SuppressionReason


class ContactStatus(str, enum.Enum):
    SUBSCRIBED = "subscribed"
    OPTED_OUT = "opted_out"
    BLOCKED = "blocked"  # blocked or reported the business, or put on the list by the team
    HELD = "held"  # replied in words that may be a refusal; nobody messages them until a person decides


STATUS_LABELS = {
    ContactStatus.SUBSCRIBED: _l("Subscribed"),
    ContactStatus.OPTED_OUT: _l("Opted out"),
    ContactStatus.BLOCKED: _l("Blocked (never message)"),
    ContactStatus.HELD: _l("On hold (a reply awaits a decision)"),
}
_HOLDING = (SuppressionReason.UNSURE_REPLY,)


def _suppressed(reasons: tuple[SuppressionReason, ...]) -> ColumnElement[bool]:
    return exists().where(
        and_(Suppression.phone == Contact.phone, Suppression.lifted_at.is_(None), Suppression.reason.in_(reasons))
    )


def is_status(status: ContactStatus) -> ColumnElement[bool]:
    """A condition on ``Contact`` true for contacts whose status is ``status`` now."""
    if status is ContactStatus.BLOCKED:
        return _suppressed(BLOCKING_REASONS)
    if status is ContactStatus.OPTED_OUT:
        return and_(_suppressed((SuppressionReason.OPT_OUT,)), ~_suppressed(BLOCKING_REASONS))
    if status is ContactStatus.HELD:
        return and_(_suppressed(_HOLDING), ~_suppressed((SuppressionReason.OPT_OUT, *BLOCKING_REASONS)))
    return ~_suppressed(tuple(SuppressionReason))


def status_of(reasons: tuple[str, ...]) -> ContactStatus:
    """The status for a number suppressed for ``reasons`` (as ``suppression.suppressed_reasons`` gives)."""
    found = {SuppressionReason(reason) for reason in reasons}
    if found & set(BLOCKING_REASONS):
        return ContactStatus.BLOCKED
    if SuppressionReason.OPT_OUT in found:
        return ContactStatus.OPTED_OUT
    return ContactStatus.HELD if found else ContactStatus.SUBSCRIBED
