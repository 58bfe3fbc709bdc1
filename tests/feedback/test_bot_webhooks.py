"""Bots' webhooks: ``/webhooks/max/<id>`` and ``/webhooks/telegram/<id>`` in the Flask route and the receiver
process — the echoed secret checked (wrong or missing: 403, nothing stored), another channel's address 404,
malformed 400, too large 413, a redelivered update stored once — and, end to end, a bot connected at the sandbox
whose simulated people's updates reach the receiver and are stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaigns import senders
from campaigns.feedback import intake
from channels.sandbox import defaults as sandbox_defaults
from extensions import db, redis_queues
from tests.channels import max_calls, telegram_calls
from tests.feedback.conftest import add_sender, stored
from tests.feedback.payloads import body as whatsapp_body
from tests.feedback.payloads import signed
from tests.feedback.test_receiver import call, problem
from tests.feedback.test_webhook_endpoint import refused
from tests.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"max": "X-Max-Bot-Api-Secret", "telegram": "X-Telegram-Bot-Api-Secret-Token"}
SECRETS = {"max": "max-webhook-secret_1", "telegram": "telegram-webhook-secret_2"}
BODIES = {"max": ROOT / "channels/max/testdata/bot_started.json",
          "telegram": ROOT / "channels/telegram/testdata/start_payload.json"}
CHANNELS = ["max", "telegram"]


def bot_of(channel: str, name: str = "Bot"):
    bot = senders.add_sender({"name": f"{name} {channel}", "channel": channel, "access_token": "bot-token-1234",
                              "app_secret": SECRETS[channel]})
    db.session.commit()
    return bot


def raw(channel: str) -> bytes:
    return BODIES[channel].read_bytes()


def path(channel: str, sender) -> str:
    return f"/webhooks/{channel}/{getattr(sender, 'id', sender)}"


def headers(channel: str, secret: str | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", HEADERS[channel]: SECRETS[channel] if secret is None else secret}


# --- the Flask route -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_an_update_with_the_bots_secret_is_stored_before_the_200(client, app, channel):
    bot = bot_of(channel)
    response = client.post(path(channel, bot), data=raw(channel), headers=headers(channel))  # no CSRF token
    assert response.status_code == 200, response.get_data(as_text=True)
    [event] = stored()
    assert (event.sender_id, event.channel, event.body, event.processed_at) == (bot.id, channel, raw(channel), None)
    assert redis_queues.queue("webhooks").job_ids  # the workers were woken after the commit


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("case", ["wrong", "missing", "empty", "another bot's"])
def test_an_update_without_the_bots_secret_is_refused_and_stores_nothing(client, app, channel, case):
    bot = bot_of(channel)
    other = bot_of(channel, "Other")
    senders.update_sender(other, {"app_secret": "the-other-bots-secret"})
    db.session.commit()
    sent = {"wrong": headers(channel, "not-the-secret"), "missing": {"Content-Type": "application/json"},
            "empty": headers(channel, ""), "another bot's": headers(channel, "the-other-bots-secret")}[case]
    refused(client.post(path(channel, bot), data=raw(channel), headers=sent), 403)
    assert stored() == []
    assert redis_queues.queue("webhooks").job_ids == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_address_of_another_channel_is_404_whatever_the_secret(client, app, channel):
    bot = bot_of(channel)
    other = "telegram" if channel == "max" else "max"
    # The bot's own update and secret, at the other bot channel's address, and at WhatsApp's.
    refused(client.post(path(other, bot), data=raw(channel), headers=headers(channel)), 404)
    refused(client.post(f"/webhooks/whatsapp/{bot.id}", data=raw(channel), headers=headers(channel)), 404)
    refused(client.get(f"/webhooks/whatsapp/{bot.id}", query_string={"hub.mode": "subscribe"}), 404)
    # A WhatsApp number at a bot's address, signed as Meta signs.
    number = add_sender()
    body = whatsapp_body("status_delivered")
    refused(client.post(path(channel, number), data=body, headers=signed(body)), 404)
    refused(client.post(path(channel, bot.id + 1000), data=raw(channel), headers=headers(channel)), 404)
    assert stored() == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_malformed_or_too_large_update_is_refused(client, app, channel):
    bot = bot_of(channel)
    refused(client.post(path(channel, bot), data=b"{not json", headers=headers(channel)), 400)
    refused(client.post(path(channel, bot), data=b'{"something": "else"}', headers=headers(channel)), 400)
    app.config["WEBHOOK_MAX_BYTES"] = len(raw(channel)) - 1
    refused(client.post(path(channel, bot), data=raw(channel), headers=headers(channel)), 413)
    assert stored() == []


def test_a_redelivered_telegram_update_is_stored_once_even_reserialised(client, app):
    bot = bot_of("telegram")
    first = raw("telegram")
    again = json.dumps(json.loads(first), ensure_ascii=True, indent=2).encode()  # other bytes, same update_id
    assert first != again
    for body in (first, first, again):
        assert client.post(path("telegram", bot), data=body, headers=headers("telegram")).status_code == 200
    [event] = stored()
    assert event.body == first
    # Another update (another update_id) of the same person is another body.
    document = json.loads(first)
    document["update_id"] += 1
    assert client.post(path("telegram", bot), data=json.dumps(document).encode(),
                       headers=headers("telegram")).status_code == 200
    assert len(stored()) == 2


def test_a_redelivered_max_update_is_stored_once_and_a_later_one_is_new(client, app):
    bot = bot_of("max")
    first = raw("max")
    document = json.loads(first)
    for body in (first, json.dumps(document, indent=1).encode()):
        assert client.post(path("max", bot), data=body, headers=headers("max")).status_code == 200
    assert len(stored()) == 1
    document["timestamp"] += 1000  # the same person starting again a second later: a new update
    assert client.post(path("max", bot), data=json.dumps(document).encode(), headers=headers("max")).status_code == 200
    assert len(stored()) == 2


def test_a_changed_secret_is_honoured_at_once(client, app):
    bot = bot_of("max")
    assert client.post(path("max", bot), data=raw("max"), headers=headers("max")).status_code == 200
    senders.update_sender(bot, {"app_secret": "a-brand-new-secret"})
    db.session.commit()
    intake.forget(bot.id)
    document = json.loads(raw("max"))
    document["timestamp"] += 1
    body = json.dumps(document).encode()
    refused(client.post(path("max", bot), data=body, headers=headers("max")), 403)
    assert client.post(path("max", bot), data=body, headers=headers("max", "a-brand-new-secret")).status_code == 200


# --- the receiver process ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_receiver_stores_a_bots_update_and_refuses_what_the_route_refuses(start_receiver, app):
    edge = start_receiver(WEBHOOK_MAX_BYTES="4000")
    bots = {channel: bot_of(channel) for channel in CHANNELS}
    number = add_sender()
    for channel, bot in bots.items():
        other = "telegram" if channel == "max" else "max"
        problem(call(edge, path(channel, bot), raw(channel), headers(channel, "wrong")), 403)
        problem(call(edge, path(channel, bot), raw(channel), {"Content-Type": "application/json"}), 403)
        problem(call(edge, path(other, bot), raw(channel), headers(channel)), 404)
        problem(call(edge, f"/webhooks/whatsapp/{bot.id}", raw(channel), headers(channel)), 404)
        body = whatsapp_body("status_delivered")
        problem(call(edge, path(channel, number), body, signed(body)), 404)
        problem(call(edge, path(channel, bot), b"[1, 2", headers(channel)), 400)
        problem(call(edge, path(channel, bot), b"x" * 4001, headers(channel)), 413)
        assert stored() == []
    for channel, bot in bots.items():
        assert call(edge, path(channel, bot), raw(channel), headers(channel))[0] == 200
        assert call(edge, path(channel, bot), raw(channel), headers(channel))[0] == 200  # a redelivery: 200, dropped
    assert sorted((event.channel, event.sender_id) for event in stored()) == sorted(
        (channel, bot.id) for channel, bot in bots.items())


# --- end to end: connected at the sandbox, posted by its simulated people ------------------------------------

@pytest.mark.slow
def test_bots_connected_at_the_sandbox_get_their_peoples_updates_into_the_receiver(start_receiver, app, sandbox):
    edge = start_receiver()
    app.config["WEBHOOK_RECEIVER_URL"] = edge.url
    bots = {}
    for channel, token in (("max", sandbox_defaults.MAX_TOKEN), ("telegram", sandbox_defaults.TELEGRAM_TOKEN)):
        bots[channel] = senders.add_sender({"name": f"Sandbox {channel}", "channel": channel, "access_token": token,
                                            "base_url": sandbox.url})
        db.session.commit()
        result = senders.connect_webhook(bots[channel])
        db.session.commit()
        assert result.connected, result.sentence
    max_calls.start(sandbox, 48211093, payload="q7Kx2mPa")
    telegram_calls.control(sandbox, "start", chat_id=555000111, payload="tg-token-1")
    events = wait_for(lambda: len(stored()) == 2 and stored(), "both bots' updates stored")
    by_channel = {event.channel: event for event in events}
    assert by_channel["max"].sender_id == bots["max"].id and b"q7Kx2mPa" in by_channel["max"].body
    assert by_channel["telegram"].sender_id == bots["telegram"].id and b"tg-token-1" in by_channel["telegram"].body
