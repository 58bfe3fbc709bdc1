"""JSON API of the audience under /api/v1: imports, contacts, segments."""

from __future__ import annotations

from flask import Blueprint

from extensions import csrf

bp = Blueprint("audience_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# Imported for their routes; they import ``bp`` from here, so they must come after it.
from audience import contact_api, import_api, segment_api  # noqa: E402,F401
