"""Compliance pages: the blueprint, and the audit log browser (admins).

The suppression list, the lint playground and the settings pages add their routes to the same
blueprint from their own modules, imported at the end.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from accounts.models import Role
from accounts.roles import role_required
from compliance.audit import page_from_query

bp = Blueprint("compliance", __name__, template_folder="templates")


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_log():
    return render_template("compliance/audit.html", page=page_from_query(request.args))


# Imported for their routes; they import ``bp`` from here, so they must come after it.
from compliance import lint_views, settings_views, suppression_views  # noqa: E402,F401
