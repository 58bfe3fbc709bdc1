"""The import as an RQ job: one transaction for the data, progress in the job's meta for the page.

A killed worker leaves an import "running" with nothing written (its transaction never committed);
``refresh_status`` notices the dead job and marks the import failed, and running it again is safe.
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

from accounts.events import set_actor_label
from accounts.models import User
from audience import imports
from audience.columns import MappingError
from audience.importer import ImportRefusedError, run_import
from audience.models import Import, ImportStatus
from extensions import db, redis_queues
from spreadsheets import UnreadableFileError

log = logging.getLogger(__name__)
# Sentences for the person importing: a bad file says what is wrong; a crash says nothing was kept.
REFUSALS = (UnreadableFileError, MappingError, ImportRefusedError)
_PROGRESS_EVERY = 0.5  # seconds between progress writes to Redis


def job_id_for(import_id: int) -> str:
    return f"audience-import-{import_id}"


def import_file(import_id: int) -> dict[str, Any] | None:
    """Import the stored file of ``import_id``; a bad file fails the import with its sentence."""
    job = get_current_job()
    record = db.session.get(Import, import_id)
    if record is None or record.status is ImportStatus.SUCCEEDED:
        return record.summary if record else None  # a retried job after success changes nothing
    content = imports.file_content(record)
    uploader = db.session.get(User, record.uploaded_by_id) if record.uploaded_by_id else None
    set_actor_label(record.uploaded_by_label)
    imports.mark_running(record, job.id if job else None)
    db.session.commit()
    log.info("event=import_started import_id=%d rows_file=%s job_id=%s", import_id, record.file_name, job and job.id)
    try:
        summary = run_import(record, content or b"", progress=_progress_writer(job))
        imports.mark_succeeded(record, summary, actor=uploader)
        db.session.commit()
    except REFUSALS as error:
        db.session.rollback()
        imports.mark_failed(import_id, str(error))
        db.session.commit()
        log.info("event=import_refused import_id=%d job_id=%s reason=%r", import_id, job and job.id, str(error))
        return None
    except BaseException:
        db.session.rollback()
        imports.mark_failed(import_id, _("The import stopped because of an internal error; nothing was imported. Try again, or tell your administrator."))
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


def enqueue_import(record: Import) -> Job:
    """Queue ``record``'s import; while it is queued or running, a second call returns the same job."""
    record.status = ImportStatus.QUEUED
    db.session.flush()
    return redis_queues.enqueue(
        "imports", import_file, record.id, job_id=job_id_for(record.id),
        timeout=timedelta(hours=1), retries=1,
    )


def progress(record: Import) -> dict[str, Any]:
    """Where the import is, for the progress bar: status, stage, rows done of total."""
    refresh_status(record)
    state: dict[str, Any] = {"status": record.status.value, "stage": None, "done": 0, "total": 0}
    if record.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        job = _job(record)
        if job is not None:
            state.update(job.get_meta(refresh=True).get("progress") or {})
    return state


def refresh_status(record: Import) -> None:
    """Mark an import failed whose job died (worker killed, job lost with Redis); commits if so."""
    if record.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        return
    job = _job(record)
    if job is not None and job.get_status(refresh=True) not in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return
    imports.mark_failed(record.id, _("The import did not finish (its worker stopped); nothing was imported. Start it again."))
    db.session.commit()


def _job(record: Import) -> Job | None:
    try:
        return Job.fetch(job_id_for(record.id), connection=redis_queues.connection)
    except NoSuchJobError:
        return None
