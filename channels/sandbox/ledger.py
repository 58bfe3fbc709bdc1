"""What the sandbox saw: every request and every accepted message, and counts of both.

Appending is O(1) (a tuple on a deque, a few counter increments): the benchmark sends hundreds of
thousands of requests. Entries are turned into JSON only when someone reads the ledger. A repeated
send of a message key that idempotency answered with the first message counts as an attempt of that
message and as a duplicate request, never as another accepted message.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Message:
    """One accepted message. A template message keeps the raw request body and decodes its components only
    when the ledger is read: the parsed JSON of every message would take a lot more memory, and time."""

    id: str
    phone_number_id: str
    from_number: str  # the sender's display number
    to: str  # wa_id: the recipient's digits
    key: str | None  # biz_opaque_callback_data
    type: str  # template | text
    at: float
    template: tuple[str, str, str] | None = None  # name, language, category
    raw: bytes = b""  # the send's body, for the template's components
    text: str | None = None
    category: str = "service"  # pricing category: marketing, utility, authentication, service
    attempts: int = 1
    quick_replies: list[tuple[str, str]] = field(default_factory=list)  # (payload, text) a button tap answers

    def to_json(self) -> dict[str, Any]:
        template = None
        if self.template is not None:
            name, language, category = self.template
            components = json.loads(self.raw)["template"].get("components") or []
            template = {"name": name, "language": language, "category": category, "components": components}
        return {
            "id": self.id, "phone_number_id": self.phone_number_id, "from": self.from_number, "to": self.to,
            "key": self.key, "type": self.type, "template": template, "text": self.text,
            "category": self.category, "attempts": self.attempts, "at": self.at,
        }


REQUEST_FIELDS = ("method", "path", "status", "code", "key", "at")


class Ledger:
    """The record of one sandbox run since the last reset."""

    def __init__(self, keep_requests: int) -> None:
        self.requests: deque[tuple] = deque(maxlen=keep_requests or None)
        self.messages: list[Message] = []
        self.counts: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()

    def request(self, method: str, path: str, status: int, code: int | None = None, key: str | None = None,
                at: float | None = None) -> None:
        """Record one Graph API request and its answer (``code``: the error code, None when it succeeded); ``at``
        is when it arrived (a provider counts its rate limits by arrivals), now if not given."""
        # One copy of each path.
        self.requests.append((method, sys.intern(path), status, code, key, time.time() if at is None else at))
        self.counts["requests"] += 1
        if code is not None:
            self.counts["errors"] += 1
            self.codes[str(code)] += 1

    def accepted(self, message: Message) -> None:
        self.messages.append(message)
        self.counts["accepted"] += 1

    def duplicate(self, message: Message) -> None:
        """A send of a key already accepted: one more attempt of the same message."""
        message.attempts += 1
        self.counts["duplicates"] += 1

    def event(self, name: str) -> None:
        """Count something else that happened (webhooks sent, retried, given up; templates decided…)."""
        self.counts[name] += 1

    def summary(self) -> dict[str, Any]:
        counts = {"requests": 0, "accepted": 0, "duplicates": 0, "errors": 0, **self.counts}
        return {"counts": counts, "errors_by_code": dict(self.codes)}

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "requests": [dict(zip(REQUEST_FIELDS, entry, strict=True)) for entry in self.requests],
            "messages": [message.to_json() for message in self.messages],
        }
