"""The import as an RQ job: one transaction for the data, progress in the job's meta for the page.

A killed worker leaves an import "running" with nothing written (its transaction never committed);
the periodic ``fail_stalled_imports`` job notices the dead job and marks the import failed, and running
it again is safe. The pages only read: a GET never writes behind the caller's back.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from accounts.events import set_actor_label
from accounts.models import User
from audience import import_records
from audience.import_pipeline import run_import
from audience.models import Import, ImportStatus
from domain_errors import DomainError
from extensions import after_commit, db, redis_queues

log = logging.getLogger(__name__)
_PROGRESS_EVERY = 0.5  # seconds between progress writes to Redis
_DEAD = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)  # ended without finishing the import


def job_id_for(import_id: int) -> str:
    return f"audience-import-{import_id}"


def import_file(import_id: int) -> dict[str, Any] | None:
    """Import the stored file of ``import_id``; a bad file fails the import with its sentence."""
    job = get_current_job()
    record = db.session.get(Import, import_id)
    if record is None or record.status is ImportStatus.SUCCEEDED:
        return record.summary if record else None  # a retried job after success changes nothing
    content = import_records.file_content(record)
    uploader = db.session.get(User, record.uploaded_by_id) if record.uploaded_by_id else None
    set_actor_label(record.uploaded_by_label)
    import_records.mark_running(record, job.id if job else None)
    db.session.commit()
    log.info("event=import_started import_id=%d rows_file=%s job_id=%s", import_id, record.file_name, job and job.id)
    try:
        summary = run_import(record, content or b"", progress=_progress_writer(job))
        import_records.mark_succeeded(record, summary, actor=uploader)
        db.session.commit()
    except DomainError as error:  # a bad file or mapping says what is wrong; a crash says nothing was kept
        db.session.rollback()
        import_records.mark_failed(import_id, str(error))
        db.session.commit()
        log.info("event=import_refused import_id=%d job_id=%s reason=%r", import_id, job and job.id, str(error))
        return None
    except BaseException:
        db.session.rollback()
        import_records.mark_failed(
            import_id,
            _(
                "The import stopped because of an internal error; nothing was imported. "
                "Try again, or tell your administrator."
            ),
        )
        db.session.commit()
        raise
    log.info("event=import_finished import_id=%d job_id=%s created=%d updated=%d rejected=%d",
             import_id, job and job.id, summary.created, summary.updated, summary.rejected)
    return summary.as_dict()


def _progress_writer(job: Job | None):
    last = [0.0]

    def write(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if job is None or (now - last[0] < _PROGRESS_EVERY and done < total):
            return
        last[0] = now
        job.meta["progress"] = {"stage": stage, "done": done, "total": total}
        job.save_meta()

    return write


def enqueue_import(record: Import) -> None:
    """Mark ``record`` queued and queue its import once the caller commits (a rollback queues nothing).

    The worker may pick the job up the moment it is in Redis, so it must find the import's settings
    committed. While the job is queued or running, a second call leaves the same job.
    """
    record.status = ImportStatus.QUEUED
    db.session.flush()
    import_id = record.id
    after_commit(lambda: redis_queues.enqueue(
        "imports", import_file, import_id, job_id=job_id_for(import_id), timeout=timedelta(hours=1), retries=1,
    ))


def progress(record: Import) -> dict[str, Any]:
    """Where the import is, for the progress bar: status, stage, rows done of total. Reads only."""
    state: dict[str, Any] = {"status": record.status.value, "stage": None, "done": 0, "total": 0}
    if record.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        job = _job(record)
        if job is not None:
            state.update(job.get_meta(refresh=True).get("progress") or {})
    return state


def fail_stalled_imports() -> int:
    """The periodic job: mark failed every import whose job died (worker killed, job lost with Redis)."""
    job = get_current_job()
    failed = mark_stalled_imports_failed()
    db.session.commit()
    log.info("event=stalled_imports_failed count=%d job_id=%s", failed, job.id if job else None)
    return failed


def enqueue_fail_stalled_imports() -> Job:
    """Queue the stalled-import check; while one is queued or running, a second call returns it."""
    return redis_queues.enqueue("default", fail_stalled_imports, job_id="fail_stalled_imports",
                                timeout=timedelta(minutes=5))


def mark_stalled_imports_failed() -> int:
    """Mark failed each queued or running import whose job is gone or ended without finishing; flushes
    only, returns how many.

    An import is committed as queued a moment before its job reaches Redis (after the commit); should
    this check fall in that moment, the job still runs and its outcome replaces the "failed".
    """
    pending = db.session.scalars(select(Import).where(Import.status.in_((ImportStatus.QUEUED, ImportStatus.RUNNING))))
    sentence = _("The import did not finish (its worker stopped); nothing was imported. Start it again.")
    failed = 0
    for record in pending.all():
        job = _job(record)
        if job is None or job.get_status(refresh=True) in _DEAD:
            import_records.mark_failed(record.id, sentence)
            failed += 1
    return failed


def _job(record: Import) -> Job | None:
    try:
        return Job.fetch(job_id_for(record.id), connection=redis_queues.connection)
    except NoSuchJobError:
        return None
