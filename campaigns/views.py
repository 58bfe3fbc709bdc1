"""Campaign pages: the blueprint. Templates, campaigns and reviews add their routes from their own
modules, imported at the end."""

from __future__ import annotations

from flask import Blueprint

from campaigns import models  # noqa: F401  (the tables, for migrations and create_all)

bp = Blueprint("campaigns", __name__, template_folder="templates")

# Imported for their routes; they import ``bp`` from here, so they must come after it.
from campaigns import analytics_views, campaign_views, entry_point_views, sender_views, template_views  # noqa: E402,F401
from campaigns.feedback import inbox_views, notification_views  # noqa: E402,F401
