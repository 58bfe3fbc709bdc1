"""Suppression list pages: search, add, import, export, one number's (or messenger address's) history, lift (admins)."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

import spreadsheets
from accounts.models import Role
from accounts.roles import role_required
from compliance import suppression
from compliance.forms import ImportForm, LiftForm, SuppressForm
from compliance.models import SuppressionError, SuppressionReason
from compliance.numbers import InvalidNumberError, to_e164
from compliance.suppression_files import export_lines, import_csv
from compliance.views import bp
from dbtypes import parse_id
from extensions import db
from spreadsheets import UnreadableFileError


def _list_page(
    add_form: SuppressForm | None = None, import_form: ImportForm | None = None, import_result=None, status: int = 200
):
    page = suppression.browse(
        request.args.get("q", ""),
        region=current_app.config["DEFAULT_REGION"],
        include_lifted=request.args.get("lifted") == "1",
        before_id=parse_id(request.args.get("before")),
    )
    return render_template(
        "compliance/suppressions.html", page=page, reason_labels=suppression.REASON_LABELS,
        key_of=suppression.key_of, display_key=suppression.display_key,
        add_form=add_form or SuppressForm(formdata=None), import_form=import_form or ImportForm(formdata=None),
        import_result=import_result,
    ), status


@bp.get("/suppressions")
@role_required()
def suppression_list():
    return _list_page()


@bp.post("/suppressions")
@role_required()
def add_suppression():
    form = SuppressForm()
    if form.validate_on_submit():
        try:
            phone = to_e164(form.phone.data, current_app.config["DEFAULT_REGION"])
            _entry, created = suppression.suppress(
                phone,
                SuppressionReason(form.reason.data),
                source="ui",
                actor=current_user._get_current_object(),
                note=form.note.data,
            )
        except InvalidNumberError as error:
            form.phone.errors.append(str(error))
        except SuppressionError as error:
            form.note.errors.append(str(error))
        else:
            db.session.commit()
            flash(
                _("%(phone)s is suppressed.", phone=phone)
                if created
                else _("%(phone)s was already suppressed for this reason.", phone=phone),
                "info",
            )
            return redirect(url_for("compliance.suppression_list"))
    db.session.rollback()
    return _list_page(add_form=form, status=400)


@bp.post("/suppressions/import")
@role_required()
def import_suppressions():
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            result = import_csv(
                upload.read(), filename=upload.filename or "upload.csv", actor=current_user._get_current_object(),
                default_reason=SuppressionReason(form.reason.data), default_region=current_app.config["DEFAULT_REGION"],
            )
        except UnreadableFileError as error:
            db.session.rollback()
            form.file.errors.append(str(error))
        else:
            db.session.commit()
            return _list_page(import_result=result)
    return _list_page(import_form=form, status=400)


def csv_download(history: bool) -> Response:
    """The list (or its whole history) as a streamed CSV download, for the page and the API."""
    return spreadsheets.csv_download(
        export_lines(history), "suppressions-history.csv" if history else "suppressions.csv"
    )


@bp.get("/suppressions.csv")
@role_required()
def export_suppressions():
    return csv_download(request.args.get("history") == "1")


def _phone_or_404(raw: str) -> str:
    # A number in any spelling, or a messenger address key ("max:123").
    try:
        return suppression.parse_key(raw, current_app.config["DEFAULT_REGION"])
    except InvalidNumberError:
        abort(404)


@bp.get("/suppressions/<phone>")
@role_required()
def suppression_history(phone: str):
    phone = _phone_or_404(phone)
    return _history_page(phone, LiftForm(formdata=None))


def _history_page(phone: str, form: LiftForm, status: int = 200):
    entries = suppression.history(phone)
    return render_template(
        "compliance/suppression.html", phone=phone, entries=entries, reason_labels=suppression.REASON_LABELS,
        title=suppression.display_key(phone), is_address=suppression.is_address_key(phone),
        suppressed=any(entry.is_open for entry in entries), lift_form=form,
    ), status


@bp.post("/suppressions/<phone>/lift")
@role_required(Role.ADMIN)
def lift_suppression(phone: str):
    phone = _phone_or_404(phone)
    form = LiftForm()
    if form.validate_on_submit():
        try:
            suppression.lift(phone, reason_text=form.reason.data, actor=current_user._get_current_object())
        except SuppressionError as error:
            db.session.rollback()
            # The form is shown only while the number is suppressed; the sentence must show either way.
            flash(str(error), "error")
            return redirect(url_for("compliance.suppression_history", phone=phone))
        else:
            db.session.commit()
            flash(_("The suppression of %(phone)s is lifted.", phone=suppression.display_key(phone)), "info")
            return redirect(url_for("compliance.suppression_history", phone=phone))
    return _history_page(phone, form, status=400)
