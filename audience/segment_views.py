"""Segment pages: the list, the builder (new and edit) with its live count and sample, on the audience blueprint.

Marketers and admins create and edit; everybody signed in may look and count. The builder works
without JavaScript (its "Preview" button posts the form); with it, ``static/segment_builder.js``
posts the form to ``segment_preview`` as the user types and shows the count and sample it returns.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from audience import segments
from audience.models import Segment
from audience.segment_forms import SegmentForm, definition_from_form, form_data
from audience.serialisers import preview_json
from audience.views import bp
from extensions import db


def _preview_or_errors(definition: Any) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        return preview_json(definition), []
    except segments.SegmentDefinitionError as error:
        return None, error.errors


def _can_edit() -> bool:
    return current_user.has_role(Role.MARKETER)


def _segment_or_404(segment_id: int) -> Segment:
    return db.session.get(Segment, segment_id) or abort(404)


def _builder(form: SegmentForm, segment: Segment | None, preview=None, errors=(), status: int = 200, uses=()):
    return render_template(
        "audience/segment_form.html",
        form=form,
        segment=segment,
        preview=preview,
        errors=list(errors),
        can_edit=_can_edit(),
        action=url_for("audience.save_segment", segment_id=segment.id)
        if segment
        else url_for("audience.create_segment"),
        uses=list(uses),
    ), status


@bp.get("/segments")
@role_required()
def segment_list():
    return render_template("audience/segment_list.html", segments=segments.list_segments(), can_edit=_can_edit())


@bp.get("/segments/new")
@role_required(Role.MARKETER)
def new_segment():
    preview, errors = _preview_or_errors({})  # nothing chosen yet: everybody
    return _builder(SegmentForm(formdata=None), None, preview, errors)


@bp.get("/segments/<int:segment_id>")
@role_required()
def segment(segment_id: int):
    found = _segment_or_404(segment_id)
    preview, errors = _preview_or_errors(found.definition)
    form = SegmentForm(formdata=None, data=form_data(found.name, found.description, found.definition))
    return _builder(form, found, preview, errors)


@bp.post("/segments/new")
@role_required(Role.MARKETER)
def create_segment():
    return _submit(None)


@bp.post("/segments/<int:segment_id>")
@role_required(Role.MARKETER)
def save_segment(segment_id: int):
    return _submit(_segment_or_404(segment_id))


def _submit(segment: Segment | None):
    """Preview (the no-JavaScript button) or save the builder's form."""
    form = SegmentForm()
    definition = definition_from_form(form)
    if request.form.get("action") == "preview":
        preview, errors = _preview_or_errors(definition)
        return _builder(form, segment, preview, errors, 400 if errors else 200)
    if not form.validate_on_submit():
        return _builder(form, segment, None, [], 400)
    actor = current_user._get_current_object()
    voided = []
    try:
        if segment is None:
            saved = segments.create_segment(form.name.data, definition, form.description.data or "", actor=actor)
        else:
            voided = segments.uses_if_redefined(segment, definition)
            saved = segments.update_segment(segment, name=form.name.data, definition=definition,
                                            description=form.description.data or "", actor=actor,
                                            confirmed=request.form.getlist("confirm"))
    except segments.SegmentInUseError as error:
        # The confirmation step: the form as posted, the campaigns it affects, and a button to go on.
        db.session.rollback()
        preview, errors = _preview_or_errors(definition)
        return _builder(form, segment, preview, errors, 409, uses=error.uses)
    except segments.SegmentError as error:
        db.session.rollback()
        return _builder(form, segment, None, error.errors, 400)
    db.session.commit()
    flash(_("The segment “%(name)s” is saved.", name=saved.name), "info")
    if voided:
        flash(_("These campaigns are drafts again and need a new review: %(names)s.",
                names=", ".join(f"“{use.name}”" for use in voided)), "info")
    return redirect(url_for("audience.segment", segment_id=saved.id))


@bp.post("/segments/preview")
@role_required()
def segment_preview():
    """The builder's live preview: the form as posted in, count and sample (or the errors) out."""
    preview, errors = _preview_or_errors(definition_from_form(SegmentForm()))
    if errors:
        return jsonify(error=errors[0], errors=errors), 400
    return jsonify(preview)


@bp.get("/segments/<int:segment_id>/count")
@role_required()
def segment_count(segment_id: int):
    """The live count of a saved segment, for the list's lazy counts."""
    try:
        return jsonify(count=segments.count(_segment_or_404(segment_id).definition))
    except segments.SegmentDefinitionError as error:
        return jsonify(error=error.errors[0], errors=error.errors), 400
