"""`flask compliance …`: the suppression list, reply intents and the content check from the shell."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from compliance import policy, suppression
from compliance.models import SuppressionReason
from compliance.suppression_files import EXPORT_HEADER
from extensions import db
from tests.records import audit_events as events
from tests.records import suppression_rows as rows

NOT_CSV = "This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again."
BAD_LINE = 'Each line must be a JSON object with a "text" string of at most 4096 characters.'
DISCLAIMER_RU = "*Meta Platforms Inc. признана экстремистской организацией, её деятельность запрещена на территории РФ."
DISCLAIMER_EN = ("*Meta Platforms Inc. is recognised as an extremist organisation; "
                 "its activities are banned in the Russian Federation.")


def run(app, *args: str, input: str | None = None):
    """Run ``flask compliance <args>`` and return click's result."""
    return app.test_cli_runner().invoke(args=["compliance", *args], input=input)


def fails_with(result, sentence: str) -> None:
    """The command printed ``Error: <sentence>`` and exited 1, without a traceback."""
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {sentence}\n"
    assert isinstance(result.exception, SystemExit)


def is_usage_error(result, fragment: str) -> None:
    assert result.exit_code == 2 and fragment in result.output






def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def csv_file(tmp_path, text: str, encoding: str = "utf-8", name: str = "stop-list.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


# --- suppress and unsuppress ----------------------------------------------------------------------

def test_suppress_stores_the_number_in_e164_and_says_so(app):
    result = run(app, "suppress", "8 (903) 123-45-67", "--reason", "opt_out")
    assert (result.exit_code, result.output) == (0, "Suppressed +79031234567 (opt_out).\n")
    [entry] = rows()
    assert (entry.phone, entry.reason, entry.source) == ("+79031234567", SuppressionReason.OPT_OUT, "cli")
    assert entry.actor_id is None and entry.actor_label.startswith("cli:")
    [event] = events("suppression.added")
    assert (event.actor_label, event.object_id, event.details["source"]) == (entry.actor_label, str(entry.id), "cli")

    again = run(app, "suppress", "+7 903 123 45 67", "--reason", "opt_out")
    assert again.exit_code == 0
    assert re.fullmatch(r"\+79031234567 was already suppressed \(opt_out\) since \d{4}-\d\d-\d\d \d\d:\d\d UTC\.\n",
                        again.output)
    assert len(rows()) == 1 and len(events("suppression.added")) == 1


@pytest.mark.parametrize(("phone", "sentence"), [
    ("hello", "“hello” is not a phone number."),
    ("8 903 12", "“8 903 12” has the wrong number of digits for a phone number."),
])
def test_suppress_refuses_an_invalid_number(app, phone, sentence):
    fails_with(run(app, "suppress", phone, "--reason", "block"), sentence)
    assert rows() == []


def test_a_manual_suppression_needs_a_note(app):
    fails_with(
        run(app, "suppress", "+79031234567", "--reason", "manual"), "Write a note saying why this number is suppressed."
    )
    assert rows() == [] and events("suppression.added") == []
    assert run(app, "suppress", "+79031234567", "--reason", "manual", "--note", "Court order").exit_code == 0
    assert rows()[0].note == "Court order"


def test_suppress_needs_a_known_reason(app):
    is_usage_error(run(app, "suppress", "+79031234567"), "Missing option '--reason'")
    is_usage_error(run(app, "suppress", "+79031234567", "--reason", "unsubscribed"), "Invalid value for '--reason'")
    assert rows() == []


def test_unsuppress_lifts_every_suppression_of_the_number_but_an_opt_out(app):
    run(app, "suppress", "+79031234567", "--reason", "block")
    run(app, "suppress", "+79031234567", "--reason", "spam_report")
    result = run(app, "unsuppress", "8 903 123-45-67", "--reason", "Signed consent form no. 12")
    assert (result.exit_code, result.output) == (0, "Lifted block, spam_report for +79031234567.\n")
    assert [(row.is_open, row.lift_reason) for row in rows()] == [(False, "Signed consent form no. 12")] * 2
    assert [event.object_id for event in events("suppression.lifted")] == [str(row.id) for row in rows()]
    assert all(event.details["lift_reason"] == "Signed consent form no. 12" for event in events("suppression.lifted"))

    fails_with(run(app, "unsuppress", "+79031234567", "--reason", "again"), "+79031234567 is not suppressed.")
    run(app, "suppress", "+79031234567", "--reason", "opt_out")
    fails_with(
        run(app, "unsuppress", "+79031234567", "--reason", "asked"),
        "+79031234567 opted out; only the person can opt back in, by replying START.",
    )


def test_unsuppress_needs_a_reason(app):
    run(app, "suppress", "+79031234567", "--reason", "opt_out")
    is_usage_error(run(app, "unsuppress", "+79031234567"), "Missing option '--reason'")
    fails_with(
        run(app, "unsuppress", "+79031234567", "--reason", "   "), "Write the reason for lifting the suppression."
    )
    fails_with(run(app, "unsuppress", "hello", "--reason", "x"), "“hello” is not a phone number.")
    assert rows()[0].is_open and events("suppression.lifted") == []


# --- import and export ----------------------------------------------------------------------------

RUSSIAN_FILE = "Телефон;Причина;Примечание\r\n8 (903) 111-22-33;block;\r\nнет номера;;\r\n+7 903 111 22 34;;просил\r\n"


def test_import_prints_a_summary_with_the_rejected_rows(app, tmp_path):
    path = csv_file(tmp_path, RUSSIAN_FILE, "cp1251")
    result = run(app, "import-suppressions", path, "--reason", "opt_out")
    assert result.exit_code == 0
    assert result.output == ("Read 3 rows: 2 suppressed, 0 already suppressed, 1 rejected.\n"
                             "  row 3: “нет номера” is not a phone number.\n")
    assert [(row.phone, row.reason, row.note, row.source) for row in rows()] == [
        ("+79031112233", SuppressionReason.BLOCK, "", "import"),
        ("+79031112234", SuppressionReason.OPT_OUT, "просил", "import"),
    ]
    [imported] = events("suppression.imported")
    assert (imported.details["read"], imported.details["added"], imported.details["rejected"]) == (3, 2, 1)


def test_import_as_json_and_again_changes_nothing(app, tmp_path):
    path = csv_file(tmp_path, RUSSIAN_FILE, "cp1251")
    first = run(app, "import-suppressions", path, "--json")
    assert first.exit_code == 0
    assert json.loads(first.output) == {"read": 3, "added": 2, "already": 0,
                                        "rejected": [{"row": 3, "reason": "“нет номера” is not a phone number."}]}
    before = [(row.id, row.reason, row.note, row.evidence) for row in rows()]
    # A row without a reason gets the default one, manual.
    assert before[1][1:3] == (SuppressionReason.MANUAL, "просил")

    again = json.loads(run(app, "import-suppressions", path, "--json").output)
    assert (again["read"], again["added"], again["already"], len(again["rejected"])) == (3, 0, 2, 1)
    assert [(row.id, row.reason, row.note, row.evidence) for row in rows()] == before


def test_import_refuses_a_file_that_is_not_csv(app, tmp_path):
    path = tmp_path / "stop-list.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    fails_with(run(app, "import-suppressions", str(path)), NOT_CSV)
    assert rows() == [] and events("suppression.imported") == []


def suppress_some() -> None:
    """An open entry with a formula in its note, and a lifted one."""
    suppression.suppress("+79031112233", SuppressionReason.MANUAL, source="test", note="=HYPERLINK(\"http://evil.example\")")
    suppression.suppress("+79031112234", SuppressionReason.BLOCK, source="test")
    suppression.lift("+79031112234", reason_text="Consent form signed", actor=None)
    db.session.commit()


def read_csv(text: str) -> list[dict[str, str]]:
    header, *lines = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    assert header == EXPORT_HEADER
    return [dict(zip(header, line, strict=True)) for line in lines]


def test_export_writes_the_open_entries_to_standard_output(app):
    suppress_some()
    result = run(app, "export-suppressions")
    assert result.exit_code == 0
    [record] = read_csv(result.stdout)
    assert (record["phone"], record["reason"], record["lifted_at"]) == ("+79031112233", "manual", "")
    assert record["note"] == "'=HYPERLINK(\"http://evil.example\")"


def test_export_with_history_to_a_file(app, tmp_path):
    suppress_some()
    path = tmp_path / "out.csv"
    result = run(app, "export-suppressions", "-o", str(path), "--history")
    assert (result.exit_code, result.output) == (0, "")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfphone,reason,") and b"\r\n" in data
    records = read_csv(data.decode("utf-8"))
    assert [(record["phone"], record["reason"]) for record in records] == [("+79031112233", "manual"),
                                                                           ("+79031112234", "block")]
    assert (records[1]["lifted_by"], records[1]["lift_reason"]) == ("system", "Consent form signed")
    assert records[1]["lifted_at"] and not records[0]["lifted_at"]


def test_an_exported_file_imports_back_unchanged(app, tmp_path):
    suppress_some()
    path = tmp_path / "out.csv"
    run(app, "export-suppressions", "-o", str(path))
    summary = json.loads(run(app, "import-suppressions", str(path), "--json").output)
    assert summary == {"read": 1, "added": 0, "already": 1, "rejected": []}


# --- intent ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("reply", "intent"), [
    ("Стоп!", "opt_out"),
    ("STOP please", "opt_out"),
    ("СТАРТ", "opt_in"),
    ("помощь?", "help"),
    ("Can I stop by tomorrow?", "none"),
])
def test_intent_classifies_a_reply(app, reply, intent):
    result = run(app, "intent", input=reply)
    assert (result.exit_code, result.output) == (0, f"{intent}\n")


def test_intent_uses_the_keywords_an_admin_saved(app):
    assert run(app, "intent", input="баста").output == "none\n"
    keywords = policy.section_data("keywords")
    policy.save_section("keywords", {**keywords, "opt_out": [*keywords["opt_out"], "баста"]}, actor=None)
    db.session.commit()
    assert run(app, "intent", input="Баста!").output == "opt_out\n"


def test_intent_jsonl_keeps_every_input_key(app):
    lines = ['{"text": "STOP", "id": 7, "meta": {"campaign": "spring"}}', "",
             '{"text": "подпишите меня", "id": 8}', '{"text": "Когда доставка?", "id": 9}']
    result = run(app, "intent", "--jsonl", input="\n".join(lines) + "\n")
    assert result.exit_code == 0 and result.stderr == ""
    assert json_lines(result.stdout) == [
        {"text": "STOP", "id": 7, "meta": {"campaign": "spring"}, "intent": "opt_out"},
        {"text": "подпишите меня", "id": 8, "intent": "opt_in"},
        {"text": "Когда доставка?", "id": 9, "intent": "none"},
    ]


def test_intent_jsonl_answers_a_bad_line_with_an_error_object(app):
    result = run(app, "intent", "--jsonl", input='{"text": "stop"}\nnot json\n{"id": 1}\n["stop"]\n{"text": "help"}\n')
    assert result.exit_code == 1
    assert json_lines(result.stdout) == [
        {"text": "stop", "intent": "opt_out"},
        {"line": 2, "error": BAD_LINE}, {"line": 3, "error": BAD_LINE}, {"line": 4, "error": BAD_LINE},
        {"text": "help", "intent": "help"},
    ]
    assert result.stderr == "3 line(s) could not be read.\n"


# --- lint -----------------------------------------------------------------------------------------

TEXT = "Наш Instagram: instagram.com/shop"


def test_lint_prints_the_tagged_text_and_the_verdicts(app):
    result = run(app, "lint", input=TEXT)
    assert result.exit_code == 0
    assert result.output == (
        f"Наш Instagram*: instagram.com/shop\n\n{DISCLAIMER_RU}\n\n"
        "BLOCK  restricted_link: Links to Instagram are not allowed in Russia: instagram.com/shop.\n"
        "WARN   restricted_mention: Mentions of Instagram are marked with * and the disclaimer is added.\n"
        "PASS   spam_score: Spam score 0 is below the warning level of 3.\n")


def test_lint_explains_the_spam_score(app):
    output = run(app, "lint", "--language", "en", input="FREE!!! Click here: bit.ly/x").output
    assert re.search(r"^(WARN |BLOCK)  spam_score: Spam score [\d.]+ reaches the", output, re.MULTILINE)
    assert re.search(r"^       \+2 shorteners: Shortened links \(bit\.ly\)", output, re.MULTILINE)
    assert re.search(r"^       \+\d+ trigger_words: Words typical of spam: free, click here\.$", output, re.MULTILINE)


def test_lint_json_is_the_whole_report(app):
    result = run(app, "lint", "--json", "--language", "en", input=TEXT)
    report = json.loads(result.output)
    assert set(report) == {"text", "language", "tagged", "mentions", "links", "spam", "verdicts", "outcome"}
    assert report["tagged"] == f"Наш Instagram*: instagram.com/shop\n\n{DISCLAIMER_EN}"
    assert report["mentions"] == [{"platform": "instagram", "match": "Instagram", "start": 4, "end": 13}]
    assert report["links"] == [{"platform": "instagram", "url": "instagram.com/shop", "start": 15, "end": 33}]
    assert report["outcome"] == "block"


def test_lint_jsonl_reports_each_line_in_its_own_language(app):
    lines = [{"text": "Follow us on Facebook", "language": "en", "id": 1}, {"text": TEXT, "id": 2},
             {"text": "Ваш заказ готов", "id": 3}]
    result = run(app, "lint", "--jsonl", input="".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    assert result.exit_code == 0
    english, russian, plain = json_lines(result.stdout)

    for item, line in zip((english, russian, plain), lines, strict=True):
        assert set(item) == set(line) | {"tagged", "mentions", "links", "verdicts"}
        assert {key: item[key] for key in line} == line
        for mention in item["mentions"]:
            assert set(mention) == {"platform", "match", "start", "end"}
            assert line["text"][mention["start"]:mention["end"]] == mention["match"]
        assert all(set(verdict) == {"rule", "outcome", "reason"} for verdict in item["verdicts"])

    assert english["tagged"] == f"Follow us on Facebook*\n\n{DISCLAIMER_EN}"
    assert english["mentions"] == [{"platform": "facebook", "match": "Facebook", "start": 13, "end": 21}]
    assert russian["tagged"].endswith(DISCLAIMER_RU)
    assert russian["links"] == [{"platform": "instagram", "url": "instagram.com/shop", "start": 15, "end": 33}]
    assert [(verdict["rule"], verdict["outcome"]) for verdict in russian["verdicts"]] == [
        ("restricted_link", "block"), ("restricted_mention", "warn"), ("spam_score", "pass")]
    assert (plain["tagged"], plain["mentions"], plain["links"]) == ("Ваш заказ готов", [], [])


def test_lint_jsonl_answers_a_bad_line_with_an_error_object(app):
    result = run(app, "lint", "--jsonl", input='{"text": "Facebook", "id": 1}\n{"text": null}\n')
    assert result.exit_code == 1
    first, second = json_lines(result.stdout)
    assert first["id"] == 1 and first["mentions"][0]["platform"] == "facebook"
    assert second == {"line": 2, "error": BAD_LINE}
    assert result.stderr == "1 line(s) could not be read.\n"
