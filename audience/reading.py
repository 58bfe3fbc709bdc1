"""Uploaded audience files (CSV or XLSX) to a table of strings, or a sentence saying why not.

Every cell is read as text: a phone column read as numbers loses its "+" and leading zeros.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from dataclasses import dataclass, field

import openpyxl
import pandas as pd
from flask_babel import gettext as _

from spreadsheets import UnreadableFileError, decode_with_encoding

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # the container of .xls and password-protected .xlsx
_DELIMITERS = ";,\t"
_SNIFF_BYTES = 64 * 1024


@dataclass
class Table:
    frame: pd.DataFrame  # all cells str; an empty cell is ""
    headers: list[str]
    kind: str  # "csv" or "xlsx"
    sheets: list[str] = field(default_factory=list)
    sheet: str | None = None
    # A CSV's encoding ("utf-8" or "cp1251") and delimiter, so the error report can come back in them.
    encoding: str | None = None
    delimiter: str | None = None


def read_table(content: bytes, *, sheet: str | None = None, max_rows: int | None = None) -> Table:
    """The first sheet (or ``sheet``) of an XLSX, or a CSV of any usual encoding and delimiter.

    ``max_rows`` reads only the first rows, for the mapping preview. Raises UnreadableFileError.
    """
    if not content.strip():
        raise UnreadableFileError(_("The file is empty."))
    if content.startswith(_OLE):
        raise UnreadableFileError(
            _(
                "This is an old Excel (.xls) or password-protected file; "
                "save it as .xlsx or CSV without a password and upload it again."
            )
        )
    table = _read_xlsx(content, sheet, max_rows) if content.startswith(_ZIP) else _read_csv(content, max_rows)
    table.headers = [str(header).strip() for header in table.frame.columns]
    table.frame.columns = table.headers
    # pandas names an empty header cell "Unnamed: N", so an empty first row has only such names.
    if not any(header and not header.startswith("Unnamed: ") for header in table.headers):
        raise UnreadableFileError(_("The first row is empty; it must hold the column names (Телефон, Имя, …)."))
    if table.frame.empty:
        raise UnreadableFileError(_("The file has a header row but no contacts under it."))
    return table


def _read_csv(content: bytes, max_rows: int | None) -> Table:
    text, encoding = decode_with_encoding(content)
    if "\x00" in text:  # decode_with_encoding looks at the start only; PostgreSQL refuses a NUL in any text
        raise UnreadableFileError(
            _("This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again.")
        )
    delimiter = _delimiter(text[:_SNIFF_BYTES])
    try:
        # index_col=False: rows ending in a delimiter the header lacks ("+7903…;Иван;") would
        # otherwise make pandas take the first column as the index and shift every cell one
        # column left. Cells past the last header have no name and are dropped, like "Unnamed".
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                nrows=max_rows, skip_blank_lines=True, engine="c", index_col=False,
            )
    except pd.errors.EmptyDataError:
        raise UnreadableFileError(_("The file is empty.")) from None
    except pd.errors.ParserError as error:
        raise UnreadableFileError(
            _(
                "The file is not a well-formed table (%(problem)s); "
                "check the quotes and the number of columns on that line.",
                problem=str(error).strip(),
            )
        ) from None
    return Table(frame=frame, headers=[], kind="csv", encoding=encoding, delimiter=delimiter)


def _delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if len(lines) > 1 and lines[-1] and not sample.endswith("\n"):
        lines = lines[:-1]  # the sample may end mid-line
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        # One column, or a header the sniffer cannot decide on: the most frequent one in the header.
        header = lines[0] if lines else ""
        return max(_DELIMITERS, key=header.count)


def _read_xlsx(content: bytes, sheet: str | None, max_rows: int | None) -> Table:
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableFileError(
            _(
                "This is not an Excel workbook (.xlsx) or a CSV file; "
                "save the table as .xlsx or CSV and upload it again."
            )
        ) from None
    try:
        sheets = list(book.sheetnames)
        if sheet is None:
            sheet = sheets[0]
        elif sheet not in sheets:
            raise UnreadableFileError(_("The workbook has no sheet called “%(sheet)s”; it has: %(sheets)s.",
                                        sheet=sheet, sheets=", ".join(sheets)))
        _refuse_formulas(book[sheet], max_rows)
    finally:
        book.close()
    frame = pd.read_excel(
        io.BytesIO(content), sheet_name=sheet, dtype=str, keep_default_na=False, na_filter=False,
        nrows=max_rows, engine="openpyxl",
    )
    frame = frame.dropna(how="all")
    return Table(frame=frame, headers=[], kind="xlsx", sheets=sheets, sheet=sheet)


def _refuse_formulas(worksheet, max_rows: int | None) -> None:
    # pandas would read a formula's cached result, or nothing when the file never went through
    # Excel; either way the contact data would be something nobody typed. Say where it is.
    limit = None if max_rows is None else max_rows + 1
    for row in worksheet.iter_rows(max_row=limit):
        for cell in row:
            if cell.data_type == "f":
                raise UnreadableFileError(
                    _(
                        "Cell %(cell)s holds a formula (%(formula)s); "
                        "copy the sheet and paste it as values, then upload it again.",
                        cell=cell.coordinate,
                        formula=str(cell.value)[:60],
                    )
                )
