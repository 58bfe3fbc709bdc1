"""CSV in and out, safely: text files of any usual encoding in, formula-free cells out.

A leaf: imports no package of the project, so every package may use it.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context
from flask_babel import gettext as _

from domain_errors import DomainError

# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Two Cyrillic letters in UTF-8; as cp1251 these bytes read "Р" or "С" before a rare symbol, twice
# in a row, which no Russian text does.
_UTF8_CYRILLIC = re.compile(rb"[\xd0\xd1][\x80-\xbf][\xd0\xd1][\x80-\xbf]")


class UnreadableFileError(DomainError):
    """The upload is not a text table we can read; the message says so in a sentence."""


def decode_text(data: bytes) -> str:
    """The text of an uploaded CSV: UTF-8 (with or without BOM), else cp1251 as Russian Excel saves it."""
    return decode_with_encoding(data)[0]


def decode_with_encoding(data: bytes) -> tuple[str, str]:
    """The text of an uploaded CSV and the encoding it came in: "utf-8" (BOM or not) or "cp1251"."""
    # NUL bytes never occur in text files; they do in PDFs, images and XLSX renamed to .csv.
    if b"\x00" in data[:4096] or data.startswith((b"%PDF", b"PK\x03\x04")):
        raise UnreadableFileError(
            _("This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again.")
        )
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    mixed = _UTF8_CYRILLIC.search(data)
    if mixed:
        # Not UTF-8 as a whole, yet UTF-8 Cyrillic in places: rows pasted from two files. Reading
        # it as cp1251 would turn those rows into "РџСЂРёРІРµС‚" and import them that way.
        line = data.count(b"\n", 0, mixed.start()) + 1
        raise UnreadableFileError(
            _(
                "The file mixes two encodings (line %(line)d is UTF-8, other lines are not); "
                "save it again as CSV UTF-8 and upload it again.",
                line=line,
            )
        )
    try:
        return data.decode("cp1251"), "cp1251"
    except UnicodeDecodeError:
        raise UnreadableFileError(
            _("The file's text is neither UTF-8 nor Windows-1251; save it as CSV UTF-8 and upload it again.")
        ) from None


def safe_cell(value: object) -> str:
    """``value`` as a cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[object]], *, trusted: Iterable[int] = (),
              delimiter: str = ",") -> Iterator[str]:
    """CSV text line by line, for streaming; cells are neutralised except the ``trusted`` columns.

    A column may be trusted when its values are validated data that starts with "+" by nature,
    such as E.164 phone numbers, so that a round trip through the file keeps them intact.
    """
    trusted = set(trusted)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in itertools.chain([header], rows):
        writer.writerow(cell if index in trusted else safe_cell(cell) for index, cell in enumerate(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_download(lines: Iterable[str], file_name: str, encoding: str = "utf-8") -> Response:
    """``lines`` streamed as a CSV attachment that Excel opens: UTF-8 with a byte-order mark, or cp1251."""
    disposition = {"Content-Disposition": f'attachment; filename="{file_name}"'}
    if encoding == "cp1251":
        # A character cp1251 lacks cannot have come from a cp1251 upload; "?" beats a failed download.
        body = stream_with_context(line.encode("cp1251", errors="replace") for line in lines)
        return Response(body, content_type="text/csv; charset=windows-1251", headers=disposition)
    # Excel opens a UTF-8 CSV correctly only with a byte-order mark.
    body = stream_with_context(("\ufeff" if index == 0 else "") + line for index, line in enumerate(lines))
    return Response(body, mimetype="text/csv", headers=disposition)
