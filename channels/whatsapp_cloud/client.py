"""The WhatsApp Cloud API channel: sends, templates and the number over HTTP, webhooks in memory.

Every call goes to ``{base_url}/{api_version}/…`` with ``Authorization: Bearer <token>`` on the
shared keep-alive session; each request has the sender's timeout. ``send`` runs a batch
concurrently with at most :attr:`WhatsAppCloud.max_in_flight` requests at once and never raises for
what the provider or the network does: each message gets its result (:mod:`.errors` decides).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l

from channels import signatures, transport
from channels.base import (
    Capabilities,
    Channel,
    ChannelError,
    Event,
    FailureMeaning,
    MessageKind,
    NumberInfo,
    Outbound,
    ResultKind,
    SendResult,
    TemplateState,
    TemplateSubmission,
)
from channels.whatsapp_cloud import errors, payloads, responses, webhooks

log = logging.getLogger(__name__)

NUMBER_FIELDS = "display_phone_number,verified_name,quality_rating,messaging_limit_tier,throughput"
TEMPLATE_FIELDS = "id,name,language,status,category,rejected_reason"
TEMPLATE_PAGE = 100  # templates asked for per page of the list
MAX_PAGES = 1000  # a list that never ends is the server's bug: stop rather than loop forever
# A permanent refusal of an edit (Meta: code 100 with its reason in English, never shown as it is): the rules.
EDIT_REFUSED = _l("The provider refused to edit the template. It edits only an approved, rejected or paused "
                  "template, an approved one at most once in 24 hours and ten times in 30 days; try again later, "
                  "or create a new template under another name.")


class WhatsAppCloud(Channel):
    """A sender on the WhatsApp Cloud API (or any server that speaks its format)."""

    name = "whatsapp_cloud"
    capabilities = Capabilities(
        idempotent_sends=False,  # the Cloud API has no idempotency key: a repeated request is a second message
        messages_per_second=80,
        max_text_length=1024,
        kinds=frozenset({MessageKind.TEMPLATE, MessageKind.TEXT}),
        batch_size=100,
        service_window_hours=24,
    )
    max_in_flight = 100  # requests of one send() at once (the shared session keeps up to 200 connections per host)

    # --- HTTP -------------------------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        base = self.settings.base_url.rstrip("/")
        version = self.settings.api_version.strip("/")
        return "/".join([base, *([version] if version else []), *parts])

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.access_token}"}

    async def _request(self, method: str, url: str, *, body: Any = None,
                       params: Mapping[str, str] | None = None) -> transport.Answer:
        """One request; raises :data:`channels.transport.ERRORS` for the transport, answers anything else."""
        return await transport.fetch(self.session, method, url, timeout_seconds=self.settings.timeout_seconds,
                                     body=body, params=params, headers=self._headers())

    async def _call(self, method: str, url: str, refused: Any = None, **options: Any) -> dict[str, Any]:
        """A call other than a send: its JSON on success, else :class:`ChannelError` with the table's sentence
        (or ``refused``, if given, for a permanent refusal that is not about the sender's token or rights)."""
        answer = await transport.called(self._request(method, url, **options), errors.CALLS)
        if answer.ok and isinstance(answer.document, dict):
            return answer.document
        if answer.ok:
            raise transport.call_failed("malformed_response", errors.CALLS)
        decision = errors.decide(responses.error_code(answer.document), answer.status, answer.retry_after)
        log.warning("event=channel_call_refused channel=%s method=%s status=%s code=%s detail=%r", self.name,
                    method, answer.status, decision.code, responses.error_text(answer.document))
        sentence = decision.sentence
        if refused is not None and not decision.retryable and decision.meaning is not FailureMeaning.SENDER:
            sentence = refused
        raise ChannelError(sentence, decision.code, retryable=decision.retryable)

    # --- sends ------------------------------------------------------------------------------------------

    async def send(self, messages: Sequence[Outbound]) -> list[SendResult]:
        """Send the batch concurrently (at most ``max_in_flight`` at once); one result per message, in order."""
        return await transport.each(messages, self._send_one, self.max_in_flight)

    async def _send_one(self, message: Outbound) -> SendResult:
        try:
            body = payloads.message(message)
        except payloads.PayloadError as error:
            log.warning("event=payload_refused channel=%s key=%s detail=%r", self.name, message.key, str(error))
            return self._result(message, errors.payload(), str(error))
        try:
            answer = await self._request("POST", self._url(self.settings.phone_number_id, "messages"), body=body)
        except transport.ERRORS as error:
            return self._result(message, errors.transport(transport.code_of(error)), repr(error))
        if answer.ok:
            ids = responses.accepted_ids(answer.document)
            if ids is None:
                return self._result(message, errors.transport("malformed_response"))
            return SendResult(message.key, ResultKind.ACCEPTED, provider_id=ids[0], address=ids[1])
        decision = errors.decide(responses.error_code(answer.document), answer.status, answer.retry_after,
                                 message.kind)
        detail = responses.error_text(answer.document)
        log.info("event=send_refused channel=%s key=%s status=%s code=%s result=%s detail=%r", self.name, message.key,
                 answer.status, decision.code, decision.kind.value, detail)
        return self._result(message, decision, detail)

    @staticmethod
    def _result(message: Outbound, decision: errors.Decision, detail: str = "") -> SendResult:
        return decision.result(message.key, detail, uncertain=decision.may_have_gone)

    # --- templates and the number -----------------------------------------------------------------------

    async def submit_template(self, template: TemplateSubmission) -> TemplateState:
        """Submit a template for approval (examples for every variable); the provider's first verdict."""
        body = self._built(template, payloads.submission)
        document = await self._call("POST", self._url(self.settings.account_id, "message_templates"), body=body)
        if "category" not in document:
            document = {**document, "category": template.category}
        return responses.template_state(document, name=template.name, language=template.language)

    async def edit_template(self, provider_id: str, template: TemplateSubmission) -> TemplateState:
        """Replace the components of the provider's template ``provider_id`` (``POST /{template_id}``) and read
        its new status back.

        The template's record is read first: Meta refuses to change an approved template's category, which is
        said here without spending one of its few edits; the category is sent only when it changes. Meta
        answers an edit with ``{"success": true}`` alone, so the verdict (pending, or decided at once) is the
        record read again; a record that cannot be found reads as pending.
        """
        body = self._built(template, lambda t: payloads.edit(t, with_category=False))
        current = await self._state(provider_id, template.name)
        category = template.category.lower()
        if current is not None and current.category and current.category != category:
            if current.status == "approved":
                raise ChannelError(_l("The provider does not let an approved template change its category; keep "
                                      "the category, or create a new template under another name."),
                                   "category_locked")
            body["category"] = category.upper()
        document = await self._call("POST", self._url(provider_id), body=body, refused=EDIT_REFUSED)
        if document.get("success") is not True:
            raise transport.call_failed("malformed_response", errors.CALLS)
        log.info("event=template_edited channel=%s template=%s provider_id=%s", self.name, template.name, provider_id)
        found = await self._state(provider_id, template.name)
        return found or TemplateState(provider_id, template.name, template.language, "pending", category)

    async def _state(self, provider_id: str, name: str) -> TemplateState | None:
        """The provider's record of the template ``provider_id`` (found by its name), None if it has none."""
        return next((state for state in await self.template_states(name) if state.provider_id == provider_id), None)

    def _built(self, template: TemplateSubmission,
               build: Callable[[TemplateSubmission], dict[str, Any]]) -> dict[str, Any]:
        """``build(template)``, or :class:`ChannelError` before any request when it cannot be expressed."""
        try:
            return build(template)
        except payloads.PayloadError as error:
            log.warning("event=template_refused channel=%s template=%s detail=%r", self.name, template.name, str(error))
            raise ChannelError(_l("The template cannot be submitted as it is: every variable needs an example value, "
                                  "and every button must be a quick reply, a link or a phone number."),
                               "payload") from None

    async def template_states(self, name: str | None = None) -> list[TemplateState]:
        """The account's templates (of this name, if given), every page of the list."""
        url = self._url(self.settings.account_id, "message_templates")
        params = {"fields": TEMPLATE_FIELDS, "limit": str(TEMPLATE_PAGE)}
        if name:
            params["name"] = name
        states: list[TemplateState] = []
        after: str | None = None
        for _page in range(MAX_PAGES):
            document = await self._call("GET", url, params={**params, **({"after": after} if after else {})})
            data = document.get("data")
            if not isinstance(data, list):
                raise transport.call_failed("malformed_response", errors.CALLS)
            # Meta's ``name`` filter also matches longer names: keep only the template of exactly that name.
            states.extend(responses.template_state(record) for record in data
                          if isinstance(record, dict) and (not name or record.get("name") == name))
            after = responses.next_cursor(document, after, TEMPLATE_PAGE)
            if after is None:
                break
        return states

    async def number_info(self) -> NumberInfo:
        """The number's display number, quality rating, messaging tier and throughput."""
        document = await self._call("GET", self._url(self.settings.phone_number_id), params={"fields": NUMBER_FIELDS})
        return responses.number_info(document)

    # --- webhooks ---------------------------------------------------------------------------------------

    def handshake(self, params: Mapping[str, str]) -> str | None:
        """``hub.challenge`` when ``hub.mode`` is subscribe and ``hub.verify_token`` is ours (constant time)."""
        expected, given = self.settings.verify_token, params.get("hub.verify_token") or ""
        if params.get("hub.mode") != "subscribe" or not expected:
            return None
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return params.get("hub.challenge")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``X-Hub-Signature-256`` (any case) is the HMAC of the raw body with the app secret."""
        return signatures.verify(self.settings.app_secret, body, transport.header(headers, signatures.HEADER))

    def parse_webhook(self, body: bytes) -> list[Event]:
        """The events of one callback (see :mod:`.webhooks`); raises WebhookError when it is malformed."""
        return webhooks.parse(body)
