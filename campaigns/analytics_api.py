"""JSON API of analytics under /api/v1: a campaign's funnel, timeline and cost, its outcomes as CSV, and the
dashboard's daily series with the senders' tier use. The keys are documented in docs/analytics.md."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from accounts.roles import role_required
from campaigns import analytics, outcomes, step_analytics
from campaigns.api import bp
from campaigns.models import Campaign
from domain_errors import DomainError
from extensions import db

# The longest dashboard series one request may ask for.
MAX_DAYS = 366


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise DomainError(_("There is no campaign with this id."), status=404)
    return campaign


@bp.get("/campaigns/<int:campaign_id>/analytics")
@role_required()
def campaign_analytics(campaign_id: int):
    """The campaign's funnel, its timeline (``bucket``: minute, hour or day; chosen from its span when absent),
    its actual cost beside the estimate, and per channel (``campaigns.step_analytics``): ``steps``,
    ``delivered_twice`` and ``sms_savings_minor``."""
    campaign = _campaign(campaign_id)
    bucket = request.args.get("bucket") or None
    if bucket is not None and bucket not in analytics.BUCKETS:
        raise DomainError(_("The bucket is one of minute, hour or day."), field="bucket")
    return jsonify(campaign_id=campaign.id, funnel=analytics.funnel(campaign),
                   timeline=analytics.timeline(campaign, bucket), cost=analytics.cost(campaign),
                   **step_analytics.figures(campaign))


@bp.get("/campaigns/<int:campaign_id>/outcomes.csv")
@role_required()
def campaign_outcomes(campaign_id: int):
    """Every recipient's outcome, streamed as CSV (the page's download)."""
    return outcomes.download(_campaign(campaign_id))


@bp.get("/analytics/daily")
@role_required()
def daily():
    """Sends and rates per UTC day across campaigns for the last ``days`` (30 unless given, at most 366), and
    every sender's tier use in the rolling 24 h."""
    text = request.args.get("days", "30")
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise DomainError(_("Days is a whole number from 1 to %(most)s.", most=MAX_DAYS), field="days")
    return jsonify(days=analytics.daily(int(text)), tier_use=analytics.tier_use())
