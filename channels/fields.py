"""Reading a provider's webhook body: the JSON decoded, and objects where the body must have them, each
refusal a :class:`WebhookError` that says where the body is wrong (for the log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from channels.base import WebhookError


def decoded(body: bytes) -> Any:
    """The JSON of ``body``; :class:`WebhookError` when it is not JSON (or not UTF-8)."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookError(f"the body is not JSON: {error}") from None


def object_of(value: Any, where: str) -> dict[str, Any]:
    """``value`` when it is a JSON object; :class:`WebhookError` naming ``where`` when it is not."""
    if not isinstance(value, dict):
        raise WebhookError(f"{where} should be an object, not {type(value).__name__}")
    return value


def unix_seconds(container: dict[str, Any], name: str, where: str) -> datetime:
    """``container[name]`` as Unix seconds (an integer or its digits), in UTC; :class:`WebhookError` otherwise."""
    value = container.get(name)
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise WebhookError(f"{where}.{name} should be unix seconds, not {value!r}") from None
