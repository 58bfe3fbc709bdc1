"""JSON API of campaigns under /api/v1: senders, templates, campaigns, reviews, launches."""

from __future__ import annotations

from flask import Blueprint

from extensions import csrf

bp = Blueprint("campaigns_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# Imported for their routes; they import ``bp`` from here, so they must come after it.
from campaigns import analytics_api, campaign_api, entry_point_api, sender_api, template_api  # noqa: E402,F401
from campaigns.feedback import inbox_api, notification_api  # noqa: E402,F401
