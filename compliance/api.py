"""JSON API of compliance under /api/v1: suppression list, content check, audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from compliance import suppression
from compliance.audit import AuditEvent, page_from_query
from compliance.lint import MAX_TEXT
from compliance.models import Suppression, SuppressionError, SuppressionReason
from compliance.numbers import InvalidNumberError, to_e164
from compliance.policy import current_policy
from compliance.suppression_files import import_csv
from compliance.suppression_views import csv_download
from dbtypes import parse_id
from extensions import csrf, db
from spreadsheets import UnreadableFileError

bp = Blueprint("compliance_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _problem(message: str, status: int = 400):
    db.session.rollback()
    return jsonify(error=status, message=str(message)), status


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


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


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_log():
    page = page_from_query(request.args)
    return jsonify(events=[event_json(entry) for entry in page.events], next_before=page.next_before)


@bp.get("/suppressions")
@role_required()
def suppression_list():
    page = suppression.browse(request.args.get("q", ""), region=current_app.config["DEFAULT_REGION"],
                              include_lifted=request.args.get("lifted") in ("1", "true"), before_id=parse_id(request.args.get("before")))
    return jsonify(suppressions=[suppression_json(entry) for entry in page.entries], next_before=page.next_before)


@bp.post("/suppressions")
@role_required()
def add_suppression():
    body = _body()
    try:
        phone = to_e164(str(body.get("phone") or ""), current_app.config["DEFAULT_REGION"])
        reason = SuppressionReason(body.get("reason") or "manual")
    except InvalidNumberError as error:
        return _problem(str(error))
    except ValueError:
        return _problem(_("“reason” must be one of opt_out, block, spam_report or manual."))
    try:
        entry, created = suppression.suppress(phone, reason, source="api", actor=current_user._get_current_object(),
                                              note=str(body.get("note") or ""), evidence=str(body.get("evidence") or ""))
    except SuppressionError as error:
        return _problem(str(error))
    db.session.commit()
    return jsonify(suppression_json(entry)), 201 if created else 200


def _phone_from_path(raw: str) -> str:
    return to_e164(raw, current_app.config["DEFAULT_REGION"])


@bp.get("/suppressions.csv")
@role_required()
def export_suppressions():
    return csv_download(request.args.get("history") in ("1", "true"))


@bp.post("/suppressions/import")
@role_required()
def import_suppressions():
    """A CSV as the multipart field ``file`` or as the request body; ``reason`` for rows without one."""
    upload = request.files.get("file")
    data, filename = (upload.read(), upload.filename or "upload.csv") if upload else (request.get_data(), "request body")
    try:
        default_reason = SuppressionReason(request.args.get("reason") or request.form.get("reason") or "manual")
    except ValueError:
        return _problem(_("“reason” must be one of opt_out, block, spam_report or manual."))
    if not data:
        return _problem(_("The file is empty."))
    try:
        result = import_csv(data, filename=filename, actor=current_user._get_current_object(),
                            default_reason=default_reason, default_region=current_app.config["DEFAULT_REGION"])
    except UnreadableFileError as error:
        return _problem(str(error))
    db.session.commit()
    return jsonify(result.as_dict())


@bp.get("/suppressions/<phone>")
@role_required()
def suppression_status(phone: str):
    try:
        phone = _phone_from_path(phone)
    except InvalidNumberError as error:
        return _problem(str(error), 404)
    entries = suppression.history(phone)
    return jsonify(phone=phone, suppressed=any(entry.is_open for entry in entries),
                   reasons=sorted(entry.reason.value for entry in entries if entry.is_open),
                   history=[suppression_json(entry) for entry in entries])


@bp.post("/suppressions/<phone>/lift")
@role_required(Role.ADMIN)
def lift_suppression(phone: str):
    try:
        phone = _phone_from_path(phone)
        lifted = suppression.lift(phone, reason_text=str(_body().get("reason") or ""), actor=current_user._get_current_object())
    except InvalidNumberError as error:
        return _problem(str(error), 404)
    except SuppressionError as error:
        return _problem(str(error))
    db.session.commit()
    return jsonify(phone=phone, lifted=[suppression_json(entry) for entry in lifted])


@bp.post("/lint")
@role_required()
def lint_text():
    body = _body()
    text, language = body.get("text"), body.get("language") or "ru"
    if not isinstance(text, str) or not text.strip():
        return _problem(_("Send the message as “text”."))
    if len(text) > MAX_TEXT:
        return _problem(_("The text is longer than %(limit)d characters.", limit=MAX_TEXT))
    if language not in current_app.config["LANGUAGES"]:
        return _problem(_("“language” must be ru or en."))
    return jsonify(current_policy().lint(text, language).as_dict())
