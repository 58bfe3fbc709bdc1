"""JSON API of compliance under /api/v1: the audit log for admins."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from accounts.models import Role
from accounts.roles import role_required
from compliance.audit import AuditEvent, page_from_query
from extensions import csrf

bp = Blueprint("compliance_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def event_json(entry: AuditEvent) -> dict:
    """One audit event as JSON."""
    return {
        "id": entry.id,
        "occurred_at": entry.occurred_at.isoformat(),
        "actor": entry.actor_label,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "details": entry.details,
        "client_address": entry.client_address,
    }


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_log():
    page = page_from_query(request.args)
    return jsonify(events=[event_json(entry) for entry in page.events], next_before=page.next_before)
