"""What the provider's answers do to the rows, written in chunks: one ``executemany`` per chunk.

Every answer becomes one parameter set of the same UPDATE, guarded by the batch's lease and the row still
``sending`` (a row a recovery took back is not ours to write any more):

- accepted → ``sent``, the provider's id, ``sent_at`` = when it was accepted, error cleared;
- retry → ``queued`` again, due after ``max(Retry-After, backoff)`` — the backoff exponential in the
  attempts with full jitter, so that a thousand throttled rows do not all come back at the same moment —
  with the transient code and words, ``sent_at`` cleared (it did not go out). The provider's
  ``SENDER`` scope slows the whole sender down in the shared pacer (every worker's next slots move), and
  the batch gives back the rest of its rows until then; ``RECIPIENT`` scope defers only this row
  (``deferred``, due after the provider's wait: a day for 131049), within the same attempts;
- a retry that may have been accepted (a timeout after the request left) on a channel without idempotent
  sends → ``unknown``, never sent again: a status carrying its key settles it (``settle``);
- attempts used up → ``failed`` with the last transient code;
- failed → ``failed`` with the provider's code and its own words, ``failed_at``. An opt-out (131050) also
  suppresses the number through ``compliance.suppression``; a failure that is the template's or the
  sender's (every next message would fail alike) pauses the campaign, audited, with the sentence as reason.
  On a bot, a person who stopped it (``STOPPED``: MAX 403 ``chat.denied``, Telegram "bot was blocked") closes the
  address (``audience.addresses.stop_address``) and a dialog that does not exist (``INVALID_RECIPIENT``) makes it
  unreachable; neither is retried. A bot's accepted message stays ``sent``: bots report no delivery.
  On a cascade step with a next one, a failure saying the channel cannot reach the person
  (``cascade.FALLBACK_MEANINGS``) hands them to the next step (``fallbacks``), after the row is written.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update

from audience import addresses
from campaigns.cascade import FALLBACK_MEANINGS
from campaigns.dispatch.fallbacks import fall_back
from campaigns.dispatch.ratelimit import Pacer
from campaigns.dispatch.sending import Answer
from campaigns.lifecycle import TransitionError, transition
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from channels.base import FailureMeaning, ResultKind, RetryScope, SendResult
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db

# The longest a retry's backoff grows to (the provider's own Retry-After may ask for longer).
BACKOFF_CAP_SECONDS = 3600.0
# Failures that will fail every next message of the campaign alike: the campaign pauses.
PAUSING = (FailureMeaning.TEMPLATE, FailureMeaning.SENDER)
# A bot's failures that close the row's address (``close_addresses``).
CLOSING = (FailureMeaning.STOPPED, FailureMeaning.INVALID_RECIPIENT)
# Where the suppression list says an opt-out came from: the provider's answer.
SUPPRESSION_SOURCE = "webhook"

_table = Message.__table__
_WRITE = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"), _table.c.lease_owner == bindparam("owner"),
           _table.c.status == MessageStatus.SENDING)
    .values(status=bindparam("new_status"), provider_message_id=bindparam("provider_id"), sent_at=bindparam("at"),
            not_before=bindparam("due"), error_code=bindparam("code"), error_message=bindparam("words"),
            failed_at=bindparam("failed"), lease_owner=None, lease_until=None)
)


def backoff(attempts: int, base: float, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """The wait before attempt ``attempts + 1``: uniform in [0, base · 2^(attempts − 1)], at most ``cap``."""
    return random.uniform(0.0, min(cap, base * 2 ** max(attempts - 1, 0)))


@dataclass(frozen=True)
class Policy:
    """The batch's retry settings and what it needs to act on answers."""

    campaign_id: int
    sender_id: int
    owner: str
    idempotent: bool
    max_attempts: int
    backoff_seconds: float
    bot: bool = False  # the rows go to addresses on a bot: a stopped or unknown dialog closes the address
    falls_back: bool = False  # a cascade step with a next one: a failure saying "cannot reach" tries the next


@dataclass
class Recorded:
    """What a chunk of answers did: rows by new status, how long the whole sender must wait (seconds from
    now, when the provider said so), and whether the campaign was paused."""

    counts: Counter[str] = field(default_factory=Counter)
    sender_wait: float | None = None
    paused: str = ""  # the campaign's status after a failure that pauses it ("paused", or whoever won)
    pause_code: str | None = None


def _words(result: SendResult) -> str:
    return (result.detail or str(result.sentence or ""))[:2000]


def record(policy: Policy, answers: list[Answer], pacer: Pacer) -> Recorded:
    """Write a chunk of answers (one executemany) and act on what they mean; flushes, the caller commits."""
    done = Recorded()
    if not answers:
        return done
    now = utcnow()
    params: list[dict[str, Any]] = []
    opted_out: list[Answer] = []
    closing: list[Answer] = []  # a bot's answers that close the address
    unreachable: list[int] = []  # rows whose channel cannot reach the person: the cascade's next step tries
    pause: Answer | None = None
    for answer in answers:
        result, item = answer.result, answer.item
        attempts = item.row.attempts + 1  # the gate counted this attempt
        retrying = result.kind is ResultKind.RETRY and attempts < policy.max_attempts
        values: dict[str, Any] = {"row_id": item.row.id, "owner": policy.owner, "provider_id": None, "at": None,
                                  "due": None, "code": result.code, "words": _words(result), "failed": None}
        if result.kind is ResultKind.ACCEPTED:
            values.update(new_status=MessageStatus.SENT, provider_id=result.provider_id, at=answer.at, code=None,
                          words=None)
        elif result.kind is ResultKind.RETRY and result.uncertain and not policy.idempotent:
            values.update(new_status=MessageStatus.UNKNOWN, at=item.sent_at)
        elif retrying and result.scope is RetryScope.RECIPIENT:
            values.update(new_status=MessageStatus.DEFERRED, due=now + timedelta(seconds=result.retry_after or 0))
        elif retrying:
            wait = max(result.retry_after or 0.0, backoff(attempts, policy.backoff_seconds))
            values.update(new_status=MessageStatus.QUEUED, due=now + timedelta(seconds=wait))
            if result.scope is RetryScope.SENDER:
                done.sender_wait = max(done.sender_wait or 0.0, result.retry_after or 0.0)
        else:  # a permanent failure, or a transient one out of attempts
            values.update(new_status=MessageStatus.FAILED, failed=now)
            if result.kind is ResultKind.FAILED and result.meaning in FALLBACK_MEANINGS:
                unreachable.append(item.row.id)
            if policy.bot and result.meaning in CLOSING:
                closing.append(answer)
            elif result.meaning is FailureMeaning.OPTED_OUT and answer.item.row.phone:
                opted_out.append(answer)
            elif result.meaning in PAUSING and pause is None:
                pause = answer
        done.counts[values["new_status"].value] += 1
        params.append(values)
    db.session.execute(_WRITE, params)
    suppress_opt_outs((answer.item.row.phone, f"{answer.result.code} {answer.item.row.key}") for answer in opted_out)
    close_addresses(policy.sender_id, closing, now)
    if policy.falls_back and unreachable:
        done.counts["fallen_back"] += fall_back(policy.campaign_id, unreachable, MessageStatus.FAILED, now)
    if done.sender_wait is not None:
        pacer.slow_down(f"sender:{policy.sender_id}", done.sender_wait)
    if pause is not None:
        done.paused, done.pause_code = _pause(policy, pause.result), pause.result.code
    return done


def suppress_opt_outs(opt_outs: Iterable[tuple[str, str]]) -> None:
    """Suppress each number the provider said stopped marketing messages (WhatsApp 131050), as an opt-out with
    its evidence (the code and our message key), through ``compliance.suppression``: a number already opted out
    keeps its first entry. Send answers and failed status webhooks both come here."""
    for phone, evidence in opt_outs:
        suppression.suppress(phone, SuppressionReason.OPT_OUT, source=SUPPRESSION_SOURCE, evidence=evidence)


def close_addresses(sender_id: int, answers: Iterable[Answer], at: datetime) -> None:
    """A bot said the person stopped it (``STOPPED``: the address is closed, with the code and our message key as
    evidence) or that the dialog does not exist (``INVALID_RECIPIENT``: unreachable until they start it again),
    through ``audience.addresses``: no later campaign writes to it."""
    for answer in answers:
        row, result = answer.item.row, answer.result
        if not row.address:
            continue
        evidence = f"{result.code} {row.key}"
        if result.meaning is FailureMeaning.STOPPED:
            addresses.stop_address(sender_id, row.address, at=at, evidence=evidence)
        else:
            addresses.mark_unreachable(sender_id, row.address, at=at, evidence=evidence)


def _pause(policy: Policy, result: SendResult) -> str:
    """Pause the campaign for a failure every next message would meet too; its status afterwards."""
    campaign = db.session.get(Campaign, policy.campaign_id, populate_existing=True)
    if campaign.status is CampaignStatus.SENDING:
        try:
            transition(campaign, CampaignStatus.PAUSED, reason=str(result.sentence),
                       details={"code": result.code, "meaning": result.meaning.value})
        except TransitionError:  # someone paused or cancelled it a moment ago
            pass
    return campaign.status.value
