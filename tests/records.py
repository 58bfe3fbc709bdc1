"""What the database holds, read fresh, and suppressions made the way a webhook or the CLI makes them."""

from __future__ import annotations

from sqlalchemy import select

from compliance import suppression
from compliance.audit import AuditEvent
from compliance.models import Suppression, SuppressionReason
from extensions import db


def audit_events(action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first, as committed."""
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def suppression_rows(phone: str | None = None) -> list[Suppression]:
    """Every suppression entry (of ``phone``, if given), oldest first, as committed."""
    db.session.expire_all()
    query = select(Suppression).order_by(Suppression.id)
    if phone:
        query = query.where(Suppression.phone == phone)
    return list(db.session.scalars(query))


def suppress(phone: str, reason: SuppressionReason = SuppressionReason.OPT_OUT, note: str = "") -> Suppression:
    """Suppress ``phone`` through the service and commit."""
    entry, _created = suppression.suppress(phone, reason, source="test", note=note)
    db.session.commit()
    return entry
