"""Import pages: upload, mapping preview, progress, and the report with its CSV download."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

import spreadsheets
from accounts.models import Role
from accounts.roles import role_required
from audience import import_records
from audience.columns import FIELD_LABELS, FIELDS
from audience.import_forms import MappingForm, UploadForm
from audience.import_jobs import enqueue_import, progress
from audience.models import Import, ImportStatus
from audience.views import bp
from dbtypes import parse_id
from domain_errors import DomainError
from extensions import db
from spreadsheets import UnreadableFileError

ISSUES_SHOWN = 100


def _import_or_404(import_id: str) -> Import:
    return db.get_or_404(Import, parse_id(import_id) or 0)


@bp.get("/imports")
@role_required(Role.MARKETER)
def import_list():
    return _list_page(UploadForm(formdata=None))


@bp.post("/imports")
@role_required(Role.MARKETER)
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        upload_file = form.file.data
        try:
            record = import_records.create_import(upload_file.filename or "upload", upload_file.read(),
                                           actor=current_user._get_current_object())
        except DomainError as error:
            db.session.rollback()
            form.file.errors.append(str(error))
        else:
            db.session.commit()
            return redirect(url_for("audience.import_mapping", import_id=record.id))
    return _list_page(form), 400


def _list_page(form: UploadForm) -> str:
    return render_template("audience/imports.html", form=form, imports=import_records.recent_imports(),
                           status_labels=import_records.STATUS_LABELS)


@bp.route("/imports/<import_id>/mapping", methods=["GET", "POST"])
@role_required(Role.MARKETER)
def import_mapping(import_id: str):
    record = _import_or_404(import_id)
    if record.status is not ImportStatus.UPLOADED:
        return redirect(url_for("audience.import_detail", import_id=record.id))
    content = import_records.file_content(record) or b""
    form = MappingForm()
    sheet = form.sheet.data if request.method == "POST" else request.args.get("sheet")
    try:
        shown = import_records.preview(content, sheet or None)
    except UnreadableFileError as error:
        # Only a sheet chosen by hand can fail here: the upload itself was read once already.
        shown, form.sheet.errors = import_records.preview(content), [str(error)]
    form.set_headers(shown.headers)
    form.sheet.choices = [(name, name) for name in shown.sheets]
    if request.method == "GET" or "show_sheet" in request.form:
        for name in FIELDS:
            getattr(form, f"map_{name}").data = shown.detected.get(name, "")
        form.default_region.data = current_app.config["DEFAULT_REGION"]
        form.sheet.data = shown.sheet
        status = 200
    elif form.validate():
        try:
            import_records.configure(record, mapping=form.mapping(), default_region=form.default_region.data,
                              consent_source=form.consent_source.data if form.attest.data else "", sheet=shown.sheet)
            enqueue_import(record)
        except DomainError as error:
            db.session.rollback()
            form.map_phone.errors = [*form.map_phone.errors, str(error)]
        else:
            db.session.commit()
            return redirect(url_for("audience.import_detail", import_id=record.id))
        status = 400
    else:
        status = 400
    return render_template("audience/import_mapping.html", record=record, form=form, preview=shown,
                           fields=FIELDS, labels=FIELD_LABELS), status


@bp.get("/imports/<import_id>")
@role_required(Role.MARKETER)
def import_detail(import_id: str):
    record = _import_or_404(import_id)
    done = record.status is ImportStatus.SUCCEEDED
    shown = import_records.issues(record, limit=ISSUES_SHOWN) if done else []
    return render_template("audience/import_detail.html", record=record, issues=shown, state=progress(record),
                           headers=import_records.report_headers(record, shown),
                           merges=import_records.merges(record, limit=ISSUES_SHOWN) if done else [],
                           reason_text=import_records.reason_text,
                           issues_shown=ISSUES_SHOWN, status_labels=import_records.STATUS_LABELS)


@bp.get("/imports/<import_id>/progress")
@role_required(Role.MARKETER)
def import_progress(import_id: str):
    return jsonify(progress(_import_or_404(import_id)))


@bp.get("/imports/<import_id>/report.csv")
@role_required(Role.MARKETER)
def import_report(import_id: str):
    record = _import_or_404(import_id)
    return spreadsheets.csv_download(import_records.report_lines(record), f"import-{record.id}-report.csv",
                                     encoding=import_records.report_dialect(record)["encoding"])
