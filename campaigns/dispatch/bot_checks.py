"""The send-time re-check of a bot's rows, beside the gate's usual one: the address still open, the person not
refused on any channel.

A bot may write only to people who started it, and a person may stop it or opt out anywhere at any moment; the
launch's picture is minutes or hours old when a row leaves. So right before a sub-chunk of a bot campaign goes,
inside the gate's transaction:

- the row's own address on the bot is read again (one statement): stopped → skipped ``bot_stopped``; gone or
  unreachable → skipped ``no_address``;
- the address's opt-in evidence is the consent the rules judge (the person started the bot, at or before now);
- the person-wide suppressions of the contact (``audience.addresses.person_suppressed``: the number and every
  address key) join the number's own, so an opt-out sent to another bot or on WhatsApp a second ago wins.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from audience.addresses import person_suppressed
from audience.models import AddressStatus, ContactAddress
from campaigns.dispatch.claims import Claimed
from compliance.send_verdicts import RecipientFacts
from dbtypes import one_of
from extensions import db

BOT_STOPPED = "bot_stopped"
NO_ADDRESS = "no_address"


def recheck(sender_id: int, rows: Sequence[Claimed], facts: dict[int, RecipientFacts], now: datetime
            ) -> tuple[dict[int, RecipientFacts], dict[str, list[int]]]:
    """The facts of the rows that may still be judged (their consent and suppressions as a bot sees them), and the
    ids of those that may not, by skip code. Rows without facts (their contact is gone) are left to the gate."""
    judged = [row for row in rows if row.id in facts]
    if not judged:
        return {}, {}
    wanted = sorted({row.address for row in judged if row.address})
    found = {} if not wanted else {
        (contact_id, address): (status, consent_at, source)
        for contact_id, address, status, consent_at, source in db.session.execute(
            select(ContactAddress.contact_id, ContactAddress.address, ContactAddress.status, ContactAddress.consent_at,
                   ContactAddress.consent_source)
            .where(ContactAddress.sender_id == sender_id,
                   one_of(ContactAddress.address, wanted, db.session.get_bind().dialect.name)))
    }
    refused = person_suppressed(row.contact_id for row in judged)
    skipped: dict[str, list[int]] = defaultdict(list)
    kept: dict[int, RecipientFacts] = {}
    for row in judged:
        status, consent_at, source = found.get((row.contact_id, row.address), (None, None, ""))
        if status is AddressStatus.STOPPED:
            skipped[BOT_STOPPED].append(row.id)
        elif status is not AddressStatus.ACTIVE:
            skipped[NO_ADDRESS].append(row.id)
        else:
            own = facts[row.id]
            kept[row.id] = dataclasses.replace(
                own, has_consent=bool(consent_at is not None and consent_at <= now and (source or "").strip()),
                suppressed=tuple(sorted(set(own.suppressed) | set(refused.get(row.contact_id, ())))))
    return kept, dict(skipped)


def lock_key(sender_id: int, row: Claimed) -> str:
    """What the gate serialises a row on: the person's number, else (a person known by a bot address only) the
    address on the bot."""
    return row.phone or f"address:{sender_id}:{row.address}"
