"""JSON API of segments under /api/v1: list, create, read with the live count, update, count, preview.

Errors are ``{"error": sentence, "errors": [sentences]}``: 400 for a wrong definition, 404 for an
unknown segment, 409 for a name already taken, and 409 with ``affected`` (the campaigns whose review
or approval a new definition voids, each with its ``key``) until the update names them all in
``confirm``; the saved segment then lists them under ``returned_to_draft``.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from audience import segments
from audience.api import bp
from audience.models import Segment
from audience.segment_views import preview_json
from extensions import db


def _problem(errors: list[str], status: int = 400):
    db.session.rollback()
    return jsonify(error=errors[0], errors=errors), status


def _error(error: segments.SegmentError):
    return _problem(error.errors, 409 if isinstance(error, segments.DuplicateSegmentError) else 400)


def _not_found():
    return _problem([_("There is no segment with this id.")], 404)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _text(body: dict[str, Any], key: str) -> str | None:
    """A text member, None when absent; anything else than text is refused by the service as empty."""
    value = body.get(key)
    return value if isinstance(value, str) or value is None else ""


def segment_json(segment: Segment, counted: bool = False) -> dict[str, Any]:
    """One segment as JSON, with its live count when ``counted``."""
    data = {
        "id": segment.id, "name": segment.name, "description": segment.description, "definition": segment.definition,
        "created_at": segment.created_at.isoformat(), "updated_at": segment.updated_at.isoformat(),
        "created_by_id": segment.created_by_id, "updated_by_id": segment.updated_by_id,
    }
    if counted:
        data["count"] = segments.count(segment.definition)
    return data


@bp.get("/segments")
@role_required()
def segments_list():
    return jsonify(segments=[segment_json(segment) for segment in segments.list_segments()])


@bp.post("/segments")
@role_required(Role.MARKETER)
def create_segment():
    body = _body()
    try:
        segment = segments.create_segment(_text(body, "name") or "", body.get("definition"), _text(body, "description") or "",
                                          actor=current_user._get_current_object())
        data = segment_json(segment, counted=True)
    except segments.SegmentError as error:
        return _error(error)
    db.session.commit()
    return jsonify(data), 201


@bp.get("/segments/<int:segment_id>")
@role_required()
def segment_detail(segment_id: int):
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        return _not_found()
    try:
        return jsonify(segment_json(segment, counted=True))
    except segments.SegmentError as error:
        return _error(error)


@bp.put("/segments/<int:segment_id>")
@role_required(Role.MARKETER)
def update_segment(segment_id: int):
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        return _not_found()
    body = _body()
    confirmed = body.get("confirm") if isinstance(body.get("confirm"), list) else []
    try:
        voided = segments.uses_if_redefined(segment, body.get("definition"))
        segments.update_segment(segment, name=_text(body, "name"), definition=body.get("definition"),
                                description=_text(body, "description"), actor=current_user._get_current_object(),
                                confirmed=[key for key in confirmed if isinstance(key, str)])
        data = segment_json(segment, counted=True)
    except segments.SegmentInUseError as error:
        db.session.rollback()
        return jsonify(error=error.errors[0], errors=error.errors, affected=[use.as_json() for use in error.uses]), 409
    except segments.SegmentError as error:
        return _error(error)
    db.session.commit()
    return jsonify({**data, "returned_to_draft": [use.as_json() for use in voided]})


@bp.get("/segments/<int:segment_id>/count")
@role_required()
def segment_count(segment_id: int):
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        return _not_found()
    try:
        return jsonify(count=segments.count(segment.definition))
    except segments.SegmentError as error:
        return _error(error)


@bp.post("/segments/preview")
@role_required()
def segment_preview():
    """``{"definition": {...}}`` in; the count and the newest ten matching contacts out."""
    try:
        return jsonify(preview_json(_body().get("definition")))
    except segments.SegmentError as error:
        return _error(error)
