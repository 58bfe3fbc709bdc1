"""Per-recipient outcomes of a campaign as CSV lines: what became of each message row, for a spreadsheet.

A generator reading ``BATCH`` rows at a time by id (keyset, no long-held cursor), so a campaign of a million
rows streams in bounded memory. Cells pass through ``spreadsheets.csv_lines``, which neutralises formulas
(a name such as "=HYPERLINK(…)" arrives as text); only the columns we write ourselves are trusted.
Contacts left out at launch have no row: the campaign keeps only their counts by reason (``exclusions``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy import select

from audience.models import Contact
from campaigns import pricing
from campaigns.dispatch.progress import MESSAGE_STATUS_LABELS, reason_sentence
from campaigns.models import Campaign, Message, MessageStatus, Sender
from extensions import db
from spreadsheets import csv_download, csv_lines

BATCH = 5000
HEADER = ["phone", "name", "status", "status_words", "reason", "reason_words", "provider_words", "sent_at",
          "delivered_at", "read_at", "replied_at", "failed_at", "cost", "currency"]
# E.164 numbers start with "+" by nature; times, amounts and our own codes are written by us.
_TRUSTED = [HEADER.index(name) for name in ("phone", "status", "sent_at", "delivered_at", "read_at", "replied_at",
                                            "failed_at", "cost", "currency")]
_COLUMNS = (Message.id, Message.phone, Contact.name, Message.status, Message.error_code, Message.error_message,
            Message.sent_at, Message.delivered_at, Message.read_at, Message.replied_at, Message.failed_at,
            Message.billable, Message.cost_minor)


def file_name(campaign: Campaign) -> str:
    """The download's name: the campaign's id, never its free-text name."""
    return f"campaign-{campaign.id}-outcomes.csv"


def download(campaign: Campaign):
    """The outcomes as a streamed CSV attachment (UTF-8 with a byte-order mark, for Excel), for the page and the
    API."""
    return csv_download(outcome_lines(campaign), file_name(campaign))


def outcome_lines(campaign: Campaign) -> Iterator[str]:
    """The campaign's message rows, in id order, as CSV lines with ``HEADER``: the status (code and words), the
    reason a row was skipped or failed (code, our sentence, the provider's own words), the times in UTC ISO 8601
    and the cost of a billable delivered message in the rate card's currency."""
    channel = db.session.get(Sender, campaign.sender_id).channel
    card = pricing.current_rate_card()
    sentences: dict[str | None, str] = {}  # a code is worded once per file, not once per row

    def worded(code: str | None) -> str:
        if code not in sentences:
            sentences[code] = str(reason_sentence(channel, code))
        return sentences[code]

    statuses = {status: str(label) for status, label in MESSAGE_STATUS_LABELS.items()}
    yield from csv_lines(HEADER, _rows(campaign, card, worded, statuses), trusted=_TRUSTED)


def _rows(campaign, card, worded, statuses) -> Iterator[list[object]]:
    last_id = 0
    while True:
        batch = db.session.execute(
            select(*_COLUMNS).join(Contact, Contact.id == Message.contact_id)
            .where(Message.campaign_id == campaign.id, Message.id > last_id).order_by(Message.id).limit(BATCH)
        ).all()
        for row in batch:
            # A queued row's code is only its last retry's, no outcome yet.
            gave_up = row.status in (MessageStatus.SKIPPED, MessageStatus.FAILED)
            cost = (str(Decimal(row.cost_minor).scaleb(-card.exponent))
                    if row.billable and row.cost_minor is not None else "")
            yield [row.phone, row.name or "", row.status.value, statuses[row.status],
                   row.error_code if gave_up else "", worded(row.error_code) if gave_up else "",
                   (row.error_message or "") if gave_up else "",
                   *(_iso(moment) for moment in (row.sent_at, row.delivered_at, row.read_at, row.replied_at,
                                                 row.failed_at)),
                   cost, card.currency if cost else ""]
        if len(batch) < BATCH:
            return
        last_id = batch[-1].id


def _iso(moment) -> str:
    return moment.isoformat() if moment is not None else ""
