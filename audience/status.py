"""A contact's subscription status, derived from the suppression list at the moment it is asked.

Nothing is copied onto the contact: the suppression list is keyed by number (and by messenger address key)
and is the only truth, so a re-import, an edit or a restored backup of contacts cannot re-subscribe anybody.
A person's status reads the person-scope entries of their number and of each of their bot addresses; a
stopped bot (address scope) closes that address only and is not a status of the person.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, exists, or_

from audience.models import Contact, ContactAddress
from compliance.models import BLOCKING_REASONS, Suppression, SuppressionReason, SuppressionScope


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


_PERSON_REASONS = tuple(reason for reason in SuppressionReason if reason is not SuppressionReason.BOT_STOPPED)


def _suppressed(reasons: tuple[SuppressionReason, ...]) -> ColumnElement[bool]:
    reasons = tuple(reason for reason in reasons if reason in _PERSON_REASONS)
    by_phone = exists().where(
        and_(Suppression.phone == Contact.phone, Suppression.lifted_at.is_(None), Suppression.reason.in_(reasons))
    )
    # A messenger-only person (or one who opted out in a bot) is keyed by their address keys.
    by_address = exists().where(and_(
        ContactAddress.contact_id == Contact.id, Suppression.address_key == ContactAddress.address_key,
        Suppression.lifted_at.is_(None), Suppression.scope == SuppressionScope.PERSON,
        Suppression.reason.in_(reasons),
    ))
    return or_(by_phone, by_address)


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
    """The status for a number suppressed for ``reasons`` (as ``suppression.suppressed_reasons`` gives); a stopped
    bot closes one address, not the person, so it is not a status."""
    found = {SuppressionReason(reason) for reason in reasons} - {SuppressionReason.BOT_STOPPED}
    if found & set(BLOCKING_REASONS):
        return ContactStatus.BLOCKED
    if SuppressionReason.OPT_OUT in found:
        return ContactStatus.OPTED_OUT
    return ContactStatus.HELD if found else ContactStatus.SUBSCRIBED
