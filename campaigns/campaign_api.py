"""JSON API of campaigns, the review and the rate card under /api/v1.

Errors are problem details (``web/problems.py``): 400 for a wrong spec or reason, 403 when the
four-eyes rule or the role forbids it (pausing and resuming: anyone but a reviewer or the campaign's
author; resuming a campaign the platform paused: anyone but a reviewer, and 400 without a ``reason``),
404 for an unknown id, 409 when the campaign's status does not allow the step (or someone
else moved it first), 422 when the preflight blocks a submission (with its ``report``).
"""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from campaigns import campaign_specs, launch, pricing, review
from campaigns.api import bp
from campaigns.dispatch import control
from campaigns.dispatch.progress import progress
from campaigns.models import Campaign, CampaignStatus
from campaigns.serialisers import campaign_json
from domain_errors import DomainError
from extensions import db


def _actor():
    return current_user._get_current_object()


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise DomainError(_("There is no campaign with this id."), status=404)
    return campaign


def _step(campaign: Campaign, action, status: int = 200):
    """Run a review or lifecycle step, commit it and answer with the campaign (a refusal is a problem)."""
    action()
    db.session.commit()
    return jsonify(campaign_json(campaign, full=True)), status


# --- campaigns ---------------------------------------------------------------------------------------------

@bp.get("/campaigns")
@role_required()
def campaigns_list():
    status = request.args.get("status")
    if status and status not in {item.value for item in CampaignStatus}:
        raise DomainError(_("Unknown campaign status: %(status)s.", status=status), field="status")
    found = campaign_specs.list_campaigns(CampaignStatus(status) if status else None)
    return jsonify(campaigns=[campaign_json(campaign) for campaign in found])


@bp.post("/campaigns")
@role_required(Role.MARKETER)
def create_campaign():
    campaign = campaign_specs.create_campaign(json_body(), _actor())
    db.session.commit()
    return jsonify(campaign_json(campaign, full=True)), 201


@bp.get("/campaigns/<int:campaign_id>")
@role_required()
def campaign_detail(campaign_id: int):
    return jsonify(campaign_json(_campaign(campaign_id), full=True))


@bp.put("/campaigns/<int:campaign_id>")
@role_required(Role.MARKETER)
def update_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    body = json_body()
    return _step(campaign, lambda: campaign_specs.update_campaign(campaign, body, _actor()))


@bp.post("/campaigns/<int:campaign_id>/submit")
@role_required(Role.MARKETER)
def submit_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    return _step(campaign, lambda: review.submit(campaign, _actor()))


@bp.post("/campaigns/<int:campaign_id>/approve")
@role_required(Role.REVIEWER)
def approve_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    body = json_body()
    note, acknowledgement = body.get("note"), body.get("acknowledgement")
    return _step(campaign, lambda: review.approve(
        campaign, _actor(), note=note if isinstance(note, str) else "",
        acknowledgement=acknowledgement if isinstance(acknowledgement, str) else None))


@bp.post("/campaigns/<int:campaign_id>/reject")
@role_required(Role.REVIEWER)
def reject_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    body = json_body()
    code, reason = body.get("reason_code"), body.get("reason")
    return _step(campaign, lambda: review.reject(campaign, _actor(), code if isinstance(code, str) else None,
                                                 reason if isinstance(reason, str) else ""))


@bp.post("/campaigns/<int:campaign_id>/revise")
@role_required(Role.MARKETER)
def revise_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    return _step(campaign, lambda: review.revise(campaign, _actor()))


@bp.post("/campaigns/<int:campaign_id>/schedule")
@role_required(Role.MARKETER)
def schedule_campaign(campaign_id: int):
    """Schedule an approved campaign to launch at its send time (approving does it already)."""
    campaign = _campaign(campaign_id)
    return _step(campaign, lambda: launch.schedule_launch(campaign, actor=_actor()))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@role_required(Role.MARKETER)
def cancel_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    reason = json_body().get("reason")
    return _step(
        campaign, lambda: campaign_specs.cancel_campaign(campaign, _actor(), reason if isinstance(reason, str) else "")
    )


@bp.get("/campaigns/<int:campaign_id>/status")
@role_required()
def campaign_status(campaign_id: int):
    """Where the campaign's sending stands: its status, rows by state, rate, ETA, failures by reason."""
    return jsonify(progress(_campaign(campaign_id)))


@bp.post("/campaigns/<int:campaign_id>/pause")
@role_required()
def pause_campaign(campaign_id: int):
    """Pause a sending campaign (reviewers and its author); answers with its progress."""
    campaign = _campaign(campaign_id)
    control.pause(campaign, _actor())
    db.session.commit()
    return jsonify(progress(campaign))


@bp.post("/campaigns/<int:campaign_id>/resume")
@role_required()
def resume_campaign(campaign_id: int):
    """Resume a paused campaign (reviewers and its author; only reviewers, with a ``reason``, when the platform
    paused it) and enqueue its batches; answers with its progress."""
    campaign = _campaign(campaign_id)
    reason = json_body().get("reason")
    if reason is not None and not isinstance(reason, str):
        raise DomainError(_("The reason must be text."), field="reason")
    control.resume(campaign, _actor(), reason or "")
    db.session.commit()
    return jsonify(progress(campaign))


@bp.get("/reviews")
@role_required(Role.REVIEWER)
def review_queue():
    return jsonify(campaigns=[campaign_json(campaign) for campaign in review.review_queue()],
                   reasons={code: str(label) for code, label in review.REJECTION_REASONS.items()})


# --- the rate card (senders: campaigns.sender_api) ---------------------------------------------------------

@bp.get("/rate-card")
@role_required()
def rate_card():
    card = pricing.current_rate_card()
    return jsonify(customised=card.customised, **card.as_dict())


@bp.put("/rate-card")
@role_required(Role.ADMIN)
def save_rate_card():
    card = pricing.save_rate_card(pricing.RateCard.from_dict(json_body()), _actor())
    db.session.commit()
    return jsonify(customised=card.customised, **card.as_dict())


@bp.delete("/rate-card")
@role_required(Role.ADMIN)
def reset_rate_card():
    pricing.reset_rate_card(_actor())
    db.session.commit()
    return jsonify(customised=False, **pricing.default_rate_card().as_dict())

