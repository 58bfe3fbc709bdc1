"""What a batch's block and spam reports do: the number is suppressed at once, for good (reason ``block`` or
``spam_report``, source ``block_report``, the report's id as evidence), mid-campaign — the dispatch gate skips
a suppressed number before every chunk. Only an admin lifts either. A repeated report changes nothing
(``suppress`` keeps the first entry). The campaigns that had messaged the number are touched: the circuit
breaker counts blocks and spam reports.

The Cloud API sends no webhook for either (Meta folds them into the quality rating): they come from the
channels that report them — the sandbox's simulated recipients, an operator's feed — through the
``vestnik_block_reports`` extension field (docs/feedback.md); imported block lists are suppression files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from campaigns.feedback import complaints
from channels.base import BlockReport
from compliance import suppression
from compliance.models import SuppressionReason
from compliance.numbers import InvalidNumberError, from_provider

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

SOURCE = "block_report"
REASONS = {"block": SuppressionReason.BLOCK, "spam_report": SuppressionReason.SPAM_REPORT}


def handle(context: FeedbackContext, events: Sequence[BlockReport]) -> None:
    """Suppress every reported number of one sender's batch; flushes only."""
    reported = []
    for event in sorted(events, key=lambda item: (item.at, item.address, item.kind)):
        try:
            phone = from_provider(event.address)
        except InvalidNumberError:
            log.warning("event=block_report_unreadable_number address=%r", event.address)
            continue
        evidence = event.evidence or f"{event.kind} {int(event.at.timestamp())}"
        suppression.suppress(phone, REASONS[event.kind], source=SOURCE, evidence=evidence, at=event.at)
        reported.append((phone, event.at))
    complaints.touch(context, reported)
    log.info("event=block_reports_applied sender_id=%s reports=%d", context.sender.id, len(reported))
