"""One HTTP request of a channel and what can come of it, the same for every provider.

:func:`fetch` sends one request on the shared session and answers an :class:`Answer` (status,
Retry-After, the body decoded as JSON) for anything the server says; what the network does is raised
as one of :data:`ERRORS`, which :func:`code_of` names with the transport's own codes (a call other
than a send raises them as :class:`ChannelError`: :func:`called`, :func:`call_failed`). Each channel
reads its provider's fields off the answer and decides with its own table; :func:`each` runs a
batch's requests concurrently, a bounded number at once; :func:`header` finds a header in any case.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from channels.base import ChannelError

# What a request raises when the network, not the provider, failed it.
ERRORS = (TimeoutError, aiohttp.ClientError)

A = TypeVar("A", bound="Answer")
T = TypeVar("T")
R = TypeVar("R")


def code_of(error: BaseException) -> str:
    """The transport code of a failed request: ``connection`` when it never reached the provider,
    ``timeout`` or ``disconnected`` when it may have (and a non-idempotent send may have been accepted)."""
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return "connection"
    if isinstance(error, TimeoutError):
        return "timeout"
    return "disconnected"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of the header ``name`` in ``headers``, whatever the case of either; None when absent."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, Retry-After and the decoded JSON body (None when it is not JSON)."""

    status: int
    retry_after: float | None
    document: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def fetch(session: aiohttp.ClientSession, method: str, url: str, *, timeout_seconds: float, body: Any = None,
                params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                answer: type[A] = Answer, form: Mapping[str, str] | None = None) -> A:
    """One request with a JSON ``body`` (or a ``form``, URL-encoded); raises one of :data:`ERRORS` for the
    transport, answers anything else (as ``answer``, a channel's subclass that reads its provider's fields)."""
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    async with session.request(method, url, json=body, data=form, params=params, headers=headers,
                               timeout=timeout) as response:
        raw = await response.read()
        try:
            document = json.loads(raw) if raw else None
        except ValueError:
            document = None
        return answer(response.status, parse_retry_after(response.headers.get("Retry-After")), document)


def call_failed(code: str, calls: Mapping[str, Any]) -> ChannelError:
    """A call other than a send failed in the transport (``code``, worded from the channel's ``calls``) or
    its answer could not be read (``malformed_response``): trying again later may help."""
    return ChannelError(calls[code], code, retryable=True)


async def called(request: Awaitable[A], calls: Mapping[str, Any]) -> A:
    """The answer to a call other than a send; a failure of the transport raised as :func:`call_failed`."""
    try:
        return await request
    except ERRORS as error:
        raise call_failed(code_of(error), calls) from None


async def each(items: Iterable[T], one: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """``one(item)`` for every item concurrently, at most ``limit`` at once; the results in the items' order."""
    gate = asyncio.Semaphore(limit)

    async def gated(item: T) -> R:
        async with gate:
            return await one(item)

    return list(await asyncio.gather(*(gated(item) for item in items)))
