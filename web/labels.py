"""Every code the database stores for a person to read, put into words in the reader's language.

Each package keeps the labels of its own codes beside them (``campaigns.lifecycle.STATUS_LABELS``,
``compliance.suppression.SOURCE_LABELS``, …); this module gathers them by kind so that a template
says ``{{ campaign.status | label('campaign_status') }}`` and never prints ``.value`` or a raw key.
An unknown code is shown as it is stored rather than hidden: the page test lists it as untranslated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from accounts.events import ACTION_LABELS as ACCOUNT_ACTIONS
from accounts.events import ACTOR_LABELS
from accounts.roles import ROLE_LABELS
from audience import addresses, import_records
from audience.columns import FIELD_LABELS
from audience.status import STATUS_LABELS as CONTACT_STATUS_LABELS
from campaigns import actions, bot_preflight, entry_points, lifecycle, preflight, review, senders, template_approvals
from campaigns.campaign_forms import SOURCE_LABELS as VARIABLE_SOURCE_LABELS
from campaigns.dispatch.progress import MESSAGE_STATUS_LABELS
from campaigns.feedback import free_text, inbox, notices
from campaigns.message_templates import CATEGORY_LABELS
from campaigns.message_templates import STATUS_LABELS as TEMPLATE_STATUS_LABELS
from compliance import audit, sending, suppression
from compliance.verdict import OUTCOME_LABELS

SEND_RESULT_LABELS = {"accepted": _l("accepted"), "retry": _l("to retry"), "failed": _l("failed")}

# What the audit log's entries are about (``compliance.audit`` names a table's row in the singular).
OBJECT_TYPES = {
    "user": _l("user"), "api_token": _l("API token"), "audience_import": _l("import"), "segment": _l("segment"),
    "suppression": _l("suppression"), "template": _l("template"), "campaign": _l("campaign"), "sender": _l("sender"),
    "conversation": _l("conversation"), "notification": _l("notification"), "entry_point": _l("entry point"),
}


def _by_value(table: Mapping[Any, Any]) -> dict[str, Any]:
    # Tables are keyed by enum members or by plain codes; pages hold either, so both are looked up by value.
    return {getattr(code, "value", code): label for code, label in table.items()}


LABELS: dict[str, dict[str, Any]] = {kind: _by_value(table) for kind, table in {
    "role": ROLE_LABELS,
    "contact_status": CONTACT_STATUS_LABELS,
    "import_status": import_records.STATUS_LABELS,
    "issue_kind": import_records.ISSUE_KIND_LABELS,
    "import_reason": import_records.REASONS,
    "template_status": TEMPLATE_STATUS_LABELS,
    "template_category": CATEGORY_LABELS,
    "provider_category": {category.value.upper(): label for category, label in CATEGORY_LABELS.items()}
    | {category.value: label for category, label in CATEGORY_LABELS.items()},
    "provider_rejection": template_approvals.REJECTION_LABELS,
    "approval_source": template_approvals.SOURCE_LABELS,
    "sender_channel": senders.CHANNEL_LABELS,
    "quality": senders.QUALITY_LABELS,
    "tier": sending.TIER_LABELS,
    "send_result": SEND_RESULT_LABELS,
    "campaign_status": lifecycle.STATUS_LABELS,
    "message_status": MESSAGE_STATUS_LABELS,
    "exclusion": {**preflight.EXCLUSION_LABELS, **bot_preflight.EXCLUSION_LABELS},
    "deferral": preflight.DEFERRAL_LABELS,
    "rejection_reason": review.REJECTION_REASONS,
    # An automatic pause gives its pause reason's code as the transition's reason.
    "transition_reason": {**actions.TRANSITION_REASONS, **notices.PAUSE_REASON_LABELS},
    "variable_source": VARIABLE_SOURCE_LABELS,
    "reply_intent": inbox.INTENT_LABELS,
    "notification_kind": notices.KIND_LABELS,
    "pause_reason": notices.PAUSE_REASON_LABELS,
    "message_kind": inbox.KIND_LABELS,
    "conversation_status": free_text.STATUS_LABELS,
    "contact_field": FIELD_LABELS,
    "suppression_reason": suppression.REASON_LABELS,
    "suppression_source": suppression.SOURCE_LABELS,
    "suppression_scope": suppression.SCOPE_LABELS,
    "address_status": addresses.STATUS_LABELS,
    "lift_reason": suppression.LIFT_REASON_LABELS,
    "outcome": OUTCOME_LABELS,
    "object_type": OBJECT_TYPES,
    "actor": ACTOR_LABELS,
    "audit_action": {**ACCOUNT_ACTIONS, **audit.ACTION_LABELS, **import_records.ACTION_LABELS, **actions.ACTION_LABELS,
                     **entry_points.ACTION_LABELS},
}.items()}


def label(code: Any, kind: str) -> str:
    """``code`` (an enum member or its value) of ``kind`` in the reader's language."""
    key = getattr(code, "value", code)
    found = LABELS[kind].get(key)
    return str(found) if found is not None else ("" if key is None else str(key))


# How the audit page names the details it shows, and which kind of code each one holds.
DETAIL_LABELS = {
    "email": _l("e-mail"), "role": _l("role"), "before": _l("before"), "after": _l("after"), "name": _l("name"),
    "from": _l("from"), "to": _l("to"), "reason": _l("reason"), "reason_code": _l("reason"), "source": _l("source"),
    "outcome": _l("preflight"), "phone": _l("number"), "evidence": _l("evidence"), "note": _l("note"),
    "lift_reason": _l("why lifted"), "file": _l("file"), "language": _l("language"), "version": _l("version"),
    "content_hash": _l("content hash"), "send_at": _l("send at"), "section": _l("section"), "address": _l("address"),
    "changed": _l("changed"), "content_changed": _l("content changed"), "read": _l("rows read"),
    "added": _l("added"), "rejected": _l("rejected"), "created": _l("created"), "updated": _l("updated"),
    "tier": _l("messaging tier"), "messages_per_second": _l("messages per second"), "channel": _l("channel"),
    "prefix": _l("starts with"), "definition": _l("definition"), "currency": _l("currency"),
    "free_per_month": _l("free per month"), "previous_id": _l("previous version"),
    "previous_status": _l("previous status"), "duplicates": _l("duplicates merged"), "unchanged": _l("unchanged"),
    "suppressed": _l("kept suppressed"), "decision": _l("decision"),
    "account": _l("business account"), "category": _l("category"), "sender": _l("sender"), "code": _l("code"),
    "key": _l("message key"), "ok": _l("connected"), "quality": _l("quality"), "provider_tier": _l("provider's tier"),
    "phone_number_id": _l("phone number ID"), "waba_id": _l("business account ID"), "base_url": _l("base URL"),
    "api_version": _l("API version"), "secrets_changed": _l("secrets changed"), "result": _l("result"),
    "pause_details": _l("why paused"), "previous": _l("previous quality"), "previous_tier": _l("previous tier"),
    "event": _l("event"), "address_key": _l("messenger address"), "scope": _l("applies to"),
    "senders": _l("senders"), "keyword": _l("Keyword (WhatsApp)"), "campaign_id": _l("campaign"),
    "source_label": _l("source label"), "expires_at": _l("expires"), "contact_id": _l("contact"),
    "token_id": _l("token"),
    "bot_username": _l("bot username"), "url": _l("address"),
}
_DETAIL_KINDS = {
    "user.": {"role": "role", "before": "role", "after": "role"},
    "campaign.": {"from": "campaign_status", "to": "campaign_status", "reason_code": "rejection_reason",
                  "reason": "transition_reason", "outcome": "outcome"},
    "template.": {"from": "template_status", "to": "template_status", "previous_status": "template_status",
                  "source": "approval_source", "outcome": "send_result", "category": "provider_category",
                  "reason": "provider_rejection"},  # an admin's own words are not a code: shown as written
    "sender.": {"channel": "sender_channel", "quality": "quality", "tier": "tier", "provider_tier": "tier",
                "previous": "quality", "previous_tier": "tier"},
    "conversation.": {"result": "send_result"},
    "suppression.": {"reason": "suppression_reason", "source": "suppression_source", "lift_reason": "lift_reason",
                     "decision": "lift_reason", "scope": "suppression_scope"},
}


def audit_details(action: str, details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An audit entry's details as (name, value) pairs in the reader's language; codes become labels."""
    kinds = next((kinds for prefix, kinds in _DETAIL_KINDS.items() if action.startswith(prefix)), {})
    shown = []
    for key, value in details.items():
        if key in kinds and isinstance(value, str):
            value = label(value, kinds[key])
        elif isinstance(value, bool):
            value = str(_l("yes") if value else _l("no"))
        elif not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        shown.append((str(DETAIL_LABELS.get(key, key)), value))
    return shown


def choices(kind: str) -> list[tuple[str, str]]:
    """Every code of ``kind`` and its label, in the table's order: the options of a filter."""
    return [(code, str(found)) for code, found in LABELS[kind].items()]


def template_helpers() -> dict[str, Any]:
    """What templates use to show codes: ``label`` (a filter and a global), ``choices`` and ``audit_details``."""
    return {"label": label, "choices": choices, "audit_details": audit_details}
