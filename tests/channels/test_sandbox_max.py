"""The sandbox's MAX side over plain HTTP: MAX's answers and checks, its limits, subscriptions, the control API of
simulated people, latency, reset and the state file."""

from __future__ import annotations

import time

from channels.sandbox import defaults, persistence
from tests.channels.max_calls import control, ok, people, press, raw, sent, start, stop, write
from tests.processes import wait_for
from tests.sandbox_provider import SandboxProcess

ANNA = 48211093
SECRET_HEADER = "X-Max-Bot-Api-Secret"


def message(text: str = "Здравствуйте!") -> dict:
    return {"text": text}


def test_errors_have_maxs_shape(sandbox):
    status, _headers, body = raw(sandbox, "POST", f"/messages?user_id={ANNA}", message(), token="Bearer x")
    assert (status, body) == (401, {"code": "verify.token", "message": "Invalid access_token"})
    status, _headers, body = raw(sandbox, "POST", f"/messages?user_id={ANNA}", message())
    assert (status, body["code"]) == (404, "chat.not.found")
    start(sandbox, ANNA)
    stop(sandbox, ANNA)
    status, _headers, body = raw(sandbox, "POST", f"/messages?user_id={ANNA}", message())
    assert (status, body["code"]) == (403, "chat.denied") and "error.dialog.suspended" in body["message"]
    assert sandbox.ledger(summary=True)["errors_by_code"] == {"verify.token": 1, "chat.not.found": 1,
                                                              "chat.denied": 1}


def test_the_deprecated_access_token_parameter_still_authenticates(sandbox):
    status, _headers, body = raw(sandbox, "GET", f"/me?access_token={defaults.MAX_TOKEN}", token=None)
    assert status == 200 and body["username"] == defaults.MAX_BOT_USERNAME and body["is_bot"] is True


def test_malformed_bodies_are_proto_payload(sandbox):
    start(sandbox, ANNA)
    path = f"/messages?user_id={ANNA}"
    keyboard = {"type": "inline_keyboard", "payload": {"buttons": [[{"type": "callback", "text": "Нажми"}]]}}
    for body in ({"text": "я" * 4001}, {"text": "x", "format": "bbcode"}, {"text": ""},
                 {"text": "x", "attachments": [keyboard]}, [1]):
        status, _headers, answer = raw(sandbox, "POST", path, body)
        assert (status, answer["code"]) == (400, "proto.payload"), body
    status, _headers, answer = raw(sandbox, "POST", "/messages", message())
    assert (status, answer["code"]) == (400, "proto.payload")  # neither user_id nor chat_id
    assert raw(sandbox, "POST", path, {"text": "я" * 4000})[0] == 200
    assert len(sent(sandbox)) == 1


def test_every_request_counts_against_the_bots_thirty_a_second(sandbox):
    statuses = [raw(sandbox, "GET", "/me")[0] for _ in range(31)]  # one after the other: well within a second
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
    assert sandbox.ledger(summary=True)["counts"]["max_requests_throttled"] == 1


def test_a_second_bot_has_its_own_window(sandbox):
    ok(sandbox, "POST", "/bots", {"username": "second_bot", "token": "second-token", "name": "Второй"})
    for _ in range(30):
        raw(sandbox, "GET", "/me")
    assert raw(sandbox, "GET", "/me")[0] == 429
    status, _headers, body = raw(sandbox, "GET", "/me", token="second-token")
    assert status == 200 and body["username"] == "second_bot"


def test_the_dialog_window_frees_after_a_second(sandbox):
    start(sandbox, ANNA)
    path = f"/messages?user_id={ANNA}"
    began = time.monotonic()
    assert [raw(sandbox, "POST", path, message())[0] for _ in range(3)] == [200, 200, 429]
    wait_for(lambda: raw(sandbox, "POST", path, message())[0] == 200, "the dialog's window to free")
    assert time.monotonic() - began >= 1.0  # a refused message does not count: the first one's second had to pass
    assert len(sent(sandbox, ANNA)) == 3


def test_latency_applies_to_max_calls(sandbox):
    sandbox.configure(latency_ms=300)
    began = time.monotonic()
    assert raw(sandbox, "GET", "/me")[0] == 200
    assert time.monotonic() - began >= 0.3


def test_subscriptions_are_listed_replaced_and_removed(sandbox, callback_receiver):
    body = {"url": callback_receiver.url, "update_types": ["bot_started"], "secret": "abc-123_XYZ"}
    assert raw(sandbox, "POST", "/subscriptions", body)[2] == {"success": True}
    [subscription] = raw(sandbox, "GET", "/subscriptions")[2]["subscriptions"]
    assert (subscription["url"], subscription["update_types"]) == (callback_receiver.url, ["bot_started"])
    start(sandbox, ANNA)
    assert stop(sandbox, ANNA)["posted"] is False  # not among the update types asked for
    [callback] = callback_receiver.wait_for(1)
    assert callback.json()["update_type"] == "bot_started" and callback.headers[SECRET_HEADER] == "abc-123_XYZ"
    assert raw(sandbox, "POST", "/subscriptions", {"url": "ftp://x"})[0] == 400
    assert raw(sandbox, "POST", "/subscriptions", {"url": callback_receiver.url, "secret": "x"})[0] == 400
    assert raw(sandbox, "DELETE", f"/subscriptions?url={callback_receiver.url}")[2] == {"success": True}
    assert raw(sandbox, "GET", "/subscriptions")[2] == {"subscriptions": []}
    assert start(sandbox, ANNA)["posted"] is False
    assert sandbox.ledger(summary=True)["counts"]["max_updates_unsubscribed"] == 2


def test_without_a_secret_updates_carry_no_secret_header(sandbox, callback_receiver):
    raw(sandbox, "POST", "/subscriptions", {"url": callback_receiver.url})
    start(sandbox, ANNA, "token1")
    [callback] = callback_receiver.wait_for(1)
    assert SECRET_HEADER.lower() not in {name.lower() for name in callback.headers}
    assert "X-Hub-Signature-256" not in callback.headers
    assert callback.json()["payload"] == "token1"


def test_people_must_start_the_bot_before_they_write_or_press(sandbox):
    status, answer = control(sandbox, "POST", f"/users/{ANNA}/messages", {"text": "Привет"})
    assert status == 400 and "start the bot" in answer["error"]
    people(sandbox, ANNA, started=False)
    assert control(sandbox, "POST", f"/users/{ANNA}/messages", {"text": "Привет"})[0] == 400
    assert control(sandbox, "POST", f"/users/{ANNA}/stop", {})[0] == 400
    start(sandbox, ANNA)
    assert write(sandbox, ANNA, "Привет")["mid"].startswith("mid.")
    status, answer = control(sandbox, "POST", f"/users/{ANNA}/press", {"payload": "opt_out"})
    assert status == 400 and "callback button" in answer["error"]
    assert control(sandbox, "POST", f"/users/{ANNA}/start", {"payload": "x" * 513})[0] == 400


def test_a_press_names_the_message_with_the_button(sandbox):
    start(sandbox, ANNA)
    keyboard = {"type": "inline_keyboard", "payload": {"buttons": [[{"type": "callback", "text": "Да",
                                                                       "payload": "yes"}]]}}
    first = raw(sandbox, "POST", f"/messages?user_id={ANNA}", {"text": "Один", "attachments": [keyboard]})[2]
    raw(sandbox, "POST", f"/messages?user_id={ANNA}", {"text": "Два"})
    update = press(sandbox, ANNA, "yes")["update"]
    assert update["message"]["body"]["mid"] == first["message"]["body"]["mid"]
    assert update["callback"]["payload"] == "yes" and update["callback"]["user"]["user_id"] == ANNA
    second = sent(sandbox)[1]["mid"]
    assert control(sandbox, "POST", f"/users/{ANNA}/press", {"payload": "yes", "mid": second})[0] == 400


def test_bulk_people_can_be_started_without_updates(sandbox, callback_receiver):
    raw(sandbox, "POST", "/subscriptions", {"url": callback_receiver.url})
    answer = people(sandbox, *range(1000, 1200))
    assert answer["count"] == 200 and answer["users"][0]["dialogs"][0]["started"] is True
    assert raw(sandbox, "POST", "/messages?user_id=1199", message())[0] == 200
    assert "max_updates_posted" not in sandbox.ledger(summary=True)["counts"]


def test_reset_forgets_max_people_dialogs_and_subscriptions(sandbox, callback_receiver):
    raw(sandbox, "POST", "/subscriptions", {"url": callback_receiver.url})
    start(sandbox, ANNA)
    sandbox.reset()
    assert ok(sandbox, "GET", "/users") == [] and sent(sandbox) == []
    assert raw(sandbox, "GET", "/subscriptions")[2] == {"subscriptions": []}
    assert raw(sandbox, "POST", f"/messages?user_id={ANNA}", message())[0] == 404


def test_the_state_file_keeps_bots_subscriptions_and_dialogs(tmp_path, callback_receiver):
    state_file = tmp_path / "sandbox.json"
    with SandboxProcess("--state-file", str(state_file)) as first:
        raw(first, "POST", "/subscriptions", {"url": callback_receiver.url, "secret": "kept-secret"})
        chat_id = start(first, ANNA, first_name="Анна")["chat_id"]
        start(first, 5001)
        stop(first, 5001)
        callback_receiver.wait_for(3)  # posted before this sandbox stops, so none is lost with it
    with SandboxProcess("--state-file", str(state_file)) as second:
        assert raw(second, "POST", f"/messages?chat_id={chat_id}", message())[0] == 200
        assert raw(second, "POST", "/messages?user_id=5001", message())[2]["code"] == "chat.denied"
        assert start(second, 7007)["chat_id"] > chat_id  # chat ids never repeat after a restart
        callback = callback_receiver.wait_for(4)[3]  # the restarted sandbox still posts, with the kept secret
        assert callback.json()["user"]["user_id"] == 7007 and callback.headers[SECRET_HEADER] == "kept-secret"


def test_a_sandbox_that_is_not_running_can_be_subscribed_in_its_state_file(tmp_path, callback_receiver):
    state_file = tmp_path / "instance" / "sandbox.json"
    persistence.subscribe_max(state_file, callback_receiver.url, "offline-secret")
    with SandboxProcess("--state-file", str(state_file)) as process:
        [subscription] = raw(process, "GET", "/subscriptions")[2]["subscriptions"]
        assert subscription["url"] == callback_receiver.url
        start(process, ANNA, "from-qr")
        [callback] = callback_receiver.wait_for(1)
        assert callback.headers[SECRET_HEADER] == "offline-secret" and callback.json()["payload"] == "from-qr"
