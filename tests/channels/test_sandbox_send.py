"""The sandbox's send endpoint validates like the Cloud API and answers with wamids."""

from __future__ import annotations

import pytest

from tests.channels.sandbox_calls import approved, body_parameters, call, send, submit, template_message
from tests.sandbox_provider import PHONE_NUMBER_ID

TO = "79001234501"


def test_an_approved_template_with_the_right_parameters_is_accepted(sandbox):
    approved(sandbox)
    answer = send(sandbox, template_message("+7 900 123-45-01", "order_ready", components=body_parameters("Анна", "42"),
                                            key="k1"))
    assert answer.status == 200
    assert answer.json["contacts"] == [{"input": "+7 900 123-45-01", "wa_id": TO}]
    assert answer.json["messages"][0]["message_status"] == "accepted"
    assert answer.wamid.startswith("wamid.") and len(answer.wamid) > 20
    message = sandbox.ledger()["messages"][0]
    assert message["id"] == answer.wamid and message["to"] == TO and message["key"] == "k1"
    assert message["template"]["name"] == "order_ready"
    assert message["template"]["components"][0]["parameters"][1]["text"] == "42"


def test_every_accepted_message_gets_its_own_wamid(sandbox):
    approved(sandbox)
    ids = {send(sandbox, template_message(TO, "order_ready", components=body_parameters("a", "b"), key=f"k{n}")).wamid
           for n in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_missing_or_wrong_token_is_refused_with_190(sandbox, token):
    approved(sandbox)
    answer = send(sandbox, template_message(TO, "order_ready", components=body_parameters("a", "b")), token=token)
    assert answer.status == 401
    assert answer.code == 190 and answer.json["error"]["type"] == "OAuthException"
    assert answer.json["error"]["fbtrace_id"]
    assert sandbox.ledger(summary=True)["counts"]["accepted"] == 0


def test_an_unknown_phone_number_id_is_refused_as_graph_refuses_unknown_objects(sandbox):
    answer = send(sandbox, template_message(TO, "order_ready"), number="100000000000999")
    assert answer.status == 400
    assert answer.code == 100 and answer.json["error"]["error_subcode"] == 33


def test_messaging_product_is_required(sandbox):
    approved(sandbox)
    body = template_message(TO, "order_ready", components=body_parameters("a", "b"))
    del body["messaging_product"]
    answer = send(sandbox, body)
    assert answer.status == 400 and answer.code == 100
    assert "messaging_product" in answer.json["error"]["error_data"]["details"]


@pytest.mark.parametrize("to", ["1234567", "1234567890123456", "7900abc4501", "", "++79001234501"])
def test_an_implausible_number_is_refused_with_100(sandbox, to):
    approved(sandbox)
    answer = send(sandbox, template_message(to, "order_ready", components=body_parameters("a", "b")))
    assert answer.status == 400 and answer.code == 100
    assert "to" in answer.json["error"]["error_data"]["details"]


def test_a_template_of_another_name_or_language_does_not_exist(sandbox):
    approved(sandbox)
    for name, language in (("no_such", "ru"), ("order_ready", "en")):
        answer = send(sandbox, template_message(TO, name, language, components=body_parameters("a", "b")))
        assert answer.status == 404 and answer.code == 132001
        assert answer.json["error"]["message"] == "(#132001) Template name does not exist in the translation"


def test_a_template_of_another_business_account_does_not_exist_for_this_number(sandbox):
    sandbox.add_number("100000000000002", waba_id="200000000000002", display_phone_number="+7 495 000-00-02")
    approved(sandbox, waba="200000000000002")
    answer = send(sandbox, template_message(TO, "order_ready", components=body_parameters("a", "b")))
    assert answer.code == 132001
    assert send(sandbox, template_message(TO, "order_ready", components=body_parameters("a", "b")),
                number="100000000000002").status == 200


@pytest.mark.parametrize(("status", "code"), [("PENDING", 132001), ("REJECTED", 132001), ("PAUSED", 132015),
                                              ("DISABLED", 132016)])
def test_only_an_approved_template_can_be_sent(sandbox, status, code):
    template_id = approved(sandbox)
    sandbox.force_template(template_id, status)
    answer = send(sandbox, template_message(TO, "order_ready", components=body_parameters("a", "b")))
    assert answer.code == code


@pytest.mark.parametrize("values", [(), ("a",), ("a", "b", "c")])
def test_the_number_of_body_parameters_must_match_the_template(sandbox, values):
    approved(sandbox)
    answer = send(sandbox, template_message(TO, "order_ready", components=body_parameters(*values) or None))
    assert answer.status == 400 and answer.code == 132000


def test_header_parameters_and_url_button_suffixes_are_counted_too(sandbox):
    extra = [{"type": "HEADER", "format": "TEXT", "text": "Заказ {{1}}", "example": {"header_text": ["42"]}},
             {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Отписаться"},
                                             {"type": "URL", "text": "Открыть", "url": "https://shop.example/o/{{1}}",
                                              "example": ["https://shop.example/o/42"]}]}]
    approved(sandbox, "order_header", body_text="Ваш заказ готов, {{1}}.", extra=extra)
    header = {"type": "header", "parameters": [{"type": "text", "text": "42"}]}
    body = {"type": "body", "parameters": [{"type": "text", "text": "Анна"}]}
    url = {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "42"}]}
    reply = {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "stop"}]}
    assert send(sandbox, template_message(TO, "order_header", components=[header, body, reply, url])).status == 200
    assert send(sandbox, template_message(TO, "order_header", components=[header, body, reply])).code == 132000
    assert send(sandbox, template_message(TO, "order_header", components=[body, url])).code == 132000
    wrong_kind = {**url, "sub_type": "quick_reply", "index": "1"}
    assert send(sandbox, template_message(TO, "order_header", components=[header, body, wrong_kind])).code == 132000
    no_such_button = {**url, "index": "5"}
    assert send(sandbox, template_message(TO, "order_header",
                                          components=[header, body, url, no_such_button])).code == 132000


def test_named_parameters_must_carry_the_template_names(sandbox):
    answer = submit(sandbox, "named_order", body_text="Здравствуйте, {{first_name}}! Заказ {{order}} готов.",
                    parameter_format="NAMED")
    assert answer.json["status"] == "APPROVED"

    def named(*pairs):
        return [{"type": "body", "parameters": [{"type": "text", "parameter_name": n, "text": "x"} for n in pairs]}]

    assert send(sandbox, template_message(TO, "named_order", components=named("order", "first_name"))).status == 200
    assert send(sandbox, template_message(TO, "named_order", components=named("first_name", "city"))).code == 132012
    assert send(sandbox, template_message(TO, "named_order", components=named("first_name"))).code == 132000
    positional = body_parameters("a", "b")
    assert send(sandbox, template_message(TO, "named_order", components=positional)).code == 132012


def test_free_text_is_accepted_and_recorded(sandbox):
    answer = send(sandbox, {"messaging_product": "whatsapp", "to": TO, "type": "text",
                            "text": {"body": "Здравствуйте", "preview_url": False}, "biz_opaque_callback_data": "t1"})
    assert answer.status == 200
    message = sandbox.ledger()["messages"][0]
    assert message["type"] == "text" and message["text"] == "Здравствуйте" and message["category"] == "service"


def test_malformed_json_is_refused_with_100(sandbox):
    import asyncio

    import aiohttp

    async def post():
        async with aiohttp.ClientSession() as session, session.post(
                sandbox.graph_url(edge="messages"), data=b"{not json",
                headers={"Authorization": "Bearer sandbox-token"}) as response:
            return response.status, await response.json()

    status, body = asyncio.run(post())
    assert status == 400 and body["error"]["code"] == 100


def test_the_ledger_records_each_request_with_its_status_code_and_key(sandbox):
    approved(sandbox)
    send(sandbox, template_message(TO, "order_ready", components=body_parameters("a", "b"), key="good"))
    send(sandbox, template_message(TO, "order_ready", components=body_parameters("a"), key="bad"))
    ledger = sandbox.ledger()
    sends = [r for r in ledger["requests"] if r["path"].endswith("/messages")]
    assert [(r["status"], r["code"], r["key"]) for r in sends] == [(200, None, "good"), (400, 132000, "bad")]
    assert sends[0]["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages" and sends[0]["method"] == "POST"
    assert ledger["counts"]["accepted"] == 1 and ledger["counts"]["errors"] == 1
    assert ledger["errors_by_code"] == {"132000": 1}
    summary = sandbox.ledger(summary=True)
    assert "requests" not in summary or isinstance(summary["counts"]["requests"], int)
    assert "messages" not in summary and summary["counts"]["requests"] == 3  # the submission, two sends


def test_health_answers_without_a_token(sandbox):
    assert call("GET", sandbox.url + "/_sandbox/health", token=None).json == {"status": "ok"}
