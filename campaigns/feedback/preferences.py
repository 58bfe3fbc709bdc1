"""What a batch's ``user_preferences`` do: a person who stops marketing messages in WhatsApp is suppressed at
once (an opt-out, source ``preference``, the event as evidence); one who resumes them has that provider-made
opt-out lifted, and nothing else (a STOP they wrote, a block, a spam report or a manual suppression stays).

The person's last word stands, whatever order the events arrive in: per number only the newest event of the
batch is applied; a stop older than a resume already applied, or a resume older than the opt-out in force,
changes nothing. A repeat changes nothing either (``suppress`` keeps the first entry). A stop adds the campaigns
that had messaged the number to ``context.touched_campaigns`` (the circuit breaker counts opt-outs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from campaigns.feedback import complaints
from campaigns.feedback.models import Conversation, ConversationMessage, Direction
from channels.base import PreferenceChange
from compliance import suppression
from compliance.keywords import Intent
from compliance.models import SuppressionReason
from compliance.numbers import InvalidNumberError, from_provider
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

MARKETING = "marketing_messages"
SOURCE = "preference"


def evidence_of(event: PreferenceChange) -> str:
    return f"user_preferences {'stop' if event.stopped else 'resume'} {event.category} {int(event.at.timestamp())}"


def handle(context: FeedbackContext, events: Sequence[PreferenceChange]) -> None:
    """Apply a batch's preference changes of one sender; flushes only."""
    newest: dict[str, PreferenceChange] = {}
    for event in events:
        if event.category != MARKETING:
            continue  # a category Vestnik does not send
        try:
            phone = from_provider(event.address)
        except InvalidNumberError:
            log.warning("event=preference_unreadable_number address=%r", event.address)
            continue
        known = newest.get(phone)
        # Of two at the same second, the stop wins: when in doubt, do not send.
        if known is None or (event.at, event.stopped) > (known.at, known.stopped):
            newest[phone] = event
    stopped, resumed = [], 0
    for phone, event in sorted(newest.items()):
        if event.stopped:
            if suppression.resumed_since(phone, event.at):
                continue  # a newer resume was applied already
            suppression.suppress(phone, SuppressionReason.OPT_OUT, source=SOURCE,
                                               evidence=evidence_of(event), at=event.at)
            stopped.append((phone, event.at))
        elif not _wrote_stop_since(phone, _provider_opt_out_since(phone)):
            resumed += len(suppression.lift_provider_opt_out(phone, at=event.at, evidence=evidence_of(event)))
    complaints.touch(context, stopped)
    log.info("event=preferences_applied sender_id=%s events=%d stopped=%d lifted=%d", context.sender.id,
             len(events), len(stopped), resumed)


def _provider_opt_out_since(phone: str) -> datetime | None:
    """When the provider's opt-out of ``phone`` in force began (None: there is none)."""
    return min((row.created_at for row in suppression.open_entries(phone)
                if row.reason is SuppressionReason.OPT_OUT and row.source in suppression.PROVIDER_OPT_OUT_SOURCES),
               default=None)


def _wrote_stop_since(phone: str, since: datetime | None) -> bool:
    """Whether the person also refused in their own words (a STOP reply, which joins the open opt-out entry
    the provider's stop made) after that entry began: a setting in the app does not lift a written refusal."""
    if since is None:
        return False
    return db.session.scalar(
        select(ConversationMessage.id).join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(Conversation.phone == phone, ConversationMessage.direction == Direction.INBOUND,
               ConversationMessage.intent == Intent.OPT_OUT.value, ConversationMessage.at >= since)
        .limit(1)) is not None
