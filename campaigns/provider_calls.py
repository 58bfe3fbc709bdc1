"""One call to a sender's provider from synchronous code (a view, a CLI command, a job), and its one way to fail.

The channel runs on the process's event loop and shared session (``channels.http.run``); the wait for
it is bounded by the sender's timeout per request the call makes, plus a margin, so that a provider
that never answers cannot hold a page or a job. Running out of that wait is a ``ChannelError`` like
any other refusal (code ``timeout``, retryable): callers handle one exception, not two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from channels import http
from channels.base import Channel, ChannelError, SenderSettings
from channels.errors import call_sentence_for
from channels.registry import channel_for

T = TypeVar("T")

# Beyond the channel's own timeouts: the time to hand the work to the loop and get its answer back.
MARGIN_SECONDS = 5


def call_provider(settings: SenderSettings, work: Callable[[Channel], Awaitable[T]], calls: int = 1) -> T:
    """``work(channel)`` for the sender ``settings`` describe, waited for at most ``calls`` requests' timeouts.

    Raises what the channel raises (``ChannelError``), and ``ChannelError`` with code ``timeout`` when the
    wait runs out (the work is cancelled: ``channels.http.run``).
    """
    try:
        return http.run(lambda session: work(channel_for(settings, session)),
                        timeout=calls * settings.timeout_seconds + MARGIN_SECONDS)
    except TimeoutError:
        # Worded as the channel words its own timeout of a call (a send's caller words it for a message).
        raise ChannelError(call_sentence_for(settings.channel, "timeout"), "timeout", retryable=True) from None
