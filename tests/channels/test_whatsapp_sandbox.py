"""The WhatsApp adapter against the real sandbox provider process, over HTTP: sends, errors, faults,
idempotency, templates, the number, and the sandbox's signed webhooks parsed back into events."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from channels.base import (
    ChannelError,
    DeliveryStatus,
    FailureMeaning,
    InboundMessage,
    NumberInfo,
    Outbound,
    Parameter,
    PreferenceChange,
    ResultKind,
    RetryScope,
    SenderSettings,
    StatusEvent,
    TemplateContent,
    TemplateStatusChange,
    TemplateSubmission,
)
from channels.registry import SandboxWhatsApp, channel_for
from tests.sandbox_provider import APP_SECRET, PHONE_NUMBER_ID, TOKEN, VERSION, WABA_ID

ORDER = TemplateSubmission(
    "order_ready", "ru", "utility", body="Здравствуйте, {{1}}! Заказ {{2}} готов.", examples={"1": "Анна", "2": "1042"}
)
PROMO = TemplateSubmission(
    "spring_sale",
    "ru",
    "marketing",
    body="{{first_name}}, весной скидка {{discount}}!",
    examples={"first_name": "Анна", "discount": "20%"},
    buttons=({"type": "quick_reply", "text": "Отписаться"},),
)


def settings(sandbox, **overrides) -> SenderSettings:
    values = {
        "channel": "sandbox",
        "base_url": sandbox.url,
        "api_version": VERSION,
        "phone_number_id": PHONE_NUMBER_ID,
        "account_id": WABA_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "timeout_seconds": 5.0,
    }
    return SenderSettings(**{**values, **overrides})


def with_channel(sandbox, work, **overrides):
    """Run ``work(channel)`` with the sandbox's channel on a fresh session; returns its result."""

    async def main():
        async with aiohttp.ClientSession() as session:
            return await work(channel_for(settings(sandbox, **overrides), session))

    return asyncio.run(main())


def order(key: str, to: str = "+79161234501", values=("Анна", "1042")) -> Outbound:
    return Outbound(key, to, template=TemplateContent("order_ready", "ru", body=tuple(Parameter(v) for v in values)))


def promo(key: str, to: str) -> Outbound:
    body = (Parameter("Анна", name="first_name"), Parameter("20%", name="discount"))
    return Outbound(key, to, template=TemplateContent("spring_sale", "ru", body=body))


def test_the_sandbox_channel_declares_idempotent_sends(sandbox):
    channel = channel_for(settings(sandbox), session=None)
    assert type(channel) is SandboxWhatsApp and channel.capabilities.idempotent_sends


def test_number_info(sandbox):
    info = with_channel(sandbox, lambda channel: channel.number_info())
    assert info == NumberInfo("+7 495 000-00-01", "GREEN", "TIER_1K", 80, info.verified_name)


def test_templates_are_submitted_decided_and_read_back_page_by_page(sandbox):
    restricted = TemplateSubmission(
        "follow_us", "ru", "marketing", body="Подписывайтесь: instagram.com/shop, {{1}}", examples={"1": "Анна"}
    )
    extra = [
        TemplateSubmission(f"notice_{n}", "ru", "utility", body=f"Заказ {{{{1}}}} готов ({n})", examples={"1": "1"})
        for n in range(30)
    ]

    async def work(channel):
        first = [await channel.submit_template(template) for template in (ORDER, PROMO, restricted)]
        for template in extra:
            await channel.submit_template(template)
        return first, await channel.template_states(), await channel.template_states("follow_us")

    (ordered, promoted, refused), every, named = with_channel(sandbox, work)
    assert (ordered.status, ordered.category, promoted.status) == ("approved", "utility", "approved")
    assert refused.status == "rejected"  # the answer to a submission has no reason (as Meta's): the list has it
    assert len(every) == 33 and len({state.provider_id for state in every}) == 33  # more than one page of 25
    assert [(state.name, state.status, state.reason) for state in named] == [
        ("follow_us", "rejected", "ABUSIVE_CONTENT")
    ]


def test_sends_accepted_and_refused_as_the_cloud_api_would(sandbox):
    async def work(channel):
        await channel.submit_template(ORDER)
        return await channel.send(
            [
                order("k1"),
                order("k2", values=("Анна",)),  # one value for two variables
                Outbound("k3", "+79161234501", template=TemplateContent("no_such_template", "ru")),
            ]
        )

    accepted, mismatch, missing = with_channel(sandbox, work)
    assert accepted.accepted and accepted.provider_id.startswith("wamid.") and accepted.address == "79161234501"
    assert (mismatch.kind, mismatch.code, mismatch.meaning) == (ResultKind.FAILED, "132000", FailureMeaning.TEMPLATE)
    assert (missing.kind, missing.code, missing.meaning) == (ResultKind.FAILED, "132001", FailureMeaning.TEMPLATE)


def test_a_bad_token_stops_the_sender(sandbox):
    async def work(channel):
        return await channel.send([order("k1")])

    [result] = with_channel(sandbox, work, access_token="not-the-token")
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, "190", FailureMeaning.SENDER)
    with pytest.raises(ChannelError) as refused:
        with_channel(sandbox, lambda channel: channel.number_info(), access_token="not-the-token")
    assert (refused.value.code, refused.value.retryable) == ("190", False)


@pytest.mark.parametrize("idempotency", [True, False])
def test_a_repeated_key_is_one_message_only_while_idempotency_is_on(sandbox, idempotency):
    sandbox.configure(idempotency=idempotency)

    async def work(channel):
        await channel.submit_template(ORDER)
        return await channel.send([order("same-key")]) + await channel.send([order("same-key")])

    first, again = with_channel(sandbox, work)
    assert first.accepted and again.accepted
    assert (first.provider_id == again.provider_id) is idempotency
    assert sandbox.ledger(summary=True)["counts"]["accepted"] == (1 if idempotency else 2)


@pytest.mark.parametrize(
    ("fault", "code", "scope"),
    [
        ("code_130429", "130429", RetryScope.SENDER),
        ("http_429", None, RetryScope.SENDER),
        ("http_500", None, RetryScope.MESSAGE),
    ],
)
def test_injected_faults_are_retries(sandbox, fault, code, scope):
    async def work(channel):
        await channel.submit_template(ORDER)
        sandbox.configure(faults={fault: 1.0}, retry_after=4)
        return await channel.send([order("k1"), order("k2")])

    results = with_channel(sandbox, work)
    assert [(r.kind, r.scope) for r in results] == [(ResultKind.RETRY, scope)] * 2
    if code:
        assert {r.code for r in results} == {code}
    if fault != "http_500":
        assert {r.retry_after for r in results} == {4}


def test_a_held_answer_times_out_into_a_retry(sandbox):
    async def work(channel):
        await channel.submit_template(ORDER)
        sandbox.configure(faults={"timeout": 1.0}, timeout_hold_s=3)
        return await channel.send([order("k1")])

    [result] = with_channel(sandbox, work, timeout_seconds=0.5)
    assert (result.kind, result.code) == (ResultKind.RETRY, "timeout")
    # The sandbox took the message before holding its answer back: the retry must say it may have gone.
    assert result.uncertain
    assert sandbox.ledger(summary=True)["counts"]["accepted"] == 1


def test_the_sandboxs_webhooks_verify_and_parse_into_events(sandbox, callback_receiver):
    sandbox.configure(
        callback_url=callback_receiver.url,
        callback_delays_ms=[0, 5],
        status_shares={"read": 1.0, "reorder": 0.0, "duplicate": 0.0, "failed": 0.0},
    )

    async def work(channel):
        await channel.submit_template(ORDER)
        await channel.submit_template(PROMO)
        return channel, await channel.send(
            [order("ordinary", "+79161234501"), promo("stopper", "+79161234582"), promo("tapper", "+79161234587")]
        )

    channel, results = with_channel(sandbox, work)
    assert all(result.accepted for result in results)
    ids = {result.key: result.provider_id for result in results}

    # The two template decisions; ordinary: sent, delivered, read; 82: a stop and a failed 131050;
    # 87: sent, delivered, read and a button reply.
    callbacks = callback_receiver.wait_for(2 + 3 + 2 + 4)
    events = []
    for callback in callbacks:
        assert channel.verify_webhook(callback.headers, callback.body), callback.body
        assert not channel.verify_webhook(callback.headers, callback.body + b" ")
        events.extend(channel.parse_webhook(callback.body))

    statuses = {(e.key, e.status) for e in events if isinstance(e, StatusEvent)}
    assert {("ordinary", s) for s in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)} <= statuses
    failed = [
        e for e in events if isinstance(e, StatusEvent) and e.key == "stopper" and e.status is DeliveryStatus.FAILED
    ]
    assert [e.error_code for e in failed] == ["131050"]
    assert [e for e in events if isinstance(e, PreferenceChange)] == [
        PreferenceChange(
            "79161234582",
            next(e.at for e in events if isinstance(e, PreferenceChange)),
            "marketing_messages",
            stopped=True,
        )
    ]
    [reply] = [e for e in events if isinstance(e, InboundMessage)]
    assert (reply.sender, reply.kind, reply.button_payload is not None, reply.context_id) == (
        "79161234587",
        "button",
        True,
        ids["tapper"],
    )
    decided = {(e.name, e.status) for e in events if isinstance(e, TemplateStatusChange)}
    assert decided == {("order_ready", "approved"), ("spring_sale", "approved")}
