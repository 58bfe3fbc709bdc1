"""The MAX (VK's messenger) bot channel: sends, the bot's record and its webhook subscription over HTTP,
webhooks in memory.

Every call goes to ``{base_url}/…`` (:data:`BASE_URL` by default) with ``Authorization: <token>``
(the raw token: MAX takes no ``Bearer``) on the shared keep-alive session, each with the sender's
timeout. ``send`` runs a batch concurrently (at most :attr:`MaxBot.max_in_flight` at once) and never
raises for what MAX or the network does: each message gets its result (:mod:`.errors` decides).

Why not the ``maxapi`` client: it owns its session (and closes it on a 401), retries 5xx inside a
call (a retried send is a second message on a channel without idempotency, and the dispatcher must
count it), and builds pydantic models per message; the wire format is small enough to speak here.
MAX has no provider templates, no idempotency key and no delivery receipts: a template is rendered
to text and buttons before it gets here, and an accepted message stays "sent".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from channels import transport
from channels.base import (
    Capabilities,
    ChannelError,
    Event,
    MessageKind,
    NumberInfo,
    Outbound,
    ResultKind,
    SendResult,
)
from channels.bots import Bot
from channels.max import errors, payloads, webhooks

log = logging.getLogger(__name__)

BASE_URL = "https://platform-api2.max.ru"
SECRET_HEADER = "X-Max-Bot-Api-Secret"
MESSAGES_PER_SECOND = 30  # per bot (MAX: 30 requests a second)
DIALOG_MESSAGES_PER_SECOND = 2  # to one dialog
NO_TEMPLATES = _l("MAX has no provider-approved templates: a template is rendered to the bot's text and buttons "
                  "and needs no approval at MAX.")


class _Answer(transport.Answer):
    """MAX's error answer is ``{"code": …, "message": …}``."""

    @property
    def code(self) -> str | None:
        code = self.document.get("code") if isinstance(self.document, dict) else None
        return code if isinstance(code, str) and code else None

    @property
    def text(self) -> str:
        """MAX's own words (``message``), for the log and the operator; never shown to a marketer as is."""
        return str(self.document.get("message") or "") if isinstance(self.document, dict) else ""


def _mid(document: Any) -> str | None:
    """``message.body.mid`` of a successful send; None when the answer has none."""
    message = document.get("message") if isinstance(document, dict) else None
    body = message.get("body") if isinstance(message, dict) else None
    mid = body.get("mid") if isinstance(body, dict) else None
    return mid if isinstance(mid, str) and mid else None


class MaxBot(Bot):
    """A bot on the MAX Bot API (or any server that speaks its format: the sandbox)."""

    name = "max"
    capabilities = Capabilities(
        idempotent_sends=False,  # no idempotency key: a repeated request is a second message
        messages_per_second=MESSAGES_PER_SECOND,
        max_text_length=payloads.MAX_TEXT,
        kinds=frozenset({MessageKind.TEXT}),
        batch_size=MESSAGES_PER_SECOND,  # one second's worth: a bigger batch would only wait on the rate limiter
        dialog_messages_per_second=DIALOG_MESSAGES_PER_SECOND,
        provider_templates=False,
        delivery_receipts=False,
    )
    secret_header = SECRET_HEADER
    no_templates = NO_TEMPLATES

    # --- HTTP -------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{(self.settings.base_url or BASE_URL).rstrip('/')}/{path}"

    async def _request(self, method: str, path: str, *, body: Any = None,
                       params: Mapping[str, str] | None = None) -> _Answer:
        """One request; raises :data:`channels.transport.ERRORS` for the transport, answers anything else."""
        return await transport.fetch(self.session, method, self._url(path),
                                     timeout_seconds=self.settings.timeout_seconds, body=body, params=params,
                                     headers={"Authorization": self.settings.access_token}, answer=_Answer)

    async def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """A call other than a send: its JSON on success, else :class:`ChannelError` with the table's sentence."""
        answer = await transport.called(self._request(method, path, **options), errors.CALLS)
        if answer.ok and isinstance(answer.document, dict):
            return answer.document
        if answer.ok:
            raise transport.call_failed("malformed_response", errors.CALLS)
        decision = errors.decide(answer.code, answer.status, answer.retry_after)
        log.warning("event=channel_call_refused channel=%s method=%s path=%s status=%s code=%s detail=%r", self.name,
                    method, path, answer.status, decision.code, answer.text)
        raise ChannelError(decision.sentence, decision.code, retryable=decision.retryable)

    # --- sends ------------------------------------------------------------------------------------------

    async def _send_one(self, message: Outbound) -> SendResult:
        try:
            params = payloads.recipient(message.to)
        except payloads.AddressError as error:
            log.warning("event=address_refused channel=%s key=%s detail=%r", self.name, message.key, str(error))
            return self._result(message, errors.address(), str(error))
        try:
            body = payloads.message(message)
        except payloads.PayloadError as error:
            log.warning("event=payload_refused channel=%s key=%s detail=%r", self.name, message.key, str(error))
            return self._result(message, errors.payload(), str(error))
        try:
            answer = await self._request("POST", "messages", body=body, params=params)
        except transport.ERRORS as error:
            return self._result(message, errors.transport(transport.code_of(error)), repr(error))
        if answer.ok:
            mid = _mid(answer.document)
            if mid is None:
                return self._result(message, errors.transport("malformed_response"))
            return SendResult(message.key, ResultKind.ACCEPTED, provider_id=mid, address=message.to)
        decision = errors.decide(answer.code, answer.status, answer.retry_after)
        log.info("event=send_refused channel=%s key=%s status=%s code=%s result=%s detail=%r", self.name, message.key,
                 answer.status, decision.code, decision.kind.value, answer.text)
        return self._result(message, decision, answer.text)

    @staticmethod
    def _result(message: Outbound, decision: errors.Decision, detail: str = "") -> SendResult:
        return decision.result(message.key, detail, uncertain=decision.may_have_gone)

    # --- the bot and its subscription ------------------------------------------------------------------

    async def number_info(self) -> NumberInfo:
        """The bot's record (``GET /me``): its username in place of a number, its name, MAX's 30 a second. MAX has
        no quality rating or messaging tier."""
        document = await self._call("GET", "me")
        username = document.get("username")
        if not isinstance(username, str) or not username:
            raise transport.call_failed("malformed_response", errors.CALLS)
        name = document.get("first_name") or document.get("name") or ""
        return NumberInfo(display_phone_number=username, quality="UNKNOWN", tier=None,
                          messages_per_second=MESSAGES_PER_SECOND, verified_name=str(name))

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        """``POST /subscriptions``: MAX posts the bot's updates (started, stopped, messages, button presses) to
        ``url`` with ``secret`` in ``X-Max-Bot-Api-Secret``. MAX takes only ``[A-Za-z0-9_-]{5,256}`` as a secret."""
        body = {"url": url, "update_types": list(webhooks.UPDATE_TYPES), "secret": secret}
        document = await self._call("POST", "subscriptions", body=body)
        if document.get("success") is not True:
            log.warning("event=subscription_refused channel=%s detail=%r", self.name, document.get("message"))
            raise ChannelError(_l("MAX refused the webhook subscription: the URL must be reachable over HTTPS and the "
                                  "secret may have only Latin letters, digits, dashes and underscores (5 to 256)."),
                               "subscription_refused")

    # --- webhooks ---------------------------------------------------------------------------------------

    def _echoed(self, value: str) -> str:
        # A proxy may leave white space around the value; MAX's secrets have none ([A-Za-z0-9_-]{5,256}).
        return value.strip()

    def parse_webhook(self, body: bytes) -> list[Event]:
        """The events of one update (see :mod:`.webhooks`); raises WebhookError when it is malformed."""
        return webhooks.parse(body)
