"""JSON API of compliance under /api/v1: suppression list, content check, audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from compliance import suppression
from compliance.audit import page_from_query
from compliance.lint import MAX_TEXT
from compliance.models import ASSIGNABLE_REASONS, SuppressionReason
from compliance.numbers import InvalidNumberError, to_e164
from compliance.policy import current_policy
from compliance.serialisers import event_json, suppression_json
from compliance.suppression_files import import_csv
from compliance.suppression_views import csv_download
from dbtypes import parse_id
from domain_errors import DomainError
from extensions import csrf, db

bp = Blueprint("compliance_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _reason(value: Any) -> SuppressionReason:
    try:
        reason = SuppressionReason(value or "manual")
        if reason in ASSIGNABLE_REASONS:
            return reason
    except ValueError:
        pass
    raise DomainError(_("“reason” must be one of opt_out, block, spam_report or manual."), field="reason")


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_log():
    page = page_from_query(request.args)
    return jsonify(events=[event_json(entry) for entry in page.events], next_before=page.next_before)


@bp.get("/suppressions")
@role_required()
def suppression_list():
    page = suppression.browse(
        request.args.get("q", ""),
        region=current_app.config["DEFAULT_REGION"],
        include_lifted=request.args.get("lifted") in ("1", "true"),
        before_id=parse_id(request.args.get("before")),
    )
    return jsonify(suppressions=[suppression_json(entry) for entry in page.entries], next_before=page.next_before)


@bp.post("/suppressions")
@role_required()
def add_suppression():
    body = json_body()
    try:
        phone = to_e164(str(body.get("phone") or ""), current_app.config["DEFAULT_REGION"])
    except InvalidNumberError as error:
        raise error.about("phone") from None
    entry, created = suppression.suppress(phone, _reason(body.get("reason")), source="api",
                                          actor=current_user._get_current_object(), note=str(body.get("note") or ""),
                                          evidence=str(body.get("evidence") or ""))
    db.session.commit()
    return jsonify(suppression_json(entry)), 201 if created else 200


def _phone_from_path(raw: str) -> str:
    # A number in any spelling, or a messenger address key ("max:123").
    try:
        return suppression.parse_key(raw, current_app.config["DEFAULT_REGION"])
    except InvalidNumberError as error:
        raise DomainError(error.errors, status=404) from None  # not a number: there is nothing at this address


@bp.get("/suppressions.csv")
@role_required()
def export_suppressions():
    return csv_download(request.args.get("history") in ("1", "true"))


@bp.post("/suppressions/import")
@role_required()
def import_suppressions():
    """A CSV as the multipart field ``file`` or as the request body; ``reason`` for rows without one."""
    upload = request.files.get("file")
    data, filename = (
        (upload.read(), upload.filename or "upload.csv") if upload else (request.get_data(), "request body")
    )
    default_reason = _reason(request.args.get("reason") or request.form.get("reason"))
    if not data:
        raise DomainError(_("The file is empty."), field="file")
    result = import_csv(data, filename=filename, actor=current_user._get_current_object(),
                        default_reason=default_reason, default_region=current_app.config["DEFAULT_REGION"])
    db.session.commit()
    return jsonify(result.as_dict())


@bp.get("/suppressions/<phone>")
@role_required()
def suppression_status(phone: str):
    phone = _phone_from_path(phone)
    entries = suppression.history(phone)
    return jsonify(phone=phone, suppressed=any(entry.is_open for entry in entries),
                   reasons=sorted(entry.reason.value for entry in entries if entry.is_open),
                   history=[suppression_json(entry) for entry in entries])


@bp.post("/suppressions/<phone>/lift")
@role_required(Role.ADMIN)
def lift_suppression(phone: str):
    phone = _phone_from_path(phone)
    lifted = suppression.lift(phone, reason_text=str(json_body().get("reason") or ""),
                              actor=current_user._get_current_object())
    db.session.commit()
    return jsonify(phone=phone, lifted=[suppression_json(entry) for entry in lifted])


@bp.post("/lint")
@role_required()
def lint_text():
    body = json_body()
    text, language = body.get("text"), body.get("language") or "ru"
    if not isinstance(text, str) or not text.strip():
        raise DomainError(_("Send the message as “text”."), field="text")
    if len(text) > MAX_TEXT:
        raise DomainError(_("The text is longer than %(limit)d characters.", limit=MAX_TEXT), field="text")
    if language not in current_app.config["LANGUAGES"]:
        raise DomainError(_("“language” must be ru or en."), field="language")
    return jsonify(current_policy().lint(text, language).as_dict())
