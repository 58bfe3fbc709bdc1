"""The sandbox's run-time settings: set by the command line, changed over ``POST /_sandbox/config``.

``reset`` goes back to the settings the process started with (command line included), not to the
defaults below.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from channels.sandbox import defaults

FAULTS = ("http_429", "code_130429", "http_500", "timeout")
STATUS_SHARES = ("read", "reorder", "duplicate", "failed", "late")


class SettingsError(ValueError):
    """A configuration the sandbox refuses; the message says which setting and why."""


def _default_faults() -> dict[str, float]:
    return dict.fromkeys(FAULTS, 0.0)


def _default_status_shares() -> dict[str, float]:
    # Most messages are read; a few statuses come out of order or twice, a few messages fail (131049). None is
    # delivered late unless asked (``late``: the phone was off, its delivery comes after ``late_delays_ms``).
    return {"read": 0.8, "reorder": 0.1, "duplicate": 0.05, "failed": 0.02, "late": 0.0}


@dataclass
class Settings:
    token: str = defaults.TOKEN
    app_secret: str = defaults.APP_SECRET
    idempotency: bool = True
    latency_ms: float = 100.0  # added to every Graph API request, so that figures measured against it are honest
    faults: dict[str, float] = field(default_factory=_default_faults)  # shares of requests, 0..1
    retry_after: int = 1  # seconds, in the Retry-After header of throttling faults
    timeout_hold_s: float = 30.0  # how long a "timeout" fault holds its answer back
    callback_url: str | None = None  # where webhooks go for numbers without a callback URL of their own
    callback_delays_ms: list[float] = field(default_factory=lambda: [50.0, 1500.0])  # between two statuses
    # A late delivery (``status_shares.late``) comes this long after ``sent``: a phone off for a minute to an hour.
    late_delays_ms: list[float] = field(default_factory=lambda: [60_000.0, 3_600_000.0])
    callback_retries: int = 5  # further attempts of a webhook the receiver refused
    callback_backoff_ms: float = 500.0  # first pause before a retry, doubled each time
    status_shares: dict[str, float] = field(default_factory=_default_status_shares)
    template_delay_ms: float = 0.0  # before a submitted template is decided (0: at once)
    slow_template_delay_ms: float = 2000.0  # at least this for templates whose name ends in _slow
    # Meta's limits on editing an approved template (rejected and paused ones can be edited without limit).
    approved_edits_per_day: int = 1
    approved_edits_per_30_days: int = 10
    enforce_throughput: bool = False  # refuse sends over the number's throughput (STANDARD 80/s, HIGH 1,000/s)
    # MAX bots (max_routes.py): their limits are enforced (429 too.many.requests, counted in the ledger) unless off.
    max_enforce_limits: bool = True
    max_requests_per_second: int = 30  # per bot, every Bot API request
    max_dialog_messages_per_second: int = 2  # messages to one dialog
    # SMSC accounts (sms_routes.py): requests a second one login may make (code 9 beyond it) unless off.
    sms_enforce_limits: bool = True
    sms_requests_per_second: int = 50
    ledger_requests: int = 1_000_000  # request entries kept (counts stay exact beyond it)
    seed: int = 0

    @property
    def any_faults(self) -> bool:
        return any(self.faults.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def copy(self) -> Settings:
        return copy.deepcopy(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial configuration; checks everything before changing anything."""
        if not isinstance(changes, dict):
            raise SettingsError("the configuration must be a JSON object")
        candidate = self.copy()
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise SettingsError(f"unknown setting {name!r}")
            setattr(candidate, name, _checked(name, value, getattr(candidate, name)))
        self.__dict__.update(candidate.__dict__)


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SettingsError(f"{name} must be a share between 0 and 1")
    return float(value)


def _checked(name: str, value: Any, current: Any) -> Any:
    if name in ("faults", "status_shares"):
        known = FAULTS if name == "faults" else STATUS_SHARES
        if not isinstance(value, dict) or set(value) - set(known):
            raise SettingsError(f"{name} takes the keys {', '.join(known)}")
        merged = dict(current)
        merged.update({key: _share(f"{name}.{key}", share) for key, share in value.items()})
        if name == "faults" and sum(merged.values()) > 1:
            raise SettingsError("the fault shares add up to more than 1")
        return merged
    if name in ("callback_delays_ms", "late_delays_ms"):
        if (not isinstance(value, list | tuple) or len(value) != 2 or not all(isinstance(v, int | float) for v in value)
                or not 0 <= value[0] <= value[1]):
            raise SettingsError(f"{name} must be [min, max] with 0 <= min <= max")
        return [float(value[0]), float(value[1])]
    if name == "callback_url":
        if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
            raise SettingsError("callback_url must be an http(s) URL or null")
        return value or None
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false")
        return value
    if isinstance(current, str):
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{name} must be a non-empty string")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SettingsError(f"{name} must be a number >= 0")
    return type(current)(value)
