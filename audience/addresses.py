"""A contact's addresses on messenger bots: created when a person starts a bot (or writes to it first),
stopped when they stop it, and read in bulk by materialisation and dispatch.

Consent and refusal belong to the person (38-FZ ties them to the subscriber, not to the app): an opt-out
on any channel is a person-scope suppression of the contact's number and of its address keys, and starting
a bot again never lifts it. A person stopping one bot closes that address only (an address-scope
``BOT_STOPPED`` entry, lifted when they start the bot again).

These functions add and flush; the caller (a webhook job, a CLI command) commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from audience import cells
from audience.models import AddressChannel, AddressStatus, Contact, ContactAddress
from compliance import suppression
from compliance.models import Suppression, SuppressionReason, SuppressionScope
from dbtypes import conflict_insert, one_of, utcnow
from extensions import db

# IN-lists this long stay well inside every database's parameter limit.
_CHUNK = 900
BOT_SOURCE = "bot"  # the ``source`` of the suppressions a bot's events write
# The consent source of an address the person opened by writing first: it opens the dialog, it is not consent to
# marketing (``active_addresses`` leaves it out until an entry point's start gives real evidence).
INBOUND_SOURCE = "inbound"
STATUS_LABELS = {
    AddressStatus.ACTIVE: _l("Active: the bot may write"),
    AddressStatus.STOPPED: _l("Stopped the bot"),
    AddressStatus.UNREACHABLE: _l("Unreachable: the chat no longer exists"),
}
# Messenger names are product names, the same in every language.
CHANNEL_NAMES = {AddressChannel.MAX: "MAX", AddressChannel.TELEGRAM: "Telegram"}


def address_key(channel: AddressChannel | str, user_id: str | int) -> str:
    """The suppression key of a person on a messenger: "<channel>:<the person's user id>"."""
    return f"{AddressChannel(channel).value}:{user_id}"


def find_address(sender_id: int, address: str) -> ContactAddress | None:
    """The address ``address`` of the bot ``sender_id``, if some person started it."""
    return db.session.scalar(
        select(ContactAddress).where(ContactAddress.sender_id == sender_id, ContactAddress.address == str(address))
    )


def addresses_of(contact_id: int) -> list[ContactAddress]:
    """Every bot address of a contact, by channel and bot."""
    return list(db.session.scalars(
        select(ContactAddress).where(ContactAddress.contact_id == contact_id)
        .order_by(ContactAddress.channel, ContactAddress.sender_id, ContactAddress.id)
    ))


def link_address(
    *,
    sender_id: int,
    channel: AddressChannel | str,
    address: str,
    at: datetime,
    consent_source: str,
    event_id: str,
    user_id: str | int | None = None,
    contact_id: int | None = None,
    entry_point_id: int | None = None,
    profile_name: str = "",
    language: str | None = None,
) -> tuple[ContactAddress, bool]:
    """A person started the bot ``sender_id`` (or wrote to it first): their address there, and whether this
    created or reactivated it (an opt-in to count).

    ``contact_id`` (a personal token) links the address to that contact; else the contact this address (or the
    same person's address on another bot of the channel) already has; else a new messenger-only contact (no
    number) with this consent evidence. Repeating a start changes nothing. A start after a stop reactivates the
    address and lifts its ``BOT_STOPPED`` entry, never a person-wide opt-out. An event older than the address's
    last change is ignored (webhooks arrive in any order).
    """
    channel = AddressChannel(channel)
    address = str(address)
    key = address_key(channel, user_id if user_id is not None else address)
    profile_name = (profile_name or "")[:200]
    event_id = (event_id or "")[:128]
    existing = find_address(sender_id, address)
    if existing is None:
        existing = _insert_address(
            sender_id=sender_id, channel=channel, address=address, key=key, at=at, consent_source=consent_source,
            event_id=event_id, contact_id=contact_id, entry_point_id=entry_point_id, profile_name=profile_name,
            language=language,
        )
        if existing[1]:
            return existing
        address_row = existing[0]
    else:
        address_row = existing
    if contact_id is not None and address_row.contact_id != contact_id:
        # A personal token names the person: the address is theirs from now on.
        address_row.contact_id = contact_id
    if profile_name and address_row.profile_name != profile_name:
        address_row.profile_name = profile_name
    upgrade = address_row.consent_source == INBOUND_SOURCE and consent_source != INBOUND_SOURCE
    if (address_row.status is AddressStatus.ACTIVE and not upgrade) or _is_stale(address_row, at):
        db.session.flush()
        return address_row, False
    address_row.status = AddressStatus.ACTIVE
    address_row.status_changed_at = at
    address_row.status_evidence = event_id
    # The new start is the opt-in that counts now: its evidence replaces the old one.
    address_row.consent_source = consent_source[:300]
    address_row.consent_at = at
    address_row.entry_point_id = entry_point_id
    address_row.consent_event_id = event_id
    address_row.updated_at = utcnow()
    contact = db.session.get(Contact, address_row.contact_id)
    if contact is not None and contact.consent_source == INBOUND_SOURCE and consent_source != INBOUND_SOURCE:
        # A person who wrote first and now starts the bot through an entry point: this is their consent.
        contact.consent_source, contact.consent_at = consent_source[:300], at
    db.session.flush()
    _lift_bot_stop(address_row, at=at, evidence=event_id)
    return address_row, True


def stop_address(sender_id: int, address: str, *, at: datetime, evidence: str) -> ContactAddress | None:
    """The person stopped or blocked the bot: close this address (an address-scope ``BOT_STOPPED`` entry with
    ``evidence``, the event id), and nothing on the person's other channels. None for an unknown address.
    Repeating it changes nothing; a stop older than the address's last change is ignored."""
    row = find_address(sender_id, address)
    if row is None or _is_stale(row, at):
        return row
    if row.status is not AddressStatus.STOPPED:
        row.status = AddressStatus.STOPPED
        row.status_changed_at = at
        row.status_evidence = (evidence or "")[:255]
        row.updated_at = utcnow()
        db.session.flush()
    suppression.suppress(row.address_key, SuppressionReason.BOT_STOPPED, scope=SuppressionScope.ADDRESS,
                         source=BOT_SOURCE, evidence=evidence, at=at)
    return row


def mark_unreachable(sender_id: int, address: str, *, at: datetime, evidence: str) -> ContactAddress | None:
    """The provider says this chat does not exist (any more): the bot stops writing to it until the person starts
    it again. Not a refusal, so nothing is suppressed; a stopped address stays stopped (the person's word)."""
    row = find_address(sender_id, address)
    if row is None or row.status is not AddressStatus.ACTIVE or _is_stale(row, at):
        return row
    row.status = AddressStatus.UNREACHABLE
    row.status_changed_at = at
    row.status_evidence = (evidence or "")[:255]
    row.updated_at = utcnow()
    db.session.flush()
    return row


def active_addresses(sender_id: int, contact_ids: Iterable[int]) -> dict[int, ContactAddress]:
    """For each of ``contact_ids`` with an active address on the bot ``sender_id`` that marketing may use, that
    address (the oldest if they have several); contacts without one are absent. An address the person opened by
    writing first (consent source ``inbound``) is not consent to marketing and is left out."""
    ids = list(dict.fromkeys(contact_ids))
    dialect = db.session.get_bind().dialect.name
    found: dict[int, ContactAddress] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = db.session.scalars(
            select(ContactAddress).where(
                ContactAddress.sender_id == sender_id, ContactAddress.status == AddressStatus.ACTIVE,
                ContactAddress.consent_source != INBOUND_SOURCE,
                one_of(ContactAddress.contact_id, ids[start:start + _CHUNK], dialect),
            ).order_by(ContactAddress.id)
        )
        for row in rows:
            found.setdefault(row.contact_id, row)
    return found


def person_suppressed(contact_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """For each of ``contact_ids`` whom marketing may not reach on any channel, the reasons (open person-scope
    entries on the contact's number or on any of its address keys); contacts not suppressed are absent."""
    ids = list(dict.fromkeys(contact_ids))
    dialect = db.session.get_bind().dialect.name
    found: dict[int, set[str]] = defaultdict(set)
    open_person = (Suppression.lifted_at.is_(None), Suppression.scope == SuppressionScope.PERSON)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        by_phone = (
            select(Contact.id, Suppression.reason)
            .join(Suppression, Suppression.phone == Contact.phone)
            .where(one_of(Contact.id, chunk, dialect), *open_person)
        )
        by_address = (
            select(ContactAddress.contact_id, Suppression.reason)
            .join(Suppression, Suppression.address_key == ContactAddress.address_key)
            .where(one_of(ContactAddress.contact_id, chunk, dialect), *open_person)
        )
        for query in (by_phone, by_address):
            for contact_id, reason in db.session.execute(query):
                found[contact_id].add(reason.value)
    return {contact_id: tuple(sorted(reasons)) for contact_id, reasons in found.items()}


def person_keys(contact: Contact) -> list[str]:
    """The suppression keys of a person: their number, if known, and the key of each of their bot addresses."""
    keys = [contact.phone] if contact.phone else []
    keys += [row.address_key for row in addresses_of(contact.id)]
    return list(dict.fromkeys(keys))


def _insert_address(
    *, sender_id: int, channel: AddressChannel, address: str, key: str, at: datetime, consent_source: str,
    event_id: str, contact_id: int | None, entry_point_id: int | None, profile_name: str, language: str | None,
) -> tuple[ContactAddress, bool]:
    new_contact = None
    if contact_id is None:
        contact_id = db.session.scalar(
            select(ContactAddress.contact_id).where(ContactAddress.address_key == key)
            .order_by(ContactAddress.id).limit(1)
        )
    if contact_id is None:
        new_contact = Contact(
            phone=None, name=profile_name or None, name_key=cells.name_key(profile_name or None),
            language=language, consent_source=consent_source[:300], consent_at=at,
        )
        db.session.add(new_contact)
        db.session.flush()
        contact_id = new_contact.id
    now = utcnow()
    values = {
        "contact_id": contact_id, "sender_id": sender_id, "channel": channel.value, "address": address,
        "address_key": key, "status": AddressStatus.ACTIVE.value, "profile_name": profile_name,
        "consent_source": consent_source[:300], "consent_at": at, "entry_point_id": entry_point_id,
        "consent_event_id": event_id, "status_changed_at": at, "status_evidence": event_id,
        "created_at": now, "updated_at": now,
    }
    # Two workers handling the same start at once: the unique (sender_id, address) lets one insert win and
    # the other do nothing, inside the caller's transaction (no savepoint, which SQLite's driver would commit
    # on its own); the loser drops the contact it made, so neither an address nor a contact is doubled.
    insert = conflict_insert(ContactAddress, db.session.get_bind().dialect.name).values(**values)
    insert = insert.on_conflict_do_nothing(index_elements=["sender_id", "address"])
    new_id = db.session.execute(insert.returning(ContactAddress.id)).scalar()
    if new_id is None:
        if new_contact is not None:
            db.session.delete(new_contact)
            db.session.flush()
        return find_address(sender_id, address), False
    return db.session.get(ContactAddress, new_id), True


def _is_stale(row: ContactAddress, at: datetime) -> bool:
    """Whether an event at ``at`` is older than the address's last change (it arrived late and must not undo it)."""
    last = row.status_changed_at or row.consent_at
    return last is not None and at < last


def _lift_bot_stop(row: ContactAddress, *, at: datetime, evidence: str) -> None:
    # The BOT_STOPPED entry is keyed by the person on the channel, so it stays while another of their addresses
    # with that key (another bot of the channel) is still stopped.
    still_stopped = db.session.scalar(
        select(ContactAddress.id).where(
            ContactAddress.address_key == row.address_key, ContactAddress.status == AddressStatus.STOPPED,
            ContactAddress.id != row.id,
        ).limit(1)
    )
    if still_stopped is not None:
        return
    entries = [entry for entry in suppression.open_entries(row.address_key)
               if entry.reason is SuppressionReason.BOT_STOPPED]
    suppression.lift_entries(entries, reason_text="bot_restarted", evidence=evidence, at=at)

