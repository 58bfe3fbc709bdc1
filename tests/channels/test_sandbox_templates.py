"""Template submission, the sandbox's decisions (at once, after a delay, forced) and reading them back."""

from __future__ import annotations

import time

import pytest

from channels.signatures import HEADER, verify
from tests.channels.sandbox_calls import call, submit
from tests.sandbox_provider import APP_SECRET, WABA_ID

FIELDS = "id,name,language,status,category,rejected_reason"


def read(sandbox, query: str = "", waba: str = WABA_ID):
    return call("GET", sandbox.graph_url(waba, "message_templates") + query)


def test_a_plain_template_is_approved_at_once_and_reads_back(sandbox):
    answer = submit(sandbox, "order_ready", example={"body_text": [["Анна", "42"]]})
    assert answer.status == 200
    assert answer.json == {"id": answer.json["id"], "status": "APPROVED", "category": "UTILITY"}
    listed = read(sandbox, f"?name=order_ready&fields={FIELDS}").json["data"]
    assert listed == [{"id": answer.json["id"], "name": "order_ready", "language": "ru", "status": "APPROVED",
                       "category": "UTILITY", "rejected_reason": "NONE"}]


@pytest.mark.parametrize(("body", "category", "reason"), [
    ("{{1}} {{2}}", "UTILITY", "INVALID_FORMAT"),
    ("{{1}}, {{3}}!", "MARKETING", "INVALID_FORMAT"),
    ("Подписывайтесь: https://instagram.com/shop", "MARKETING", "ABUSIVE_CONTENT"),
    ("Мы в фейсбук: fb.me/shop", "MARKETING", "ABUSIVE_CONTENT"),
    ("Наша страница facebook ждёт вас", "MARKETING", "ABUSIVE_CONTENT"),
    ("Заберите подарок: https://bit.ly/x1", "MARKETING", "SCAM"),
    ("Скидка 20% на всё, {{1}}!", "UTILITY", "INCORRECT_CATEGORY"),
    ("Your promo code is ready", "AUTHENTICATION", "INCORRECT_CATEGORY"),
])
def test_templates_are_rejected_with_metas_reasons(sandbox, body, category, reason):
    answer = submit(sandbox, "candidate", body_text=body, category=category)
    assert answer.json["status"] == "REJECTED"
    row = read(sandbox, f"?fields={FIELDS}").json["data"][0]
    assert (row["status"], row["rejected_reason"]) == ("REJECTED", reason)


def test_a_marketing_text_as_marketing_and_a_wa_me_link_are_approved(sandbox):
    assert submit(sandbox, "sale", body_text="Скидка 20% для вас, {{1}}!", category="MARKETING").json["status"] \
        == "APPROVED"
    assert submit(sandbox, "chat", body_text="Напишите нам: https://wa.me/74950000001", category="UTILITY") \
        .json["status"] == "APPROVED"


def test_a_restricted_link_in_a_button_is_found_too(sandbox):
    buttons = [{"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Мы тут", "url": "https://www.instagram.com/x"}]}]
    assert submit(sandbox, "with_button", body_text="Новая коллекция", category="MARKETING",
                  extra=buttons).json["status"] == "REJECTED"


@pytest.mark.parametrize(("field", "value"), [("name", "Bad Name"), ("category", "PROMO"), ("language", ""),
                                              ("parameter_format", "BOTH")])
def test_a_malformed_submission_is_refused_with_100(sandbox, field, value):
    answer = submit(sandbox, "fine_name", **{field: value}) if field != "name" else submit(sandbox, value)
    assert answer.status == 400 and answer.code == 100


def test_the_same_name_and_language_cannot_be_submitted_twice(sandbox):
    submit(sandbox, "twice")
    again = submit(sandbox, "twice")
    assert again.code == 100 and again.json["error"]["error_subcode"] == 2388024
    assert submit(sandbox, "twice", language="en").status == 200


def test_an_unknown_business_account_is_refused(sandbox):
    assert submit(sandbox, "x", waba="299999999999999").code == 100
    assert read(sandbox, waba="299999999999999").code == 100


def test_with_a_delay_the_template_is_pending_then_decided_and_a_signed_webhook_says_so(sandbox, callback_receiver):
    sandbox.configure(template_delay_ms=300, callback_url=callback_receiver.url)
    started = time.monotonic()
    answer = submit(sandbox, "later", body_text="Скидка 10%!", category="UTILITY")
    assert answer.json["status"] == "PENDING"
    assert read(sandbox, "?name=later").json["data"][0]["status"] == "PENDING"
    [callback] = callback_receiver.wait_for(1)
    assert time.monotonic() - started >= 0.3
    assert verify(APP_SECRET, callback.body, callback.headers[HEADER])
    change = callback.json()["entry"][0]["changes"][0]
    assert change["field"] == "message_template_status_update"
    assert change["value"] == {"event": "REJECTED", "message_template_id": int(answer.json["id"]),
                               "message_template_name": "later", "message_template_language": "ru",
                               "reason": "INCORRECT_CATEGORY"}
    assert callback.json()["entry"][0]["id"] == WABA_ID
    assert read(sandbox, f"?name=later&fields={FIELDS}").json["data"][0]["rejected_reason"] == "INCORRECT_CATEGORY"


def test_a_slow_name_waits_even_without_a_configured_delay(sandbox, callback_receiver):
    sandbox.configure(slow_template_delay_ms=200, callback_url=callback_receiver.url)
    assert submit(sandbox, "offer_slow").json["status"] == "PENDING"
    [callback] = callback_receiver.wait_for(1)
    assert callback.json()["entry"][0]["changes"][0]["value"]["event"] == "APPROVED"


def test_a_pending_name_waits_for_a_forced_decision(sandbox, callback_receiver):
    sandbox.configure(callback_url=callback_receiver.url)
    template_id = submit(sandbox, "review_pending").json["id"]
    assert read(sandbox, "?name=review_pending").json["data"][0]["status"] == "PENDING"
    forced = sandbox.force_template(template_id, "REJECTED", reason="SCAM")
    assert (forced["status"], forced["rejected_reason"]) == ("REJECTED", "SCAM")
    [callback] = callback_receiver.wait_for(1)
    value = callback.json()["entry"][0]["changes"][0]["value"]
    assert (value["event"], value["reason"]) == ("REJECTED", "SCAM")


def test_a_forced_decision_wins_over_a_delayed_one(sandbox, callback_receiver):
    sandbox.configure(template_delay_ms=200, slow_template_delay_ms=600, callback_url=callback_receiver.url)
    template_id = submit(sandbox, "forced", body_text="{{1}}").json["id"]  # would be rejected 200 ms later
    sandbox.force_template(template_id, "APPROVED")
    sandbox.force_template(template_id, "PAUSED")
    # A marker decided well after the delayed decision was due: once its webhook is in, that decision
    # would have been sent too (webhooks are delivered concurrently, so in any order).
    submit(sandbox, "marker_slow", body_text="Маркер")
    received = callback_receiver.wait_for(3)
    while not any(c.json()["entry"][0]["changes"][0]["value"]["message_template_name"] == "marker_slow"
                  for c in received):
        received = callback_receiver.wait_for(len(received) + 1)
    values = [c.json()["entry"][0]["changes"][0]["value"] for c in received]
    forced = sorted(value["event"] for value in values if value["message_template_name"] == "forced")
    assert forced == ["APPROVED", "PAUSED"]
    assert read(sandbox, "?name=forced").json["data"][0]["status"] == "PAUSED"


def test_a_category_change_sends_a_template_category_update(sandbox, callback_receiver):
    sandbox.configure(callback_url=callback_receiver.url)
    template_id = submit(sandbox, "recategorised").json["id"]
    callback_receiver.wait_for(1)
    sandbox.force_template(template_id, "APPROVED", category="MARKETING")
    change = callback_receiver.wait_for(2)[1].json()["entry"][0]["changes"][0]
    assert change["field"] == "template_category_update"
    assert change["value"]["previous_category"] == "UTILITY" and change["value"]["new_category"] == "MARKETING"
    row = read(sandbox, "?name=recategorised&fields=id,category,previous_category").json["data"][0]
    assert row == {"id": template_id, "category": "MARKETING", "previous_category": "UTILITY"}


def test_templates_page_with_limit_and_after_cursors(sandbox):
    ids = [submit(sandbox, f"t{n:02d}").json["id"] for n in range(7)]
    seen, query, pages = [], "?limit=3&fields=id,name", 0
    while True:
        page = read(sandbox, query).json
        seen += [row["id"] for row in page["data"]]
        pages += 1
        if "next" not in page["paging"]:
            break
        assert page["paging"]["next"].startswith(sandbox.graph_url(WABA_ID, "message_templates"))
        query = "?limit=3&fields=id,name&after=" + page["paging"]["cursors"]["after"]
    assert seen == ids and pages == 3
    back = call("GET", page["paging"]["previous"]).json  # from the last page (t06) one page back
    assert [row["id"] for row in back["data"]] == ids[3:6]
    assert read(sandbox, "?limit=3&after=" + page["paging"]["cursors"]["after"]).json == {"data": []}
    everything = read(sandbox).json["data"]
    assert len(everything) == 7 and everything[0]["components"][0]["type"] == "BODY"


def test_templates_belong_to_their_business_account(sandbox):
    sandbox.add_number("100000000000002", waba_id="200000000000002")
    submit(sandbox, "mine")
    submit(sandbox, "theirs", waba="200000000000002")
    assert [row["name"] for row in read(sandbox).json["data"]] == ["mine"]
    assert [row["name"] for row in read(sandbox, waba="200000000000002").json["data"]] == ["theirs"]
