"""Plain aiohttp calls to the sandbox's Cloud API, for the sandbox's own tests (not through any adapter)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.sandbox_provider import PHONE_NUMBER_ID, TOKEN, WABA_ID, SandboxProcess


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    json: Any

    @property
    def code(self) -> int | None:
        return self.json.get("error", {}).get("code") if isinstance(self.json, dict) else None

    @property
    def wamid(self) -> str:
        return self.json["messages"][0]["id"]


async def _call(method: str, url: str, body: Any, token: str | None, timeout: float) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
            session.request(method, url, json=body, headers=headers) as response:
        return Answer(response.status, dict(response.headers), await response.json(content_type=None))


def call(method: str, url: str, body: Any = None, token: str | None = TOKEN, timeout: float = 10) -> Answer:
    """One HTTP request; the answer's status, headers and JSON."""
    return asyncio.run(_call(method, url, body, token, timeout))


def template_message(to: str, name: str, language: str = "ru", components: list | None = None,
                     key: str | None = None) -> dict:
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                            "type": "template", "template": {"name": name, "language": {"code": language}}}
    if components:
        body["template"]["components"] = components
    if key is not None:
        body["biz_opaque_callback_data"] = key
    return body


def body_parameters(*values: str) -> list[dict]:
    return [{"type": "body", "parameters": [{"type": "text", "text": value} for value in values]}]


def send(sandbox: SandboxProcess, body: dict, number: str = PHONE_NUMBER_ID, **kwargs: Any) -> Answer:
    return call("POST", sandbox.graph_url(number, "messages"), body, **kwargs)


def submit(sandbox: SandboxProcess, name: str, body_text: str = "Здравствуйте, {{1}}! Ваш заказ {{2}} готов.",
           category: str = "UTILITY", language: str = "ru", waba: str = WABA_ID, extra: list | None = None,
           **fields: Any) -> Answer:
    """Submit a template with a body (and further components)."""
    components = [{"type": "BODY", "text": body_text}, *(extra or [])]
    submission = {"name": name, "language": language, "category": category, "components": components, **fields}
    return call("POST", sandbox.graph_url(waba, "message_templates"), submission)


def edit(sandbox: SandboxProcess, template_id: str, body_text: str | None = None, **fields: Any) -> Answer:
    """Edit a template (``POST /{template_id}``) with a new body, or with just the fields given."""
    body = {"components": [{"type": "BODY", "text": body_text}]} if body_text is not None else {}
    return call("POST", sandbox.graph_url(template_id), {**body, **fields})


def approved(sandbox: SandboxProcess, name: str = "order_ready", **kwargs: Any) -> str:
    """Submit a template the sandbox approves at once; its id."""
    answer = submit(sandbox, name, **kwargs)
    assert answer.status == 200 and answer.json["status"] == "APPROVED", answer.json
    return answer.json["id"]


QUIET = {"read": 0, "reorder": 0, "duplicate": 0, "failed": 0}  # statuses: sent and delivered only, in order


def calls_back(sandbox: SandboxProcess, receiver: Any, delays: tuple[float, float] = (30, 60),
               **shares: float) -> None:
    """Point the sandbox's webhooks at ``receiver`` with the given status shares; the delays are short, yet
    long enough that webhooks due one after the other also arrive in that order."""
    sandbox.configure(callback_url=receiver.url, callback_delays_ms=list(delays), status_shares={**QUIET, **shares})


def changes(callbacks: list) -> list[tuple[str, dict]]:
    """(field, value) of every webhook, in arrival order."""
    return [(change["field"], change["value"])
            for callback in callbacks for entry in callback.json()["entry"] for change in entry["changes"]]


def statuses(callbacks: list) -> list[dict]:
    return [status for field, value in changes(callbacks) if field == "messages"
            for status in value.get("statuses", ())]


def inbound_messages(callbacks: list) -> list[dict]:
    return [message for field, value in changes(callbacks) if field == "messages"
            for message in value.get("messages", ())]
