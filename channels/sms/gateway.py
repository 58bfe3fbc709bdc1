"""What every SMS gateway adapter is alike in, whatever its wire format: a second gateway is one small module.

An SMS is free text: there are no provider-approved templates (a template is rendered to its text, the
restricted-platform disclaimer included, before it gets here), no service window and no subscription
check. A gateway signs none of its callbacks, so the callback URL carries a secret of ours
(``?secret=<app_secret>``, made when the sender is saved), compared in constant time
(:meth:`SmsGateway.verify_callback`). ``send`` runs the batch concurrently, each message through the
gateway's own ``_send_one``, at most :attr:`SmsGateway.max_in_flight` at once (gateways limit the
concurrent connections of one account).

A gateway module gives: its ``name``, ``capabilities``, ``_send_one`` (the request and its result),
``number_info`` (what the account says: its balance, the alpha name), ``parse_webhook`` (a delivery
report → :class:`~channels.base.StatusEvent`) and its code table (``errors``).
"""

from __future__ import annotations

import hmac
import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l

from channels import transport
from channels.base import Channel, ChannelError, Outbound, SendResult, TemplateState, TemplateSubmission

# The query parameter of the callback URL that carries our secret.
SECRET_PARAMETER = "secret"
NO_TEMPLATES = _l("An SMS gateway has no provider-approved templates: a template is rendered to the message's text "
                  "and needs no approval at the gateway.")
# An alpha name (sender ID) as Russian operators register it: up to 11 Latin letters, digits and a few signs,
# at least one letter.
ALPHA_NAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ._-]{1,11}$")


def is_alpha_name(name: str) -> bool:
    """Whether ``name`` can be an SMS sender name (at most 11 Latin letters, digits, space, dot, dash, underscore,
    with at least one letter)."""
    return bool(ALPHA_NAME.match(name))


class SmsGateway(Channel):
    """An SMS gateway's account: its login and password, the alpha name messages come from, our callback secret."""

    max_in_flight = 10  # requests of one send() at once: gateways refuse many concurrent connections of one login

    async def send(self, messages: Sequence[Outbound]) -> list[SendResult]:
        """Send the batch concurrently (at most ``max_in_flight`` at once); one result per message, in order."""
        return await transport.each(messages, self._send_one, self.max_in_flight)

    @abstractmethod
    async def _send_one(self, message: Outbound) -> SendResult:
        """One message's request and its result; never raises for what the gateway or the network does."""

    async def submit_template(self, template: TemplateSubmission) -> TemplateState:
        raise ChannelError(NO_TEMPLATES, "no_templates")

    async def edit_template(self, provider_id: str, template: TemplateSubmission) -> TemplateState:
        raise ChannelError(NO_TEMPLATES, "no_templates")

    async def template_states(self, name: str | None = None) -> list[TemplateState]:
        raise ChannelError(NO_TEMPLATES, "no_templates")

    def handshake(self, params: Mapping[str, str]) -> str | None:
        """A gateway makes no subscription check: the callback URL is set in the gateway's account."""
        return None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """A gateway's callback has no signature to check: only its URL's secret proves it (``verify_callback``)."""
        return False

    def verify_callback(self, headers: Mapping[str, str], body: bytes, query: Mapping[str, Any]) -> bool:
        """Whether the callback URL's ``secret`` is this sender's (constant time); a sender without one accepts
        nothing."""
        expected = self.settings.app_secret
        given = query.get(SECRET_PARAMETER) if query is not None else None
        if not expected or not isinstance(given, str) or not given:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())
