"""The adapter over real HTTP against a local server standing in for Meta: what it sends, how it reads answers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from channels.base import (
    ChannelError,
    FailureMeaning,
    NumberInfo,
    Outbound,
    Parameter,
    ResultKind,
    RetryScope,
    TemplateContent,
    TemplateState,
    TemplateSubmission,
)
from channels.whatsapp_cloud import WhatsAppCloud
from tests.channels.meta_server import PHONE_NUMBER_ID, TOKEN, VERSION, WABA_ID, Reply, against_server, fixture

TEMPLATE = TemplateContent("order_ready", "ru", body=(Parameter("Анна"), Parameter("1042")))


def outbound(key: str = "msg-1", to: str = "+79161234567") -> Outbound:
    return Outbound(key, to, template=TEMPLATE)


def send(messages, respond=None, **settings):
    """Send ``messages`` through the adapter to a fresh local server; returns (results, server)."""

    async def scenario(server, session):
        channel = WhatsAppCloud(server.settings(**settings), session)
        return await channel.send(messages), server

    return against_server(scenario, respond)


def test_a_send_posts_the_message_with_the_bearer_token_to_the_numbers_path():
    results, server = send([outbound()])
    [request] = server.received
    assert (request.method, request.path) == ("POST", f"/{VERSION}/{PHONE_NUMBER_ID}/messages")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79161234567",
        "type": "template",
        "template": {
            "name": "order_ready",
            "language": {"code": "ru"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Анна"}, {"type": "text", "text": "1042"}]}
            ],
        },
        "biz_opaque_callback_data": "msg-1",
    }
    [result] = results
    assert result.accepted and result.key == "msg-1"
    assert result.provider_id == "wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI0RkE3QjU2MUJGRTdCRjFFNUMA"
    assert result.address == "79161234567"


def test_a_base_url_with_a_path_and_a_trailing_slash_is_kept():
    async def scenario(server, session):
        channel = WhatsAppCloud(server.settings(base_url=server.base_url + "/graph/"), session)
        await channel.send([outbound()])
        return server.received[0].path

    assert against_server(scenario) == f"/graph/{VERSION}/{PHONE_NUMBER_ID}/messages"


def test_results_come_back_in_order_each_with_its_own_answer():
    answers = {
        "79160000001": Reply(body=fixture("send_accepted.json")),
        "79160000002": Reply(400, fixture("error_131050.json")),
        "79160000003": Reply(400, fixture("error_131026.json")),
        "79160000004": Reply(429, fixture("error_130429.json"), headers={"Retry-After": "3"}),
    }
    messages = [outbound(f"k{n}", f"+7916000000{n}") for n in (1, 2, 3, 4)]
    results, _server = send(messages, lambda received: answers[received.body["to"]])
    assert [(r.key, r.kind, r.code) for r in results] == [
        ("k1", ResultKind.ACCEPTED, None),
        ("k2", ResultKind.FAILED, "131050"),
        ("k3", ResultKind.FAILED, "131026"),
        ("k4", ResultKind.RETRY, "130429"),
    ]
    assert results[1].meaning is FailureMeaning.OPTED_OUT and results[2].meaning is FailureMeaning.NOT_ON_CHANNEL
    assert (results[3].scope, results[3].retry_after) == (RetryScope.SENDER, 3)
    assert str(results[1].sentence).startswith("The person stopped marketing messages")


@pytest.mark.parametrize("status", [400, 429])
def test_throttling_retries_whether_it_comes_as_400_or_429(status):
    [result], _ = send([outbound()], lambda _r: Reply(status, fixture("error_130429.json")))
    assert (result.kind, result.code, result.scope, result.retry_after) == (
        ResultKind.RETRY,
        "130429",
        RetryScope.SENDER,
        2,
    )


def test_retry_after_is_honoured():
    [result], _ = send([outbound()], lambda _r: Reply(429, fixture("error_130429.json"), headers={"Retry-After": "17"}))
    assert result.retry_after == 17


def test_131049_defers_the_recipient_a_day_even_with_a_short_retry_after():
    [result], _ = send([outbound()], lambda _r: Reply(400, fixture("error_131049.json"), headers={"Retry-After": "5"}))
    assert (result.kind, result.scope, result.retry_after) == (ResultKind.RETRY, RetryScope.RECIPIENT, 86400)


def test_131048_slows_the_sender():
    [result], _ = send([outbound()], lambda _r: Reply(400, fixture("error_131048.json")))
    assert (result.kind, result.scope) == (ResultKind.RETRY, RetryScope.SENDER)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(500, fixture("error_131000.json")), "131000"),
        (Reply(502, "<html><body>Bad Gateway</body></html>", headers={"Content-Type": "text/html"}), "http_502"),
        (Reply(503, ""), "http_503"),
        (Reply(500, {"error": {"message": "new", "code": 555555}}), "555555"),
    ],
)
def test_server_errors_retry(reply, code):
    [result], _ = send([outbound()], lambda _r: reply)
    assert (result.kind, result.code, result.scope) == (ResultKind.RETRY, code, RetryScope.MESSAGE)
    assert result.retry_after and result.retry_after > 0


def test_a_bad_token_fails_for_the_sender():
    [result], _ = send([outbound()], lambda _r: Reply(401, fixture("error_190.json")))
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, "190", FailureMeaning.SENDER)


def test_a_template_problem_pauses_and_a_bad_parameter_of_text_fails_the_message():
    [template], _ = send([outbound()], lambda _r: Reply(404, fixture("error_132001.json")))
    assert template.meaning is FailureMeaning.TEMPLATE
    [text], _ = send([Outbound("k", "+79161234567", text="hi")], lambda _r: Reply(400, fixture("error_100.json")))
    assert (text.code, text.meaning) == ("100", FailureMeaning.MESSAGE)


def test_an_unknown_4xx_fails_the_message():
    [result], _ = send([outbound()], lambda _r: Reply(400, {"error": {"message": "?", "code": 777777}}))
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, "777777", FailureMeaning.MESSAGE)


@pytest.mark.parametrize(
    "body", [{"messaging_product": "whatsapp"}, {"messages": []}, {"messages": [{"id": ""}]}, "ok"]
)
def test_a_success_without_a_message_id_is_a_retry_that_says_it_may_have_gone(body):
    [result], _ = send([outbound()], lambda _r: Reply(200, body))
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "malformed_response", True)
    assert str(result.sentence) == (
        "The provider answered without a message id; the message may or may not have been accepted.")


def test_a_success_without_contacts_still_has_the_message_id():
    [result], _ = send([outbound()], lambda _r: Reply(200, {"messages": [{"id": "wamid.X"}]}))
    assert (result.provider_id, result.address) == ("wamid.X", None)


def test_a_timeout_is_a_retry():
    [result], server = send([outbound()], lambda _r: Reply(hang=True), timeout_seconds=0.3)
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "timeout", True)
    assert str(result.sentence) == "The provider did not answer in time; the message may or may not have been accepted."
    assert len(server.received) == 1


def test_a_dropped_connection_is_a_retry():
    [result], server = send([outbound()], lambda _r: Reply(drop=True))
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "disconnected", True)
    assert len(server.received) == 1  # the request reached the server before the connection broke


def test_a_refused_connection_is_a_retry():
    with socket.socket() as probe:  # a loopback port that nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario(server, session):
        channel = WhatsAppCloud(server.settings(base_url=f"http://127.0.0.1:{port}"), session)
        return await channel.send([outbound()])

    [result] = against_server(scenario)
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "connection", False)
    assert str(result.sentence) == "The provider could not be reached; the message was not sent."


@pytest.mark.parametrize(
    "reply",
    [Reply(body=fixture("send_accepted.json")), Reply(400, {"error": {"message": "?", "code": 130429}}),
     Reply(503, "busy"), Reply(400, {"error": {"message": "?", "code": 131050}})],
)
def test_an_answer_of_the_provider_is_certain(reply):
    # Accepted, or an error answer: the provider said what became of the message, so it may be tried again.
    [result], _ = send([outbound()], lambda _r: reply)
    assert result.uncertain is False


def test_a_message_that_cannot_be_built_fails_without_a_request():
    results, server = send([Outbound("k", "+79161234567", text="x" * 5000), outbound("k2")])
    assert [(r.kind, r.code) for r in results] == [(ResultKind.FAILED, "payload"), (ResultKind.ACCEPTED, None)]
    assert len(server.received) == 1


def test_a_batch_runs_concurrently_with_a_bounded_number_in_flight():
    limit = 3

    async def scenario(server, session):
        gate = asyncio.Event()

        async def respond(_received):
            if server.in_flight >= limit:
                gate.set()
            # Hold every request until `limit` are in flight at once: a sequential client never gets there.
            await asyncio.wait_for(gate.wait(), timeout=5)
            return Reply(body=fixture("send_accepted.json"))

        server.respond = respond
        channel = WhatsAppCloud(server.settings(), session)
        channel.max_in_flight = limit
        results = await channel.send([outbound(f"k{n}") for n in range(10)])
        return results, server.most_in_flight

    results, most = against_server(scenario)
    assert [r.kind for r in results] == [ResultKind.ACCEPTED] * 10 and [r.key for r in results] == [
        f"k{n}" for n in range(10)
    ]
    assert most == limit


# --- templates ------------------------------------------------------------------------------------------


def test_submitting_a_template_posts_it_to_the_account():
    submission = TemplateSubmission("order_ready", "ru", "utility", body="Здравствуйте, {{1}}!", examples={"1": "Анна"})

    async def scenario(server, session):
        server.respond = lambda _r: Reply(200, fixture("template_submitted.json"))
        state = await WhatsAppCloud(server.settings(), session).submit_template(submission)
        return state, server.received

    state, [request] = against_server(scenario)
    assert (request.method, request.path) == ("POST", f"/{VERSION}/{WABA_ID}/message_templates")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.body == {
        "name": "order_ready",
        "language": "ru",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Здравствуйте, {{1}}!", "example": {"body_text": [["Анна"]]}}],
    }
    assert state == TemplateState("594425479261596", "order_ready", "ru", "pending", "marketing", "")


def test_a_refused_submission_raises_with_the_tables_sentence():
    submission = TemplateSubmission("t", "ru", "marketing", body="Hi")

    async def scenario(server, session):
        server.respond = lambda _r: Reply(401, fixture("error_190.json"))
        await WhatsAppCloud(server.settings(), session).submit_template(submission)

    with pytest.raises(ChannelError) as refused:
        against_server(scenario)
    assert (refused.value.code, refused.value.retryable) == ("190", False)
    assert str(refused.value.sentence).startswith("The provider refused the sender's access token")


def test_a_submission_missing_an_example_is_refused_before_any_request():
    async def scenario(server, session):
        try:
            await WhatsAppCloud(server.settings(), session).submit_template(
                TemplateSubmission("t", "ru", "marketing", body="Hi {{1}}")
            )
        finally:
            assert server.received == []

    with pytest.raises(ChannelError) as refused:
        against_server(scenario)
    assert refused.value.code == "payload"
    assert "every variable needs an example value" in str(refused.value.sentence)


def template_pages(received):
    """Three pages of templates, paged by `after` cursors as Meta does (`next` on all but the last)."""
    pages = {
        None: (
            "p1",
            [
                ("1", "welcome", "APPROVED", "MARKETING", "NONE"),
                ("2", "promo", "REJECTED", "MARKETING", "INCORRECT_CATEGORY"),
            ],
        ),
        "p1": ("p2", [("3", "order_ready", "PENDING", "UTILITY", "NONE")]),
        "p2": (None, [("4", "bye", "PAUSED", "MARKETING", None)]),
    }
    after, records = pages[received.query.get("after")]
    paging = {"cursors": {"before": "b", "after": after or "last"}}
    if after:
        paging["next"] = f"https://graph.facebook.com/{VERSION}/{WABA_ID}/message_templates?after={after}"
    data = [
        {"id": i, "name": n, "language": "ru", "status": s, "category": c, **({"rejected_reason": r} if r else {})}
        for i, n, s, c, r in records
    ]
    return Reply(200, {"data": data, "paging": paging})


def test_template_states_follow_every_page():
    async def scenario(server, session):
        server.respond = template_pages
        return await WhatsAppCloud(server.settings(), session).template_states(), server.received

    states, requests = against_server(scenario)
    assert [(s.provider_id, s.name, s.status, s.category, s.reason) for s in states] == [
        ("1", "welcome", "approved", "marketing", ""),
        ("2", "promo", "rejected", "marketing", "INCORRECT_CATEGORY"),
        ("3", "order_ready", "pending", "utility", ""),
        ("4", "bye", "paused", "marketing", ""),
    ]
    assert [r.query.get("after") for r in requests] == [None, "p1", "p2"]
    assert all(r.path == f"/{VERSION}/{WABA_ID}/message_templates" and r.method == "GET" for r in requests)
    assert requests[0].query["fields"] == "id,name,language,status,category,rejected_reason"
    assert "name" not in requests[0].query


def test_full_pages_with_cursors_alone_are_followed_until_a_short_page():
    def respond(received):
        after = received.query.get("after")
        start = int(after) if after else 0
        count = 100 if start < 200 else 7  # two full pages of 100, then 7
        data = [
            {"id": str(start + n), "name": f"t{start + n}", "language": "ru", "status": "APPROVED"}
            for n in range(count)
        ]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "0", "after": str(start + count)}}})

    async def scenario(server, session):
        server.respond = respond
        return await WhatsAppCloud(server.settings(), session).template_states(), server.received

    states, requests = against_server(scenario)
    assert len(states) == 207 and len(requests) == 3
    assert requests[0].query["limit"] == "100"


def test_template_states_by_name_ask_for_that_name_and_keep_exact_matches():
    def respond(_received):
        return Reply(
            200,
            {
                "data": [
                    {"id": "1", "name": "promo", "language": "ru", "status": "APPROVED"},
                    {"id": "2", "name": "promo_2", "language": "ru", "status": "PENDING"},
                    {"id": "3", "name": "promo", "language": "en", "status": "REJECTED", "rejected_reason": "SCAM"},
                ],
                "paging": {"cursors": {"before": "a", "after": "b"}},
            },
        )

    async def scenario(server, session):
        server.respond = respond
        return await WhatsAppCloud(server.settings(), session).template_states("promo"), server.received

    states, [request] = against_server(scenario)
    assert request.query["name"] == "promo"
    assert [(s.provider_id, s.language, s.status, s.reason) for s in states] == [
        ("1", "ru", "approved", ""),
        ("3", "en", "rejected", "SCAM"),
    ]


# --- the number -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "mps"), [("STANDARD", 80), ("HIGH", 1000), (None, 80)])
def test_number_info_reads_quality_tier_and_throughput(level, mps):
    document = fixture("number.json")
    if level is None:
        del document["throughput"]
    else:
        document["throughput"]["level"] = level

    async def scenario(server, session):
        server.respond = lambda _r: Reply(200, document)
        return await WhatsAppCloud(server.settings(), session).number_info(), server.received

    info, [request] = against_server(scenario)
    assert (request.method, request.path) == ("GET", f"/{VERSION}/{PHONE_NUMBER_ID}")
    assert request.query == {
        "fields": "display_phone_number,verified_name,quality_rating,messaging_limit_tier,throughput"
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert info == NumberInfo("+7 495 000-00-01", "GREEN", "TIER_1K", mps, "Вестник Демо")


@pytest.mark.parametrize(
    ("reply", "code", "retryable", "sentence"),
    [
        (Reply(429, fixture("error_130429.json")), "130429", True,
         "The number reached its sending speed limit at the provider."),
        (Reply(403, fixture("error_10.json")), "10", False, "The sender's access token lacks a permission it needs "
         "(whatsapp_business_messaging); save a token that has it on the sender's page."),
        (Reply(503, "unavailable"), "http_503", True, "The provider answered with a server error (HTTP 503)."),
        # No message is involved in a call other than a send: its transport sentences say nothing of one.
        (Reply(200, "not json"), "malformed_response", True, "The provider's answer could not be read."),
        (Reply(hang=True), "timeout", True, "The provider did not answer in time."),
    ],
)
def test_number_info_failures_raise_channel_errors(reply, code, retryable, sentence):
    async def scenario(server, session):
        server.respond = lambda _r: reply
        await WhatsAppCloud(server.settings(timeout_seconds=0.3), session).number_info()

    with pytest.raises(ChannelError) as failed:
        against_server(scenario)
    assert (failed.value.code, failed.value.retryable) == (code, retryable)
    assert str(failed.value.sentence) == sentence


def test_synchronous_callers_send_through_the_process_session_and_keep_the_connection():
    from channels import http
    from channels.registry import channel_for
    from tests.channels.meta_server import MetaServer

    async def start(_session):
        server = MetaServer()
        await server.server.start_server()
        return server

    try:
        server = http.run(start)
        first = http.run(lambda session: channel_for(server.settings(channel="sandbox"), session).send([outbound("a")]))
        second = http.run(lambda session: channel_for(server.settings(), session).send([outbound("b")]))
        assert [r.kind for r in first + second] == [ResultKind.ACCEPTED, ResultKind.ACCEPTED]
        assert server.received[0].peer == server.received[1].peer  # one kept-alive connection, not one per call

        async def stop(_session):
            server.stopping.set()
            await server.server.close()

        http.run(stop)
    finally:
        http.close()
