"""The audit log: an append-only record of who did what to which object, and when.

Rows are only ever inserted. The ORM refuses updates and deletes, and the migration installs
database triggers that refuse them too, so not even a hand-written SQL statement can rewrite
history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, event, select
from sqlalchemy.orm import Mapped, mapped_column

from accounts.events import account_event, actor_label
from dbtypes import BigId, UTCDateTime, keyset_page, parse_id, utcnow
from extensions import db

log = logging.getLogger(__name__)
PAGE_SIZE = 50

# The actions compliance records, as the audit log names them to a reader.
ACTION_LABELS = {
    "suppression.added": _l("Number suppressed"),
    "suppression.lifted": _l("Suppression lifted"),
    "suppression.decided": _l("Reply on hold decided"),
    "suppression.imported": _l("Suppression list imported"),
    "compliance.settings_changed": _l("Compliance settings changed"),
    "compliance.settings_reset": _l("Compliance settings reset to the defaults"),
}


class AuditLogError(Exception):
    """Someone tried to change or delete an audit record."""


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Kept even if the account is later renamed: the label is what was true at the time.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_address: Mapped[str | None] = mapped_column(String(64))


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(_mapper, _connection, target: AuditEvent) -> None:
    raise AuditLogError(f"audit event {target.id} is append-only")


def _object_type(obj: Any) -> str | None:
    table = getattr(obj, "__tablename__", None)
    # Table names are plural ("users"); the audit log names one thing ("user").
    return table[:-1] if table and table.endswith("s") else table


def record(action: str, *, actor: Any = None, target: Any = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event; it is committed with the caller's transaction.

    ``actor`` is a user (or None for the system, the CLI or an anonymous visitor); ``target`` is any
    model instance with an ``id``.
    """
    entry = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_label=actor_label(actor),
        action=action,
        object_type=_object_type(target),
        object_id=str(target.id) if target is not None else None,
        details=details or {},
        client_address=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    log.info(
        "event=audit action=%s actor=%s object=%s:%s", action, entry.actor_label, entry.object_type, entry.object_id
    )
    return entry


def _on_account_event(action: str, *, actor: Any, target: Any, details: dict[str, Any]) -> None:
    record(action, actor=actor, target=target, details=details)


def init_app(app: Flask) -> None:
    """Subscribe the audit log to the events of lower packages."""
    account_event.connect(_on_account_event, weak=False)


@dataclass(frozen=True)
class AuditFilter:
    """What an admin narrows the audit log down to; empty fields match everything."""

    action: str = ""
    actor: str = ""
    object_type: str = ""
    object_id: str = ""


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    filters: AuditFilter
    next_before: int | None  # pass as ``before`` to get the next (older) page


def page_from_query(args: Mapping[str, str]) -> AuditPage:
    """One page of the log as asked for by query-string arguments (filters and ``before``)."""
    filters = AuditFilter(**{name: (args.get(name) or "").strip()[:64] for name in AuditFilter.__dataclass_fields__})
    events, next_before = keyset_page(
        browse(filters, before_id=parse_id(args.get("before")), limit=PAGE_SIZE + 1), PAGE_SIZE
    )
    return AuditPage(events, filters, next_before)


def browse(filters: AuditFilter, before_id: int | None = None, limit: int = PAGE_SIZE) -> list[AuditEvent]:
    """Newest events first, ``limit`` at a time, continuing below ``before_id`` (keyset paging)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    # autoescape: "_" and "%" typed into a filter are matched as themselves, not as LIKE wildcards.
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    if filters.actor:
        query = query.where(AuditEvent.actor_label.contains(filters.actor.lower(), autoescape=True))
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query))
