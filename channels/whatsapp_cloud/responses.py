"""Reading the Cloud API's answers: a send's ids, an error's code, template records, the number's record.

Pure functions over decoded JSON; the client does the I/O.
"""

from __future__ import annotations

from typing import Any

from channels.base import NumberInfo, TemplateState

# Messages per second by the number's throughput level (Meta: standard 80, high 1,000).
THROUGHPUT = {"STANDARD": 80, "HIGH": 1000}
DEFAULT_THROUGHPUT = 80


def accepted_ids(document: Any) -> tuple[str, str | None] | None:
    """``(messages[0].id, contacts[0].wa_id)`` of a successful send; None when the answer has no message id."""
    if not isinstance(document, dict):
        return None
    messages, contacts = document.get("messages"), document.get("contacts")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    provider_id = messages[0].get("id")
    if not isinstance(provider_id, str) or not provider_id:
        return None
    address = None
    if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
        address = contacts[0].get("wa_id") or None
    return provider_id, address


def error_code(document: Any) -> int | None:
    """The ``error.code`` of an error answer, or None when the body is not Meta's error shape."""
    if not isinstance(document, dict) or not isinstance(document.get("error"), dict):
        return None
    code = document["error"].get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.lstrip("-").isdigit():
        return int(code)
    return None


def error_text(document: Any) -> str:
    """Meta's own message and details of an error answer, for the logs (never shown to a marketer as is)."""
    if not isinstance(document, dict) or not isinstance(document.get("error"), dict):
        return ""
    error = document["error"]
    details = error.get("error_data", {}).get("details", "") if isinstance(error.get("error_data"), dict) else ""
    return " — ".join(part for part in (str(error.get("message", "")), str(details)) if part)


def reason(value: Any) -> str:
    """A template's rejection reason, "" where there is none (Meta writes "NONE")."""
    return "" if value in (None, "", "NONE") else str(value)


def template_state(record: dict[str, Any], name: str = "", language: str = "") -> TemplateState:
    """A template record (from the list, or the answer to a submission) as a :class:`TemplateState`."""
    category = record.get("category")
    return TemplateState(
        provider_id=str(record.get("id", "")),
        name=str(record.get("name") or name),
        language=str(record.get("language") or language),
        status=str(record.get("status", "")).lower(),
        category=str(category).lower() if category else None,
        reason=reason(record.get("rejected_reason")),
    )


def next_cursor(document: dict[str, Any], previous: str | None, limit: int) -> str | None:
    """The ``after`` cursor of the next page of a list, or None on the last page.

    Meta gives ``paging.next`` only when another page exists, but a server may give the cursors alone: so a
    full page (``limit`` records) is followed by its ``after`` cursor too, as long as the cursor moves.
    """
    paging, data = document.get("paging"), document.get("data")
    if not isinstance(paging, dict) or not data or ("next" not in paging and len(data) < limit):
        return None
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
    after = cursors.get("after")
    if not after or after == previous:
        return None
    return str(after)


def number_info(document: dict[str, Any]) -> NumberInfo:
    """The phone number's record as :class:`NumberInfo` (throughput level → messages per second)."""
    throughput = document.get("throughput") if isinstance(document.get("throughput"), dict) else {}
    level = str(throughput.get("level", "")).upper()
    return NumberInfo(
        display_phone_number=str(document.get("display_phone_number", "")),
        quality=str(document.get("quality_rating") or "UNKNOWN").upper(),
        tier=document.get("messaging_limit_tier") or None,
        messages_per_second=THROUGHPUT.get(level, DEFAULT_THROUGHPUT),
        verified_name=str(document.get("verified_name", "")),
    )
