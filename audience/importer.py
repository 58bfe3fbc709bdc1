"""An uploaded file to contacts with consent proof: read, check every row, merge, geocode, upsert.

``run_import`` only adds and flushes, inside the caller's transaction: a file that fails half-way
(or a worker killed half-way) leaves nothing behind, and the same file imported twice changes
nothing the second time. Rows are checked in Python (the cells need it) and written set-wise.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable

from flask_babel import gettext as _

from audience import cells, columns, phones
from audience.geocoding import Geocoder
from audience.models import Import, IssueKind
from audience.reading import read_table
from audience.upsert import upsert_contacts, write_issues

Progress = Callable[[str, int, int], None]  # stage, done, total

# Below this many rows starting worker processes costs more than it saves.
PARALLEL_FROM = 20_000
_CHUNK = 10_000
_RAW_CELL = 200  # characters of each cell kept for the error report


class ImportRefusedError(ValueError):
    """The whole file cannot be imported; the message is a sentence for the person importing."""


@dataclass
class Summary:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    suppressed: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    warnings_by_reason: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items() if not isinstance(value, Counter)}
        data["rejected_by_reason"] = dict(self.rejected_by_reason)
        data["warnings_by_reason"] = dict(self.warnings_by_reason)
        return data


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def run_import(record: Import, content: bytes, *, progress: Progress | None = None) -> Summary:
    """Import ``content`` as ``record`` says (mapping, default region, consent source, sheet).

    Raises ImportRefusedError (or UnreadableFileError / MappingError, both ValueErrors with a
    sentence) when the file as a whole cannot be imported; nothing is written then.
    """
    report = progress or (lambda stage, done, total: None)
    options = record.options or {}
    table = read_table(content, sheet=options.get("sheet"))
    mapping = columns.resolve(table.headers, options.get("mapping"))
    attestation = (options.get("consent_source") or "").strip()
    if "consent" not in mapping and not attestation:
        raise ImportRefusedError(_(
            "The file has no consent column. Add one (Согласие: да/нет), or confirm that everyone in "
            "the file opted in and say how (for example “website form, checkbox text v3”)."
        ))
    frame = table.frame
    total = len(frame)
    summary = Summary(read=total)
    report("phones", 0, total)
    numbers = _normalise_phones(frame[mapping["phone"]].tolist(), options.get("default_region", "RU"), report)

    rows = _Rows(frame, mapping, table.headers, record, attestation)
    merged: dict[str, dict[str, Any]] = {}
    issues: list[dict[str, Any]] = []
    geocoder = Geocoder()
    for index, number in enumerate(numbers):
        row_number = index + 2  # the header is row 1, as the spreadsheet shows it
        if isinstance(number, str):
            issues.append(rows.issue(index, IssueKind.REJECTED, number))
            continue
        contact, problem, warnings = rows.contact(index, number)
        if problem:
            issues.append(rows.issue(index, IssueKind.REJECTED, problem))
            continue
        issues.extend(rows.issue(index, IssueKind.WARNING, code, detail) for code, detail in warnings)
        earlier = merged.get(number.e164)
        if earlier is None:
            merged[number.e164] = contact
        else:
            summary.duplicates += 1
            _merge(earlier, contact)
        if row_number % _CHUNK == 0:
            report("rows", index, total)
    for contact in merged.values():
        for code, detail in geocoder.place(contact):
            issues.append(rows.issue(contact["consent_row"] - 2, IssueKind.WARNING, code, detail))

    for issue in issues:
        counter = summary.rejected_by_reason if issue["kind"] is IssueKind.REJECTED else summary.warnings_by_reason
        counter[issue["reason"]] += 1
    summary.rejected = sum(summary.rejected_by_reason.values())
    outcome = upsert_contacts(list(merged.values()), lambda done: report("saving", done, len(merged)))
    summary.created, summary.updated, summary.unchanged, summary.suppressed = outcome
    write_issues(issues)
    return summary


def _normalise_phones(raws: list[str], region: str, report: Progress) -> list[phones.Number | str]:
    total = len(raws)
    chunks = [raws[start:start + _CHUNK] for start in range(0, total, _CHUNK)]
    workers = min(os.cpu_count() or 1, len(chunks))
    results: list[phones.Number | str] = []
    if total < PARALLEL_FROM or workers < 2:
        for chunk in chunks:
            results.extend(phones.normalise_many(chunk, region))
            report("phones", len(results), total)
        return results
    # spawn, not fork: the parent holds a database connection that a forked child must not share.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for done in pool.map(phones.normalise_many, chunks, [region] * len(chunks)):
            results.extend(done)
            report("phones", len(results), total)
    return results


def _merge(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    """A later row of the same number fills in and overrides, but an empty cell erases nothing."""
    for key, value in later.items():
        if key == "tags":
            earlier["tags"] = list(dict.fromkeys(earlier["tags"] + value))
        elif key == "attributes":
            earlier["attributes"].update(value)
        elif key in _FIRST_PROOF:
            continue  # the first row's consent evidence stands
        elif value not in (None, ""):
            earlier[key] = value


_FIRST_PROOF = {"consent_source", "consent_at", "consent_row", "consent_import_id"}


class _Rows:
    """The cells of one file, turned row by row into contact values and report entries."""

    def __init__(self, frame, mapping: dict[str, str], headers: list[str], record: Import, attestation: str):
        self.columns = {name: frame[header].tolist() for name, header in mapping.items()}
        self.attributes = [(header, frame[header].tolist()) for header in columns.attribute_headers(headers, mapping)]
        self.raw_columns = [(header, frame[header].tolist()) for header in headers]
        self.record = record
        self.attestation = attestation[:300]
        self.default_source = attestation[:300] or _("Import of %(file)s", file=record.file_name)[:300]

    def cell(self, name: str, index: int) -> str:
        values = self.columns.get(name)
        return values[index].strip() if values is not None else ""

    def contact(self, index: int, number: phones.Number) -> tuple[dict[str, Any], str | None, list[tuple[str, str]]]:
        """The contact values of row ``index``, the rejection code if any, and the warnings."""
        warnings: list[tuple[str, str]] = []
        if "consent" in self.columns:
            answer = cells.consent(self.columns["consent"][index])
            if answer is not True:
                return {}, ("no_opt_in" if answer is False else "consent_unclear"), []
        consent_at = self.record.uploaded_at
        consent_date = self.cell("consent_date", index)
        if consent_date:
            parsed = cells.moment(consent_date)
            if parsed is None or parsed > self.record.uploaded_at:
                warnings.append(("bad_consent_date", consent_date[:60]))
            else:
                consent_at = parsed
        if number.had_extension:
            warnings.append(("extension_dropped", ""))
        latitude = longitude = None
        lat_text, lon_text = self.cell("latitude", index), self.cell("longitude", index)
        if lat_text or lon_text:
            latitude, longitude = cells.coordinate(lat_text, 90), cells.coordinate(lon_text, 180)
            if latitude is None or longitude is None:
                warnings.append(("bad_coordinates", f"{lat_text[:30]} {lon_text[:30]}"))
                latitude = longitude = None
        name = " ".join(self.cell("name", index).split())[:200] or None
        attributes = {}
        for header, values in self.attributes:
            value = cells.attribute(values[index])
            if value:
                attributes[header[:100]] = value[:500]
        return {
            "phone": number.e164,
            "name": name,
            "name_key": name.casefold() if name else None,
            "country": number.country,
            "region": self.cell("region", index)[:120] or None,
            "city": " ".join(self.cell("city", index).split())[:120] or None,
            "country_hint": self.cell("country", index),
            "latitude": latitude,
            "longitude": longitude,
            "timezone": number.timezone,
            "phone_region": number.region,
            "language": cells.language(self.cell("language", index)),
            "tags": cells.tags(self.cell("tags", index)),
            "attributes": attributes,
            "consent_source": self.cell("source", index)[:300] or self.default_source,
            "consent_at": consent_at,
            "consent_import_id": self.record.id,
            "consent_row": index + 2,
        }, None, warnings

    def issue(self, index: int, kind: IssueKind, reason: str, detail: str = "") -> dict[str, Any]:
        raw = {header: str(values[index])[:_RAW_CELL] for header, values in self.raw_columns if values[index]}
        return {"import_id": self.record.id, "row": index + 2, "kind": kind, "reason": reason,
                "detail": detail[:300], "raw": raw}
