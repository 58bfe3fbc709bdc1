"""The sandbox's SMSC side for tests: the default account as a sender's settings, a run of the gateway on a fresh
session, and the SMS control calls."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from channels.base import Outbound, SenderSettings
from channels.registry import channel_for
from channels.sandbox import defaults

SECRET = "sms-callback-secret-1"


def settings(sandbox, **overrides: Any) -> SenderSettings:
    values = {"channel": "smsc", "base_url": sandbox.url, "login": defaults.SMS_LOGIN,
              "access_token": defaults.SMS_PASSWORD, "app_secret": SECRET, "alpha_name": defaults.SMS_ALPHA_NAME,
              "timeout_seconds": 5.0}
    return SenderSettings(**{**values, **overrides})


def with_gateway(sandbox, work, **overrides: Any) -> Any:
    """Run ``work(gateway)`` with the sandbox's SMSC account, on a fresh session; returns its result."""

    async def main():
        async with aiohttp.ClientSession() as session:
            return await work(channel_for(settings(sandbox, **overrides), session))

    return asyncio.run(main())


def send(sandbox, messages: list[Outbound], **overrides: Any):
    return with_gateway(sandbox, lambda gateway: gateway.send(messages), **overrides)


def point(sandbox, url: str | None, login: str = defaults.SMS_LOGIN, **fields: Any) -> dict:
    """Point the account's status callbacks at ``url``."""
    return sandbox.control("POST", "/_sandbox/sms/accounts", {"login": login, "callback_url": url, **fields})


def messages(sandbox) -> list[dict]:
    return sandbox.control("GET", "/_sandbox/sms/messages")


def late_report(sandbox, key: str, status: int = 1, err: int = 0) -> dict:
    return sandbox.control("POST", f"/_sandbox/sms/messages/{key}/reports", {"status": status, "err": err})


def accounts(sandbox) -> list[dict]:
    return sandbox.control("GET", "/_sandbox/sms/accounts")
