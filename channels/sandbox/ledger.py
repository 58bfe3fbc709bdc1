"""What the sandbox saw: every request and every accepted message, and counts of both.

Appending is O(1) (a tuple on a deque, a few counter increments): the benchmark sends hundreds of
thousands of requests. Entries are turned into JSON only when someone reads the ledger. A repeated
send of a message key that idempotency answered with the first message counts as an attempt of that
message and as a duplicate request, never as another accepted message.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """One accepted message."""

    id: str
    phone_number_id: str
    from_number: str  # the sender's display number
    to: str  # wa_id: the recipient's digits
    key: str | None  # biz_opaque_callback_data
    type: str  # template | text
    at: float
    template: dict[str, Any] | None = None  # {name, language, category, components}
    text: str | None = None
    category: str = "service"  # pricing category: marketing, utility, authentication, service
    attempts: int = 1
    quick_replies: list[tuple[str, str]] = field(default_factory=list)  # (payload, text) a button tap answers

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "phone_number_id": self.phone_number_id, "from": self.from_number, "to": self.to,
            "key": self.key, "type": self.type, "template": self.template, "text": self.text,
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

    def request(self, method: str, path: str, status: int, code: int | None = None, key: str | None = None) -> None:
        """Record one Graph API request and its answer (``code``: the error code, None when it succeeded)."""
        self.requests.append((method, path, status, code, key, time.time()))
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
