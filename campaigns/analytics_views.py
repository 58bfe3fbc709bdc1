"""Analytics routes on the campaigns blueprint: the per-recipient outcomes CSV (the campaign page and the home
page show ``campaigns.analytics_text``'s worded figures)."""

from __future__ import annotations

from flask import abort

from accounts.roles import role_required
from campaigns import outcomes
from campaigns.models import Campaign
from campaigns.views import bp
from extensions import db


@bp.get("/campaigns/<int:campaign_id>/outcomes.csv")
@role_required()
def campaign_outcomes(campaign_id: int):
    """Every recipient's outcome as a streamed CSV download (UTF-8 with a byte-order mark, for Excel)."""
    return outcomes.download(db.session.get(Campaign, campaign_id) or abort(404))
