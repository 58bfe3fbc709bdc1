"""The TelegramBot channel pointed at the real sandbox process, and the sandbox's Telegram control API."""

from __future__ import annotations

from typing import Any

from channels.base import SenderSettings
from channels.sandbox.defaults import TELEGRAM_SECRET, TELEGRAM_TOKEN, TELEGRAM_USERNAME
from tests.channels import bot_calls
from tests.sandbox_provider import SandboxProcess

__all__ = ["TELEGRAM_SECRET", "TELEGRAM_TOKEN", "TELEGRAM_USERNAME", "bot_call", "control", "settings",
           "with_bot"]


def settings(sandbox: SandboxProcess, **overrides: Any) -> SenderSettings:
    return bot_calls.settings("telegram", sandbox, **overrides)


def with_bot(sandbox: SandboxProcess, work, **overrides: Any) -> Any:
    """Run ``work(channel)`` with a Telegram channel on the sandbox, on a fresh session; returns its result."""
    return bot_calls.with_bot("telegram", sandbox, work, **overrides)


def control(sandbox: SandboxProcess, action: str, method: str = "POST", **body: Any) -> Any:
    """``/_sandbox/telegram/<action>`` with ``body``; the JSON answer (raises HTTPError on a refusal)."""
    return sandbox.control(method, f"/_sandbox/telegram/{action}", body if method == "POST" else None)


def bot_call(sandbox: SandboxProcess, method: str, body: Any = None, token: str = TELEGRAM_TOKEN,
             ) -> tuple[int, dict[str, Any]]:
    """A raw Bot API call to the sandbox: its HTTP status and JSON answer."""
    status, _headers, answer = bot_calls.json_call("POST", f"{sandbox.url}/bot{token}/{method}", body or {},
                                                   timeout=10)
    return status, answer
