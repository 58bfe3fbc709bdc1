"""The WhatsApp way in: a person sends "<keyword> <code>" (the wa.me link of an entry point typed it for them)
to a number the entry point offers, and becomes a contact with consent evidence ``qr:<code>``.

Runs before the reply handler (``then``), so the conversation it records finds the new contact. A message
matches when it is exactly two words, the first the entry point's keyword (case-insensitively, look-alike
letters and any spacing forgiven, as compliance reads keywords) and the second its code, on a sender the
entry point offers. A number already a contact keeps its consent (a start, no opt-in); a suppressed number is
never re-subscribed (a start, no contact, no opt-in); an expired or archived code gets the polite answer. Each
message counts once per provider id (``entry_starts``); the new contacts are one INSERT for the batch (a
number another worker inserted meanwhile is found, not doubled).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import bindparam, select, update

from audience import cells, phones
from audience.models import Contact
from campaigns import entry_points
from campaigns.entry_point_models import EntryPoint, EntryPointSender, EntryStart
from campaigns.feedback import entry_answers
from channels.base import InboundMessage
from compliance import suppression
from compliance.keywords import normalise
from compliance.numbers import InvalidNumberError, from_provider
from dbtypes import conflict_insert, utcnow
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

TWO_WORDS = re.compile(r"^\s*(\S+)\s+(\S+)\s*$")


@dataclass
class _Match:
    event: InboundMessage
    phone: str
    entry_point: EntryPoint
    start_id: int = 0


def then(reply_handler: Callable[[FeedbackContext, Sequence[InboundMessage]], None]
         ) -> Callable[[FeedbackContext, Sequence[InboundMessage]], None]:
    """The handler of inbound messages that applies the batch's entry-point messages first, then ``reply_handler``."""
    def handle_inbound(context: FeedbackContext, events: Sequence[InboundMessage]) -> None:
        handle(context, events)
        reply_handler(context, events)

    return handle_inbound


def _candidates(events: Sequence[InboundMessage]) -> dict[str, list[tuple[InboundMessage, str]]]:
    """The messages that read as "<word> <code>", by the code they name (with the first word normalised)."""
    by_code: dict[str, list[tuple[InboundMessage, str]]] = defaultdict(list)
    seen: set[str] = set()
    for event in events:
        match = TWO_WORDS.match(event.text or "")
        if match is None or event.provider_id in seen:
            continue
        seen.add(event.provider_id)
        code = normalise(match.group(2))
        if 0 < len(code) <= 16 and code.isalnum():
            by_code[code].append((event, normalise(match.group(1))))
    return by_code


def handle(context: FeedbackContext, events: Sequence[InboundMessage]) -> None:
    """Apply the entry-point messages of a batch of one WhatsApp sender; flushes only."""
    if context.sender.channel not in entry_points.WHATSAPP_CHANNELS:
        return
    by_code = _candidates(events)
    if not by_code:
        return
    offered = db.session.scalars(
        select(EntryPoint).join(EntryPointSender, EntryPointSender.entry_point_id == EntryPoint.id)
        .where(EntryPointSender.sender_id == context.sender.id, EntryPoint.code.in_(list(by_code))))
    matches: list[_Match] = []
    answers: list[entry_answers.Answer] = []
    for entry_point in offered:
        for event, word in by_code[entry_point.code]:
            if word != normalise(entry_point.keyword):
                continue
            try:
                phone = from_provider(event.sender)
            except InvalidNumberError:
                log.warning("event=entry_message_unreadable_sender provider_id=%s", event.provider_id)
                continue
            if entry_points.is_live(entry_point, context.now):
                matches.append(_Match(event, phone, entry_point))
            else:
                answers.append(entry_answers.Answer(phone, event.provider_id, "expired", None, event.at,
                                                    event.profile_name))
    if answers:
        entry_answers.queue_answers(context.sender.id, answers, context.now)
    new = _store_starts(context.sender.id, matches)
    if not new:
        return
    contacts, created = _contacts_for(new)
    outcomes = [{"sid": match.start_id, "c": contacts.get(match.phone), "o": match.phone in created} for match in new]
    table = EntryStart.__table__
    db.session.execute(update(table).where(table.c.id == bindparam("sid"))
                       .values(contact_id=bindparam("c"), opted_in=bindparam("o")), outcomes)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    credited: set[str] = set()
    for match in new:
        counts[match.entry_point.id][0] += 1
        if match.phone in created and match.phone not in credited:  # one opt-in per new contact
            counts[match.entry_point.id][1] += 1
            credited.add(match.phone)
    entry_points.count_starts({entry_point_id: (s, o) for entry_point_id, (s, o) in counts.items()})
    log.info("event=whatsapp_entries_applied sender_id=%s starts=%d new_contacts=%d refused=%d",
             context.sender.id, len(new), len(created), len(answers))


def _store_starts(sender_id: int, matches: list[_Match]) -> list[_Match]:
    """Store the matches once per provider id; the ones this batch stored first (a re-post is skipped)."""
    if not matches:
        return []
    rows = [{"entry_point_id": match.entry_point.id, "sender_id": sender_id, "event_id": match.event.provider_id[:128],
             "token_id": None, "address": match.phone, "contact_id": None, "opted_in": False, "at": match.event.at}
            for match in matches]
    inserted = dict(db.session.execute(
        conflict_insert(EntryStart, db.session.get_bind().dialect.name).values(rows)
        .on_conflict_do_nothing(index_elements=["sender_id", "event_id"])
        .returning(EntryStart.event_id, EntryStart.id)).all())
    new = []
    for match in matches:
        start_id = inserted.get(match.event.provider_id[:128])
        if start_id is not None:
            match.start_id = start_id
            new.append(match)
    return new


def _contacts_for(matches: list[_Match]) -> tuple[dict[str, int], set[str]]:
    """The contact of every matched number (``qr:<code>`` contacts inserted for the new ones that are not
    suppressed), and the numbers this batch created."""
    numbers = {match.phone for match in matches}
    existing = dict(db.session.execute(select(Contact.phone, Contact.id).where(Contact.phone.in_(numbers))).all())
    suppressed = set(suppression.suppressed_reasons(numbers))
    rows, now = [], utcnow()
    first: dict[str, _Match] = {}
    for match in sorted(matches, key=lambda item: (item.event.at, item.event.provider_id)):
        first.setdefault(match.phone, match)
    region = current_app.config.get("DEFAULT_REGION", "RU")
    for phone, match in sorted(first.items()):
        if phone in existing or phone in suppressed:
            continue
        number = phones.normalise(phone, region)
        country = number.country if isinstance(number, phones.Number) else None
        timezone = number.timezone if isinstance(number, phones.Number) else None
        name = (match.event.profile_name or "").strip()[:200] or None
        rows.append({"phone": phone, "name": name, "name_key": cells.name_key(name), "country": country,
                     "timezone": timezone, "tags": "", "attributes": {},
                     "consent_source": f"qr:{match.entry_point.code}", "consent_at": match.event.at,
                     "created_at": now, "updated_at": now})
    created: set[str] = set()
    if rows:
        inserted = db.session.execute(
            conflict_insert(Contact, db.session.get_bind().dialect.name).values(rows)
            .on_conflict_do_nothing(index_elements=["phone"]).returning(Contact.phone, Contact.id)).all()
        created = {phone for phone, _id in inserted}
        existing.update(dict(inserted))
        missing = {row["phone"] for row in rows} - created
        if missing:  # another worker inserted them meanwhile: theirs, not ours to count
            existing.update(dict(db.session.execute(select(Contact.phone, Contact.id)
                                                    .where(Contact.phone.in_(missing))).all()))
    if suppressed & numbers:
        log.info("event=entry_message_suppressed count=%d", len(suppressed & numbers))
    return existing, created
