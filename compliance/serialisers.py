"""Compliance records as JSON: one shape for this package's API and the other packages' (a contact's suppressions)."""

from __future__ import annotations

from compliance.audit import AuditEvent
from compliance.models import Suppression


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


def suppression_json(entry: Suppression) -> dict:
    """One suppression entry as JSON."""
    return {
        "id": entry.id,
        "phone": entry.phone,
        "address_key": entry.address_key,
        "scope": entry.scope.value,
        "reason": entry.reason.value,
        "source": entry.source,
        "note": entry.note,
        "evidence": entry.evidence,
        "created_at": entry.created_at.isoformat(),
        "created_by": entry.actor_label,
        "lifted_at": entry.lifted_at.isoformat() if entry.lifted_at else None,
        "lifted_by": entry.lifted_by_label,
        "lift_reason": entry.lift_reason,
    }
