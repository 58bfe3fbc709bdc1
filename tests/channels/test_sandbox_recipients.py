"""Simulated recipients, chosen by the number's last two digits (docs/sandbox.md)."""

from __future__ import annotations

import pytest

from tests.channels.sandbox_calls import (
    approved,
    body_parameters,
    call,
    calls_back,
    changes,
    inbound_messages,
    send,
    statuses,
    template_message,
)

SALE = {"name": "sale", "body_text": "Скидка {{1}}% до {{2}}", "category": "MARKETING"}


@pytest.fixture
def templates(sandbox):
    approved(sandbox)
    approved(sandbox, **SALE)


def order(to: str, key: str = "k1", name: str = "order_ready", **kwargs) -> dict:
    return template_message(to, name, components=body_parameters("Анна", "42"), key=key, **kwargs)


def text(to: str, body: str = "Здравствуйте") -> dict:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def wait_all(sandbox, receiver, extra: int = 0) -> list:
    """Every status planned so far has arrived, plus ``extra`` other webhooks."""
    return receiver.wait_for(sandbox.ledger(summary=True)["counts"]["statuses_planned"] + extra)


@pytest.mark.parametrize(("to", "reply"), [("79001234580", "STOP"), ("79001234581", "СТОП")])
def test_a_stopper_replies_stop_after_delivery(sandbox, callback_receiver, templates, to, reply):
    calls_back(sandbox, callback_receiver)
    send(sandbox, order(to))
    received = wait_all(sandbox, callback_receiver, extra=1)
    [message] = inbound_messages(received)
    assert message["from"] == to and message["type"] == "text" and message["text"] == {"body": reply}
    assert message["id"].startswith("wamid.")
    value = next(value for _field, value in changes(received) if "messages" in value)
    assert value["contacts"][0]["wa_id"] == to and value["contacts"][0]["profile"]["name"]
    kinds = [("inbound" if "messages" in value else value["statuses"][0]["status"]) for _f, value in changes(received)]
    assert kinds.index("inbound") > kinds.index("delivered")


def test_who_stopped_marketing_gets_a_preference_event_and_131050(sandbox, callback_receiver, templates):
    to = "79001234582"
    calls_back(sandbox, callback_receiver)
    assert send(sandbox, order(to, name="sale")).status == 200  # accepted, as Meta accepts it
    received = wait_all(sandbox, callback_receiver, extra=1)
    fields = [field for field, _value in changes(received)]
    assert fields == ["user_preferences", "messages"]
    preference = changes(received)[0][1]["user_preferences"][0]
    assert preference | {"timestamp": 0} == {"wa_id": to, "detail": "User requested to stop marketing messages",
                                             "category": "marketing_messages", "value": "stop", "timestamp": 0}
    [failed] = statuses(received)
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131050
    send(sandbox, order(to, key="k2", name="sale"))  # again: 131050, but no second stop event
    send(sandbox, order(to, key="k3"))  # a utility template is delivered
    received = wait_all(sandbox, callback_receiver, extra=1)
    assert [field for field, _value in changes(received)].count("user_preferences") == 1
    later = [(s["biz_opaque_callback_data"], s["status"]) for s in statuses(received)[1:]]
    assert sorted(later) == [("k2", "failed"), ("k3", "delivered"), ("k3", "sent")]


def test_who_blocks_the_business_gets_the_first_message_and_then_131026(sandbox, callback_receiver, templates):
    to = "79001234583"
    calls_back(sandbox, callback_receiver)
    send(sandbox, order(to, key="first"))
    send(sandbox, order(to, key="second"))
    received = wait_all(sandbox, callback_receiver, extra=1)
    found = {(s["biz_opaque_callback_data"], s["status"]) for s in statuses(received)}
    assert found == {("first", "sent"), ("first", "delivered"), ("first", "read"), ("second", "failed")}
    # Meta never says it; the sandbox does, once, in its own extension field (docs/sandbox.md).
    [report] = [value["block_reports"] for field, value in changes(received) if field == "vestnik_block_reports"]
    assert [(item["wa_id"], item["kind"]) for item in report] == [(to, "block")]


def test_who_reports_spam_lowers_the_quality_and_blocks(sandbox, callback_receiver, templates):
    to = "79001234584"
    calls_back(sandbox, callback_receiver)
    send(sandbox, order(to, key="first"))
    received = wait_all(sandbox, callback_receiver, extra=2)
    quality = [value for field, value in changes(received) if field == "phone_number_quality_update"]
    assert quality == [{"display_phone_number": "74950000001", "event": "FLAGGED", "current_limit": "TIER_1K",
                        "current_quality_rating": "YELLOW"}]
    [report] = [value["block_reports"] for field, value in changes(received) if field == "vestnik_block_reports"]
    assert [(item["wa_id"], item["kind"]) for item in report] == [(to, "spam_report")]
    assert call("GET", sandbox.graph_url() + "?fields=quality_rating").json["quality_rating"] == "YELLOW"
    send(sandbox, order(to, key="second"))
    received = wait_all(sandbox, callback_receiver, extra=2)
    assert [(s["status"], s["errors"][0]["code"]) for s in statuses(received)
            if s["biz_opaque_callback_data"] == "second"] == [("failed", 131026)]


def test_who_is_not_on_whatsapp_gets_only_a_failed_131026(sandbox, callback_receiver, templates):
    calls_back(sandbox, callback_receiver)
    answer = send(sandbox, order("79001234585"))
    assert answer.status == 200
    [status] = statuses(wait_all(sandbox, callback_receiver))
    assert status["status"] == "failed" and status["errors"][0]["code"] == 131026
    assert status["errors"][0]["title"] == "Message undeliverable"


def test_who_answers_with_text_opens_the_window_for_free_text(sandbox, callback_receiver, templates):
    to = "79001234586"
    calls_back(sandbox, callback_receiver)
    send(sandbox, order(to))
    received = wait_all(sandbox, callback_receiver, extra=1)
    [reply] = inbound_messages(received)
    assert reply["type"] == "text" and reply["text"]["body"]
    kinds = [("inbound" if "messages" in value else value["statuses"][0]["status"]) for _f, value in changes(received)]
    assert kinds[-1] == "inbound" and "read" in kinds
    wamid = send(sandbox, text(to)).wamid
    later = [s for s in statuses(wait_all(sandbox, callback_receiver, extra=2)) if s["id"] == wamid]
    assert [s["status"] for s in later] == ["sent", "delivered", "read"]  # and they answer again
    assert later[0]["pricing"] == {"billable": False, "pricing_model": "PMP", "category": "service",
                                   "type": "free_customer_service"}


def test_who_taps_a_quick_reply_sends_a_button_message_in_reply_to_our_wamid(sandbox, callback_receiver):
    buttons = [{"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Да, интересно"},
                                               {"type": "QUICK_REPLY", "text": "Нет"}]}]
    approved(sandbox, "ask", body_text="Рассказать о новинках, {{1}}?", category="MARKETING", extra=buttons)
    calls_back(sandbox, callback_receiver)
    to = "79001234587"
    reply_payload = {"type": "button", "sub_type": "quick_reply", "index": "0",
                     "parameters": [{"type": "payload", "payload": "yes-42"}]}
    wamid = send(sandbox, template_message(to, "ask", components=[*body_parameters("Анна"), reply_payload],
                                           key="k")).wamid
    [button] = inbound_messages(wait_all(sandbox, callback_receiver, extra=1))
    assert button["type"] == "button" and button["from"] == to
    assert button["button"] == {"payload": "yes-42", "text": "Да, интересно"}
    assert button["context"] == {"from": "74950000001", "id": wamid}


def test_a_quick_reply_without_a_payload_answers_with_the_buttons_text(sandbox, callback_receiver):
    buttons = [{"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Подробнее"}]}]
    approved(sandbox, "ask", body_text="Новая коллекция уже здесь", category="MARKETING", extra=buttons)
    calls_back(sandbox, callback_receiver)
    send(sandbox, template_message("79001234587", "ask", key="k"))
    [button] = inbound_messages(wait_all(sandbox, callback_receiver, extra=1))
    assert button["button"] == {"payload": "Подробнее", "text": "Подробнее"}


def test_free_text_outside_the_24_hour_window_fails_with_131047(sandbox, callback_receiver):
    to = "79001234501"
    calls_back(sandbox, callback_receiver)
    assert send(sandbox, text(to)).status == 200  # Meta accepts it, then fails it in a status
    [failed] = statuses(wait_all(sandbox, callback_receiver))
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131047


def test_an_inbound_message_over_the_control_api_opens_the_window(sandbox, callback_receiver):
    to = "79001234501"
    calls_back(sandbox, callback_receiver)
    wamid = sandbox.inbound(to, "Здравствуйте, есть вопрос")["id"]
    [message] = inbound_messages(callback_receiver.wait_for(1))
    assert (message["id"], message["from"], message["text"]["body"]) == (wamid, to, "Здравствуйте, есть вопрос")
    send(sandbox, text(to, "Слушаем вас"))
    assert [s["status"] for s in statuses(wait_all(sandbox, callback_receiver, extra=1))] == ["sent", "delivered"]


def test_an_ordinary_recipient_with_no_callback_url_changes_nothing(sandbox, templates):
    send(sandbox, order("79001234501"))
    assert sandbox.ledger(summary=True)["counts"].get("statuses_planned", 0) == 0
