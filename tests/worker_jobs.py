"""Job functions for the worker tests; the real worker imports them by name from the repository root."""

from __future__ import annotations

import time

from flask import g
from sqlalchemy import select

from accounts.events import actor_label
from compliance.audit import AuditEvent, record
from extensions import db, redis_queues

MARKER_ACTION = "test.marker"


def fail_loudly(message: str) -> None:
    """Raise, as a broken job does, so RQ's failure handling has something to record."""
    raise RuntimeError(message)


def slow_write(seconds: float, marker: str) -> str:
    """Sleep, then commit an audit event carrying ``marker``; returns the marker."""
    time.sleep(seconds)
    record(MARKER_ACTION, details={"marker": marker})
    db.session.commit()
    return marker


def write_when_released(key: str, marker: str, seconds: int = 60) -> str:
    """Block until the test pushes to the Redis list ``key`` (or give up), then commit ``marker``."""
    if redis_queues.connection.blpop([key], timeout=seconds) is None:
        raise TimeoutError(f"nobody released {key} within {seconds} s")
    record(MARKER_ACTION, details={"marker": marker})
    db.session.commit()
    return marker


def write_without_commit(marker: str) -> None:
    """Leave the session dirty (a flushed, uncommitted row) and something in ``g``."""
    record(MARKER_ACTION, details={"marker": marker})
    db.session.flush()
    g.test_marker = marker


def committed_markers() -> dict:
    """What a later job sees: the committed markers, what ``g`` holds, whom the audit log would name."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == MARKER_ACTION).order_by(AuditEvent.id))
    return {
        "markers": [event.details["marker"] for event in events],
        "g_marker": g.get("test_marker"),
        "actor_label": actor_label(None),
    }
