"""The requests of a batch: each message leaves at its slot, many at once, on the channels' event loop.

The batch job's thread does the database and Redis work; the HTTP runs on the process's channels loop
(``channels.http``) with its one keep-alive session. ``Pipeline.submit`` hands the loop a sub-chunk of
messages with the moment each may leave (the slots ``ratelimit.Pacer`` reserved, turned into this
process's monotonic clock); the loop sends each at its slot, at most ``in_flight`` at once, and puts each
answer on a thread-safe queue that the job's thread drains and writes in chunks (``results``). A slot is
a floor, never a promise: with every request slot taken a message goes later, never earlier — but never much
later either. Every worker's slots are one evenly spaced stream, so a message that left long after its slot
(the loop or the job's thread stalled) would bunch with the slots after it, and the provider counts arrivals:
one more than ``LATE_SECONDS`` late is handed back (``take_missed``) for a fresh slot instead. Lateness within
it is what the pacer's margin (``ratelimit.PACING_MARGIN``) absorbs.

``Outbounds`` builds the wire-neutral message of a row as ``campaigns.test_sends.outbound_for`` does
(the template's variables in their order, positional by number), with the template's parsing done once
per batch instead of once per message; ``BotOutbounds`` renders a bot campaign's row to its text and buttons,
``SmsOutbounds`` an SMS row to its plain text (``campaigns.sms_rendering``), to the row's phone.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import aiohttp

from campaigns import metrics
from campaigns.bot_rendering import BotRenderer
from campaigns.dispatch.claims import Claimed
from campaigns.models import Template
from campaigns.sms_rendering import SmsRenderer
from campaigns.template_rules import POSITIONAL, variable_names
from channels import http
from channels.base import Channel, Outbound, Parameter, ResultKind, SenderSettings, SendResult, TemplateContent
from channels.errors import sentence_for
from channels.registry import channel_for

# The pacer keeps 2 % of every second spare (``ratelimit.PACING_MARGIN``): 20 ms of lateness per second can
# never add up to more than the rate in any one-second window; half of it is left for the clock's own error
# (slots are read after the pacer's round trip).
LATE_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class InFlight:
    """A row that passed the gate, on its way: ``sent_at`` is the gate's moment, stored on the row."""

    row: Claimed
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    """What the provider said about one message, and when the answer came (UTC)."""

    item: InFlight
    result: SendResult
    at: datetime


class Outbounds:
    """The template message of each row: the parsing of the template done once."""

    def __init__(self, template: Template) -> None:
        self.name, self.language = template.name, template.language
        self.examples = {str(k): str(v) for k, v in (template.examples or {}).items() if v}
        self.header = self._names(template.header or "")
        self.body = self._names(template.body or "")

    @staticmethod
    def _names(text: str) -> tuple[tuple[str, str | None], ...]:
        return tuple((name, None if POSITIONAL.match(name) else name) for name in variable_names(text, ""))

    def _parameters(self, names: tuple[tuple[str, str | None], ...], values: dict[str, str]
                    ) -> tuple[Parameter, ...]:
        # As the preview fills them: the row's value, else the template's example.
        return tuple(Parameter(values.get(name) or self.examples.get(name, ""), name=named) for name, named in names)

    def build(self, row: Claimed) -> Outbound:
        """The message of one claimed row, keyed by its idempotency key."""
        values = row.variables
        content = TemplateContent(name=self.name, language=self.language, header=self._parameters(self.header, values),
                                  body=self._parameters(self.body, values))
        return Outbound(key=row.key, to=row.phone, template=content)


class BotOutbounds:
    """The rendered message of each row of a bot campaign (``campaigns.bot_rendering``), to the row's address:
    the template's buttons and the channel's limit worked out once per batch."""

    def __init__(self, channel: str, template: Template) -> None:
        self.renderer = BotRenderer(channel, template)
        self.examples = {str(k): str(v) for k, v in (template.examples or {}).items() if v}

    def build(self, row: Claimed) -> Outbound:
        """The message of one claimed row, keyed by its idempotency key."""
        # As the preview fills them: the row's value, else the template's example.
        values = {**self.examples, **{name: value for name, value in row.variables.items() if value}}
        return self.renderer.render(values).outbound(row.key, row.address or "")


class SmsOutbounds:
    """The SMS of each row (``campaigns.sms_rendering``), to the row's phone: the buttons' lines worked out once."""

    def __init__(self, template: Template) -> None:
        self.renderer = SmsRenderer(template)

    def build(self, row: Claimed) -> Outbound:
        """The message of one claimed row, keyed by its idempotency key."""
        return Outbound(key=row.key, to=row.phone, text=self.renderer.row_text(row.variables))


class Pipeline:
    """One batch's requests in flight on the channels loop; answers come back through ``answers``.

    ``in_flight`` lanes on the loop take the messages in slot order from one queue, each waiting for its
    message's slot, sending it and putting the answer on the thread-safe queue: no task, no semaphore per
    message (the loop's time per message is what bounds a worker's rate on a busy machine).
    """

    def __init__(self, settings: SenderSettings, in_flight: int, timeout_seconds: float) -> None:
        self.settings = replace(settings, timeout_seconds=timeout_seconds)
        self.in_flight = in_flight
        self.answers: queue.SimpleQueue[Answer] = queue.SimpleQueue()
        # Messages whose slot passed before a lane could send them: still pending, they need a fresh slot.
        self.missed: queue.SimpleQueue[tuple[InFlight, Outbound]] = queue.SimpleQueue()
        self.pending = 0  # submitted and not answered yet (counted on the job's thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel: Channel | None = None
        self._todo: asyncio.Queue | None = None
        self._lanes: list[asyncio.Task] = []

    def start(self) -> None:
        """Build the channel and start the lanes on the loop (once per batch)."""

        async def setup(session: aiohttp.ClientSession) -> None:
            self._loop = asyncio.get_running_loop()
            self._channel = channel_for(self.settings, session)
            self._todo = asyncio.Queue()
            self._lanes = [self._loop.create_task(self._lane()) for _ in range(self.in_flight)]

        http.run(setup)

    def stop(self) -> None:
        """Stop the lanes (after the last answer came, or when giving up on them)."""
        if self._loop is not None and self._lanes:
            lanes, self._lanes = self._lanes, []
            self._loop.call_soon_threadsafe(lambda: [lane.cancel() for lane in lanes])

    def submit(self, items: Iterable[tuple[InFlight, Outbound, float]], again: bool = False) -> None:
        """Send each ``(item, outbound, monotonic time of its slot)`` at its slot; returns at once. ``again``: they
        are missed messages with fresh slots, pending already."""
        batch = list(items)
        if not again:
            self.pending += len(batch)
        self._loop.call_soon_threadsafe(self._enqueue, batch)

    def take_missed(self) -> list[tuple[InFlight, Outbound]]:
        """The messages handed back for being late, since the last call (still counted as pending)."""
        taken = []
        try:
            while True:
                taken.append(self.missed.get_nowait())
        except queue.Empty:
            return taken

    def forget(self, count: int) -> None:
        """Stop waiting for ``count`` missed messages that will not be submitted again (put back instead)."""
        self.pending -= count

    def _enqueue(self, batch: list[tuple[InFlight, Outbound, float]]) -> None:
        put = self._todo.put_nowait
        for entry in batch:
            put(entry)

    async def _lane(self) -> None:
        todo, channel, answers, missed = self._todo, self._channel, self.answers, self.missed
        name = self.settings.channel
        freed = 0.0  # when this lane's last request ended
        while True:
            item, outbound, slot = await todo.get()
            delay = slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # Late from its slot, or from when this lane came free if that was later: a message that waited for a
            # free lane leaves as answers free lanes (paced by them, not bunched); one held up by a stall is late.
            if time.monotonic() - max(slot, freed) > LATE_SECONDS:
                missed.put((item, outbound))
                continue
            metrics.sends_started(name)
            leaving = time.monotonic()
            try:
                [result] = await channel.send([outbound])
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a channel must not raise; if one does, the request may have left
                result = SendResult(outbound.key, ResultKind.RETRY, code="disconnected", uncertain=True,
                                    sentence=sentence_for(self.settings.channel, "disconnected"), detail=repr(error))
            finally:
                metrics.send_answered(name, time.monotonic() - leaving)
            answers.put(Answer(item, result, datetime.now(UTC)))
            freed = time.monotonic()

    def take(self, wait: float = 0.0, limit: int | None = None) -> list[Answer]:
        """The answers that have come, waiting up to ``wait`` seconds for the first when there are none yet."""
        taken: list[Answer] = []
        try:
            taken.append(self.answers.get(timeout=wait) if wait > 0 else self.answers.get_nowait())
            while limit is None or len(taken) < limit:
                taken.append(self.answers.get_nowait())
        except queue.Empty:
            pass
        self.pending -= len(taken)
        return taken


def slot_times(offsets: list[float]) -> list[float]:
    """Slots as seconds from now (the pacer's answer) in this process's monotonic clock."""
    base = time.monotonic()
    return [base + offset for offset in offsets]

