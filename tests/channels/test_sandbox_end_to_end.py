"""The simulated recipients seen through the WhatsApp adapter (``channels.registry.channel_for``): what a
campaign would learn from each of them, end to end over HTTP and signed webhooks."""

from __future__ import annotations

from channels.base import (
    BlockReport,
    DeliveryStatus,
    FailureMeaning,
    InboundMessage,
    NumberQualityChange,
    Outbound,
    ResultKind,
    StatusEvent,
)
from tests.channels.sandbox_calls import calls_back
from tests.channels.test_whatsapp_sandbox import ORDER, order, with_channel


def events_of(sandbox, receiver, channel, extra: int = 0) -> list:
    """Every planned status (and ``extra`` other webhooks) verified and parsed by the channel."""
    planned = sandbox.ledger(summary=True)["counts"]["statuses_planned"]
    events = []
    for callback in receiver.wait_for(planned + extra):
        assert channel.verify_webhook(callback.headers, callback.body)
        events.extend(channel.parse_webhook(callback.body))
    return events


def test_stop_replies_spam_reports_and_strangers_as_events(sandbox, callback_receiver):
    async def work(channel):
        await channel.submit_template(ORDER)
        calls_back(sandbox, callback_receiver)  # after the decision: only the recipients' webhooks below
        results = await channel.send([order("stop", "+79161234580"), order("spam", "+79161234584"),
                                      order("stranger", "+79161234585")])
        return channel, results

    channel, results = with_channel(sandbox, work)
    assert all(result.accepted for result in results)
    events = events_of(sandbox, callback_receiver, channel, extra=3)  # STOP, the spam report, the quality drop
    [stop] = [e for e in events if isinstance(e, InboundMessage)]
    assert (stop.sender, stop.text, stop.kind) == ("79161234580", "STOP", "text")
    [quality] = [e for e in events if isinstance(e, NumberQualityChange)]
    assert (quality.event, quality.display_phone_number, quality.quality) == ("FLAGGED", "74950000001", "YELLOW")
    [report] = [e for e in events if isinstance(e, BlockReport)]
    assert (report.address, report.kind) == ("79161234584", "spam_report")
    [stranger] = [e for e in events if isinstance(e, StatusEvent) and e.key == "stranger"]
    assert (stranger.status, stranger.error_code) == (DeliveryStatus.FAILED, "131026")
    info = with_channel(sandbox, lambda channel: channel.number_info())
    assert info.quality == "YELLOW"


def test_free_text_outside_the_window_is_accepted_then_failed(sandbox, callback_receiver):
    calls_back(sandbox, callback_receiver)

    async def work(channel):
        return channel, await channel.send([Outbound("late", "+79161234501", text="Ответ на ваш вопрос")])

    channel, [result] = with_channel(sandbox, work)
    assert result.kind is ResultKind.ACCEPTED
    [failed] = [e for e in events_of(sandbox, callback_receiver, channel) if isinstance(e, StatusEvent)]
    assert (failed.key, failed.status, failed.error_code) == ("late", DeliveryStatus.FAILED, "131047")


def test_a_paused_template_pauses_through_the_adapter(sandbox):
    async def submit(channel):
        return await channel.submit_template(ORDER)

    state = with_channel(sandbox, submit)
    sandbox.force_template(state.provider_id, "PAUSED")

    async def work(channel):
        return await channel.send([order("paused")])

    [result] = with_channel(sandbox, work)
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, "132015", FailureMeaning.TEMPLATE)
