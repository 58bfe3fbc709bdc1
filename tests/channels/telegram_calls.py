"""The TelegramBot channel pointed at the real sandbox process, and the sandbox's Telegram control API."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp

from channels.base import SenderSettings
from channels.registry import channel_for
from channels.sandbox.defaults import TELEGRAM_SECRET, TELEGRAM_TOKEN, TELEGRAM_USERNAME
from tests.sandbox_provider import SandboxProcess

__all__ = ["TELEGRAM_SECRET", "TELEGRAM_TOKEN", "TELEGRAM_USERNAME", "bot_call", "control", "settings",
           "with_bot"]


def settings(sandbox: SandboxProcess, **overrides: Any) -> SenderSettings:
    values = {"channel": "telegram", "base_url": sandbox.url, "access_token": TELEGRAM_TOKEN,
              "app_secret": TELEGRAM_SECRET, "bot_username": TELEGRAM_USERNAME, "timeout_seconds": 5.0}
    return SenderSettings(**{**values, **overrides})


def with_bot(sandbox: SandboxProcess, work, **overrides: Any) -> Any:
    """Run ``work(channel)`` with a Telegram channel on the sandbox, on a fresh session; returns its result."""

    async def main():
        async with aiohttp.ClientSession() as session:
            return await work(channel_for(settings(sandbox, **overrides), session))

    return asyncio.run(main())


def control(sandbox: SandboxProcess, action: str, method: str = "POST", **body: Any) -> Any:
    """``/_sandbox/telegram/<action>`` with ``body``; the JSON answer (raises HTTPError on a refusal)."""
    return sandbox.control(method, f"/_sandbox/telegram/{action}", body if method == "POST" else None)


def bot_call(sandbox: SandboxProcess, method: str, body: Any = None, token: str = TELEGRAM_TOKEN,
             ) -> tuple[int, dict[str, Any]]:
    """A raw Bot API call to the sandbox: its HTTP status and JSON answer."""
    request = urllib.request.Request(f"{sandbox.url}/bot{token}/{method}", data=json.dumps(body or {}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
