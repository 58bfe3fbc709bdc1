"""Signed status webhooks: sent → delivered → read, out of order, twice, failed; retried; per number."""

from __future__ import annotations

import time

from channels.signatures import HEADER, verify
from tests.channels.sandbox_calls import (
    approved,
    body_parameters,
    calls_back,
    changes,
    send,
    statuses,
    submit,
    template_message,
)
from tests.processes import wait_for
from tests.sandbox_provider import APP_SECRET, PHONE_NUMBER_ID, WABA_ID

TO = "79001234501"


def order(key: str | None = "k1", name: str = "order_ready", to: str = TO) -> dict:
    return template_message(to, name, components=body_parameters("Анна", "42"), key=key)


def test_an_accepted_message_is_sent_delivered_and_read_in_signed_webhooks(sandbox, callback_receiver):
    approved(sandbox)
    calls_back(sandbox, callback_receiver, read=1)
    wamid = send(sandbox, order()).wamid
    received = callback_receiver.wait_for(3)
    for callback in received:
        assert verify(APP_SECRET, callback.body, callback.headers[HEADER])
        assert not verify("another-secret", callback.body, callback.headers[HEADER])
        assert callback.path == "/webhooks"
    body = received[0].json()
    assert body["object"] == "whatsapp_business_account" and body["entry"][0]["id"] == WABA_ID
    value = body["entry"][0]["changes"][0]["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": "74950000001", "phone_number_id": PHONE_NUMBER_ID}
    found = statuses(received)
    assert [s["status"] for s in found] == ["sent", "delivered", "read"]
    for status in found:
        assert (status["id"], status["recipient_id"], status["biz_opaque_callback_data"]) == (wamid, TO, "k1")
        assert status["timestamp"].isdigit()
        assert status["pricing"] == {"billable": True, "pricing_model": "PMP", "category": "utility",
                                     "type": "regular"}
        assert status["conversation"]["origin"] == {"type": "utility"}


def test_the_pricing_category_is_the_templates(sandbox, callback_receiver):
    approved(sandbox, "sale", body_text="Скидка {{1}}% до {{2}}", category="MARKETING")
    calls_back(sandbox, callback_receiver)
    send(sandbox, order(name="sale"))
    assert {s["pricing"]["category"] for s in statuses(callback_receiver.wait_for(2))} == {"marketing"}


def test_statuses_can_come_out_of_order(sandbox, callback_receiver):
    approved(sandbox)
    calls_back(sandbox, callback_receiver, delays=(150, 300), read=1, reorder=1)
    send(sandbox, order())
    assert [s["status"] for s in statuses(callback_receiver.wait_for(3))] == ["sent", "read", "delivered"]


def test_a_status_can_come_twice(sandbox, callback_receiver):
    approved(sandbox)
    calls_back(sandbox, callback_receiver, read=1, duplicate=1)
    send(sandbox, order())
    found = [s["status"] for s in statuses(callback_receiver.wait_for(4))]
    assert sorted(set(found)) == ["delivered", "read", "sent"] and len(found) == 4


def test_a_share_of_marketing_messages_fails_with_131049(sandbox, callback_receiver):
    approved(sandbox, "sale", body_text="Скидка {{1}}% до {{2}}", category="MARKETING")
    approved(sandbox)
    calls_back(sandbox, callback_receiver, failed=1)
    send(sandbox, order(name="sale", key="m"))
    found = statuses(callback_receiver.wait_for(2))
    assert [s["status"] for s in found] == ["sent", "failed"]
    error = found[1]["errors"][0]
    assert error["code"] == 131049 and error["title"] and error["error_data"]["details"]
    assert "pricing" not in found[1]
    send(sandbox, order(key="u"))  # a utility template is not failed so
    assert [s["status"] for s in statuses(callback_receiver.wait_for(4))[2:]] == ["sent", "delivered"]


def test_a_late_delivery_comes_long_after_sent_as_to_a_phone_that_was_off(sandbox, callback_receiver):
    approved(sandbox)
    calls_back(sandbox, callback_receiver, late=1)
    sandbox.configure(late_delays_ms=[1500, 1500])
    send(sandbox, order())
    [sent] = statuses(callback_receiver.wait_for(1))
    first = time.monotonic()
    found = statuses(callback_receiver.wait_for(2))
    assert [sent["status"], found[1]["status"]] == ["sent", "delivered"]
    assert time.monotonic() - first > 1.2  # the ordinary gap here is 30–60 ms


def test_the_same_seed_tells_the_same_story(sandbox, callback_receiver):
    def story(seed: int) -> list[tuple[str, str]]:
        sandbox.reset()
        approved(sandbox)
        callback_receiver.received.clear()
        calls_back(sandbox, callback_receiver, read=0.5, reorder=0.5, duplicate=0.5)
        sandbox.configure(seed=seed)
        for n in range(8):
            send(sandbox, order(key=f"k{n}", to=f"790012345{n:02d}"))
        ledger = sandbox.ledger()
        keys = {m["id"]: m["key"] for m in ledger["messages"]}
        received = callback_receiver.wait_for(ledger["counts"]["statuses_planned"])
        return sorted((keys[s["id"]], s["status"]) for s in statuses(received))

    first = story(3)
    assert story(3) == first
    assert len(first) > 16  # some were read, some came twice
    assert story(4) != first


def test_a_number_of_its_own_has_its_own_callback_url_and_secret(sandbox, callback_receiver):
    sandbox.add_number("100000000000002", display_phone_number="+7 495 000-00-02",
                       callback_url=callback_receiver.url + "/second", app_secret="second-secret")
    approved(sandbox)
    calls_back(sandbox, callback_receiver)
    send(sandbox, order(), number="100000000000002")
    received = callback_receiver.wait_for(2)
    assert {c.path for c in received} == {"/webhooks/second"}
    assert all(verify("second-secret", c.body, c.headers[HEADER]) for c in received)
    assert not verify(APP_SECRET, received[0].body, received[0].headers[HEADER])


def test_no_callback_url_no_webhooks(sandbox, callback_receiver):
    sandbox.add_number("100000000000002", callback_url=callback_receiver.url)
    sandbox.configure(callback_delays_ms=[0, 0], status_shares={"read": 0, "reorder": 0, "duplicate": 0,
                                                                "failed": 0})
    approved(sandbox)
    send(sandbox, order(key="silent"))  # the default number has no callback URL, and there is no global one
    loud = send(sandbox, order(key="loud"), number="100000000000002").wamid
    received = callback_receiver.wait_for(2)
    assert {s["id"] for s in statuses(received)} == {loud}


def test_a_refusing_receiver_gets_the_webhook_again_with_backoff(sandbox, callback_receiver):
    sandbox.configure(callback_url=callback_receiver.url, callback_backoff_ms=50, callback_retries=5)
    callback_receiver.fail_next(2, status=503)
    submit(sandbox, "retried")
    received = callback_receiver.wait_for(3)
    assert len({c.body for c in received}) == 1  # the same body each time
    # The sandbox counts the delivery once the receiver's answer is back, a moment after the receiver saw it.
    def delivered_counts():
        counts = sandbox.ledger(summary=True)["counts"]
        return counts if counts.get("webhooks_delivered") else None

    counts = wait_for(delivered_counts, "the sandbox to count the delivered webhook")
    assert counts["webhooks_retried"] == 2 and counts["webhooks_delivered"] == 1


def test_retries_stop_after_callback_retries(sandbox, callback_receiver):
    sandbox.configure(callback_url=callback_receiver.url, callback_backoff_ms=20, callback_retries=2)
    callback_receiver.status = 500
    submit(sandbox, "given_up")
    callback_receiver.wait_for(3)
    callback_receiver.status = 200
    submit(sandbox, "marker")  # queued after the last retry: when it arrives, no fourth attempt is coming
    received = callback_receiver.wait_for(4)
    names = [value["message_template_name"] for _field, value in changes(received)]
    assert names == ["given_up"] * 3 + ["marker"]
    assert sandbox.ledger(summary=True)["counts"]["webhooks_given_up"] == 1


def test_reset_cancels_webhooks_still_due(sandbox, callback_receiver):
    approved(sandbox)
    calls_back(sandbox, callback_receiver, delays=(300, 300))
    send(sandbox, order())
    sandbox.reset()
    sandbox.configure(callback_url=callback_receiver.url, template_delay_ms=1000)
    submit(sandbox, "after_reset")  # decided 1 s later: after the statuses would have come
    received = callback_receiver.wait_for(1)
    assert [field for field, _value in changes(received)] == ["message_template_status_update"]
    assert len(callback_receiver.received) == 1
