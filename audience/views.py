"""Audience pages: the blueprint. Imports, contacts and segments add their routes from their own
modules, imported at the end."""

from __future__ import annotations

from flask import Blueprint

from audience import models  # noqa: F401  (the tables, for migrations and create_all)

bp = Blueprint("audience", __name__, template_folder="templates", url_prefix="/audience")

# Imported for their routes; they import ``bp`` from here, so they must come after it.
from audience import contact_views, import_views, segment_views  # noqa: E402,F401
