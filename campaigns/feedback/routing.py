"""Which handler applies each kind of event, in which order, and what runs after a batch.

``HANDLERS`` maps an event class of ``channels.base`` to ``handle(context, events)``: it gets every event of
that class one batch of bodies holds for one sender, and applies them set-based where it can. Handlers add
and flush, never commit (the batch commits once); each is idempotent (the same body twice changes nothing the
second time) and takes the events in any arrival order.

A batch calls them by ``ORDER``: statuses first (a reply may answer a message whose status arrives with it),
then inbound messages, preference changes, blocks, template updates and number quality; a class that
``ORDER`` does not name comes after those. ``AFTER_BATCH`` functions run once the batch has committed, one
call per sender context, each in a transaction of its own (the circuit breaker reads
``context.touched_campaigns`` there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from campaigns.feedback import (
    blocks,
    bot_starts,
    bot_stops,
    breaker,
    free_text,
    preferences,
    quality,
    replies,
    statuses,
    template_updates,
    whatsapp_entries,
)
from campaigns.models import Sender
from channels.base import (
    BlockReport,
    BotStarted,
    BotStopped,
    InboundMessage,
    NumberQualityChange,
    PreferenceChange,
    StatusEvent,
    TemplateStatusChange,
)


@dataclass
class FeedbackContext:
    """What a handler knows besides its events: whose callbacks they are, the batch's clock, and the campaigns
    whose complaint counts (opt-outs, blocks, spam reports, failures) the batch changed."""

    sender: Sender
    now: datetime
    touched_campaigns: set[int] = field(default_factory=set)


Handler = Callable[[FeedbackContext, Sequence[Any]], None]


def _statuses(context: FeedbackContext, events: Sequence[StatusEvent]) -> None:
    """Statuses of campaign messages, then of the conversations' outbound messages (their keys tell them apart)."""
    statuses.handle(context, events)
    free_text.apply_statuses(events)


HANDLERS: dict[type, Handler] = {
    StatusEvent: _statuses,
    InboundMessage: whatsapp_entries.then(replies.handle),  # "<keyword> <code>" first: an entry point's contact
    PreferenceChange: preferences.handle,
    BlockReport: blocks.handle,
    TemplateStatusChange: template_updates.handle,
    NumberQualityChange: quality.handle,
    BotStarted: bot_starts.handle,
    BotStopped: bot_stops.handle,
}

# Event classes by name, in the order a batch applies them (names, so a class defined later can take its place).
ORDER = ("StatusEvent", "BotStarted", "InboundMessage", "PreferenceChange", "BlockReport", "TemplateStatusChange",
         "NumberQualityChange", "BotStopped")

AFTER_BATCH: list[Callable[[FeedbackContext], None]] = [breaker.check]


def _rank(kind: type) -> int:
    return ORDER.index(kind.__name__) if kind.__name__ in ORDER else len(ORDER)


def route(context: FeedbackContext, events: Sequence[Any]) -> dict[str, int]:
    """Apply ``events`` (of one sender) by their handlers, class by class in ``ORDER``; an event no handler
    takes is left alone. Returns how many events of each class were handled."""
    by_kind: dict[type, list[Any]] = {}
    for event in events:
        by_kind.setdefault(type(event), []).append(event)
    handled: dict[str, int] = {}
    for kind in sorted(by_kind, key=_rank):
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(context, by_kind[kind])
            handled[kind.__name__] = len(by_kind[kind])
    return handled
