"""The channels by name, and the one way to get a sender's channel.

``SenderSettings.channel`` names the class: ``whatsapp_cloud`` (Meta's Cloud API), ``sandbox`` (the
local provider process, which serves the same wire format at the same paths), ``max`` (a MAX bot; the
sandbox speaks MAX's format too, so a ``max`` sender points at it by its base URL) or ``telegram`` (the Bot
API; the sandbox serves it too, at ``/bot<token>/…`` of its own base URL) or ``smsc`` (SMS through SMSC.ru; the
sandbox serves its ``/sys/send.php`` too).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from channels.base import Channel, SenderSettings
from channels.max import MaxBot
from channels.sms.smsc import SmscGateway
from channels.telegram import TelegramBot
from channels.whatsapp_cloud import WhatsAppCloud

if TYPE_CHECKING:
    import aiohttp


class SandboxWhatsApp(WhatsAppCloud):
    """The sandbox provider: the Cloud API's format, but a repeated ``biz_opaque_callback_data`` is the same
    message, so a retry after a timeout cannot deliver twice.

    The capability assumes the sandbox's default, idempotency on: the channel cannot see how the process
    was started (``--no-idempotency``, or ``{"idempotency": false}`` on its control API). A sandbox whose
    idempotency is off behaves as the real Cloud API does; to try the behaviour of a channel that is not
    idempotent, point a ``whatsapp_cloud`` sender at the sandbox (its base URL and token) instead of
    switching a ``sandbox`` sender's process over.
    """

    name = "sandbox"
    capabilities = replace(WhatsAppCloud.capabilities, idempotent_sends=True)


CHANNELS: dict[str, type[Channel]] = {"whatsapp_cloud": WhatsAppCloud, "sandbox": SandboxWhatsApp, "max": MaxBot,
                                      "telegram": TelegramBot, "smsc": SmscGateway}


def channel_for(settings: SenderSettings, session: aiohttp.ClientSession) -> Channel:
    """The channel of one sender, on the process's shared session; KeyError names an unknown channel."""
    try:
        kind = CHANNELS[settings.channel]
    except KeyError:
        raise KeyError(f"no channel is called {settings.channel!r} (known: {', '.join(sorted(CHANNELS))})") from None
    return kind(settings, session)
