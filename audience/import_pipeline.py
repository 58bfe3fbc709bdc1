"""An uploaded file to contacts with consent proof: read, check every row, merge, geocode, upsert.

``run_import`` only adds and flushes, inside the caller's transaction: a file that fails half-way
(or a worker killed half-way) leaves nothing behind, and the same file imported twice changes
nothing the second time. Rows are checked in Python (the cells need it) and written set-wise.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from flask_babel import gettext as _

from audience import columns
from audience.models import Import, IssueKind
from audience.reading import read_table
from audience.rows import CheckedChunk, RowRules, check_chunk, warm_up, without_cyclic_gc
from audience.upsert import Repeat, Seen, bulk_settings, upsert_contacts, write_report
from domain_errors import DomainError

Progress = Callable[[str, int, int], None]  # stage, done, total

# Below this many rows starting worker processes costs more than it saves.
PARALLEL_FROM = 20_000
_CHUNK = 10_000


class ImportRefusedError(DomainError):
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
    with _ChunkChecker(content) as checker, without_cyclic_gc(), bulk_settings():
        return _run(record, content, checker, progress or (lambda stage, done, total: None))


def _run(record: Import, content: bytes, checker: _ChunkChecker, report: Progress) -> Summary:
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
    rules = RowRules(
        mapping=mapping, attribute_headers=tuple(columns.attribute_headers(table.headers, mapping)),
        default_region=options.get("default_region", "RU"), import_id=record.id, uploaded_at=record.uploaded_at,
        default_source=attestation[:300] or _("Import of %(file)s", file=record.file_name)[:300],
    )
    seen: Seen = {}  # numbers of earlier chunks: a repeat there is a duplicate, not another contact
    issues: list[dict[str, Any]] = []
    merged = MergedRows()
    report("checking", 0, total)
    # While worker processes check later chunks, this one saves the earlier ones.
    for offset, checked in checker.chunks(frame, rules):
        issues.extend(checked.issues)
        repeats: list[Repeat] = []
        outcome = upsert_contacts(checked.contacts, seen, repeats)
        merged.add(checked.repeated, repeats)
        for name in ("created", "updated", "unchanged", "suppressed"):
            setattr(summary, name, getattr(summary, name) + outcome[name])
        report("checking", min(offset + _CHUNK, total), total)
    for issue in issues:
        counter = summary.rejected_by_reason if issue["kind"] is IssueKind.REJECTED else summary.warnings_by_reason
        counter[issue["reason"]] += 1
    summary.rejected = sum(summary.rejected_by_reason.values())
    merges = merged.entries(record.id)
    summary.duplicates = len(merges)
    report("report", 0, len(issues) + len(merges))
    write_report(issues, merges)
    return summary


class MergedRows:
    """The rows of each repeated number across all chunks, in file order: all merged into the last."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}

    def add(self, repeated: dict[str, list[int]], repeats: list[Repeat]) -> None:
        """One chunk's numbers: those on several of its rows, and those an earlier chunk had already."""
        for phone, earlier_row, row in repeats:
            self.rows.setdefault(phone, [earlier_row]).extend(repeated.get(phone, [row]))
        for phone, rows in repeated.items():
            self.rows.setdefault(phone, rows)  # first met in this chunk (else added just above)

    def entries(self, import_id: int) -> list[dict[str, Any]]:
        """Rows for audience_import_merges: each merged row with the row it was merged into."""
        return [{"import_id": import_id, "row": row, "into_row": rows[-1], "number_end": phone[-4:]}
                for phone, rows in self.rows.items() for row in rows[:-1]]


class _ChunkChecker:
    """Chunks of the file checked in worker processes (both cores) for big files, here for small ones.

    The workers start before the file is read when its line count says it is big, so that their
    start-up (imports, the gazetteer) overlaps the reading.
    """

    def __init__(self, content: bytes):
        self.workers = os.cpu_count() or 1
        self.pool: ProcessPoolExecutor | None = None
        if not content.startswith(b"PK") and content.count(b"\n") >= PARALLEL_FROM:
            self._start_pool()

    def _start_pool(self) -> None:
        if self.workers > 1:
            # spawn, not fork: this process holds a database connection no child may share.
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                            initializer=warm_up)

    def __enter__(self) -> _ChunkChecker:
        return self

    def chunks(self, frame, rules: RowRules) -> Iterator[tuple[int, CheckedChunk]]:
        """(index of the first row, its checked rows) for each chunk, in file order."""
        offsets = range(0, len(frame), _CHUNK)

        def cells(offset: int) -> dict[str, list[str]]:
            part = frame.iloc[offset:offset + _CHUNK]
            return {header: part[header].tolist() for header in part.columns}

        if self.pool is None and len(frame) >= PARALLEL_FROM:
            self._start_pool()
        if self.pool is None:
            for offset in offsets:
                yield offset, check_chunk(rules, offset, cells(offset))
            return
        # A few chunks ahead keep the workers busy without holding the whole file twice in memory.
        ahead: deque[tuple[int, Future]] = deque()
        for offset in offsets:
            ahead.append((offset, self.pool.submit(check_chunk, rules, offset, cells(offset))))
            if len(ahead) > 2 * self.workers:
                yield ahead[0][0], ahead.popleft()[1].result()
        while ahead:
            yield ahead[0][0], ahead.popleft()[1].result()

    def __exit__(self, *exc_info) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
