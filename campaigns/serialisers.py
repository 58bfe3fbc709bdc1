"""Campaigns, senders and templates as JSON: one shape for the API, the CLI and the pages."""

from __future__ import annotations

from typing import Any

from campaigns import message_templates as templates
from campaigns import preflight, rendering, review, senders, step_rendering, template_approvals
from campaigns.feedback import notices
from campaigns.models import Campaign, Sender, Template, TemplateApproval


def sender_json(sender: Sender) -> dict[str, Any]:
    """One sender as JSON: its settings and what the last check read; of each secret only its last four."""
    return {"id": sender.id, "name": sender.name, "phone": sender.phone, "tier": sender.tier,
            "messages_per_second": sender.messages_per_second, "channel": sender.channel,
            "phone_number_id": sender.phone_number_id, "waba_id": sender.waba_id, "base_url": sender.base_url,
            "api_version": sender.api_version, "bot_username": sender.bot_username,
            "webhook_url": senders.webhook_url(sender) if senders.is_bot(sender) else None,
            **{f"{key}_last4": getattr(sender, f"{key}_last4") if getattr(sender, f"{key}_encrypted") else None
               for key in senders.SECRETS},
            "quality_rating": sender.quality_rating, "provider_tier": sender.provider_tier,
            "verified_name": sender.verified_name,
            "checked_at": sender.checked_at.isoformat() if sender.checked_at else None,
            "check_error": {"code": sender.check_error_code, "sentence": senders.check_error_sentence(sender)}
            if sender.check_error_code else None}


def approval_json(approval: TemplateApproval) -> dict[str, Any]:
    """A template's approval in one business account."""
    return {"account_id": approval.account_id, "base_url": approval.base_url, "status": approval.status.value,
            "reason": approval.reason, "reason_text": template_approvals.reason_text(approval.reason),
            "category": approval.category, "provider_template_id": approval.provider_template_id,
            "source": approval.source.value,
            "submitted_at": approval.submitted_at.isoformat() if approval.submitted_at else None,
            "decided_at": approval.decided_at.isoformat() if approval.decided_at else None}


def campaign_json(campaign: Campaign, full: bool = False) -> dict[str, Any]:
    """One campaign as JSON; ``full`` adds the preflight report, the estimate and the reviews."""
    data = {
        "id": campaign.id, "name": campaign.name, "status": campaign.status.value,
        "sender_id": campaign.sender_id, "template_id": campaign.template_id, "segment_id": campaign.segment_id,
        "variables": campaign.variables, "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
        "send_window": campaign.send_window, "messages_per_second": campaign.messages_per_second,
        "content_hash": campaign.content_hash, "approved_hash": campaign.approved_hash,
        "approved_by_id": campaign.approved_by_id,
        "approved_at": campaign.approved_at.isoformat() if campaign.approved_at else None,
        "created_by_id": campaign.created_by_id, "updated_by_id": campaign.updated_by_id,
        "created_at": campaign.created_at.isoformat(), "updated_at": campaign.updated_at.isoformat(),
        "recipients": campaign.recipients, "exclusions": campaign.exclusions,
        "launched_at": campaign.launched_at.isoformat() if campaign.launched_at else None,
        "pause": _pause_json(campaign),
        "cascade": step_rendering.cascade_json(campaign),
    }
    if full:
        data["preflight"] = preflight.readable(campaign.preflight)
        data["estimate"] = campaign.estimate
        data["reviews"] = [
            {"id": item.id, "decision": item.decision.value, "reviewer_id": item.reviewer_id,
             "reason_code": item.reason_code, "reason": item.reason, "reason_label": review.reason_label(item),
             "acknowledgement": item.acknowledgement, "content_hash": item.content_hash,
             "created_at": item.created_at.isoformat()}
            for item in review.reviews_of(campaign)
        ]
        data["changes_since_last_review"] = review.changes_since_last_review(campaign)
    return data


def _pause_json(campaign: Campaign) -> dict[str, Any] | None:
    """Why a paused campaign is paused (None otherwise): the code, its label and sentence, and who may resume."""
    if campaign.pause_reason is None and campaign.paused_at is None:
        return None
    return {"reason": campaign.pause_reason, "label": notices.pause_label(campaign),
            "sentence": notices.pause_sentence(campaign), "details": campaign.pause_details,
            "at": campaign.paused_at.isoformat() if campaign.paused_at else None,
            "automatic": notices.is_automatic(campaign)}


def template_json(template: Template, with_versions: bool = False) -> dict[str, Any]:
    """One template version as JSON-ready data (with the list of all its versions when asked)."""
    data = {
        "id": template.id, "name": template.name, "language": template.language, "version": template.version,
        "is_current": template.is_current, "category": template.category.value, "header": template.header,
        "body": template.body, "footer": template.footer, "buttons": template.buttons, "examples": template.examples,
        "variables": rendering.variables(template), "status": template.status.value,
        "rejection_reason": template.rejection_reason, "tags": templates.tags_of(template),
        "archived": template.archived_at is not None,
        "archived_at": template.archived_at.isoformat() if template.archived_at else None,
        "created_at": template.created_at.isoformat(), "updated_at": template.updated_at.isoformat(),
        "last_used_at": template.last_used_at.isoformat() if template.last_used_at else None,
        "created_by_id": template.created_by_id, "updated_by_id": template.updated_by_id,
    }
    if with_versions:
        data["approvals"] = [{"sender_id": sender.id, "sender": sender.name,
                              **(approval_json(approval) if approval else {"status": "draft"})}
                             for sender, approval in template_approvals.senders_by_status(template)]
        data["versions"] = [{"id": v.id, "version": v.version, "status": v.status.value, "is_current": v.is_current,
                             "updated_at": v.updated_at.isoformat()} for v in templates.versions(template)]
    return data
