"""A repeated biz_opaque_callback_data is the same message while idempotency is on, a new one when it is off."""

from __future__ import annotations

from tests.channels.sandbox_calls import approved, body_parameters, send, template_message

TO = "79001234501"


def order(key: str | None) -> dict:
    return template_message(TO, "order_ready", components=body_parameters("Анна", "42"), key=key)


def test_a_repeated_key_returns_the_same_wamid_and_counts_an_attempt_not_a_message(sandbox):
    approved(sandbox)
    first, second, third = (send(sandbox, order("key-1")) for _ in range(3))
    assert first.wamid == second.wamid == third.wamid
    ledger = sandbox.ledger()
    assert ledger["counts"]["accepted"] == 1 and ledger["counts"]["duplicates"] == 2
    assert [m["attempts"] for m in ledger["messages"]] == [3]
    assert sum(1 for r in ledger["requests"] if r["key"] == "key-1" and r["status"] == 200) == 3


def test_other_keys_and_sends_without_a_key_are_new_messages(sandbox):
    approved(sandbox)
    ids = {send(sandbox, order("a")).wamid, send(sandbox, order("b")).wamid, send(sandbox, order(None)).wamid,
           send(sandbox, order(None)).wamid}
    assert len(ids) == 4
    assert sandbox.ledger(summary=True)["counts"]["accepted"] == 4


def test_the_same_key_from_another_number_is_another_message(sandbox):
    sandbox.add_number("100000000000002")  # same business account, so the template is there too
    approved(sandbox)
    assert send(sandbox, order("shared")).wamid != send(sandbox, order("shared"), number="100000000000002").wamid


def test_a_refused_send_does_not_take_the_key(sandbox):
    approved(sandbox)
    refused = send(sandbox, template_message(TO, "order_ready", components=body_parameters("only one"), key="k"))
    assert refused.code == 132000
    accepted = send(sandbox, order("k"))
    assert accepted.status == 200
    assert sandbox.ledger(summary=True)["counts"]["accepted"] == 1


def test_without_idempotency_a_repeated_key_is_a_new_message_as_on_the_real_cloud_api(sandbox):
    approved(sandbox)
    sandbox.configure(idempotency=False)
    first, second = send(sandbox, order("key-1")), send(sandbox, order("key-1"))
    assert first.wamid != second.wamid
    ledger = sandbox.ledger()
    assert ledger["counts"]["accepted"] == 2 and ledger["counts"]["duplicates"] == 0
    assert [m["key"] for m in ledger["messages"]] == ["key-1", "key-1"]


def test_a_duplicate_sends_no_second_set_of_statuses(sandbox, callback_receiver):
    approved(sandbox)  # before the callback URL: no template webhook among the statuses
    sandbox.configure(callback_url=callback_receiver.url, callback_delays_ms=[0, 0],
                      status_shares={"read": 0, "reorder": 0, "duplicate": 0, "failed": 0})
    wamid = send(sandbox, order("once")).wamid
    assert send(sandbox, order("once")).wamid == wamid
    marker = send(sandbox, order("marker")).wamid  # its statuses come after any the duplicate would have caused
    received = callback_receiver.wait_for(4)
    ids = [c.json()["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] for c in received]
    assert sorted(ids) == sorted([wamid, wamid, marker, marker])
