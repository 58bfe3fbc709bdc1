"""JSON API of imports under /api/v1: one import's outcome and report (its problems and merged rows)."""

from __future__ import annotations

from flask import jsonify

from accounts.models import Role
from accounts.roles import role_required
from audience import import_records
from audience.api import bp
from audience.models import Import
from dbtypes import parse_id
from extensions import db


@bp.get("/imports/<import_id>")
@role_required(Role.MARKETER)
def import_detail(import_id: str):
    record = db.get_or_404(Import, parse_id(import_id) or 0)
    return jsonify({
        "id": record.id,
        "file_name": record.file_name,
        "status": record.status.value,
        "uploaded_at": record.uploaded_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "error": record.error,
        "summary": record.summary,
        "issues": [{"row": issue.row, "kind": issue.kind.value, "code": issue.reason,
                    "reason": import_records.reason_text(issue.reason), "detail": issue.detail, "cells": issue.raw}
                   for issue in import_records.issues(record)],
        "merged_rows": import_records.merged_rows_json(record),
    })
