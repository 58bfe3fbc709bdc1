"""What a batch of bot starts does (MAX ``bot_started``, Telegram ``/start <payload>``): the address is linked
with its opt-in evidence, and the entry point it came through counts the start and the opt-in.

The start's payload is our token (``campaigns.entry_points.resolve_payloads``): a personal token links the
address to its contact (``personal:<code>``), an entry point's code creates or finds the contact with
``qr:<code>``, no payload (the bot opened directly) records ``bot_start``. A payload we never issued, one of
an entry point that does not offer this bot, or an expired or archived one, gives no consent and no address:
the person gets a polite answer through the bot (``entry_answers``). ``audience.addresses.link_address`` is
idempotent on (bot, address) and says whether the start opened the address (an opt-in); a start through an
entry point is stored once per provider event (``entry_starts``), so a redelivered update counts nothing
twice, and a person pressing start again counts a start but no second opt-in.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, update

from audience import addresses
from audience.models import AddressChannel
from campaigns import entry_points
from campaigns.entry_point_models import EntryStart
from campaigns.entry_points import Resolved, StartKind
from campaigns.feedback import entry_answers
from channels.base import BotStarted
from dbtypes import conflict_insert
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

REFUSED = (StartKind.UNKNOWN, StartKind.EXPIRED)


def handle(context: FeedbackContext, events: Sequence[BotStarted]) -> None:
    """Apply a batch of starts of one bot (``context.sender``); flushes only, the processing commits."""
    sender = context.sender
    try:
        channel = AddressChannel(sender.channel)
    except ValueError:
        log.warning("event=bot_start_not_a_bot sender_id=%s channel=%s", sender.id, sender.channel)
        return
    starts = list({event.event_id: event for event in sorted(events, key=lambda e: (e.at, e.event_id))}.values())
    resolved = entry_points.resolve_payloads([event.payload for event in starts], sender.id, context.now)
    new = _new_entry_starts(sender.id, starts, resolved)
    answers: list[entry_answers.Answer] = []
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    uses: dict[int, tuple[int, datetime]] = {}
    opted: list[dict] = []
    linked = refused = 0
    for event in starts:
        what = resolved[event.payload]
        if what.kind in REFUSED:
            answers.append(entry_answers.Answer(event.address, event.event_id, what.kind.value, event.language,
                                                event.at, event.profile_name))
            refused += 1
            continue
        start_id = new.get(event.event_id[:128])
        if what.entry_point is not None and start_id is None:
            continue  # this update came before: everything it did is done
        address, opened = addresses.link_address(
            sender_id=sender.id, channel=channel, address=event.address, at=event.at,
            consent_source=what.consent_source, event_id=event.event_id, user_id=event.user_id,
            contact_id=what.token.contact_id if what.token is not None else None,
            entry_point_id=what.entry_point.id if what.entry_point is not None else None,
            profile_name=event.profile_name, language=event.language)
        linked += 1
        if what.entry_point is None:
            continue
        counts[what.entry_point.id][0] += 1
        counts[what.entry_point.id][1] += int(opened)
        opted.append({"sid": start_id, "c": address.contact_id, "o": opened})
        if what.token is not None:
            n, latest = uses.get(what.token.id, (0, event.at))
            uses[what.token.id] = (n + 1, max(latest, event.at))
    _record_outcomes(opted)
    entry_points.count_starts({entry_point_id: (s, o) for entry_point_id, (s, o) in counts.items()})
    entry_points.count_token_uses(uses)
    if answers:
        entry_answers.queue_answers(sender.id, answers, context.now)
    log.info("event=bot_starts_applied sender_id=%s starts=%d linked=%d refused=%d opt_ins=%d", sender.id,
             len(starts), linked, refused, sum(o for _s, o in counts.values()))


def _new_entry_starts(sender_id: int, starts: Sequence[BotStarted], resolved: dict[str | None, Resolved]
                      ) -> dict[str, int]:
    """Store the starts through an entry point that are new (one INSERT; a redelivered event is skipped):
    their row ids by event id."""
    rows = []
    for event in starts:
        what = resolved[event.payload]
        if what.entry_point is None or what.kind in REFUSED:
            continue
        rows.append({"entry_point_id": what.entry_point.id, "sender_id": sender_id, "event_id": event.event_id[:128],
                     "token_id": what.token.id if what.token is not None else None, "address": event.address[:64],
                     "contact_id": None, "opted_in": False, "at": event.at})
    if not rows:
        return {}
    inserted = db.session.execute(
        conflict_insert(EntryStart, db.session.get_bind().dialect.name).values(rows)
        .on_conflict_do_nothing(index_elements=["sender_id", "event_id"])
        .returning(EntryStart.id, EntryStart.event_id))
    return {event_id: start_id for start_id, event_id in inserted}


def _record_outcomes(opted: list[dict]) -> None:
    """Each new start's contact and whether it opened the address (one executemany UPDATE)."""
    if not opted:
        return
    table = EntryStart.__table__
    db.session.execute(update(table).where(table.c.id == bindparam("sid"))
                       .values(contact_id=bindparam("c"), opted_in=bindparam("o")), opted)
