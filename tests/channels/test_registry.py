"""The registry: channels by name, and the sandbox's one difference (its sends are idempotent)."""

from __future__ import annotations

import pytest

from channels.base import MessageKind, SenderSettings
from channels.max import MaxBot
from channels.registry import CHANNELS, SandboxWhatsApp, channel_for
from channels.sms.smsc import SmscGateway
from channels.whatsapp_cloud import WhatsAppCloud


def settings(channel: str) -> SenderSettings:
    return SenderSettings(channel=channel, base_url="http://127.0.0.1:8025", api_version="v21.0")


def test_each_name_gives_its_class_with_the_settings_and_session():
    session = object()
    cloud, sandbox = channel_for(settings("whatsapp_cloud"), session), channel_for(settings("sandbox"), session)
    assert type(cloud) is WhatsAppCloud and type(sandbox) is SandboxWhatsApp
    assert (cloud.settings.channel, cloud.session, sandbox.session) == ("whatsapp_cloud", session, session)
    assert type(channel_for(settings("max"), session)) is MaxBot
    assert type(channel_for(settings("smsc"), session)) is SmscGateway
    assert set(CHANNELS) == {"whatsapp_cloud", "sandbox", "max", "telegram", "smsc"}
    assert all(CHANNELS[name].name == name for name in CHANNELS)


def test_the_cloud_api_is_not_idempotent_and_the_sandbox_is():
    cloud, sandbox = WhatsAppCloud.capabilities, SandboxWhatsApp.capabilities
    assert (cloud.idempotent_sends, sandbox.idempotent_sends) == (False, True)
    assert cloud.messages_per_second == sandbox.messages_per_second == 80
    assert cloud.max_text_length == 1024 and cloud.service_window_hours == 24
    assert cloud.kinds == frozenset({MessageKind.TEMPLATE, MessageKind.TEXT})


def test_an_unknown_channel_is_named_in_the_error():
    with pytest.raises(KeyError, match=r"sms.*known: max, sandbox, smsc, telegram, whatsapp_cloud"):
        channel_for(settings("sms"), None)
