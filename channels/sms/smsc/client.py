"""The SMSC.ru gateway: sends and the account's balance over HTTP, status callbacks in memory.

Every call goes to ``{base_url}/sys/<method>.php`` (:data:`BASE_URL` by default; the sandbox serves the same
paths) as a POST form, so that the password travels in the body rather than in a URL a proxy logs. ``send``
runs a batch concurrently (at most :attr:`SmscGateway.max_in_flight` at once) and never raises for what SMSC or
the network does: each message gets its result (:mod:`.errors` decides). SMSC answers HTTP 200 to a refusal
too; its JSON (``fmt=3``) says which.

Not idempotent: SMSC's ``id`` is ours and comes back in every status callback, but SMSC does not promise it
unique (its docs: "не обязательно уникален"), and it refuses only an identical request within a minute
(code 9). A second request is a second SMS, so a dispatcher never resends a message whose first request may
have gone through; the callback carrying the key settles it.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import lazy_gettext as _l

from channels import transport
from channels.base import Capabilities, ChannelError, Event, MessageKind, NumberInfo, Outbound, ResultKind, SendResult
from channels.decisions import Decision
from channels.sms.gateway import SmsGateway
from channels.sms.smsc import errors, payloads, webhooks

log = logging.getLogger(__name__)

BASE_URL = "https://smsc.ru"
# What one account sends comfortably: SMSC refuses a login's fifteenth concurrent request, and one send takes a
# few hundred milliseconds; a faster account is a matter of its contract (the sender's rate is the admin's).
MESSAGES_PER_SECOND = 30


class _Answer(transport.Answer):
    """SMSC's answer with ``fmt=3``: ``{"id", "cnt", "cost", "balance"}``, or ``{"error", "error_code"}``."""

    @property
    def code(self) -> str | None:
        code = self.document.get("error_code") if isinstance(self.document, dict) else None
        return str(code) if isinstance(code, int | str) and str(code).strip() else None

    @property
    def text(self) -> str:
        """SMSC's own words (``error``), for the log; never shown to a marketer as is."""
        return str(self.document.get("error") or "") if isinstance(self.document, dict) else ""


class SmscGateway(SmsGateway):
    """An SMSC.ru account (or any server that speaks its format: the sandbox)."""

    name = "smsc"
    capabilities = Capabilities(
        idempotent_sends=False,  # see the module's docstring
        messages_per_second=MESSAGES_PER_SECOND,
        max_text_length=payloads.MAX_TEXT,
        kinds=frozenset({MessageKind.TEXT}),
        batch_size=MESSAGES_PER_SECOND,
        provider_templates=False,
        delivery_receipts=True,
    )

    def _url(self, method: str) -> str:
        return f"{(self.settings.base_url or BASE_URL).rstrip('/')}/sys/{method}.php"

    async def _request(self, method: str, form: dict[str, str]) -> _Answer:
        return await transport.fetch(self.session, "POST", self._url(method), form=form,
                                     timeout_seconds=self.settings.timeout_seconds, answer=_Answer)

    # --- sends ------------------------------------------------------------------------------------------

    async def _send_one(self, message: Outbound) -> SendResult:
        settings = self.settings
        try:
            form = payloads.form(message, settings.login, settings.access_token, settings.alpha_name)
        except payloads.AddressError as error:
            log.warning("event=address_refused channel=%s key=%s detail=%r", self.name, message.key, str(error))
            return self._result(message, errors.address(), str(error))
        except payloads.PayloadError as error:
            log.warning("event=payload_refused channel=%s key=%s detail=%r", self.name, message.key, str(error))
            return self._result(message, errors.payload(), str(error))
        try:
            answer = await self._request("send", form)
        except transport.ERRORS as error:
            return self._result(message, errors.transport(transport.code_of(error)), repr(error))
        if answer.ok and answer.code is None:
            if not isinstance(answer.document, dict) or answer.document.get("id") in (None, ""):
                return self._result(message, errors.transport("malformed_response"))
            return SendResult(message.key, ResultKind.ACCEPTED, provider_id=str(answer.document["id"]),
                              address=form["phones"])
        decision = errors.decide(answer.code, answer.status, answer.retry_after)
        log.info("event=send_refused channel=%s key=%s status=%s code=%s result=%s detail=%r", self.name, message.key,
                 answer.status, decision.code, decision.kind.value, answer.text)
        return self._result(message, decision, answer.text)

    @staticmethod
    def _result(message: Outbound, decision: Decision, detail: str = "") -> SendResult:
        return decision.result(message.key, detail, uncertain=decision.may_have_gone)

    # --- the account ------------------------------------------------------------------------------------

    async def number_info(self) -> NumberInfo:
        """The account's balance (``balance.php``), which proves the login and password: the alpha name in place
        of a number, the balance as its name. SMSC has no quality rating or messaging tier."""
        settings = self.settings
        answer = await transport.called(
            self._request("balance", {"login": settings.login, "psw": settings.access_token, "fmt": "3"}),
            errors.CALLS)
        document: Any = answer.document
        if answer.ok and answer.code is None:
            if not isinstance(document, dict) or document.get("balance") in (None, ""):
                raise transport.call_failed("malformed_response", errors.CALLS)
            return NumberInfo(display_phone_number=settings.alpha_name, quality="UNKNOWN", tier=None,
                              messages_per_second=MESSAGES_PER_SECOND,
                              verified_name=str(_l("Balance %(balance)s", balance=document["balance"])))
        decision = errors.decide(answer.code, answer.status, answer.retry_after)
        log.warning("event=channel_call_refused channel=%s method=balance status=%s code=%s detail=%r", self.name,
                    answer.status, decision.code, answer.text)
        raise ChannelError(decision.sentence, decision.code, retryable=decision.retryable)

    # --- callbacks --------------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes) -> list[Event]:
        """The status of one callback (see :mod:`.webhooks`); raises WebhookError when it is malformed."""
        return webhooks.parse(body)
