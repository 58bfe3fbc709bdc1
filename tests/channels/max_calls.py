"""The sandbox's MAX side for tests: the MaxBot channel on it, its MAX control API, raw Bot API calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.base import SenderSettings
from channels.sandbox import defaults
from tests.channels import bot_calls

TOKEN = defaults.MAX_TOKEN
SECRET = defaults.MAX_WEBHOOK_SECRET
TESTDATA = Path(__file__).resolve().parents[2] / "channels/max/testdata"


def fixture(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def settings(sandbox, **overrides: Any) -> SenderSettings:
    return bot_calls.settings("max", sandbox, **overrides)


def with_bot(sandbox, work, **overrides: Any):
    """Run ``work(bot)`` with a MaxBot on the sandbox, on a fresh session; returns its result."""
    return bot_calls.with_bot("max", sandbox, work, **overrides)


def send(sandbox, messages, **overrides: Any):
    return with_bot(sandbox, lambda bot: bot.send(messages), **overrides)


def control(sandbox, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A MAX control API call (``/_sandbox/max/…``): its status and JSON, also for a 400."""
    status, _headers, answer = bot_calls.json_call(method, f"{sandbox.url}/_sandbox/max{path}", body)
    return status, answer


def ok(sandbox, method: str, path: str, body: Any = None) -> Any:
    status, answer = control(sandbox, method, path, body)
    assert status == 200, answer
    return answer


def start(sandbox, user_id: int, payload: str | None = None, **fields: Any) -> dict:
    return ok(sandbox, "POST", f"/users/{user_id}/start", {**({"payload": payload} if payload else {}), **fields})


def stop(sandbox, user_id: int) -> dict:
    return ok(sandbox, "POST", f"/users/{user_id}/stop", {})


def write(sandbox, user_id: int, text: str, reply_to: str | None = None) -> dict:
    return ok(sandbox, "POST", f"/users/{user_id}/messages", {"text": text, **({"reply_to": reply_to} if reply_to
                                                                                  else {})})


def press(sandbox, user_id: int, payload: str, mid: str | None = None) -> dict:
    return ok(sandbox, "POST", f"/users/{user_id}/press", {"payload": payload, **({"mid": mid} if mid else {})})


def people(sandbox, *user_ids: int, started: bool = True) -> dict:
    return ok(sandbox, "POST", "/users", {"users": [{"user_id": u, "started": started} for u in user_ids]})


def sent(sandbox, user_id: int | None = None) -> list[dict]:
    return ok(sandbox, "GET", "/messages" + (f"?user_id={user_id}" if user_id is not None else ""))


def raw(sandbox, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, dict, Any]:
    """One Bot API request past the adapter: status, headers, JSON."""
    return bot_calls.json_call(method, sandbox.url + path, body, {"Authorization": token} if token is not None else {})
