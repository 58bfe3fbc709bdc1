"""Job functions for the harness's own tests; the real worker imports them by name from the repository root."""

from __future__ import annotations

import time

from compliance.audit import record
from extensions import db
from tests.worker_jobs import MARKER_ACTION


def mark_twice(marker: str, seconds: float) -> str:
    """Commit ``<marker>-started``, wait ``seconds`` (Redis is not touched meanwhile), commit ``marker``."""
    record(MARKER_ACTION, details={"marker": f"{marker}-started"})
    db.session.commit()
    time.sleep(seconds)
    record(MARKER_ACTION, details={"marker": marker})
    db.session.commit()
    return marker
