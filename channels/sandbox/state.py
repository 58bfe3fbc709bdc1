"""The sandbox's memory: numbers, templates, accepted messages, what recipients did, MAX bots, the ledger.

All of it lives in the one process and is forgotten by ``reset`` (or a restart): the sandbox is a
stand-in for tests, benchmarks and trying Vestnik out, not a store.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from channels.sandbox import defaults
from channels.sandbox.ledger import Ledger, Message
from channels.sandbox.max_state import MaxState
from channels.sandbox.settings import Settings, SettingsError
from channels.sandbox.sms_state import SmsState
from channels.sandbox.telegram_world import TelegramWorld
from channels.sandbox.templates import TemplateBook

TIERS = ("TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED")
QUALITIES = ("GREEN", "YELLOW", "RED", "UNKNOWN")
THROUGHPUT = {"STANDARD": 80, "HIGH": 1000}


@dataclass
class Number:
    """A business phone number registered with the sandbox."""

    phone_number_id: str = defaults.PHONE_NUMBER_ID
    waba_id: str = defaults.WABA_ID
    display_phone_number: str = defaults.DISPLAY_PHONE_NUMBER
    verified_name: str = "Vestnik Sandbox"
    tier: str = "TIER_1K"
    quality: str = "GREEN"
    throughput: str = "STANDARD"
    callback_url: str | None = None  # else the global one
    app_secret: str | None = None  # else the global one
    token: str | None = None  # else the global one

    @property
    def digits(self) -> str:
        """The display number as webhooks' metadata carries it: digits only."""
        return "".join(c for c in self.display_phone_number if c.isdigit())

    def public(self, fields: list[str] | None = None) -> dict[str, Any]:
        """The number as ``GET /{version}/{phone_number_id}`` answers it."""
        values = {
            "id": self.phone_number_id, "display_phone_number": self.display_phone_number,
            "verified_name": self.verified_name, "quality_rating": self.quality,
            "messaging_limit_tier": self.tier, "throughput": {"level": self.throughput},
            "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API", "name_status": "APPROVED",
        }
        if not fields:
            return values
        return {name: values[name] for name in ("id", *fields) if name in values}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for secret in ("app_secret", "token"):
            data[secret] = bool(data[secret])  # the control API says whether one is set, never which
        return data


def number_from(body: Any, current: Number | None) -> Number:
    """A number from a registration body (fields not given keep their current or default values)."""
    if not isinstance(body, dict) or not isinstance(body.get("phone_number_id"), str | int):
        raise SettingsError("a number needs its phone_number_id")
    known = Number.__dataclass_fields__
    unknown = set(body) - set(known)
    if unknown:
        raise SettingsError(f"unknown number fields: {', '.join(sorted(unknown))}")
    values = asdict(current) if current is not None else {}
    values.update({name: (str(value) if name.endswith("_id") else value) for name, value in body.items()})
    number = Number(**values)
    if number.tier not in TIERS:
        raise SettingsError(f"tier must be one of {', '.join(TIERS)}")
    if number.quality not in QUALITIES:
        raise SettingsError(f"quality must be one of {', '.join(QUALITIES)}")
    if number.callback_url is not None and not str(number.callback_url).startswith(("http://", "https://")):
        raise SettingsError("callback_url must be an http(s) URL")
    if number.throughput not in THROUGHPUT:
        raise SettingsError("throughput must be STANDARD or HIGH")
    return number


class State:
    """Everything the sandbox knows since its last reset."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        default = Number()
        self.numbers: dict[str, Number] = {default.phone_number_id: default}
        self.book = TemplateBook()
        self.ledger = Ledger(settings.ledger_requests)
        self.by_key: dict[tuple[str, str], Message] = {}  # (phone_number_id, biz_opaque_callback_data)
        self.last_inbound: dict[tuple[str, str], float] = {}  # (phone_number_id, wa_id) → unix time
        self.sent_to: Counter[tuple[str, str]] = Counter()
        self.stopped_marketing: set[tuple[str, str]] = set()
        self.blocked: set[tuple[str, str]] = set()
        self.requests = itertools.count()
        self.buckets: dict[str, tuple[float, float]] = {}  # phone_number_id → (tokens, monotonic time)
        self.max = MaxState()  # MAX bots, simulated people and their dialogs (max_routes.py)
        self.telegram = TelegramWorld()  # the Bot API's bots, people, dialogs and messages
        self.sms = SmsState()  # SMSC accounts and the SMS they took (sms_routes.py)
        # wamids: a random prefix per reset and a counter, so ids never repeat within or across runs.
        self._prefix = os.urandom(7)
        self._ids = itertools.count(1)

    def new_wamid(self) -> str:
        raw = self._prefix + next(self._ids).to_bytes(8, "big")
        return "wamid." + base64.b64encode(raw).decode()

    def within_throughput(self, number: Number) -> bool:
        """Take one send from the number's token bucket (its throughput per second, a second's burst)."""
        rate = THROUGHPUT[number.throughput]
        now = time.monotonic()
        tokens, then = self.buckets.get(number.phone_number_id, (rate, now))
        tokens = min(rate, tokens + (now - then) * rate)
        if tokens < 1:
            self.buckets[number.phone_number_id] = (tokens, now)
            return False
        self.buckets[number.phone_number_id] = (tokens - 1, now)
        return True

    def number_of_account(self, waba_id: str) -> Number | None:
        return next((n for n in self.numbers.values() if n.waba_id == waba_id), None)

    def number_of_template(self, template_id: str) -> Number | None:
        """The (first) number of the account a template belongs to: its token guards the template's node."""
        template = self.book.by_id.get(template_id)
        return self.number_of_account(template.waba_id) if template is not None else None

    def callback_of(self, number: Number) -> tuple[str | None, str]:
        """Where this number's webhooks go (None: nowhere) and the secret they are signed with."""
        return number.callback_url or self.settings.callback_url, number.app_secret or self.settings.app_secret
