"""Cloud API webhook bodies → neutral events (``channels.base``), purely.

One body holds entries (one per business account), each with changes named by ``field``:
``messages`` (statuses of our messages, people's messages and button replies), ``user_preferences``
(stop/resume marketing messages), ``message_template_status_update``, ``template_category_update``
and ``phone_number_quality_update``. Fields and values we do not know are ignored (Meta adds them
freely); a body that is not JSON or has the wrong shape raises :class:`WebhookError` saying what.

One field is not Meta's: ``vestnik_block_reports`` (value ``{"block_reports": [{"wa_id", "kind": "block" |
"spam_report", "timestamp", "id"}]}``) is how the sandbox's simulated recipients and an operator's feed say that
someone blocked the number or reported it as spam, which the Cloud API never sends (docs/feedback.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.base import (
    BLOCK_REPORT_KINDS,
    BlockReport,
    DeliveryStatus,
    Event,
    InboundMessage,
    NumberQualityChange,
    PreferenceChange,
    StatusEvent,
    TemplateStatusChange,
    WebhookError,
)
from channels.fields import decoded, object_of, unix_seconds
from channels.whatsapp_cloud.responses import reason

OBJECT = "whatsapp_business_account"
_STATUSES = {status.value: status for status in DeliveryStatus}
_PREFERENCES = {"stop": True, "resume": False}


def _list(container: dict[str, Any], name: str, where: str) -> list[Any]:
    value = container.get(name, [])
    if not isinstance(value, list):
        raise WebhookError(f"{where}.{name} should be a list, not {type(value).__name__}")
    return value


def _text(container: dict[str, Any], name: str, where: str) -> str:
    value = container.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise WebhookError(f"{where}.{name} is missing or not a string")
    return str(value)


def _optional(container: dict[str, Any], name: str) -> str | None:
    value = container.get(name)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None


def _moment(container: dict[str, Any], where: str) -> datetime:
    return unix_seconds(container, "timestamp", where)


def _status(item: Any, where: str) -> StatusEvent | None:
    item = object_of(item, where)
    status = _STATUSES.get(_text(item, "status", where))
    if status is None:
        return None  # a status we do not track (Meta adds some: "deleted", "warning", …)
    pricing = item.get("pricing") if isinstance(item.get("pricing"), dict) else {}
    errors = _list(item, "errors", where)
    error = object_of(errors[0], f"{where}.errors[0]") if errors else {}
    billable = pricing.get("billable")
    return StatusEvent(
        provider_id=_text(item, "id", where),
        status=status,
        at=_moment(item, where),
        recipient=_optional(item, "recipient_id") or _optional(item, "recipient_user_id") or "",
        key=_optional(item, "biz_opaque_callback_data"),
        pricing_category=_optional(pricing, "category"),
        billable=billable if isinstance(billable, bool) else None,
        error_code=_optional(error, "code"),
        error_title=str(error.get("title") or error.get("message") or ""),
    )


def _contacts(value: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The value's contacts by wa_id (and by user_id), for the names of the people who wrote."""
    found: dict[str, dict[str, Any]] = {}
    for index, contact in enumerate(_list(value, "contacts", where)):
        contact = object_of(contact, f"{where}.contacts[{index}]")
        for name in ("wa_id", "user_id"):
            if _optional(contact, name):
                found[str(contact[name])] = contact
    return found


def _reply(item: dict[str, Any], kind: str) -> tuple[str, str | None]:
    """The text and the button payload of a message, by its type."""
    if kind == "text":
        body = item.get("text") if isinstance(item.get("text"), dict) else {}
        return str(body.get("body", "")), None
    if kind == "button":
        button = item.get("button") if isinstance(item.get("button"), dict) else {}
        return str(button.get("text", "")), _optional(button, "payload")
    if kind == "interactive":
        interactive = item.get("interactive") if isinstance(item.get("interactive"), dict) else {}
        reply = interactive.get("button_reply") or interactive.get("list_reply")
        if isinstance(reply, dict):
            return str(reply.get("title", "")), _optional(reply, "id")
        return "", None
    media = item.get(kind) if isinstance(item.get(kind), dict) else {}
    return str(media.get("caption", "")), None  # image, video, document…: the caption is what they wrote


def _message(item: Any, contacts: dict[str, dict[str, Any]], where: str) -> InboundMessage:
    item = object_of(item, where)
    sender = _optional(item, "from") or _optional(item, "from_user_id")
    if sender is None:
        raise WebhookError(f"{where} has neither 'from' nor 'from_user_id'")
    kind = _text(item, "type", where)
    text, payload = _reply(item, kind)
    contact = contacts.get(sender) or contacts.get(_optional(item, "from_user_id") or "") or {}
    profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
    context = item.get("context") if isinstance(item.get("context"), dict) else {}
    return InboundMessage(
        provider_id=_text(item, "id", where),
        sender=sender,
        at=_moment(item, where),
        text=text,
        button_payload=payload,
        context_id=_optional(context, "id"),
        profile_name=str(profile.get("name", "")),
        user_id=_optional(item, "from_user_id") or _optional(contact, "user_id"),
        kind=kind,
    )


def _messages(value: dict[str, Any], where: str, account: str | None) -> list[Event]:
    events: list[Event] = []
    for index, item in enumerate(_list(value, "statuses", where)):
        status = _status(item, f"{where}.statuses[{index}]")
        if status is not None:
            events.append(status)
    contacts = _contacts(value, where)
    for index, item in enumerate(_list(value, "messages", where)):
        events.append(_message(item, contacts, f"{where}.messages[{index}]"))
    # value.errors (an error not tied to a message, e.g. the app could not be authenticated) has no event of
    # its own: the sends fail with the same code, and that is where it is acted on.
    return events


def _preferences(value: dict[str, Any], where: str, account: str | None) -> list[Event]:
    events: list[Event] = []
    for index, item in enumerate(_list(value, "user_preferences", where)):
        place = f"{where}.user_preferences[{index}]"
        item = object_of(item, place)
        stopped = _PREFERENCES.get(str(item.get("value", "")).lower())
        if stopped is None:
            continue  # a preference value we do not know
        events.append(PreferenceChange(address=_text(item, "wa_id", place), at=_moment(item, place),
                                       category=str(item.get("category") or "marketing_messages"), stopped=stopped))
    return events


def _template_status(value: dict[str, Any], where: str, account: str | None) -> list[Event]:
    category = _optional(value, "message_template_category")
    # A pause or a disabling says why in other_info ({title: FIRST_PAUSE, description: "… paused for 3 hours …"}).
    other = value.get("other_info") if isinstance(value.get("other_info"), dict) else {}
    return [TemplateStatusChange(
        template_id=_text(value, "message_template_id", where),
        name=_text(value, "message_template_name", where),
        language=_optional(value, "message_template_language") or "",
        status=_text(value, "event", where).lower(),
        reason=reason(value.get("reason")) or str(other.get("description") or other.get("title") or ""),
        category=category.lower() if category else None,
        account=account,
    )]


def _template_category(value: dict[str, Any], where: str, account: str | None) -> list[Event]:
    return [TemplateStatusChange(
        template_id=_text(value, "message_template_id", where),
        name=_text(value, "message_template_name", where),
        language=_optional(value, "message_template_language") or "",
        status=None,
        category=_text(value, "new_category", where).lower(),
        account=account,
    )]


def _quality(value: dict[str, Any], where: str, account: str | None) -> list[Event]:
    quality = _optional(value, "current_quality_rating") or _optional(value, "quality_rating")
    return [NumberQualityChange(
        display_phone_number=_text(value, "display_phone_number", where),
        event=_text(value, "event", where).upper(),
        tier=_optional(value, "current_limit"),
        quality=quality.upper() if quality else None,
    )]


def _block_reports(value: dict[str, Any], where: str, account: str | None) -> list[Event]:
    events: list[Event] = []
    for index, item in enumerate(_list(value, "block_reports", where)):
        place = f"{where}.block_reports[{index}]"
        item = object_of(item, place)
        kind = str(item.get("kind", "")).lower()
        if kind not in BLOCK_REPORT_KINDS:
            raise WebhookError(f"{place}.kind should be one of {', '.join(BLOCK_REPORT_KINDS)}, not {kind!r}")
        events.append(BlockReport(address=_text(item, "wa_id", place), kind=kind, at=_moment(item, place),
                                  evidence=_optional(item, "id") or ""))
    return events


# Not a field Meta sends: the sandbox's and operators' block and spam reports (see the module's docstring).
BLOCK_REPORTS_FIELD = "vestnik_block_reports"

_FIELDS = {
    "messages": _messages,
    "user_preferences": _preferences,
    "message_template_status_update": _template_status,
    "template_category_update": _template_category,
    "phone_number_quality_update": _quality,
    BLOCK_REPORTS_FIELD: _block_reports,
}


def parse(body: bytes) -> list[Event]:
    """The events of one webhook body, in the order they appear; raises :class:`WebhookError` if malformed."""
    document = decoded(body)
    document = object_of(document, "the body")
    if document.get("object") != OBJECT:
        raise WebhookError(f"the body's object is {document.get('object')!r}, not {OBJECT!r}")
    if "entry" not in document:
        raise WebhookError("the body has no entry list")
    events: list[Event] = []
    for number, entry in enumerate(_list(document, "entry", "the body")):
        entry = object_of(entry, f"entry[{number}]")
        account = _optional(entry, "id")
        for index, change in enumerate(_list(entry, "changes", f"entry[{number}]")):
            where = f"entry[{number}].changes[{index}]"
            change = object_of(change, where)
            field = change.get("field")
            if not isinstance(field, str) or field not in _FIELDS:
                continue  # account_update, history, …: nothing we act on yet
            value = object_of(change.get("value"), f"{where}.value")
            events.extend(_FIELDS[field](value, f"{where}.value", account))
    return events
