"""Number info, registering numbers, the control API's refusals, reset and the process itself."""

from __future__ import annotations

import urllib.error

import pytest

from tests.channels.sandbox_calls import call, edit, submit
from tests.sandbox_provider import PHONE_NUMBER_ID, SandboxProcess

FIELDS = "display_phone_number,verified_name,quality_rating,messaging_limit_tier,throughput"


def test_the_default_number_reads_as_rules_md_says(sandbox):
    answer = call("GET", sandbox.graph_url() + f"?fields={FIELDS}")
    assert answer.status == 200
    assert answer.json == {"id": PHONE_NUMBER_ID, "display_phone_number": "+7 495 000-00-01",
                           "verified_name": "Vestnik Sandbox", "quality_rating": "GREEN",
                           "messaging_limit_tier": "TIER_1K", "throughput": {"level": "STANDARD"}}


def test_a_registered_number_reads_back_and_needs_its_own_token_when_it_has_one(sandbox):
    sandbox.add_number("100000000000007", waba_id="200000000000007", display_phone_number="+7 495 000-00-07",
                       tier="TIER_100K", quality="YELLOW", throughput="HIGH", token="own-token")
    assert call("GET", sandbox.graph_url("100000000000007")).code == 190
    info = call("GET", sandbox.graph_url("100000000000007") + f"?fields={FIELDS}", token="own-token").json
    assert (info["messaging_limit_tier"], info["quality_rating"], info["throughput"]) == \
        ("TIER_100K", "YELLOW", {"level": "HIGH"})
    assert call("GET", sandbox.graph_url(), token="own-token").code == 190  # the default number keeps the global one


def test_an_unknown_number_is_an_unknown_object(sandbox):
    answer = call("GET", sandbox.graph_url("123"))
    assert answer.status == 400 and answer.code == 100


@pytest.mark.parametrize("fields", [{"tier": "TIER_5"}, {"quality": "BLUE"}, {"throughput": "FAST"},
                                    {"colour": "red"}, {"callback_url": "ftp://x"}])
def test_a_bad_number_registration_is_refused(sandbox, fields):
    with pytest.raises(urllib.error.HTTPError) as refused:
        sandbox.add_number("100000000000009", **fields)
    assert refused.value.code == 400


@pytest.mark.parametrize("settings", [{"latency_ms": -1}, {"faults": {"http_429": 2}}, {"faults": {"nope": 0.1}},
                                      {"faults": {"http_429": 0.6, "http_500": 0.6}}, {"idempotency": "yes"},
                                      {"callback_delays_ms": [10, 1]}, {"unknown": 1}])
def test_a_bad_configuration_is_refused_and_changes_nothing(sandbox, settings):
    before = sandbox.control("GET", "/_sandbox/config")
    with pytest.raises(urllib.error.HTTPError) as refused:
        sandbox.configure(**settings)
    assert refused.value.code == 400
    assert sandbox.control("GET", "/_sandbox/config") == before


def test_reset_forgets_templates_numbers_settings_and_the_ledger(sandbox):
    sandbox.add_number("100000000000002")
    sandbox.configure(latency_ms=5, idempotency=False)
    submit(sandbox, "kept_until_reset")
    sandbox.reset()
    assert [n["phone_number_id"] for n in sandbox.control("GET", "/_sandbox/numbers")] == [PHONE_NUMBER_ID]
    config = sandbox.control("GET", "/_sandbox/config")
    assert config["latency_ms"] == 0 and config["idempotency"] is True and config["token"] == "***"
    assert call("GET", sandbox.graph_url("200000000000001", "message_templates")).json == {"data": []}
    assert sandbox.ledger(summary=True)["counts"]["requests"] == 1  # the read just now


def test_the_command_line_sets_token_latency_and_idempotency():
    with SandboxProcess("--token", "t-123", "--no-idempotency", "--seed", "7") as process:
        config = process.control("GET", "/_sandbox/config")
        assert (config["idempotency"], config["seed"], config["latency_ms"]) == (False, 7, 0)
        assert call("GET", process.graph_url(), token="t-123").status == 200
        assert call("GET", process.graph_url()).code == 190
        process.configure(idempotency=True)
        process.reset()  # back to the command line's settings
        assert process.control("GET", "/_sandbox/config")["idempotency"] is False
    assert process.process.returncode == 0  # stopped by SIGTERM, cleanly


def test_a_state_file_keeps_numbers_and_templates_across_restarts(tmp_path):
    state_file = tmp_path / "instance" / "sandbox.json"  # a folder that does not exist yet
    with SandboxProcess("--state-file", str(state_file)) as first:
        first.add_number("100000000000002", display_phone_number="+7 495 000-00-02")
        kept = submit(first, "kept", body_text="Заказ {{1}} готов").json["id"]
        waiting = submit(first, "waiting_pending").json["id"]
        edited = submit(first, "edited", body_text="Заказ {{1}} готов").json["id"]
        assert edit(first, edited, "Заказ {{1}} ждёт вас").status == 200  # its one edit of the day
    with SandboxProcess("--state-file", str(state_file)) as second:
        assert edit(second, edited, "Заказ {{1}} готов").code == 100  # the edit limit outlived the restart
        assert {n["phone_number_id"] for n in second.control("GET", "/_sandbox/numbers")} == \
            {PHONE_NUMBER_ID, "100000000000002"}
        rows = call("GET", second.graph_url("200000000000001", "message_templates") + "?fields=id,status").json
        assert rows["data"] == [{"id": kept, "status": "APPROVED"}, {"id": waiting, "status": "PENDING"},
                                {"id": edited, "status": "APPROVED"}]
        body = {"messaging_product": "whatsapp", "to": "79001234501", "type": "template",
                "template": {"name": "kept", "language": {"code": "ru"},
                             "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}]}}
        assert call("POST", second.graph_url("100000000000002", "messages"), body).status == 200
        assert int(submit(second, "newer").json["id"]) > int(waiting)  # ids are not given out twice
        second.reset()
    with SandboxProcess("--state-file", str(state_file)) as third:
        assert call("GET", third.graph_url("200000000000001", "message_templates")).json == {"data": []}
