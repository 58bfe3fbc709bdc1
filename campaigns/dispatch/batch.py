"""One batch job's work: claim a range's due rows, then sub-chunk by sub-chunk re-check, pace, send and record.

The job's thread runs a small pipeline:

1. **claim** the range's due rows under a lease of its own (``claims``); commit.
2. per **sub-chunk** (about half a second of messages at the campaign's rate, at most ``SUB_CHUNK_MAX``):
   the **gate** re-checks the rows in one per-phone-serialised transaction and moves those that may go to
   ``sending`` (``gate``); commit. A campaign no longer ``sending`` (paused, cancelled) stops the batch
   here: what it still holds is given back, so a pause takes effect within one sub-chunk.
3. **reserve** their slots in the shared pacer (the sender's msgs/s and the campaign's own rate), and hand
   them to the channels loop, which sends each at its slot, many in flight (``sending``).
4. meanwhile **record** the answers as they come, in chunks (``results``); commit. The next sub-chunk is
   gated when the slots already reserved are about to run out, so requests never wait for the database
   and the database never holds rows long before their slot.

The lease is renewed while the batch works. When the provider says the whole sender must wait, the rest
of the claimed rows are given back until then. Retries due within a few seconds are claimed again by the
same batch; later ones are the sweep's. At the end the campaign completes if nothing is left to send.
If anything raises, the answers already on their way are still recorded and the rows not sent are given
back before the error goes up to RQ.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from campaigns import metrics, senders
from campaigns.bot_rendering import bot_capabilities
from campaigns.cascade import is_cascade, step_sender, steps
from campaigns.dispatch import claims, gate, results
from campaigns.dispatch.claims import Claimed
from campaigns.dispatch.completion import complete_if_done
from campaigns.dispatch.ratelimit import Pacer, TierReservations, dialog_name
from campaigns.dispatch.sending import BotOutbounds, InFlight, Outbounds, Pipeline, SmsOutbounds, slot_times
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Template
from campaigns.preflight import sending_rules_for
from channels.registry import CHANNELS
from compliance.sending import tier_limit
from dbtypes import utcnow
from extensions import db, redis_queues

log = logging.getLogger(__name__)

# A sub-chunk is this much sending time at the campaign's rate: small enough that a pause stops sending
# within it, large enough that the gate's few statements are spread over many messages.
SUB_CHUNK_SECONDS = 0.5
SUB_CHUNK_MAX = 500
# The next sub-chunk is gated when the slots already reserved end within this long.
LOOKAHEAD_SECONDS = 0.3
# Answers are written when this many have come, or when the oldest has waited this long.
WRITE_CHUNK = 500
WRITE_INTERVAL_SECONDS = 0.2
# Rows of the range due again within this long (a short Retry-After) are sent by this batch; later ones
# are left to the sweep rather than holding a worker.
RETRY_WAIT_SECONDS = 3.0


@dataclass
class BatchOutcome:
    """What one batch did: rows claimed, rows by what became of them, why it stopped early, if it did."""

    claimed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    stopped: str = ""
    completed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The outcome as the job's result (JSON-ready)."""
        return {"claimed": self.claimed, "counts": dict(self.counts), "stopped": self.stopped,
                "completed": self.completed}


def _slot(pair: tuple[Claimed, float]) -> float:
    return pair[1]


def time_budget() -> float:
    """Seconds a batch keeps claiming before it leaves the rest of its range to the next job."""
    return 10.0 * current_app.config["DISPATCH_LEASE_SECONDS"]


def sub_chunk_size(rate: float) -> int:
    """Rows per sub-chunk at ``rate`` messages per second."""
    return max(1, min(SUB_CHUNK_MAX, math.ceil(rate * SUB_CHUNK_SECONDS)))


def run_batch(campaign_id: int, first_id: int, last_id: int, job_id: str | None = None, step: int = 0
              ) -> BatchOutcome:
    """Send the due rows of ``campaign_id``'s cascade step ``step`` with ids in ``[first_id, last_id]`` through
    the step's sender; commits as it goes (the gate's transactions are the re-check's), the caller commits the
    end. Raises after salvaging what it can."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.SENDING:
        return BatchOutcome(stopped=campaign.status.value if campaign else "missing")
    run = _Run(campaign, first_id, last_id, job_id, step)
    try:
        run.work()
        run.finish()
    except BaseException:
        run.salvage()
        raise
    finally:
        run.pipeline.stop()
    run.outcome.completed = complete_if_done(campaign_id)
    return run.outcome


# A bot's platform counts requests in each second. At its full rate (30 a second) the slots, less PACING_MARGIN,
# leave 20 ms of slack in a second, and a loaded host's jitter spends that (bench/bot_send_bench.py: a single
# 429 in half its runs); one message a second less leaves 55 ms, and no run was refused (docs/dispatch.md).
BOT_RATE_HEADROOM = 1


def bot_ceiling(platform_rate: float) -> float:
    """The most a bot sends per second: the platform's limit less ``BOT_RATE_HEADROOM``."""
    return max(platform_rate - BOT_RATE_HEADROOM, 1)


class _Run:
    """The state of one batch run (the job's thread only)."""

    def __init__(self, campaign: Campaign, first_id: int, last_id: int, job_id: str | None, step: int = 0) -> None:
        config = current_app.config
        sender = step_sender(campaign, step)
        self.step = step
        template = db.session.get(Template, campaign.template_id)
        self.campaign_id, self.first_id, self.last_id, self.job_id = campaign.id, first_id, last_id, job_id
        self.owner = uuid.uuid4().hex
        self.lease = float(config["DISPATCH_LEASE_SECONDS"])
        self.batch_size = int(config["DISPATCH_BATCH_SIZE"])
        bot = bot_capabilities(sender.channel)
        sms = senders.is_sms(sender)
        # A messaging tier is WhatsApp's: a bot or an SMS gateway has none (whatever the sender's column says).
        self.plan = gate.Plan(campaign.id, sender.id, template.category.value, sending_rules_for(campaign),
                              tier_limit(sender.tier) if bot is None and not sms else None, self.owner, self.lease,
                              bot=bot is not None, falls_back=is_cascade(campaign) and step < len(steps(campaign)) - 1)
        idempotent = CHANNELS[sender.channel].capabilities.idempotent_sends
        self.channel = sender.channel
        self.policy = results.Policy(campaign.id, sender.id, self.owner, idempotent,
                                     int(config["DISPATCH_MAX_ATTEMPTS"]), float(config["DISPATCH_BACKOFF_SECONDS"]),
                                     bot=bot is not None, falls_back=self.plan.falls_back)
        # A bot: never over the platform's rate per bot, whatever the sender says, and each dialog at its own.
        sender_rate = sender.messages_per_second
        if bot is not None:
            sender_rate = min(sender_rate or bot.messages_per_second, bot_ceiling(bot.messages_per_second))
        self.dialog_rate = bot.dialog_messages_per_second if bot is not None else None
        self.sender_id = sender.id
        self.limits = [(f"sender:{sender.id}", sender_rate),
                       (f"campaign:{campaign.id}", campaign.messages_per_second)]
        rates = [rate for _name, rate in self.limits if rate]
        self.chunk = sub_chunk_size(min(rates)) if rates else SUB_CHUNK_MAX
        connection = redis_queues.connection
        self.pacer, self.tiers = Pacer(connection), TierReservations(connection)
        self.outbounds = (BotOutbounds(sender.channel, template) if bot is not None
                          else SmsOutbounds(template) if sms else Outbounds(template))
        self.pipeline = Pipeline(senders.settings_for(sender), int(config["DISPATCH_IN_FLIGHT"]),
                                 float(config["DISPATCH_SEND_TIMEOUT_SECONDS"]))
        self.outcome = BatchOutcome()
        self.deadline = math.inf  # monotonic time after which the batch sends nothing new
        self.last_slot = 0.0  # monotonic time of the last slot reserved
        self.renewed_at = time.monotonic()
        self.sender_until = 0.0  # monotonic time until which the provider asked the whole sender to wait
        self.unsubmitted: list[int] = []  # rows moved to "sending" whose requests have not been handed over
        self.buffer: list = []
        self.buffered_at = 0.0

    # --- the main loop ----------------------------------------------------------------------------------

    def work(self) -> None:
        self.pipeline.start()
        deadline = self.deadline = time.monotonic() + time_budget()
        while not self.outcome.stopped and time.monotonic() < deadline:
            claimed = claims.claim(self.campaign_id, self.first_id, self.last_id, self.owner, self.batch_size,
                                   utcnow(), self.lease, self.step)
            db.session.commit()
            if claimed:
                self.outcome.claimed += len(claimed)
                self.send(claimed)
                continue
            if self.pipeline.pending or self.buffer:
                self.drain()  # their answers may put rows back for a retry soon
                continue
            wait = self._next_due()
            if wait is None or time.monotonic() + wait > deadline:
                break
            time.sleep(wait)  # a short Retry-After: cheaper to wait than to fork another job for it

    def send(self, claimed: list[Claimed]) -> None:
        """Gate, pace and hand over the claimed rows sub-chunk by sub-chunk."""
        for start in range(0, len(claimed), self.chunk):
            self._pace_ahead()
            now = time.monotonic()
            # Stopped, the sender told to wait, or the job's time used up (a slow campaign): the rest waits.
            if self.outcome.stopped or now < self.sender_until or now > self.deadline:
                self._give_back(claimed[start:])
                return
            gated = gate.check(self.plan, claimed[start:start + self.chunk], self.tiers)
            self.unsubmitted = [row.id for row in gated.sending]
            db.session.commit()
            self.outcome.counts.update(gated.counts)
            if gated.stopped:
                self.outcome.stopped = gated.stopped
                self._give_back(claimed[start + self.chunk:])
                return
            if gated.sending:
                slotted = self._slotted(gated.sending)
                if not slotted:
                    self.unsubmitted = []
                    continue
                first = min(offset for _row, offset in slotted)
                if first > self.lease:
                    self._wait_for_sender(first, [row for row, _offset in slotted], claimed[start + self.chunk:])
                    return
                slots = slot_times([offset for _row, offset in slotted])
                # In slot order (a bot's dialogs may reorder them): the lanes take the messages first come.
                ordered = sorted(zip([row for row, _offset in slotted], slots, strict=True), key=_slot)
                self.pipeline.submit((InFlight(row, gated.sent_at), self.outbounds.build(row), slot)
                                     for row, slot in ordered)
                self.last_slot = max(self.last_slot, ordered[-1][1])
            self.unsubmitted = []

    def finish(self) -> None:
        """Record every answer still to come."""
        self.drain()

    # --- answers and the lease ------------------------------------------------------------------------

    def _pace_ahead(self) -> None:
        """Record answers and keep the lease until the slots reserved so far are about to run out."""
        while True:
            self._collect()
            ahead = self.last_slot - time.monotonic() - LOOKAHEAD_SECONDS
            if ahead <= 0 or self.outcome.stopped:
                return
            self._collect(wait=min(ahead, WRITE_INTERVAL_SECONDS))

    def drain(self) -> None:
        """Wait for every request in flight and record its answer."""
        while self.pipeline.pending:
            self._collect(wait=WRITE_INTERVAL_SECONDS)
        self._collect(force=True)

    def _reslot_missed(self) -> None:
        """Give the messages that missed their slot fresh ones (``sending.LATE_SECONDS``)."""
        missed = self.pipeline.take_missed()
        if not missed:
            return
        by_id = {item.row.id: (item, outbound) for item, outbound in missed}
        slotted = self._slotted([item.row for item, _outbound in missed], again=True)
        if not slotted:
            return
        slots = slot_times([offset for _row, offset in slotted])
        self.pipeline.submit(((*by_id[row.id], slot) for (row, _offset), slot in zip(slotted, slots, strict=True)),
                             again=True)
        self.last_slot = max(self.last_slot, *slots)
        self.outcome.counts["reslotted"] += len(slotted)

    def _collect(self, wait: float = 0.0, force: bool = False) -> None:
        self._reslot_missed()
        taken = self.pipeline.take(wait)
        if taken and not self.buffer:
            self.buffered_at = time.monotonic()
        self.buffer.extend(taken)
        now = time.monotonic()
        due = force or len(self.buffer) >= WRITE_CHUNK or now - self.buffered_at >= WRITE_INTERVAL_SECONDS
        if self.buffer and due:
            recorded = results.record(self.policy, self.buffer, self.pacer)
            db.session.commit()
            self.buffer = []  # only now: if the write failed, the salvage writes these answers again
            self.outcome.counts.update(recorded.counts)
            self._count(recorded)
            if recorded.sender_wait is not None:
                self.sender_until = max(self.sender_until, time.monotonic() + recorded.sender_wait)
            if recorded.paused and recorded.paused != CampaignStatus.SENDING.value:
                log.warning("event=campaign_paused_by_failure campaign_id=%s code=%s status=%s job_id=%s",
                            self.campaign_id, recorded.pause_code, recorded.paused, self.job_id)
                self.outcome.stopped = recorded.paused
        if now - self.renewed_at >= self.lease / 3:
            claims.renew(self.owner, self.first_id, self.last_id, utcnow(), self.lease)
            db.session.commit()
            self.renewed_at = now

    def _slotted(self, rows: list[Claimed], again: bool = False) -> list[tuple[Claimed, float]]:
        """The rows' slots (seconds from now) under the shared limits, and for a bot under each row's dialog limit
        too (``Pacer.reserve_dialogs``). A bot's row whose dialog is busy (another campaign or a reply to the person
        a moment ago) gets no slot: it goes back to ``queued`` until its dialog is free (``again``: a missed
        message the pipeline still counts), and the rest goes on without it."""
        if self.dialog_rate is None:
            return list(zip(rows, self.pacer.reserve(self.limits, len(rows)), strict=True))
        dialogs = [dialog_name(self.sender_id, row.address or "") for row in rows]
        answers = self.pacer.reserve_dialogs(self.limits, dialogs, self.dialog_rate)
        waiting: dict[float, list[int]] = {}
        for row, answer in zip(rows, answers, strict=True):
            if answer.slot is None:
                waiting.setdefault(math.ceil(answer.wait * 10) / 10, []).append(row.id)  # never before
        if waiting:
            now = utcnow()
            for wait, ids in waiting.items():
                self.outcome.counts["dialog_wait"] += gate.put_back(ids, self.owner, now + timedelta(seconds=wait))
            held = {row_id for ids in waiting.values() for row_id in ids}
            self.unsubmitted = [row_id for row_id in self.unsubmitted if row_id not in held]
            db.session.commit()
            if again:
                self.pipeline.forget(len(held))
        return [(row, answer.slot) for row, answer in zip(rows, answers, strict=True) if answer.slot is not None]

    def _wait_for_sender(self, wait: float, gated: list[Claimed], rest: list[Claimed]) -> None:
        """The shared pacer's next slot is more than a lease away (another worker's provider slowed the whole
        sender down): rather than hold rows ``sending`` that long — judged long before they leave, and left
        ``unknown`` if RQ kills the waiting job — put them back until then and give back the rest."""
        self.sender_until = max(self.sender_until, time.monotonic() + wait)
        put_back = gate.put_back([row.id for row in gated], self.owner, utcnow() + timedelta(seconds=wait))
        self.unsubmitted = []
        db.session.commit()
        self.outcome.counts["released"] += put_back
        self._give_back(rest)

    def _give_back(self, rows: list[Claimed]) -> None:
        """Release claimed rows the batch will not send now (until the sender may send again, if it must wait)."""
        wait = self.sender_until - time.monotonic()
        not_before = utcnow() + timedelta(seconds=wait) if wait > 0 else None
        released = claims.release(self.owner, self.first_id, self.last_id, ids=[row.id for row in rows],
                                  not_before=not_before)
        db.session.commit()
        self.outcome.counts["released"] += released

    def _next_due(self) -> float | None:
        """Seconds until the range's next row becomes due, if that is soon (a retry, a sender's wait)."""
        now = utcnow()
        earliest = db.session.scalar(
            select(func.min(Message.not_before)).where(
                Message.campaign_id == self.campaign_id, Message.step == self.step,
                Message.id.between(self.first_id, self.last_id),
                Message.status.in_(claims.DUE_STATUSES), Message.not_before > now,
                Message.not_before <= now + timedelta(seconds=RETRY_WAIT_SECONDS)))
        db.session.commit()
        return None if earliest is None else max((earliest - now).total_seconds(), 0.0)

    # --- when something broke -------------------------------------------------------------------------

    def salvage(self) -> None:
        """After an error: record the answers of requests already sent, put back rows gated but never handed
        over, and release the rest; each step on its own, so one failing does not stop the others."""
        db.session.rollback()
        steps = (self._salvage_answers, self._salvage_unsubmitted, self._salvage_claims)
        for step in steps:
            try:
                step()
                db.session.commit()
            except Exception:  # the original error is what RQ must see; this one only goes to the log
                db.session.rollback()
                log.exception("event=batch_salvage_failed step=%s campaign_id=%s job_id=%s", step.__name__,
                              self.campaign_id, self.job_id)

    def _salvage_answers(self) -> None:
        deadline = time.monotonic() + self.lease / 2  # the rows' lease must still be ours when we write
        while self.pipeline.pending and time.monotonic() < deadline:
            self.buffer.extend(self.pipeline.take(wait=WRITE_INTERVAL_SECONDS))
            missed = self.pipeline.take_missed()
            if missed:  # they never left: queued again as they were, not left for the recovery to call unknown
                gate.put_back([item.row.id for item, _outbound in missed], self.owner)
                self.pipeline.forget(len(missed))
        chunk, self.buffer = self.buffer, []
        self._count(results.record(self.policy, chunk, self.pacer))

    def _count(self, recorded: results.Recorded) -> None:
        counts = recorded.counts
        metrics.sends_recorded(self.channel, sent=counts[MessageStatus.SENT.value],
                               failed=counts[MessageStatus.FAILED.value],
                               retried=counts[MessageStatus.QUEUED.value] + counts[MessageStatus.DEFERRED.value])

    def _salvage_unsubmitted(self) -> None:
        if not self.unsubmitted:
            return
        # Their requests never left: back to queued as they were, not left for the recovery to call unknown.
        gate.put_back(self.unsubmitted, self.owner)
        self.unsubmitted = []

    def _salvage_claims(self) -> None:
        claims.release(self.owner, self.first_id, self.last_id)
