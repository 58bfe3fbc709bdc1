"""The import from the shell (`flask audience import`), as an RQ job run by the real worker against the
suite's real Redis, and through the web pages: upload, mapping preview, progress and report."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
from html import unescape

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from audience import import_jobs, import_pipeline, import_records
from audience.import_jobs import enqueue_import, import_file, job_id_for
from audience.models import Contact, Import, ImportFile, ImportIssue, ImportStatus
from extensions import db, redis_queues
from tests import audience_files as files
from tests.audience_files import contacts_by_phone, issues_of, phone, start_import
from tests.processes import wait_for
from tests.records import audit_events, suppress
from tests.test_import_web import confirm, marketer, upload, uploaded_import_id  # noqa: F401  (marketer: a fixture)
from tests.test_worker import finished_cleanly, start_worker  # noqa: F401  (a fixture, used by name)

INTERNAL_ERROR = ("The import stopped because of an internal error; nothing was imported. Try again, or tell your "
                  "administrator.")
WORKER_STOPPED = "The import did not finish (its worker stopped); nothing was imported. Start it again."
SUMMARY_KEYS = {"read", "created", "updated", "unchanged", "duplicates", "rejected", "suppressed", "import_id",
                "rejections", "merged_rows"}


def count(model) -> int:
    db.session.rollback()  # a fresh transaction sees what the command, the job or the page committed
    return db.session.scalar(select(func.count()).select_from(model))


def stored_import(import_id: int) -> Import:
    db.session.rollback()
    return db.session.get(Import, import_id)


def stored_import_id() -> int:
    """The id of the newest import."""
    db.session.rollback()
    return db.session.scalar(select(func.max(Import.id)))


# --- the command ----------------------------------------------------------------------------------

def flask_import(app, tmp_path, content: bytes, *options: str, name: str = "клиенты.csv"):
    """Write ``content`` to a file and run `flask audience import FILE <options>`."""
    path = tmp_path / name
    path.write_bytes(content)
    return app.test_cli_runner().invoke(args=["audience", "import", str(path), *options])


def refused(result, sentence: str) -> None:
    """The command printed ``Error: <sentence>``, exited 1 and kept nothing."""
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {sentence}\n"
    assert count(Import) == count(Contact) == 0


def test_json_prints_the_summary_and_every_rejected_row(app, tmp_path):
    suppress("+79031234511")
    result = flask_import(app, tmp_path, files.excel_artefacts_csv(), "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # one JSON object on standard output; the progress bar is on stderr
    assert set(summary) == SUMMARY_KEYS
    imported = [outcome for _cell, outcome in files.PHONE_CELLS if outcome.startswith("+")]
    rejected = [
        (row, outcome) for row, (_cell, outcome) in enumerate(files.PHONE_CELLS, 2) if not outcome.startswith("+")
    ]
    assert {key: summary[key] for key in ("read", "created", "updated", "duplicates", "rejected", "suppressed")} == {
        "read": len(files.PHONE_CELLS), "created": len(imported), "updated": 0, "duplicates": 0,
        "rejected": len(rejected), "suppressed": 1}
    assert summary["rejections"] == [
        {"row": row, "reason": import_records.reason_text(code), "code": code} for row, code in rejected
    ]
    assert summary["rejections"][0]["reason"] == (
        "Excel damaged this number (it shows it in scientific notation and lost digits); export the column as text.")
    assert sorted(contacts_by_phone()) == sorted(imported)
    record = stored_import(summary["import_id"])
    assert (record.status, record.file_name) == (ImportStatus.SUCCEEDED, "клиенты.csv")
    assert record.uploaded_by_label.startswith("cli:")  # whoever ran the command
    assert record.summary["created"] == len(imported)


def test_without_json_the_command_says_what_it_did_in_sentences(app, tmp_path):
    rows = [("+79031234501", "Иван", "Москва", "да"), ("8 903 123-45-01", "Иван", "", "да"),
            ("7.90312E+10", "Пётр", "", "да"), ("+79031234503", "Мария", "", "нет")]
    result = flask_import(app, tmp_path, files.cp1251_csv(rows))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"Import {stored_import_id()}: read 4 rows; 1 created, 0 updated, 0 unchanged, 1 duplicates merged, "
        "2 rejected, 0 on the suppression list (they stay suppressed)."
    )
    assert lines[1:] == [f"  row 4: {import_records.reason_text('phone_excel_damaged')}",
                         "  row 5: No opt-in: the consent cell is empty or says no.",
                         "  row 2 merged into row 3 (the same number, …4501)"]


def test_json_lists_the_rows_merged_into_a_later_row_of_the_same_number(app, tmp_path):
    rows = [("+79031234501", "Иван", "", "да"), ("+79031234502", "Мария", "", "да"), ("8 903 123-45-01", "", "", "да"),
            ("+79031234502", "Мария И.", "", "да"), ("89031234501", "Иван Петров", "", "да")]
    result = flask_import(app, tmp_path, files.cp1251_csv(rows), "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["duplicates"] == 3
    assert summary["merged_rows"] == [{"row": 2, "into_row": 6, "number_end": "4501"},
                                      {"row": 3, "into_row": 5, "number_end": "4502"},
                                      {"row": 4, "into_row": 6, "number_end": "4501"}]
    assert contacts_by_phone()["+79031234501"].consent_row == 6


def test_map_takes_fields_from_the_columns_named(app, tmp_path):
    header = ("Клиент", "Рабочий телефон", "Домашний телефон", "Отметка")
    content = files.utf8_csv([("Иван", "+79031234501", "+79031234601", "да")], header)
    result = flask_import(app, tmp_path, content, "--map", "phone=Домашний телефон", "--map", "name=Клиент",
                          "--map", "consent=Отметка", "--json")
    assert result.exit_code == 0, result.output
    ivan = contacts_by_phone()["+79031234601"]
    assert (ivan.name, ivan.attributes) == ("Иван", {"Рабочий телефон": "+79031234501"})


@pytest.mark.parametrize("pair, message", [
    ("email=Почта", "'email=Почта': use FIELD=HEADER, FIELD one of phone, name, first_name, patronymic, last_name, "
                    "city"),
    ("phone", "'phone': use FIELD=HEADER"),
])
def test_a_map_that_is_not_field_equals_header_is_a_usage_error(app, tmp_path, pair, message):
    result = flask_import(app, tmp_path, files.cp1251_csv(), "--map", pair)
    assert result.exit_code == 2
    assert message in result.output
    assert count(Import) == 0


def test_a_map_to_a_column_the_file_lacks_is_refused(app, tmp_path):
    refused(flask_import(app, tmp_path, files.cp1251_csv(), "--map", "phone=Мобильный"),
            "The file has no column “Мобильный”; its columns are: Телефон, Имя, Город, Согласие.")


def test_a_file_without_consent_needs_consent_source(app, tmp_path):
    content = files.utf8_csv([("+79031234501", "Иван")], ("Телефон", "Имя"))
    refused(flask_import(app, tmp_path, content, "--json"),
            "The file has no consent column; confirm that everyone in it opted in and say how (for example “website "
            "form, checkbox text v3”), or map the column that holds consent.")

    result = flask_import(app, tmp_path, content, "--consent-source", "website form, checkbox text v3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 1
    assert contacts_by_phone()["+79031234501"].consent_source == "website form, checkbox text v3"


def test_default_region_reads_numbers_without_a_country_code(app, tmp_path):
    content = files.utf8_csv([("044 123 4567", "Олена", "Київ", "да")])
    as_russian = json.loads(flask_import(app, tmp_path, content, "--json").stdout)
    assert (as_russian["created"], as_russian["rejections"][0]["code"]) == (0, "phone_invalid")

    as_ukrainian = json.loads(flask_import(app, tmp_path, content, "--default-region", "ua", "--json").stdout)
    assert as_ukrainian["created"] == 1
    assert contacts_by_phone()["+380441234567"].country == "UA"

    unknown = flask_import(app, tmp_path, content, "--default-region", "XX")
    assert unknown.exit_code == 2
    assert "'XX' is not a country code such as RU." in unknown.output


@pytest.mark.parametrize(
    "content, sentence",
    [
        (files.empty_file(), "The file is empty."),
        (files.header_only(), "The file has a header row but no contacts under it."),
        (
            files.pdf_renamed_csv(),
            "This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again.",
        ),
        (
            files.mixed_encodings(),
            "The file mixes two encodings (line 3 is UTF-8, other lines are not); save it again as CSV "
            "UTF-8 and upload it again.",
        ),
    ],
    ids=["empty", "header only", "PDF", "mixed encodings"],
)
def test_a_bad_file_is_refused_with_its_sentence_and_a_non_zero_exit(app, tmp_path, content, sentence):
    refused(flask_import(app, tmp_path, content, "--json"), sentence)


def test_sheet_chooses_the_sheet_of_a_workbook(app, tmp_path):
    result = flask_import(app, tmp_path, files.xlsx_two_sheets(), "--sheet", "Март", "--json", name="crm.xlsx")
    assert result.exit_code == 0, result.output
    assert sorted(contacts_by_phone()) == ["+79031234592", "+79031234593"]
    missing = flask_import(app, tmp_path, files.xlsx_two_sheets(), "--sheet", "Апрель", name="crm.xlsx")
    assert missing.output == "Error: The workbook has no sheet called “Апрель”; it has: Архив, Март.\n"


# --- the job, in-process where no worker is needed ------------------------------------------------

def test_enqueueing_an_import_twice_gives_one_job_once_committed(app):
    record = start_import(files.cp1251_csv())
    enqueue_import(record)
    enqueue_import(record)
    assert redis_queues.queue("imports").job_ids == [], "nothing may reach Redis before the commit"
    db.session.commit()
    assert redis_queues.queue("imports").job_ids == [job_id_for(record.id)]
    assert import_jobs.progress(record) == {"status": "queued", "stage": None, "done": 0, "total": 0}


def test_a_rolled_back_import_queues_no_job(app):
    record = start_import(files.cp1251_csv())
    enqueue_import(record)
    db.session.rollback()
    db.session.commit()
    assert redis_queues.queue("imports").job_ids == []


def test_an_import_whose_job_was_lost_is_marked_failed_by_the_periodic_check(app):
    record = start_import(files.cp1251_csv())
    enqueue_import(record)
    waiting = start_import(files.cp1251_csv())
    enqueue_import(waiting)
    db.session.commit()
    job_of(record).delete()  # Redis lost it (restarted without persistence, say)

    assert import_jobs.fail_stalled_imports() == 1
    stored = stored_import(record.id)
    assert (stored.status, stored.error) == (ImportStatus.FAILED, WORKER_STOPPED)
    assert stored_import(waiting.id).status is ImportStatus.QUEUED  # its job is still queued
    assert import_jobs.fail_stalled_imports() == 0


def test_reading_the_progress_of_a_dead_import_writes_nothing(app, marketer):
    record = start_import(files.cp1251_csv())
    enqueue_import(record)
    db.session.commit()
    job_of(record).delete()
    writes = []

    def count_writes(_connection, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", count_writes)
    try:
        assert marketer.get(f"/audience/imports/{record.id}/progress").get_json()["status"] == "queued"
        assert marketer.get(f"/audience/imports/{record.id}").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count_writes)
    assert writes == []
    assert stored_import(record.id).status is ImportStatus.QUEUED  # until the periodic check says otherwise


def test_a_worker_that_takes_the_import_job_at_once_finds_the_import_committed(app, marketer):
    """The job becomes visible in Redis only after the mapping page committed the import's settings:
    whatever a worker reads the moment the job appears is the queued import with its mapping."""
    import_id = uploaded_import_id(upload(marketer, "клиенты.csv", files.cp1251_csv()))
    seen_by_a_fast_worker = []

    def what_a_worker_would_read_now() -> None:
        if Job.exists(job_id_for(import_id), connection=redis_queues.connection) and not seen_by_a_fast_worker:
            with db.engine.connect() as worker_connection:  # another connection, as the worker's
                row = worker_connection.execute(
                    select(Import.status, Import.options).where(Import.id == import_id)).one()
            seen_by_a_fast_worker.append((ImportStatus(row.status), row.options))

    def before_commit(_session) -> None:
        what_a_worker_would_read_now()

    event.listen(Session, "before_commit", before_commit)
    try:
        assert confirm(marketer, import_id, default_region="KZ").status_code == 302
    finally:
        event.remove(Session, "before_commit", before_commit)
    what_a_worker_would_read_now()

    [(status, options)] = seen_by_a_fast_worker
    assert status is ImportStatus.QUEUED
    assert options["default_region"] == "KZ" and options["mapping"]
    assert import_file(import_id)["created"] == 3  # and the job, run now, imports with those settings
    assert stored_import(import_id).status is ImportStatus.SUCCEEDED


def test_a_job_run_again_after_success_changes_nothing(app):
    record = start_import(files.cp1251_csv())
    db.session.commit()
    summary = import_file(record.id)
    table = files.contacts_table()
    assert summary["created"] == 3
    assert import_file(record.id) == summary
    assert files.contacts_table() == table
    assert count(ImportFile) == 0  # the stored upload is dropped once imported


# --- the job, run by the real worker --------------------------------------------------------------

def run_worker(start_worker, *, a_job_fails: bool = False) -> None:
    """Run `python worker.py --burst` until the queues are empty; it exits cleanly (a failing job
    logs its traceback, and the worker goes on)."""
    worker = start_worker("--burst")
    if a_job_fails:
        assert worker.wait() == 0, worker.output()
    else:
        finished_cleanly(worker)


def job_of(record: Import) -> Job:
    return Job.fetch(job_id_for(record.id), connection=redis_queues.connection)


@pytest.mark.slow
def test_the_worker_imports_an_uploaded_file(app, make_user, start_worker):
    anna = make_user("marketer", email="anna@example.com")
    record = start_import(files.excel_artefacts_csv(), "выгрузка.csv", actor=anna)
    enqueue_import(record)
    db.session.commit()
    assert stored_import(record.id).status is ImportStatus.QUEUED

    run_worker(start_worker)

    job = job_of(record)
    assert job.get_status(refresh=True) is JobStatus.FINISHED
    stored = stored_import(record.id)
    assert (stored.status, stored.error, stored.job_id) == (ImportStatus.SUCCEEDED, None, job.id)
    assert stored.started_at <= stored.finished_at
    assert job.return_value(refresh=True) == stored.summary
    imported = sorted(outcome for _cell, outcome in files.PHONE_CELLS if outcome.startswith("+"))
    assert stored.summary["created"] == len(imported)
    assert sorted(contacts_by_phone()) == imported
    assert {contact.consent_import_id for contact in contacts_by_phone().values()} == {record.id}
    assert len(issues_of(stored)) == stored.summary["rejected"] + 1  # and the extension warning
    assert count(ImportFile) == 0
    assert job.get_meta(refresh=True)["progress"]["total"] > 0
    event = audit_events("audience.imported")[0]
    assert (event.actor_id, event.details["created"], event.details["file"]) == (anna.id, len(imported), "выгрузка.csv")


@pytest.mark.slow
def test_a_file_the_job_cannot_read_fails_the_import_with_its_sentence(app, start_worker):
    # The upload and the mapping look at the first rows only; the formula is further down.
    rows = [(phone(index), "Клиент", "", "да") for index in range(1, 30)] + [("+79039999999", "=B2", "", "да")]
    content = files.xlsx_file(rows)
    record = start_import(content, "клиенты.xlsx")
    enqueue_import(record)
    db.session.commit()

    run_worker(start_worker)

    assert job_of(record).get_status(refresh=True) is JobStatus.FINISHED  # a bad file is no crash
    stored = stored_import(record.id)
    assert (stored.status, stored.error) == (ImportStatus.FAILED, "Cell B31 holds a formula (=B2); copy the sheet and "
                                             "paste it as values, then upload it again.")
    assert count(Contact) == count(ImportIssue) == 0


@pytest.mark.slow
def test_a_crash_half_way_fails_the_job_keeps_nothing_and_a_rerun_imports_everything(app, start_worker):
    rows = import_pipeline._CHUNK + 10
    record = start_import(files.large_csv(rows))
    record.status = ImportStatus.QUEUED
    redis_queues.enqueue("imports", files.import_file_crashing_after_the_first_chunk, record.id,
                         job_id=job_id_for(record.id))
    db.session.commit()

    run_worker(start_worker, a_job_fails=True)

    job = job_of(record)
    assert job.get_status(refresh=True) is JobStatus.FAILED
    assert job.id in redis_queues.queue("imports").failed_job_registry.get_job_ids()
    assert "RuntimeError: the database connection was lost" in job.latest_result().exc_string
    stored = stored_import(record.id)
    assert (stored.status, stored.error) == (ImportStatus.FAILED, INTERNAL_ERROR)
    assert count(Contact) == count(ImportIssue) == 0  # the first chunk had been written, then rolled back

    import_file(record.id)  # run again (here, not in a worker: the same function)
    stored = stored_import(record.id)
    assert (stored.status, stored.error, stored.summary["created"]) == (ImportStatus.SUCCEEDED, None, rows)
    assert count(Contact) == rows


@pytest.mark.slow
def test_a_worker_killed_half_way_leaves_nothing_and_the_import_is_marked_failed(app, start_worker, tmp_path):
    record = start_import(files.large_csv(import_pipeline._CHUNK + 10))
    record.status = ImportStatus.QUEUED
    marker = tmp_path / "horse.pid"
    redis_queues.enqueue("imports", files.import_file_hanging_after_the_first_chunk, record.id, str(marker),
                         job_id=job_id_for(record.id))
    db.session.commit()
    worker = start_worker()

    horse = int(wait_for(lambda: marker.exists() and marker.read_text(), "the job to save its first chunk"))
    assert stored_import(record.id).status is ImportStatus.RUNNING
    assert count(Contact) == 0  # written, but not committed: nobody else sees it
    os.kill(horse, signal.SIGKILL)
    wait_for(lambda: job_of(record).get_status(refresh=True) is JobStatus.FAILED, "the worker to notice")

    assert import_jobs.fail_stalled_imports() == 1
    stored = stored_import(record.id)
    assert (stored.status, stored.error) == (ImportStatus.FAILED, WORKER_STOPPED)
    assert count(Contact) == count(ImportIssue) == 0
    worker.observe_children()
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()


# --- the web pages, with the real worker (tests/test_import_web.py covers the pages themselves) -----

@pytest.mark.slow
def test_upload_mapping_worker_and_report_end_to_end(app, marketer, start_worker):
    rows = [("+79031234501", "Иван Петров", "Москва", "да"), ("7.90312E+10", "=cmd|' /C calc'!A0", "Казань", "да"),
            ("8 903 123-45-03", "Мария", "Шмуравль", "да"), ("+79031234504", "Пётр", "Омск", "нет")]
    import_id = uploaded_import_id(upload(marketer, "клиенты.csv", files.cp1251_csv(rows)))
    preview = marketer.get(f"/audience/imports/{import_id}/mapping").get_data(as_text=True)
    assert "Иван Петров" in preview and "8 903 123-45-03" in preview
    assert confirm(marketer, import_id).status_code == 302
    assert stored_import(import_id).status is ImportStatus.QUEUED
    progress_url = f"/audience/imports/{import_id}/progress"
    assert marketer.get(progress_url).get_json() == {"status": "queued", "stage": None, "done": 0, "total": 0}

    run_worker(start_worker)

    assert marketer.get(progress_url).get_json()["status"] == "succeeded"
    detail = marketer.get(f"/audience/imports/{import_id}").get_data(as_text=True)
    assert import_records.reason_text("phone_excel_damaged") in unescape(detail)
    assert sorted(contacts_by_phone()) == ["+79031234501", "+79031234503"]
    report = marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True)
    # The upload was cp1251 with semicolons; so is its report.
    lines = list(csv.reader(io.StringIO(report.get_data().decode("cp1251")), delimiter=";"))
    assert lines[0] == ["Row", "Outcome", "Reason", "Detail", *files.HEADER_RU]
    assert [line[:3] for line in lines[1:]] == [
        ["3", "rejected", import_records.reason_text("phone_excel_damaged")],
        ["4", "warning", import_records.reason_text("unknown_city")],
        ["5", "rejected", import_records.reason_text("no_opt_in")],
    ]
    assert "'=cmd|' /C calc'!A0" in lines[1]  # neutralised: a spreadsheet shows it, never runs it
