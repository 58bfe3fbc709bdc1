"""Delivering webhooks: scheduled on the event loop, posted by a few worker tasks, retried with backoff.

Nothing here blocks request handling: a status due in 800 ms is a timer, a webhook is a queue item,
and a receiver that answers 500 gets the same body again after 0.5 s, 1 s, 2 s… (Meta and MAX retry too),
up to ``callback_retries`` times. ``reset`` cancels every timer and drops whatever was queued before,
so one test's callbacks never reach the next test's receiver.

A webhook is signed as Meta signs (``X-Hub-Signature-256``, an HMAC of the body with the secret), or,
given a ``secret_header``, carries the secret itself in that header as MAX does
(``X-Max-Bot-Api-Secret``; no header when there is no secret), or sends the headers it is given (Telegram's
secret token).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from channels.signatures import HEADER, sign

log = logging.getLogger(__name__)

WORKERS = 32  # webhooks in flight at once
POST_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Callbacks:
    """Timers and webhook deliveries of one sandbox process."""

    def __init__(self, count: Callable[[str], None], retries: Callable[[], tuple[int, float]]) -> None:
        self.count, self.retries = count, retries  # ledger counter; current (retries, first backoff in ms)
        self.generation = 0
        self.timers: set[asyncio.TimerHandle] = set()
        self.queue: asyncio.Queue[tuple[int, str, str, bytes, int, Mapping[str, str] | None]] = asyncio.Queue()
        self.session: aiohttp.ClientSession | None = None
        self.workers: list[asyncio.Task] = []

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=POST_TIMEOUT)
        self.workers = [asyncio.create_task(self._work()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        self.reset()
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    def reset(self) -> None:
        self.generation += 1
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    def later(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay_s`` seconds, unless a reset comes first."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            self.timers.discard(handle)
            action()

        handle = loop.call_later(delay_s, fire)
        self.timers.add(handle)

    def post(self, url: str | None, secret: str, body: dict[str, Any], secret_header: str | None = None,
             headers: Mapping[str, str] | None = None, form: bool = False) -> None:
        """Queue one signed webhook to ``url`` (None: there is nowhere to send it). For a provider that echoes its
        secret rather than signing, ``secret_header`` carries the secret verbatim (MAX), or ``headers`` go as they
        are (Telegram's secret token); either replaces the signature. ``form``: the body goes URL-encoded, unsigned
        (SMSC's status callbacks: the secret is in the URL)."""
        if url is None:
            return
        extra = dict(headers) if headers is not None else None
        if secret_header is not None:
            extra = {**(extra or {}), **({secret_header: secret} if secret else {})}
        if form:
            raw = urlencode(body).encode()
            extra = {**(extra or {}), "Content-Type": "application/x-www-form-urlencoded"}
        else:
            raw = json.dumps(body).encode()
        self.queue.put_nowait((self.generation, url, secret, raw, 0, extra))

    async def _work(self) -> None:
        while True:
            generation, url, secret, raw, attempt, headers = await self.queue.get()
            if generation != self.generation:
                continue
            if await self._deliver(url, secret, raw, headers):
                self.count("webhooks_delivered")
                continue
            retries, backoff_ms = self.retries()
            if attempt >= retries:
                self.count("webhooks_given_up")
                log.warning("event=webhook_given_up url=%s attempts=%d", url, attempt + 1)
                continue
            self.count("webhooks_retried")
            item = (generation, url, secret, raw, attempt + 1, headers)
            self.later(backoff_ms / 1000 * 2 ** attempt, lambda item=item: self.queue.put_nowait(item))

    async def _deliver(self, url: str, secret: str, raw: bytes, extra: Mapping[str, str] | None = None) -> bool:
        headers = {"Content-Type": "application/json", **(extra if extra is not None else {HEADER: sign(secret, raw)})}
        try:
            async with self.session.post(url, data=raw, headers=headers) as response:
                await response.read()
                return 200 <= response.status < 300
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            log.info("event=webhook_failed url=%s error=%s", url, type(error).__name__)
            return False
