"""The SMSC adapter against the real sandbox process over HTTP: sends and every class of refusal, the account's
balance, and the delivery reports the sandbox posts (to a real receiver, with the secret in the URL) parsed back
into events, a late one on demand too."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from channels.base import ChannelError, DeliveryStatus, FailureMeaning, Outbound, ResultKind, RetryScope
from channels.registry import CHANNELS, channel_for
from channels.sms.smsc import SmscGateway
from tests.channels.sms_calls import SECRET, late_report, messages, point, send, settings, with_gateway

ANNA = "+79161234501"


def sms(key: str, to: str = ANNA, text: str = "Анна, весной скидка 20%!") -> Outbound:
    return Outbound(key, to, text=text)


def test_the_registry_knows_the_smsc_channel(sandbox):
    gateway = channel_for(settings(sandbox), session=None)
    assert type(gateway) is SmscGateway and CHANNELS["smsc"] is SmscGateway
    capabilities = gateway.capabilities
    assert not capabilities.idempotent_sends and not capabilities.provider_templates
    assert capabilities.delivery_receipts and capabilities.service_window_hours is None
    assert capabilities.messages_per_second == 30


def test_a_send_is_accepted_and_the_sandbox_took_the_text_the_alpha_name_and_its_parts(sandbox):
    text = "Анна, весной скидка 20% на всё! " * 3  # 96 UCS-2 units: two parts
    [result] = send(sandbox, [sms("41-7", text=text)])
    assert result.kind is ResultKind.ACCEPTED
    assert (result.key, result.provider_id, result.address) == ("41-7", "41-7", ANNA)
    [taken] = messages(sandbox)
    assert (taken["id"], taken["phone"], taken["text"], taken["sender"], taken["parts"]) == (
        "41-7", ANNA, text, "Vestnik", 2)


def test_a_batch_is_sent_concurrently_each_with_its_result_in_order(sandbox):
    batch = [sms(f"7-{n}", f"+7916123{n:04d}") for n in range(30)]
    results = send(sandbox, batch)
    assert [r.key for r in results] == [m.key for m in batch]
    assert all(r.accepted for r in results)
    assert sandbox.ledger(summary=True)["counts"]["accepted"] == 30


@pytest.mark.parametrize(("overrides", "message", "code", "kind", "meaning", "scope"), [
    ({"access_token": "wrong"}, sms("a-1"), "2", ResultKind.FAILED, FailureMeaning.SENDER, RetryScope.MESSAGE),
    ({}, sms("a-2", "+79161234585"), "8", ResultKind.FAILED, FailureMeaning.UNREACHABLE, RetryScope.MESSAGE),
])
def test_the_sandbox_refuses_in_smscs_codes(sandbox, overrides, message, code, kind, meaning, scope):
    [result] = send(sandbox, [message], **overrides)
    assert (result.kind, result.code, result.meaning, result.scope) == (kind, code, meaning, scope)
    assert not result.uncertain
    assert messages(sandbox) == []


def test_the_same_request_within_a_minute_is_refused_and_counted_as_a_duplicate(sandbox):
    [first] = send(sandbox, [sms("d-1")])
    [again] = send(sandbox, [sms("d-1")])
    assert first.accepted
    assert (again.kind, again.code, again.scope) == (ResultKind.RETRY, "9", RetryScope.SENDER)
    counts = sandbox.ledger(summary=True)["counts"]
    assert (counts["accepted"], counts["duplicates"]) == (1, 1)


def test_over_the_accounts_requests_a_second_it_is_throttled_for_the_whole_sender(sandbox):
    sandbox.configure(sms_requests_per_second=5)
    results = send(sandbox, [sms(f"t-{n}", f"+7916555{n:04d}") for n in range(12)])
    throttled = [r for r in results if not r.accepted]
    assert 1 <= len([r for r in results if r.accepted]) <= 10  # at most two windows of five
    assert throttled and all((r.code, r.scope) == ("9", RetryScope.SENDER) for r in throttled)


def test_injected_faults_are_smscs_throttling_and_a_server_error(sandbox):
    sandbox.configure(faults={"http_429": 1.0})
    [throttled] = send(sandbox, [sms("f-1")])
    sandbox.configure(faults={"http_429": 0.0, "http_500": 1.0})
    [failed] = send(sandbox, [sms("f-2")])
    assert (throttled.kind, throttled.code) == (ResultKind.RETRY, "9")
    assert (failed.kind, failed.code, failed.scope) == (ResultKind.RETRY, "http_500", RetryScope.MESSAGE)


def test_a_timeout_may_have_sent_the_message(sandbox):
    sandbox.configure(faults={"timeout": 1.0}, timeout_hold_s=3)
    [result] = send(sandbox, [sms("h-1")], timeout_seconds=0.5)
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "timeout", True)
    assert [m["id"] for m in messages(sandbox)] == ["h-1"]  # it was taken: a resend would be a second SMS


@pytest.mark.parametrize(("message", "code", "meaning"), [
    (Outbound("p-1", ANNA), "payload", FailureMeaning.MESSAGE),
    (Outbound("p-2", ANNA, text="x" * 1001), "payload", FailureMeaning.MESSAGE),
    (Outbound("key with spaces", ANNA, text="hi"), "payload", FailureMeaning.MESSAGE),
    (Outbound("p-3", "48211093", text="hi"), "address", FailureMeaning.INVALID_RECIPIENT),
])
def test_what_cannot_be_an_sms_is_refused_without_a_request(sandbox, message, code, meaning):
    [result] = send(sandbox, [message])
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, code, meaning)
    assert sandbox.ledger(summary=True)["counts"]["requests"] == 0


def test_the_balance_proves_the_login_and_a_wrong_password_is_the_senders_fault(sandbox):
    info = with_gateway(sandbox, lambda gateway: gateway.number_info())
    assert info.display_phone_number == "Vestnik" and "10000.00" in str(info.verified_name)

    with pytest.raises(ChannelError) as refused:
        with_gateway(sandbox, lambda gateway: gateway.number_info(), access_token="wrong")
    assert refused.value.code == "2" and not refused.value.retryable


def test_an_unreachable_sandbox_is_a_connection_failure():
    from tests.channels.sms_calls import with_gateway as run

    class Nowhere:
        url = "http://127.0.0.1:9"

    [result] = run(Nowhere, lambda gateway: gateway.send([sms("n-1")]))
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "connection", False)


def _events(gateway, callback):
    query = {name: values[-1] for name, values in parse_qs(urlsplit(callback.path).query).items()}
    assert gateway.verify_callback(callback.headers, callback.body, query)
    return gateway.parse_webhook(callback.body)


@pytest.mark.parametrize(("to", "final", "code", "meaning"), [
    (ANNA, DeliveryStatus.DELIVERED, None, None),
    ("+79161234586", DeliveryStatus.FAILED, "status_22", FailureMeaning.INVALID_RECIPIENT),
    ("+79161234587", DeliveryStatus.FAILED, "status_3", FailureMeaning.UNREACHABLE),
    ("+79161234588", DeliveryStatus.FAILED, "status_20", FailureMeaning.UNREACHABLE),
])
def test_delivery_reports_are_posted_with_the_secret_in_the_url_and_parse_back(sandbox, callback_receiver, to, final,
                                                                              code, meaning):
    from channels.errors import decision_for

    sandbox.configure(callback_delays_ms=[0, 20])
    point(sandbox, f"{callback_receiver.url}/sms/5?secret={SECRET}")
    [result] = send(sandbox, [sms("r-1", to)])
    assert result.accepted
    callbacks = callback_receiver.wait_for(2)
    assert all(c.headers["Content-Type"] == "application/x-www-form-urlencoded" for c in callbacks)
    gateway = channel_for(settings(sandbox), session=None)
    events = sorted((event for callback in callbacks for event in _events(gateway, callback)),
                    key=lambda event: event.status is not DeliveryStatus.SENT)
    assert [(e.status, e.key, e.provider_id, e.recipient) for e in events] == [
        (DeliveryStatus.SENT, "r-1", "r-1", to), (final, "r-1", "r-1", to)]
    assert events[1].error_code == code
    if meaning is not None:
        assert decision_for("smsc", code).meaning is meaning


def test_a_silent_phone_reports_only_sent_until_a_late_report_is_posted_on_demand(sandbox, callback_receiver):
    sandbox.configure(callback_delays_ms=[0, 10])
    point(sandbox, f"{callback_receiver.url}/sms/5?secret={SECRET}")
    send(sandbox, [sms("late-1", "+79161234584")])
    [sent] = callback_receiver.wait_for(1)
    gateway = channel_for(settings(sandbox), session=None)
    assert [e.status for e in _events(gateway, sent)] == [DeliveryStatus.SENT]
    late_report(sandbox, "late-1", status=1)
    callbacks = callback_receiver.wait_for(2)
    assert [e.status for e in _events(gateway, callbacks[1])] == [DeliveryStatus.DELIVERED]
    assert messages(sandbox)[0]["reported"] == [0, 1]
