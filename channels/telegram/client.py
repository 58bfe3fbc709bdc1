"""The Telegram Bot API channel: sends and the bot's record over HTTP, webhooks in memory.

Every call is ``POST {base_url}/bot<token>/<method>`` with a JSON body on the shared keep-alive session,
each with the sender's timeout (``access_token`` is the bot's token, ``app_secret`` the webhook's
secret token). ``send`` runs a batch concurrently (at most :attr:`TelegramBot.max_in_flight` at once)
and never raises for what Telegram or the network does: each message gets its result (:mod:`.errors`
decides). Telegram has no idempotency key, no templates and no delivery receipts.
"""

from __future__ import annotations

import logging
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
from channels.telegram import errors, payloads, webhooks

log = logging.getLogger(__name__)

BASE_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MESSAGES_PER_SECOND = 30  # Telegram's broadcast limit of one bot (its Bots FAQ: about 30 messages a second)
NO_TEMPLATES = _l("Telegram has no provider templates: a template is rendered to the bot's text and buttons.")


class _Answer(transport.Answer):
    @property
    def telegram(self) -> bool:
        """Whether the body is the Bot API's own answer (``{"ok": …}``), not a proxy's page."""
        return isinstance(self.document, dict) and isinstance(self.document.get("ok"), bool)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.telegram and self.document["ok"] is True


class TelegramBot(Bot):
    """A bot on the Telegram Bot API (or any server that speaks its format, such as the sandbox)."""

    name = "telegram"
    capabilities = Capabilities(
        idempotent_sends=False,  # no idempotency key: a repeated request is a second message
        messages_per_second=MESSAGES_PER_SECOND,
        max_text_length=payloads.TEXT_LIMIT,
        kinds=frozenset({MessageKind.TEXT}),
        batch_size=MESSAGES_PER_SECOND,  # a second's worth at the bot's limit
        dialog_messages_per_second=1,  # Telegram: no more than one message a second to one chat
        provider_templates=False,
        delivery_receipts=False,
    )
    secret_header = SECRET_HEADER
    no_templates = NO_TEMPLATES

    # --- HTTP -------------------------------------------------------------------------------------------

    def _url(self, method: str) -> str:
        base = (self.settings.base_url or BASE_URL).rstrip("/")
        return f"{base}/bot{self.settings.access_token}/{method}"

    async def _request(self, method: str, body: Any = None) -> _Answer:
        """One call; raises :data:`channels.transport.ERRORS` for the transport, answers anything else. Telegram
        says when to retry in the body, not in Retry-After (:func:`.errors.decide` reads it)."""
        return await transport.fetch(self.session, "POST", self._url(method),
                                     timeout_seconds=self.settings.timeout_seconds,
                                     body=body if body is not None else {}, answer=_Answer)

    async def _call(self, method: str, body: Any = None) -> Any:
        """A call other than a send: its ``result``, else :class:`ChannelError` with the table's sentence."""
        answer = await transport.called(self._request(method, body), errors.CALLS)
        if answer.ok and "result" in answer.document:
            return answer.document["result"]
        if 200 <= answer.status < 300:
            raise transport.call_failed("malformed_response", errors.CALLS)
        decision = errors.decide(answer.status, answer.document)
        log.warning("event=channel_call_refused channel=%s method=%s status=%s code=%s detail=%r", self.name, method,
                    answer.status, decision.code, errors.description_of(answer.document))
        raise ChannelError(decision.sentence, decision.code, retryable=decision.retryable)

    # --- sends ------------------------------------------------------------------------------------------

    async def _send_one(self, message: Outbound) -> SendResult:
        try:
            body = payloads.message(message)
        except payloads.PayloadError as error:
            log.warning("event=payload_refused channel=%s key=%s code=%s detail=%r", self.name, message.key,
                        error.code, str(error))
            return self._result(message, errors.refusal(error.code), str(error))
        try:
            answer = await self._request("sendMessage", body)
        except transport.ERRORS as error:
            code = transport.code_of(error)
            return self._result(message, errors.transport(code), repr(error), uncertain=code != "connection")
        if answer.ok:
            ids = _accepted_ids(answer.document)
            if ids is None:
                return self._result(message, errors.transport("malformed_response"), uncertain=True)
            chat, message_id = ids
            return SendResult(message.key, ResultKind.ACCEPTED, provider_id=f"{chat}:{message_id}", address=chat)
        if 200 <= answer.status < 300 and not answer.telegram:
            return self._result(message, errors.transport("malformed_response"), uncertain=True)
        decision = errors.decide(answer.status, answer.document)
        detail = errors.description_of(answer.document)
        log.info("event=send_refused channel=%s key=%s status=%s code=%s result=%s detail=%r", self.name, message.key,
                 answer.status, decision.code, decision.kind.value, detail)
        # A gateway's error page instead of the Bot API's answer: the request may have been handled behind it.
        return self._result(message, decision, detail,
                            uncertain=decision.kind is ResultKind.RETRY and not answer.telegram)

    @staticmethod
    def _result(message: Outbound, decision: errors.Decision, detail: str = "", uncertain: bool = False) -> SendResult:
        return decision.result(message.key, detail, uncertain=uncertain)

    # --- the bot ----------------------------------------------------------------------------------------

    async def number_info(self) -> NumberInfo:
        """The bot's record (``getMe``): its username where a number's display would be, its name."""
        result = await self._call("getMe")
        if not isinstance(result, dict) or not result.get("username"):
            raise transport.call_failed("malformed_response", errors.CALLS)
        return NumberInfo(display_phone_number=str(result["username"]), quality="UNKNOWN", tier=None,
                          messages_per_second=MESSAGES_PER_SECOND, verified_name=str(result.get("first_name") or ""))

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        """``setWebhook``: updates (messages, button presses, the bot blocked or restarted) go to ``url``, with
        ``secret`` in ``X-Telegram-Bot-Api-Secret-Token``."""
        result = await self._call("setWebhook", payloads.webhook(url, secret))
        if result is not True:
            raise transport.call_failed("malformed_response", errors.CALLS)
        log.info("event=webhook_subscribed channel=%s url=%s", self.name, url)

    # --- webhooks ---------------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes) -> list[Event]:
        """The events of one update (see :mod:`.webhooks`); raises WebhookError when it is malformed."""
        return webhooks.parse(body)


def _accepted_ids(document: dict[str, Any]) -> tuple[str, str] | None:
    """``(chat id, message id)`` of the sent Message in ``result``; None when the answer lacks them."""
    result = document.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("chat"), dict):
        return None
    chat, message_id = result["chat"].get("id"), result.get("message_id")
    if not isinstance(chat, int | str) or isinstance(message_id, bool) or not isinstance(message_id, int):
        return None
    return str(chat), str(message_id)
