"""The webhook endpoint: the handshake, signatures on the raw body, the size limit, malformed bodies, duplicates;
a refused callback stores nothing, an accepted one is committed before the 200."""

from __future__ import annotations

import hashlib
import logging

import pytest

from campaigns import sender_secrets, senders
from campaigns.feedback import intake
from campaigns.feedback.intake import IntakeRefusal
from campaigns.feedback.jobs import PROCESS_JOB_ID
from channels.signatures import HEADER, sign
from extensions import db, redis_queues
from tests.conftest import build_app
from tests.feedback.conftest import add_sender, post, stored, url_of
from tests.feedback.payloads import APP_SECRET, VERIFY_TOKEN, body, raw
from tests.processes import wait_for

PROBLEM = "application/problem+json"


def refused(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["status"] == status and problem["detail"]
    return problem


# --- the handshake ----------------------------------------------------------------------------------------

def test_the_handshake_answers_the_challenge_as_plain_text(client, cloud_sender):
    response = client.get(url_of(cloud_sender), query_string={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain" and response.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "not-the-token", "hub.challenge": "1158201444"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
    {},
])
def test_a_handshake_with_the_wrong_token_or_mode_is_refused(client, cloud_sender, params):
    problem = refused(client.get(url_of(cloud_sender), query_string=params), 403)
    assert "1158201444" not in str(problem)


def test_a_sender_without_a_verify_token_refuses_every_handshake(client, app):
    sender = add_sender(verify_token="")
    response = client.get(url_of(sender), query_string={"hub.mode": "subscribe", "hub.verify_token": "",
                                                        "hub.challenge": "1"})
    refused(response, 403)


def test_an_unknown_sender_is_404_for_the_handshake_and_for_callbacks(client, cloud_sender):
    refused(client.get(url_of(cloud_sender.id + 1), query_string={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}), 404)
    refused(post(client, cloud_sender.id + 1, body("status_delivered")), 404)
    assert stored() == []


# --- signatures -------------------------------------------------------------------------------------------

def test_a_signed_callback_is_stored_exactly_as_posted_then_acknowledged(client, cloud_sender):
    raw = body("status_delivered")
    response = post(client, cloud_sender, raw)  # no CSRF token: the endpoint is exempt
    assert response.status_code == 200
    [event] = stored()  # committed before the answer: another session sees it
    assert (event.sender_id, event.channel, event.body, event.processed_at) == (cloud_sender.id, "whatsapp", raw, None)
    assert event.digest == hashlib.sha256(raw).hexdigest()
    assert redis_queues.queue("webhooks").job_ids == [PROCESS_JOB_ID]  # the workers were woken after the commit


@pytest.mark.parametrize("case", ["bad", "missing", "wrong secret", "body altered", "not sha256", "empty secret"])
def test_a_callback_without_the_senders_signature_is_refused_and_stores_nothing(client, cloud_sender, case):
    raw = body("status_delivered")
    headers = {
        "bad": {HEADER: "sha256=" + "0" * 64},
        "missing": {},
        "wrong secret": {HEADER: sign("another-apps-secret", raw)},
        "body altered": {HEADER: sign(APP_SECRET, raw)},
        "not sha256": {HEADER: sign(APP_SECRET, raw).replace("sha256=", "sha1=")},
        "empty secret": {HEADER: sign("", raw)},
    }[case]
    sent = raw.replace(b'"delivered"', b'"read"') if case == "body altered" else raw
    refused(post(client, cloud_sender, sent, headers={"Content-Type": "application/json", **headers}), 403)
    assert stored() == []
    assert redis_queues.queue("webhooks").job_ids == []


def test_the_signature_header_is_found_in_any_case(client, cloud_sender):
    raw = body("status_delivered")
    response = post(client, cloud_sender, raw, headers={"x-hub-signature-256": sign(APP_SECRET, raw)})
    assert response.status_code == 200 and len(stored()) == 1


def test_each_sender_checks_with_its_own_secret(client, cloud_sender):
    other = add_sender("Другой", "+74951234568", app_secret="the-other-apps-secret")
    raw = body("status_delivered")
    refused(post(client, other, raw), 403)
    assert post(client, other, raw, secret="the-other-apps-secret").status_code == 200
    assert [event.sender_id for event in stored()] == [other.id]


# --- size, shape, duplicates ------------------------------------------------------------------------------

def test_a_body_over_the_limit_is_refused_with_413_and_not_stored(client, app, cloud_sender):
    raw = body("status_delivered")
    app.config["WEBHOOK_MAX_BYTES"] = len(raw) - 1
    refused(post(client, cloud_sender, raw), 413)
    app.config["WEBHOOK_MAX_BYTES"] = len(raw)
    assert post(client, cloud_sender, raw).status_code == 200
    assert len(stored()) == 1


@pytest.mark.parametrize("malformed", [
    b"{not json", "не JSON".encode(), b"[]", b"",
    raw("malformed_not_whatsapp"), raw("malformed_statuses_not_a_list"),
])
def test_a_malformed_signed_body_is_400_logged_and_not_stored(client, cloud_sender, caplog, malformed):
    with caplog.at_level(logging.WARNING, logger="campaigns.feedback.intake"):
        refused(post(client, cloud_sender, malformed), 400)
    assert stored() == []
    [line] = [record.getMessage() for record in caplog.records if "webhook_refused" in record.getMessage()]
    assert f"sender_id={cloud_sender.id} status=400" in line and "detail=" in line


def test_the_same_body_posted_twice_is_acknowledged_twice_and_stored_once(client, cloud_sender):
    raw = body("status_delivered")
    assert post(client, cloud_sender, raw).status_code == 200
    assert post(client, cloud_sender, raw).status_code == 200  # Meta's retry of a body it thinks was lost
    assert len(stored()) == 1
    assert post(client, cloud_sender, body("status_read")).status_code == 200
    assert len(stored()) == 2


def test_a_body_with_nothing_we_act_on_is_still_acknowledged(client, cloud_sender):
    raw = b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "account_update", ' \
          b'"value": {"event": "VERIFIED_ACCOUNT"}}]}]}'
    assert post(client, cloud_sender, raw).status_code == 200


def test_other_methods_get_a_problem_not_a_page(client, cloud_sender):
    response = client.put(url_of(cloud_sender), data=b"{}")
    refused(response, 405)


# --- durable before the answer, whatever Redis does --------------------------------------------------------

def test_with_redis_down_the_body_is_still_stored_and_acknowledged(app, database_url, cloud_sender, tmp_path, caplog):
    down = build_app(database_url, f"unix://{tmp_path}/no-redis-here.sock")
    raw = body("status_delivered")
    with caplog.at_level(logging.WARNING, logger="campaigns.feedback.intake"):
        response = post(down.test_client(), cloud_sender, raw)
    with down.app_context():
        db.engine.dispose()
    assert response.status_code == 200
    assert [event.body for event in stored()] == [raw]
    assert any("webhook_wake_failed" in record.getMessage() for record in caplog.records)


# --- the kept keys ----------------------------------------------------------------------------------------

def test_a_burst_decrypts_the_senders_secrets_once(client, cloud_sender, monkeypatch):
    calls = []
    real = sender_secrets.decrypt
    monkeypatch.setattr(sender_secrets, "decrypt", lambda *args: calls.append(args) or real(*args))
    for timestamp in range(1764658800, 1764658820):
        assert post(client, cloud_sender, body("status_delivered", timestamp=timestamp)).status_code == 200
    assert len(stored()) == 20
    assert len(calls) == 3  # one settings_for: token, app secret, verify token


def test_a_changed_app_secret_is_honoured_within_a_second(client, cloud_sender):
    raw = body("status_delivered")
    assert post(client, cloud_sender, raw).status_code == 200  # the old secret is kept now
    senders.update_sender(cloud_sender, {"app_secret": "the-new-secret"})
    db.session.commit()
    fresh = body("status_read")
    wait_for(lambda: post(client, cloud_sender, fresh, secret="the-new-secret").status_code == 200,
             "the new secret to be read again", timeout=5)
    refused(post(client, cloud_sender, body("status_sent")), 403)  # the old one no longer passes


def test_a_sender_created_after_a_refusal_is_found_within_a_second(client, app):
    refused(post(client, 1, body("status_delivered")), 404)
    sender = add_sender()
    assert sender.id == 1
    wait_for(lambda: post(client, sender, body("status_delivered")).status_code == 200,
             "the new sender to be found", timeout=5)


def test_accept_refuses_in_the_order_size_sender_signature_shape(app, cloud_sender):
    app.config["WEBHOOK_MAX_BYTES"] = 10
    with pytest.raises(IntakeRefusal) as too_large:
        intake.accept(cloud_sender.id + 1, {}, b"{not json at all}")
    assert too_large.value.status == 413
    app.config["WEBHOOK_MAX_BYTES"] = 1024
    with pytest.raises(IntakeRefusal) as unknown:
        intake.accept(cloud_sender.id + 1, {}, b"{not json}")
    assert unknown.value.status == 404
    with pytest.raises(IntakeRefusal) as unsigned:
        intake.accept(cloud_sender.id, {}, b"{not json}")
    assert unsigned.value.status == 403
    with pytest.raises(IntakeRefusal) as malformed:
        intake.accept(cloud_sender.id, {HEADER: sign(APP_SECRET, b"{not json}")}, b"{not json}")
    assert malformed.value.status == 400
    app.config["WEBHOOK_MAX_BYTES"] = 1024 * 1024
    raw = body("statuses_read_delivered_sent")
    accepted = intake.accept(cloud_sender.id, {HEADER: sign(APP_SECRET, raw)}, raw)
    assert [event.status.value for event in accepted.events] == ["read", "delivered", "sent"]
    assert intake.store([accepted, accepted]) == 1 and intake.store([accepted]) == 0
