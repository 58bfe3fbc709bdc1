"""The bodies of the webhooks the sandbox sends, shaped as the Cloud API's (``entry[].changes[]``)."""

from __future__ import annotations

import time
from typing import Any

from channels.sandbox.errors import STATUS_ERRORS
from channels.sandbox.ledger import Message
from channels.sandbox.state import Number

ERRORS_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


def envelope(waba_id: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}]}


def _messages_value(number: Number, **parts: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": number.digits, "phone_number_id": number.phone_number_id},
            **parts}


def _contact(wa_id: str) -> dict[str, Any]:
    return {"profile": {"name": f"Sandbox {wa_id[-4:]}"}, "wa_id": wa_id}


def status(number: Number, message: Message, state: str, error_code: int | None = None) -> dict[str, Any]:
    """A ``statuses`` webhook: sent, delivered, read (with conversation and pricing) or failed (with errors)."""
    entry: dict[str, Any] = {"id": message.id, "status": state, "timestamp": str(int(time.time())),
                             "recipient_id": message.to}
    if message.key is not None:
        entry["biz_opaque_callback_data"] = message.key
    if state == "failed":
        title, details = STATUS_ERRORS[error_code]
        entry["errors"] = [{"code": error_code, "title": title, "message": title,
                            "error_data": {"details": details}, "href": ERRORS_HREF}]
    else:
        billable = message.category != "service"
        conversation: dict[str, Any] = {"id": "conv" + message.id[-20:].replace("+", "").replace("/", ""),
                                        "origin": {"type": message.category}}
        if state == "sent":
            conversation["expiration_timestamp"] = str(int(message.at) + 24 * 3600)
        entry["conversation"] = conversation
        entry["pricing"] = {"billable": billable, "pricing_model": "PMP", "category": message.category,
                            "type": "regular" if billable else "free_customer_service"}
    return envelope(number.waba_id, "messages", _messages_value(number, statuses=[entry]))


def inbound_text(number: Number, wa_id: str, wamid: str, text: str) -> dict[str, Any]:
    message = {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
    return envelope(number.waba_id, "messages",
                    _messages_value(number, contacts=[_contact(wa_id)], messages=[message]))


def inbound_button(number: Number, wa_id: str, wamid: str, payload: str, label: str, context_id: str) -> dict[str, Any]:
    message = {"context": {"from": number.digits, "id": context_id}, "from": wa_id, "id": wamid,
               "timestamp": str(int(time.time())), "type": "button", "button": {"payload": payload, "text": label}}
    return envelope(number.waba_id, "messages",
                    _messages_value(number, contacts=[_contact(wa_id)], messages=[message]))


def marketing_stop(number: Number, wa_id: str) -> dict[str, Any]:
    preference = {"wa_id": wa_id, "detail": "User requested to stop marketing messages",
                  "category": "marketing_messages", "value": "stop", "timestamp": int(time.time())}
    return envelope(number.waba_id, "user_preferences",
                    _messages_value(number, contacts=[_contact(wa_id)], user_preferences=[preference]))


def template_status(waba_id: str, template: Any) -> dict[str, Any]:
    value = {"event": template.status, "message_template_id": int(template.id),
             "message_template_name": template.name, "message_template_language": template.language,
             "reason": template.reason if template.status == "REJECTED" else "NONE"}
    return envelope(waba_id, "message_template_status_update", value)


def template_category(waba_id: str, template: Any) -> dict[str, Any]:
    value = {"message_template_id": int(template.id), "message_template_name": template.name,
             "message_template_language": template.language, "previous_category": template.previous_category,
             "new_category": template.category}
    return envelope(waba_id, "template_category_update", value)


def quality(number: Number, event: str) -> dict[str, Any]:
    """A ``phone_number_quality_update``; ``current_quality_rating`` says the rating the event left, so that a
    FLAGGED at YELLOW is not read as Meta's FLAGGED at RED (docs/sandbox.md)."""
    value = {"display_phone_number": number.digits, "event": event, "current_limit": number.tier,
             "current_quality_rating": number.quality}
    return envelope(number.waba_id, "phone_number_quality_update", value)


def block_report(number: Number, wa_id: str, kind: str) -> dict[str, Any]:
    """NOT a Meta webhook: the operator's extension field ``vestnik_block_reports`` saying that ``wa_id`` blocked
    the number (``kind`` "block") or reported it as spam ("spam_report"), which the Cloud API never reports."""
    at = int(time.time())
    report = {"wa_id": wa_id, "kind": kind, "timestamp": at, "id": f"{kind}.{number.phone_number_id}.{wa_id}.{at}"}
    return envelope(number.waba_id, "vestnik_block_reports", _messages_value(number, block_reports=[report]))
