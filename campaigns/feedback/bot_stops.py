"""A person stopped or blocked a bot (``BotStopped``): that bot address is closed, and nothing else.

The stop is an address-scope ``BOT_STOPPED`` entry of the suppression history with the provider's event id as
evidence (``audience.addresses.stop_address``); it never suppresses the person on their other channels (that
takes an opt-out). Idempotent and order-proof: the same event twice changes nothing, and a stop older than the
address's last start is ignored. A stop of an address no person ever started is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from audience import addresses
from channels.base import BotStopped

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)


def handle(context: FeedbackContext, events: Sequence[BotStopped]) -> None:
    """Close the addresses of ``context.sender`` (a bot) that ``events`` stopped, oldest first; flushes only."""
    stopped = unknown = 0
    for event in sorted(events, key=lambda event: (event.at, event.event_id)):
        row = addresses.stop_address(context.sender.id, str(event.address), at=event.at, evidence=event.event_id)
        if row is None:
            unknown += 1
        else:
            stopped += 1
    log.info("event=bot_stops_applied sender_id=%s stops=%d unknown=%d", context.sender.id, stopped, unknown)
