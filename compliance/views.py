"""Compliance pages: the audit log browser (admins)."""

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
