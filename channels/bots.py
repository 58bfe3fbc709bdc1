"""What the messenger bots (MAX, Telegram) are alike in, whatever their wire format.

A bot has no provider-approved templates (a template is rendered to its text and buttons before it
gets to the channel), no subscription check (its webhook is set through the API) and a webhook that
echoes the subscription's secret in a header, compared with the sender's ``app_secret``. A bot's
``send`` runs the batch concurrently, each message through the channel's own ``_send_one``.
"""

from __future__ import annotations

import hmac
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from channels import transport
from channels.base import Channel, ChannelError, Outbound, SendResult, TemplateState, TemplateSubmission


class Bot(Channel):
    """A bot channel: its provider's header for the echoed secret and its sentence for a template call."""

    secret_header: str
    no_templates: Any  # the (lazy) sentence for a template call: the provider has none
    max_in_flight = 100  # requests of one send() at once

    async def send(self, messages: Sequence[Outbound]) -> list[SendResult]:
        """Send the batch concurrently (at most ``max_in_flight`` at once); one result per message, in order.
        The bot's and the dialog's rate limits are the dispatcher's to keep."""
        return await transport.each(messages, self._send_one, self.max_in_flight)

    @abstractmethod
    async def _send_one(self, message: Outbound) -> SendResult:
        """One message's request and its result; never raises for what the provider or the network does."""

    async def submit_template(self, template: TemplateSubmission) -> TemplateState:
        raise ChannelError(self.no_templates, "no_templates")

    async def edit_template(self, provider_id: str, template: TemplateSubmission) -> TemplateState:
        raise ChannelError(self.no_templates, "no_templates")

    async def template_states(self, name: str | None = None) -> list[TemplateState]:
        raise ChannelError(self.no_templates, "no_templates")

    def handshake(self, params: Mapping[str, str]) -> str | None:
        """A bot's provider makes no subscription check: the webhook is set through the API."""
        return None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the secret header (any case) is this bot's secret (constant time); a bot without a secret
        accepts nothing."""
        expected = self.settings.app_secret
        given = transport.header(headers, self.secret_header)
        if not expected or not given:
            return False
        return hmac.compare_digest(self._echoed(given).encode(), expected.encode())

    def _echoed(self, value: str) -> str:
        """The secret as the header carries it (a channel may tidy it first)."""
        return value
