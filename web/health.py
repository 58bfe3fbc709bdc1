"""Liveness/readiness (`/healthz`) and Prometheus (`/metrics`) endpoints."""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from extensions import db, redis_queues
from web.metrics import EXTENSION_KEY

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def _check(name: str, probe) -> str:
    try:
        probe()
    except Exception as error:  # any failure means "not ready"; the detail goes to the log only
        log.warning("event=health_check_failed component=%s error=%r", name, error)
        return "unavailable"
    return "ok"


@bp.get("/healthz")
def healthz():
    checks = {
        "database": _check("database", lambda: db.session.execute(text("SELECT 1"))),
        "redis": _check("redis", redis_queues.connection.ping),
    }
    healthy = all(state == "ok" for state in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", **checks), 200 if healthy else 503


@bp.get("/metrics")
def metrics():
    token = current_app.config["METRICS_TOKEN"]
    if token:
        scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
            abort(401)
    metrics = current_app.extensions[EXTENSION_KEY]
    return metrics.exposition(current_app.config["METRICS_MULTIPROC_DIR"]), 200, {"Content-Type": CONTENT_TYPE_LATEST}
