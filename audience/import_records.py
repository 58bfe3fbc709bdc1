"""The life of an import: upload, mapping preview, queueing, progress, outcome and error report.

Services add and flush; the views, the CLI and the job commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.events import actor_label, announce
from audience import columns
from audience.import_pipeline import Summary, file_sha256
from audience.models import Import, ImportFile, ImportIssue, ImportMerge, ImportStatus, IssueKind
from audience.reading import read_table
from dbtypes import utcnow
from extensions import db
from spreadsheets import UnreadableFileError, csv_lines

PREVIEW_ROWS = 10

REASONS = {
    "phone_missing": _l("No phone number."),
    "phone_excel_damaged": _l(
        "Excel damaged this number (it shows it in scientific notation and lost digits); export the column as text."
    ),
    "phone_too_short": _l("The number is too short."),
    "phone_too_long": _l("The number is too long."),
    "phone_unknown_country": _l("The number has no known country code."),
    "phone_invalid": _l("This is not a valid phone number."),
    "no_opt_in": _l("No opt-in: the consent cell is empty or says no."),
    "consent_unclear": _l("The consent cell is neither yes nor no."),
    "unknown_city": _l("Unknown city; kept as written, without a time zone from it."),
    "bad_coordinates": _l("The coordinates are not a latitude and a longitude; ignored."),
    "bad_consent_date": _l("The consent date is not a past date; the upload time is used."),
    "extension_dropped": _l("The extension was dropped; WhatsApp reaches the number itself."),
}

STATUS_LABELS = {
    ImportStatus.UPLOADED: _l("Awaiting the column check"),
    ImportStatus.QUEUED: _l("Queued"),
    ImportStatus.RUNNING: _l("Importing"),
    ImportStatus.SUCCEEDED: _l("Imported"),
    ImportStatus.FAILED: _l("Failed"),
}


ISSUE_KIND_LABELS = {IssueKind.REJECTED: _l("rejected"), IssueKind.WARNING: _l("warning")}
# The actions of audience, as the audit log names them to a reader.
ACTION_LABELS = {
    "audience.imported": _l("Contacts imported"),
    "segment.created": _l("Segment created"),
    "segment.updated": _l("Segment changed"),
    "contact.edited": _l("Contact edited"),
    "contact.tags_changed": _l("Tags changed in bulk"),
}


def reason_text(code: str) -> str:
    return str(REASONS.get(code, code))


@dataclass
class Preview:
    headers: list[str]
    rows: list[list[str]]
    detected: dict[str, str]
    sheets: list[str]
    sheet: str | None
    dialect: dict[str, str] | None  # a CSV's encoding and delimiter


def create_import(file_name: str, content: bytes, *, actor: Any) -> Import:
    """Store an uploaded file as a new import awaiting its mapping; refuse what is plainly unreadable."""
    limit = current_app.config["MAX_UPLOAD_MB"]
    if len(content) > limit * 1024 * 1024:
        raise UnreadableFileError(_("The file is larger than %(limit)d MB; split it into smaller files.", limit=limit))
    preview(content)  # a PDF, an empty file or a broken table is refused now, not in the job
    record = Import(file_name=(file_name or "upload")[:255], file_sha256=file_sha256(content), file_size=len(content),
                    uploaded_by_id=getattr(actor, "id", None), uploaded_by_label=actor_label(actor))
    db.session.add(record)
    db.session.flush()
    db.session.add(ImportFile(import_id=record.id, content=content))
    db.session.flush()
    return record


def file_content(record: Import) -> bytes | None:
    stored = db.session.get(ImportFile, record.id)
    return stored.content if stored else None


def preview(content: bytes, sheet: str | None = None) -> Preview:
    """The first rows of the file with the mapping guessed from its headers."""
    table = read_table(content, sheet=sheet, max_rows=PREVIEW_ROWS)
    rows = table.frame.astype(str).values.tolist()
    dialect = {"encoding": table.encoding, "delimiter": table.delimiter} if table.kind == "csv" else None
    return Preview(table.headers, rows, columns.detect(table.headers), table.sheets, table.sheet, dialect)


def configure(record: Import, *, mapping: dict[str, str], default_region: str, consent_source: str = "",
              sheet: str | None = None) -> None:
    """Set how the file is read; raises MappingError / UnreadableFileError with a sentence."""
    shown = preview(file_content(record) or b"", sheet)
    resolved = columns.resolve(shown.headers, mapping)
    if "consent" not in resolved and not consent_source.strip():
        raise columns.MappingError(_(
            "The file has no consent column; confirm that everyone in it opted in and say how "
            "(for example “website form, checkbox text v3”), or map the column that holds consent."
        ))
    # The headers and the dialect are kept for the error report, written after the file is deleted.
    record.options = {"mapping": mapping, "default_region": default_region,
                      "consent_source": consent_source.strip()[:300], "sheet": shown.sheet,
                      "headers": shown.headers, "dialect": shown.dialect}
    db.session.flush()


def mark_running(record: Import, job_id: str | None) -> None:
    record.status, record.started_at, record.job_id = ImportStatus.RUNNING, utcnow(), job_id
    record.error = None
    db.session.flush()


def mark_succeeded(record: Import, summary: Summary, *, actor: Any) -> None:
    """Record the outcome with the data it describes; the stored file is no longer needed."""
    record.status, record.finished_at, record.summary = ImportStatus.SUCCEEDED, utcnow(), summary.as_dict()
    stored = db.session.get(ImportFile, record.id)
    if stored is not None:
        db.session.delete(stored)
    announce("audience.imported", actor=actor, target=record, file=record.file_name, sha256=record.file_sha256,
             **{key: value for key, value in summary.as_dict().items() if isinstance(value, int)})
    db.session.flush()


def mark_failed(import_id: int, sentence: str) -> None:
    """Record why an import failed; called after the import's own transaction was rolled back."""
    record = db.session.get(Import, import_id)
    if record is not None and record.status is not ImportStatus.SUCCEEDED:
        record.status, record.finished_at, record.error = ImportStatus.FAILED, utcnow(), sentence
        db.session.flush()


def issues(record: Import, limit: int | None = None) -> list[ImportIssue]:
    query = select(ImportIssue).where(ImportIssue.import_id == record.id).order_by(ImportIssue.row, ImportIssue.id)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def merges(record: Import, limit: int | None = None) -> list[ImportMerge]:
    """The rows merged into a later row of the same number, in row order."""
    query = select(ImportMerge).where(ImportMerge.import_id == record.id).order_by(ImportMerge.row)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def report_headers(record: Import, found: list[ImportIssue]) -> list[str]:
    """The file's own column headers, in its order: each gets a column of its own in the report."""
    headers = (record.options or {}).get("headers")
    # Imports from before the headers were kept: the columns that hold a value in some entry.
    return list(headers) if headers else list(dict.fromkeys(key for issue in found for key in issue.raw))


def merged_sentence(merge: ImportMerge) -> str:
    """What became of a merged row, in the reader's language."""
    return _("Same number (…%(end)s) as row %(row)d; merged into that row, whose values and consent proof stand.",
             end=merge.number_end, row=merge.into_row)


def merged_rows_json(record: Import) -> list[dict[str, Any]]:
    """The rows merged into a later row of the same number, as plain data for the API and the CLI."""
    return [{"row": merge.row, "into_row": merge.into_row, "number_end": merge.number_end} for merge in merges(record)]


def report_lines(record: Import) -> Iterator[str]:
    """The report as CSV lines in the upload's delimiter: row, outcome, reason, detail, then each of the
    file's columns under its own header, as uploaded (an empty cell stays empty, so nothing shifts).

    Merged rows are listed with no cells: imported again they would bring back values a later row
    replaced.
    """
    found = issues(record)
    headers = report_headers(record, found)
    kinds = {IssueKind.REJECTED: _("rejected"), IssueKind.WARNING: _("warning")}
    lines = [(issue.row, 0, [kinds[issue.kind], reason_text(issue.reason), issue.detail,
                             *(issue.raw.get(header, "") for header in headers)]) for issue in found]
    lines += [(merge.row, 1, [_("merged"), merged_sentence(merge), "", *[""] * len(headers)])
              for merge in merges(record)]
    lines.sort(key=lambda line: line[:2])
    yield from csv_lines([*map(str, columns.REPORT_COLUMNS), *headers],
                         ([row, *cells] for row, _order, cells in lines), trusted=[0],
                         delimiter=report_dialect(record)["delimiter"])


def report_dialect(record: Import) -> dict[str, str]:
    """The encoding and delimiter the upload came in (UTF-8 and commas for a workbook)."""
    return (record.options or {}).get("dialect") or {"encoding": "utf-8", "delimiter": ","}


def recent_imports(limit: int = 50) -> list[Import]:
    return list(db.session.scalars(select(Import).order_by(Import.id.desc()).limit(limit)))
