"""What the sandbox's MAX and Telegram sides share for tests: a bot channel's settings on the sandbox, a run of
the channel on a fresh session, and plain JSON calls that answer a refusal's status and JSON as well."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp

from channels.base import SenderSettings
from channels.registry import channel_for
from channels.sandbox import defaults

# The sandbox's default bot of each channel: its token, webhook secret and username.
BOTS = {"max": (defaults.MAX_TOKEN, defaults.MAX_WEBHOOK_SECRET, defaults.MAX_BOT_USERNAME),
        "telegram": (defaults.TELEGRAM_TOKEN, defaults.TELEGRAM_SECRET, defaults.TELEGRAM_USERNAME)}


def settings(channel: str, sandbox, **overrides: Any) -> SenderSettings:
    """The sandbox's default bot of ``channel``, as a sender's settings (``overrides`` win)."""
    token, secret, username = BOTS[channel]
    values = {"channel": channel, "base_url": sandbox.url, "access_token": token, "app_secret": secret,
              "bot_username": username, "timeout_seconds": 5.0}
    return SenderSettings(**{**values, **overrides})


def with_bot(channel: str, sandbox, work, **overrides: Any) -> Any:
    """Run ``work(bot)`` with ``channel``'s bot on the sandbox, on a fresh session; returns its result."""

    async def main():
        async with aiohttp.ClientSession() as session:
            return await work(channel_for(settings(channel, sandbox, **overrides), session))

    return asyncio.run(main())


def json_call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
              timeout: float = 30) -> tuple[int, dict[str, str], Any]:
    """One HTTP request with a JSON body (if any): the answer's status, headers and JSON, for a refusal too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())
