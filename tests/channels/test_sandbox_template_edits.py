"""Editing a template in the sandbox (``POST /{template_id}``) by Meta's rules: what can be edited and how
often, the review that follows (at once, after a delay, with its webhook) and what is refused."""

from __future__ import annotations

import pytest

from channels.signatures import HEADER, verify
from tests.channels.sandbox_calls import approved, call, changes, edit, submit
from tests.sandbox_provider import APP_SECRET, WABA_ID

FIELDS = "id,name,language,status,category,rejected_reason,components"
FIXED = "Здравствуйте, {{1}}! Заказ {{2}} готов к выдаче."


def record(sandbox, template_id: str) -> dict:
    """The template's record as the account's list has it."""
    rows = call("GET", sandbox.graph_url(WABA_ID, "message_templates") + f"?fields={FIELDS}").json["data"]
    [row] = [row for row in rows if row["id"] == template_id]
    return row


def rejected(sandbox, name: str = "order_ready") -> str:
    answer = submit(sandbox, name, body_text="Мы в инстаграм: instagram.com/shop, {{1}}!")
    assert answer.json["status"] == "REJECTED"
    return answer.json["id"]


def test_a_rejected_template_is_edited_reviewed_again_and_the_decision_sends_its_webhook(sandbox, callback_receiver):
    sandbox.configure(callback_url=callback_receiver.url)
    template_id = rejected(sandbox)
    callback_receiver.wait_for(1)
    answer = edit(sandbox, template_id, FIXED, parameter_format="POSITIONAL")
    assert (answer.status, answer.json) == (200, {"success": True})
    row = record(sandbox, template_id)
    assert (row["name"], row["language"], row["status"], row["rejected_reason"]) == (
        "order_ready", "ru", "APPROVED", "NONE")
    assert row["components"] == [{"type": "BODY", "text": FIXED}]
    second = callback_receiver.wait_for(2)[1]
    assert verify(APP_SECRET, second.body, second.headers[HEADER])
    assert changes([second]) == [("message_template_status_update", {
        "event": "APPROVED", "message_template_id": int(template_id), "message_template_name": "order_ready",
        "message_template_language": "ru", "reason": "NONE"})]
    # The edited template is the one sent from now on: GET /{template_id} reads it too.
    assert call("GET", sandbox.graph_url(template_id) + "?fields=status,components").json == {
        "id": template_id, "status": "APPROVED", "components": [{"type": "BODY", "text": FIXED}]}


def test_an_edit_can_be_rejected_again_with_the_same_rules(sandbox):
    template_id = approved(sandbox)
    assert edit(sandbox, template_id, "Заберите подарок: https://bit.ly/x1, {{1}}").json == {"success": True}
    row = record(sandbox, template_id)
    assert (row["status"], row["rejected_reason"]) == ("REJECTED", "SCAM")


def test_with_a_delay_the_edit_is_pending_until_decided_and_a_decision_planned_before_it_is_dropped(
        sandbox, callback_receiver):
    sandbox.configure(callback_url=callback_receiver.url, template_delay_ms=300)
    template_id = submit(sandbox, "later").json["id"]
    sandbox.force_template(template_id, "REJECTED", reason="INVALID_FORMAT")  # before its own decision at 300 ms
    sandbox.configure(template_delay_ms=600_000)
    edit(sandbox, template_id, FIXED)  # decided in ten minutes
    assert record(sandbox, template_id)["status"] == "PENDING"
    sandbox.configure(template_delay_ms=500)
    marker = submit(sandbox, "marker").json["id"]  # decided after the submission's stale plan was due
    events = {(value["message_template_id"], value["event"]) for _field, value in changes(
        callback_receiver.wait_for(2))}  # delivered concurrently: in any order
    assert events == {(int(template_id), "REJECTED"), (int(marker), "APPROVED")}
    # The marker was decided after the stale plan was due (timers fire in order): that plan decided nothing.
    assert record(sandbox, template_id)["status"] == "PENDING"


def test_an_approved_template_can_be_edited_once_a_day_and_ten_times_in_thirty_days(sandbox):
    template_id = approved(sandbox)
    assert edit(sandbox, template_id, FIXED).json == {"success": True}
    assert record(sandbox, template_id)["status"] == "APPROVED"
    again = edit(sandbox, template_id, "Здравствуйте, {{1}}! Заказ {{2}} ждёт вас.")
    assert (again.status, again.code) == (400, 100)
    assert "24 hours" in again.json["error"]["error_data"]["details"]
    assert record(sandbox, template_id)["components"] == [{"type": "BODY", "text": FIXED}]  # nothing changed
    sandbox.configure(approved_edits_per_day=100)
    for n in range(9):
        assert edit(sandbox, template_id, f"Здравствуйте, {{{{1}}}}! Заказ {{{{2}}}} готов ({n}).").status == 200
    assert edit(sandbox, template_id, FIXED).code == 100  # the eleventh in 30 days


def test_rejected_and_paused_templates_can_be_edited_without_limit(sandbox):
    template_id = rejected(sandbox)
    for _ in range(12):
        assert edit(sandbox, template_id, "Мы в инстаграм: instagram.com/shop, {{1}}!").status == 200
    assert record(sandbox, template_id)["status"] == "REJECTED"
    paused = approved(sandbox, "paused_one")
    for _ in range(3):
        sandbox.force_template(paused, "PAUSED", reason="LOW_QUALITY")
        assert edit(sandbox, paused, FIXED).status == 200
        assert record(sandbox, paused)["status"] == "APPROVED"  # approved again after its review
    # Edits made while paused do not count: the approved template still has its one edit of the day.
    assert [edit(sandbox, paused, FIXED).status for _ in range(2)] == [200, 400]


def test_the_category_of_an_approved_template_cannot_change_but_a_rejected_ones_can(sandbox):
    template_id = approved(sandbox)  # UTILITY
    refused = edit(sandbox, template_id, FIXED, category="MARKETING")
    assert refused.code == 100 and "category" in refused.json["error"]["error_data"]["details"]
    assert edit(sandbox, template_id, FIXED, category="UTILITY").status == 200  # the same category is no change
    wrong = submit(sandbox, "sale", body_text="Скидка 20% на всё, {{1}}!", category="UTILITY").json["id"]
    assert record(sandbox, wrong)["rejected_reason"] == "INCORRECT_CATEGORY"
    assert edit(sandbox, wrong, category="MARKETING").status == 200  # the category alone, the text kept
    row = record(sandbox, wrong)
    assert (row["status"], row["category"]) == ("APPROVED", "MARKETING")


@pytest.mark.parametrize("field", ["name", "language"])
def test_name_and_language_cannot_be_edited(sandbox, field):
    template_id = rejected(sandbox)
    answer = edit(sandbox, template_id, FIXED, **{field: "order_ready" if field == "name" else "ru"})
    assert (answer.status, answer.code) == (400, 100) and field in answer.json["error"]["error_data"]["details"]
    assert record(sandbox, template_id)["status"] == "REJECTED"


@pytest.mark.parametrize("status", ["PENDING", "DISABLED"])
def test_only_approved_rejected_and_paused_templates_can_be_edited(sandbox, status):
    template_id = submit(sandbox, "review_pending").json["id"]
    if status != "PENDING":
        sandbox.force_template(template_id, status)
    answer = edit(sandbox, template_id, FIXED)
    assert answer.code == 100 and status in answer.json["error"]["error_data"]["details"]


def test_a_malformed_edit_is_refused_and_changes_nothing(sandbox):
    template_id = rejected(sandbox)
    assert edit(sandbox, template_id).code == 100  # neither components nor a category
    assert call("POST", sandbox.graph_url(template_id), {"components": [{"type": "FOOTER", "text": "x"}]}).code == 100
    assert record(sandbox, template_id)["status"] == "REJECTED"


def test_an_unknown_template_id_and_a_wrong_token_are_refused_as_graph_does(sandbox):
    unknown = edit(sandbox, "399999999999999", FIXED)
    assert (unknown.status, unknown.code, unknown.json["error"]["error_subcode"]) == (400, 100, 33)
    template_id = rejected(sandbox)
    assert call("POST", sandbox.graph_url(template_id), {"components": []}, token="wrong").status == 401


def test_a_template_of_another_account_is_edited_with_that_accounts_token(sandbox):
    sandbox.add_number("100000000000002", waba_id="200000000000002", token="their-token")
    theirs = call("POST", sandbox.graph_url("200000000000002", "message_templates"),
                  {"name": "theirs", "language": "ru", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "{{1}}"}]}, token="their-token").json["id"]
    assert edit(sandbox, theirs, FIXED).status == 401  # the default account's token is not theirs
    assert call("POST", sandbox.graph_url(theirs), {"components": [{"type": "BODY", "text": FIXED}]},
                token="their-token").json == {"success": True}
