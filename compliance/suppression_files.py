"""The suppression list as a CSV file: import numbers to suppress, export the list.

An import only ever adds suppressions. Rows that cannot be read are reported with their row number
and reason; the rest are suppressed, and importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from accounts.models import User
from compliance import audit, suppression
from compliance.models import Suppression, SuppressionError, SuppressionReason
from compliance.numbers import to_e164
from domain_errors import DomainError
from extensions import db
from spreadsheets import UnreadableFileError, csv_lines, decode_text

PHONE_HEADERS = {
    "phone",
    "phone number",
    "number",
    "mobile",
    "msisdn",
    "телефон",
    "номер",
    "номер телефона",
    "мобильный",
}
REASON_HEADERS = {"reason", "причина"}
NOTE_HEADERS = {"note", "comment", "примечание", "комментарий"}
LIFTED_HEADERS = {"lifted_at"}
ADDRESS_HEADERS = {"address_key"}
# A messenger address's entry has an empty phone and its key in address_key; scope says whom it stops.
EXPORT_HEADER = ["phone", "reason", "source", "note", "evidence", "suppressed_at", "suppressed_by",
                 "lifted_at", "lifted_by", "lift_reason", "address_key", "scope"]


@dataclass
class ImportResult:
    read: int = 0
    added: int = 0
    already: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number in the file, reason)

    def as_dict(self) -> dict:
        """The summary as JSON-ready data."""
        return {"read": self.read, "added": self.added, "already": self.already,
                "rejected": [{"row": row, "reason": reason} for row, reason in self.rejected]}


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows, each with its line number in the file (as a spreadsheet would show it)."""
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # a single column has no delimiter to find
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        return [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise UnreadableFileError(_("Line %(line)d of the file cannot be read as CSV (%(problem)s).",
                                    line=reader.line_num, problem=str(error))) from None


def _columns(first: list[str]) -> tuple[dict[str, int], bool]:
    """Which column holds what, and whether the first row is a header."""
    names = [cell.strip().lower().lstrip("\ufeff") for cell in first]
    found = {}
    for key, headers in (
        ("phone", PHONE_HEADERS),
        ("reason", REASON_HEADERS),
        ("note", NOTE_HEADERS),
        ("lifted", LIFTED_HEADERS),
        ("address_key", ADDRESS_HEADERS),
    ):
        for index, name in enumerate(names):
            if name in headers:
                found[key] = index
                break
    if "phone" in found:
        return found, True
    if len(first) == 1:
        return {"phone": 0}, False  # a bare list of numbers
    raise UnreadableFileError(_("The file has no phone column; name it “phone” or “Телефон”."))


def import_csv(
    data: bytes, *, filename: str, actor: User | None, default_reason: SuppressionReason, default_region: str
) -> ImportResult:
    """Suppress every number in the file; rows without a reason column get ``default_reason``. A row with an
    ``address_key`` and no phone (our own export of a messenger's entry) suppresses that address key."""
    rows = _rows(decode_text(data))
    if not rows:
        raise UnreadableFileError(_("The file is empty."))
    columns, has_header = _columns(rows[0][1])
    digest = hashlib.sha256(data).hexdigest()
    evidence = f"{filename[:180]} sha256:{digest[:16]}"
    result = ImportResult()
    for number, row in rows[1:] if has_header else rows:
        result.read += 1
        if _cell(row, columns, "lifted"):
            continue  # a lifted entry of an exported history is history, not a suppression to add
        try:
            address_key = _cell(row, columns, "address_key")
            reason = _reason(_cell(row, columns, "reason"), default_reason)
            if address_key and not _cell(row, columns, "phone"):
                if reason is SuppressionReason.BOT_STOPPED:
                    continue  # a stopped bot is that bot's own state: only its events open or close it
                phone = suppression.parse_key(address_key, default_region)  # a person's opt-out on a messenger
            else:
                phone = to_e164(_cell(row, columns, "phone"), default_region)
            # Our own export protects notes from spreadsheets with a leading apostrophe; drop it again.
            note = _cell(row, columns, "note").removeprefix("'") or (
                _("Imported from %(file)s", file=filename) if reason is SuppressionReason.MANUAL else ""
            )
            _entry, created = suppression.suppress(
                phone, reason, source="import", actor=actor, note=note, evidence=evidence
            )
        except DomainError as error:
            result.rejected.append((number, str(error)))
            continue
        if created:
            result.added += 1
        else:
            result.already += 1
    audit.record(
        "suppression.imported",
        actor=actor,
        details={
            "file": filename,
            "sha256": digest,
            "read": result.read,
            "added": result.added,
            "rejected": len(result.rejected),
        },
    )
    return result


def _cell(row: list[str], columns: dict[str, int], key: str) -> str:
    index = columns.get(key)
    return row[index].strip() if index is not None and index < len(row) else ""


def _reason(text: str, default: SuppressionReason) -> SuppressionReason:
    if not text:
        return default
    try:
        return SuppressionReason(text.strip().lower())
    except ValueError:
        raise SuppressionError(
            _("Unknown reason “%(reason)s”; use opt_out, block, spam_report or manual.", reason=text[:40])
        ) from None


def export_lines(include_lifted: bool = False) -> Iterator[str]:
    """The list as CSV lines, oldest entry first; with ``include_lifted`` the whole history.

    A generator: the query runs as the lines are read, so a streamed download reads the rows inside
    the response, not in a session the request has already closed.
    """
    query = select(Suppression).order_by(Suppression.id).execution_options(yield_per=1000)
    if not include_lifted:
        query = query.where(Suppression.lifted_at.is_(None))
    rows = (
        [entry.phone or "", entry.reason.value, entry.source, entry.note, entry.evidence, _iso(entry.created_at),
         entry.actor_label, _iso(entry.lifted_at), entry.lifted_by_label or "", entry.lift_reason or "",
         entry.address_key or "", entry.scope.value]
        for entry in db.session.scalars(query)
    )
    # Phones are validated E.164 and start with "+"; neutralising them would break a re-import.
    yield from csv_lines(EXPORT_HEADER, rows, trusted=[0])


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""
