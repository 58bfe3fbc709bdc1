"""campaigns.provider_calls: a synchronous call to a provider, whose one way to fail is a ChannelError."""

from __future__ import annotations

import asyncio

import pytest

from campaigns import provider_calls
from channels.base import ChannelError, SenderSettings
from channels.whatsapp_cloud import WhatsAppCloud

SETTINGS = SenderSettings(channel="whatsapp_cloud", base_url="http://127.0.0.1:9", timeout_seconds=0.1)


def test_the_work_gets_the_senders_channel_and_its_result_comes_back(app):
    async def work(channel):
        return type(channel), channel.settings

    assert provider_calls.call_provider(SETTINGS, work) == (WhatsAppCloud, SETTINGS)


def test_a_wait_that_runs_out_is_a_retryable_channel_error_and_the_work_is_cancelled(app, monkeypatch):
    monkeypatch.setattr(provider_calls, "MARGIN_SECONDS", 0.2)
    cancelled = []

    async def never(_channel):
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(ChannelError) as raised:
        provider_calls.call_provider(SETTINGS, never, calls=2)
    assert (raised.value.code, raised.value.retryable) == ("timeout", True)
    assert str(raised.value.sentence) == "The provider did not answer in time."
    # The cancellation runs on the channels loop: wait for it there rather than sleep.
    provider_calls.call_provider(SETTINGS, lambda _channel: asyncio.sleep(0))
    assert cancelled == [True]


def test_a_channels_refusal_passes_through_as_it_is(app):
    async def refuse(_channel):
        raise ChannelError("refused", "190")

    with pytest.raises(ChannelError) as raised:
        provider_calls.call_provider(SETTINGS, refuse)
    assert raised.value.code == "190"
