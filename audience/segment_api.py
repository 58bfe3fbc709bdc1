"""JSON API of segments under /api/v1: list, create, read with the live count, update, count, preview.

Errors are problem details (``web/problems.py``): 400 for a wrong definition, 404 for an unknown
segment, 409 for a name already taken, and 409 with ``affected`` (the campaigns whose review or
approval a new definition voids, each with its ``key``) until the update names them all in
``confirm``; the saved segment then lists them under ``returned_to_draft``.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from audience import segments
from audience.api import bp
from audience.models import Segment
from audience.serialisers import preview_json, segment_json
from domain_errors import DomainError
from extensions import db


def _segment(segment_id: int) -> Segment:
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        raise DomainError(_("There is no segment with this id."), status=404)
    return segment


def _text(body: dict[str, Any], key: str) -> str | None:
    """A text member, None when absent; anything else than text is refused by the service as empty."""
    value = body.get(key)
    return value if isinstance(value, str) or value is None else ""


@bp.get("/segments")
@role_required()
def segments_list():
    return jsonify(segments=[segment_json(segment) for segment in segments.list_segments()])


@bp.post("/segments")
@role_required(Role.MARKETER)
def create_segment():
    body = json_body()
    segment = segments.create_segment(_text(body, "name") or "", body.get("definition"),
                                      _text(body, "description") or "", actor=current_user._get_current_object())
    data = segment_json(segment, counted=True)
    db.session.commit()
    return jsonify(data), 201


@bp.get("/segments/<int:segment_id>")
@role_required()
def segment_detail(segment_id: int):
    return jsonify(segment_json(_segment(segment_id), counted=True))


@bp.put("/segments/<int:segment_id>")
@role_required(Role.MARKETER)
def update_segment(segment_id: int):
    segment = _segment(segment_id)
    body = json_body()
    confirmed = body.get("confirm") if isinstance(body.get("confirm"), list) else []
    voided = segments.uses_if_redefined(segment, body.get("definition"))
    segments.update_segment(segment, name=_text(body, "name"), definition=body.get("definition"),
                            description=_text(body, "description"), actor=current_user._get_current_object(),
                            confirmed=[key for key in confirmed if isinstance(key, str)])
    data = segment_json(segment, counted=True)
    db.session.commit()
    return jsonify({**data, "returned_to_draft": [use.as_json() for use in voided]})


@bp.get("/segments/<int:segment_id>/count")
@role_required()
def segment_count(segment_id: int):
    return jsonify(count=segments.count(_segment(segment_id).definition))


@bp.post("/segments/preview")
@role_required()
def segment_preview():
    """``{"definition": {...}}`` in; the count and the newest ten matching contacts out."""
    return jsonify(preview_json(json_body().get("definition")))
