"""JSON API of campaigns, senders, the review and the rate card under /api/v1.

Errors are ``{"error": sentence, "errors": [sentences]}``: 400 for a wrong spec or reason, 403 when
the four-eyes rule or the role forbids it, 404 for an unknown id, 409 when the campaign's status
does not allow the step, 422 when the preflight blocks a submission (with its ``report``).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from campaigns import campaigns, launch, preflight, pricing, review
from campaigns.api import bp
from campaigns.lifecycle import TransitionError
from campaigns.models import Campaign, CampaignStatus, Sender
from extensions import db


def _problem(errors: list[str], status: int = 400, **extra: Any):
    db.session.rollback()
    return jsonify(error=errors[0], errors=errors, **extra), status


def _not_found():
    return _problem([_("There is no campaign with this id.")], 404)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _actor():
    return current_user._get_current_object()


def sender_json(sender: Sender) -> dict[str, Any]:
    """One sender as JSON."""
    return {"id": sender.id, "name": sender.name, "phone": sender.phone, "tier": sender.tier,
            "messages_per_second": sender.messages_per_second, "channel": sender.channel}


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
    }
    if full:
        data["preflight"] = preflight.readable(campaign.preflight)
        data["estimate"] = campaign.estimate
        data["reviews"] = [
            {"id": item.id, "decision": item.decision.value, "reviewer_id": item.reviewer_id, "reason_code": item.reason_code,
             "reason": item.reason, "reason_label": review.reason_label(item), "content_hash": item.content_hash,
             "created_at": item.created_at.isoformat()}
            for item in review.reviews_of(campaign)
        ]
        data["changes_since_last_review"] = review.changes_since_last_review(campaign)
    return data


def _campaign(campaign_id: int) -> Campaign | None:
    return db.session.get(Campaign, campaign_id)


def _step(campaign: Campaign, action, status: int = 200):
    """Run a review or lifecycle step and answer with the campaign, or with the reason it failed."""
    try:
        action()
    except review.ReviewError as error:
        if error.report is not None:
            return _problem(error.errors, 422, report=error.report)
        return _problem(error.errors, 400)
    except campaigns.CampaignError as error:
        return _problem(error.errors, 400)
    except (TransitionError, launch.LaunchError) as error:
        return _problem([str(error)], 409)
    db.session.commit()
    return jsonify(campaign_json(campaign, full=True)), status


# --- campaigns ---------------------------------------------------------------------------------------------

@bp.get("/campaigns")
@role_required()
def campaigns_list():
    status = request.args.get("status")
    if status and status not in {item.value for item in CampaignStatus}:
        return _problem([_("Unknown campaign status: %(status)s.", status=status)])
    found = campaigns.list_campaigns(CampaignStatus(status) if status else None)
    return jsonify(campaigns=[campaign_json(campaign) for campaign in found])


@bp.post("/campaigns")
@role_required(Role.MARKETER)
def create_campaign():
    try:
        campaign = campaigns.create_campaign(_body(), _actor())
    except campaigns.CampaignError as error:
        return _problem(error.errors)
    db.session.commit()
    return jsonify(campaign_json(campaign, full=True)), 201


@bp.get("/campaigns/<int:campaign_id>")
@role_required()
def campaign_detail(campaign_id: int):
    campaign = _campaign(campaign_id)
    return _not_found() if campaign is None else jsonify(campaign_json(campaign, full=True))


@bp.put("/campaigns/<int:campaign_id>")
@role_required(Role.MARKETER)
def update_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign is None:
        return _not_found()
    body = _body()
    return _step(campaign, lambda: campaigns.update_campaign(campaign, body, _actor()))


@bp.post("/campaigns/<int:campaign_id>/submit")
@role_required(Role.MARKETER)
def submit_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    return _not_found() if campaign is None else _step(campaign, lambda: review.submit(campaign, _actor()))


@bp.post("/campaigns/<int:campaign_id>/approve")
@role_required(Role.REVIEWER)
def approve_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign is None:
        return _not_found()
    problem = review.may_review(campaign, _actor())
    if problem:
        return _problem([problem], 403)
    note = _body().get("note")
    return _step(campaign, lambda: review.approve(campaign, _actor(), note=note if isinstance(note, str) else ""))


@bp.post("/campaigns/<int:campaign_id>/reject")
@role_required(Role.REVIEWER)
def reject_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign is None:
        return _not_found()
    body = _body()
    code, reason = body.get("reason_code"), body.get("reason")
    return _step(campaign, lambda: review.reject(campaign, _actor(), code if isinstance(code, str) else None,
                                                 reason if isinstance(reason, str) else ""))


@bp.post("/campaigns/<int:campaign_id>/revise")
@role_required(Role.MARKETER)
def revise_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    return _not_found() if campaign is None else _step(campaign, lambda: review.revise(campaign, _actor()))


@bp.post("/campaigns/<int:campaign_id>/schedule")
@role_required(Role.MARKETER)
def schedule_campaign(campaign_id: int):
    """Schedule an approved campaign to launch at its send time (approving does it already)."""
    campaign = _campaign(campaign_id)
    return _not_found() if campaign is None else _step(campaign, lambda: launch.schedule_launch(campaign, actor=_actor()))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@role_required(Role.MARKETER)
def cancel_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign is None:
        return _not_found()
    reason = _body().get("reason")
    return _step(campaign, lambda: campaigns.cancel_campaign(campaign, _actor(), reason if isinstance(reason, str) else ""))


@bp.get("/reviews")
@role_required(Role.REVIEWER)
def review_queue():
    return jsonify(campaigns=[campaign_json(campaign) for campaign in review.review_queue()],
                   reasons={code: str(label) for code, label in review.REJECTION_REASONS.items()})


# --- senders and the rate card ---------------------------------------------------------------------------------

@bp.get("/senders")
@role_required()
def senders_list():
    return jsonify(senders=[sender_json(sender) for sender in campaigns.list_senders()])


@bp.post("/senders")
@role_required(Role.ADMIN)
def create_sender():
    body = _body()
    rate = body.get("messages_per_second", 80)
    try:
        sender = campaigns.create_sender(body.get("name") if isinstance(body.get("name"), str) else "",
                                         body.get("phone") if isinstance(body.get("phone"), str) else "",
                                         tier=body.get("tier", "TIER_250"), messages_per_second=rate, actor=_actor())
    except campaigns.CampaignError as error:
        return _problem(error.errors)
    db.session.commit()
    return jsonify(sender_json(sender)), 201


@bp.get("/rate-card")
@role_required()
def rate_card():
    card = pricing.current_rate_card()
    return jsonify(customised=card.customised, **card.as_dict())


@bp.put("/rate-card")
@role_required(Role.ADMIN)
def save_rate_card():
    try:
        card = pricing.save_rate_card(pricing.RateCard.from_dict(_body()), _actor())
    except pricing.RateCardError as error:
        return _problem(error.errors)
    db.session.commit()
    return jsonify(customised=card.customised, **card.as_dict())


@bp.delete("/rate-card")
@role_required(Role.ADMIN)
def reset_rate_card():
    pricing.reset_rate_card(_actor())
    db.session.commit()
    return jsonify(customised=False, **pricing.default_rate_card().as_dict())

