"""The test send: one template message from one sender to one number (a marketer's own), to see it arrive.

A bot sender (MAX, Telegram) sends the template as it renders for its channel, and only to an address the bot has:
a bot can write only to people who started it, so the marketer starts it from their own account first. An SMS
sender sends the template's SMS text (``campaigns.sms_rendering``) to the number.

The values come from what the marketer typed, else the template's examples; each test send has a
message key of its own, so the provider never takes it for a repeat of another. The provider's
answer is the result (accepted, retry, failed, with the channel's sentence), and it is audited.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _

from audience import addresses
from audience.models import AddressStatus
from campaigns import bot_rendering, rendering, senders, sms_rendering
from campaigns.models import Sender, Template
from campaigns.provider_calls import call_provider
from campaigns.template_rules import POSITIONAL, variable_names
from channels.base import ChannelError, Outbound, Parameter, ResultKind, SendResult, TemplateContent
from channels.errors import sentence_for
from compliance import audit
from compliance.numbers import InvalidNumberError, to_e164
from domain_errors import DomainError, FieldErrors


class TestSendError(DomainError):
    """A test send cannot be made as asked (no such number, a variable without a value); ``code`` names the
    kind of the first refusal (``invalid_phone``, ``wrong_language``, ``unknown_variable``, ``missing_variable``)
    for a script reading the CLI's JSON."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, *messages: Any, code: str = "refused", **options: Any) -> None:
        super().__init__(*messages, **options)
        self.code = code


def outbound_for(template: Template, to: str, values: Mapping[str, str], key: str) -> Outbound:
    """The template message to ``to`` with ``values`` (else the examples) per header and body variable."""
    filled = rendering.preview_values(template, values)

    def parameters(text: str) -> tuple[Parameter, ...]:
        # Positional values go in the order of their numbers, whatever order the text uses them in.
        return tuple(Parameter(filled[name], name=None if POSITIONAL.match(name) else name)
                     for name in variable_names(text, ""))

    content = TemplateContent(name=template.name, language=template.language, header=parameters(template.header),
                              body=parameters(template.body))
    return Outbound(key=key, to=to, template=content)


def bot_outbound_for(sender: Sender, template: Template, to: str, values: Mapping[str, str], key: str) -> Outbound:
    """The template rendered for the bot ``sender``'s channel (``campaigns.bot_rendering``) to the address ``to``,
    which must be one the bot has: an active address of someone who started it (the marketer's own, as a rule).
    ``TestSendError`` with a sentence otherwise."""
    found = addresses.find_address(sender.id, to)
    if found is None or found.status is not AddressStatus.ACTIVE:
        errors = FieldErrors()
        errors.field = "to"
        errors.append(
            _("The bot “%(bot)s” has no open dialog with “%(to)s”: a bot writes only to people who started it. "
              "Start the bot from your own account, then use the address it shows on your contact page.",
              bot=sender.name, to=to) if found is None else
            _("“%(to)s” stopped the bot “%(bot)s” or cannot be reached on it; start the bot again from that account "
              "first.", bot=sender.name, to=to))
        raise TestSendError(errors=errors, code="unknown_address")
    rendered = bot_rendering.render_for(sender.channel, template, rendering.preview_values(template, values))
    return rendered.outbound(key, found.address)


def result_json(result: SendResult) -> dict[str, Any]:
    """The result as the CLI and the API print it."""
    return {"status": result.kind.value, "provider_id": result.provider_id, "code": result.code,
            "retry_after": result.retry_after, "sentence": str(result.sentence or "")}


def result_sentence(result: SendResult) -> str:
    """What the marketer reads about the test send: the channel's reason and, for a transient failure, when to
    try again (the channel says what happened; what to do about it depends on this being a test send)."""
    if result.kind is ResultKind.ACCEPTED:
        return _("The provider accepted the test message (id %(id)s); it should arrive in a moment.",
                 id=result.provider_id or "—")
    if result.kind is ResultKind.RETRY:
        return _("The provider could not take the test message now: %(sentence)s %(again)s",
                 sentence=str(result.sentence), again=_try_again(result.retry_after))
    return _("The provider refused the test message: %(sentence)s", sentence=str(result.sentence))


def _try_again(seconds: float | None) -> str:
    """When to try the test send again: the provider's wait (its Retry-After, else the channel's backoff)."""
    if not seconds or seconds < 1:
        return _("Try the test send again in a moment.")
    if seconds < 120:
        return _("Try the test send again in %(seconds)s s.", seconds=math.ceil(seconds))
    if seconds < 2 * 3600:
        return _("Try the test send again in %(minutes)s min.", minutes=math.ceil(seconds / 60))
    return _("Try the test send again in %(hours)s h.", hours=math.ceil(seconds / 3600))


def send_test(sender: Sender, template: Template, to: str, values: Mapping[str, str] | None = None,
              language: str | None = None, actor: Any = None) -> SendResult:
    """Send ``template`` from ``sender`` to the number ``to`` once and return the provider's answer.

    ``language`` is only checked against the template's (the template is one language already).
    ``TestSendError`` when the number is not one or a variable has neither a value nor an example.
    """
    errors, codes = FieldErrors(), []
    errors.field = "to"
    bot = bot_rendering.is_bot(sender.channel)
    phone = (to or "").strip()
    try:
        if not bot:  # a bot's address is the user or chat id it writes to, checked below
            phone = to_e164(phone, "RU")
    except InvalidNumberError:
        codes.append("invalid_phone")
        errors.append(_("“%(to)s” is not a phone number; write it with the country code, such as +7 903 123-45-67.",
                        to=to or ""))
        phone = ""
    errors.field = "language"
    if language and language != template.language:
        codes.append("wrong_language")
        errors.append(_("The template “%(name)s” is in %(language)s, not in %(asked)s.", name=template.name,
                        language=template.language, asked=language))
    errors.field = "values"
    given = {str(name): str(value) for name, value in (values or {}).items() if value not in (None, "")}
    unknown = [name for name in given if name not in rendering.variables(template)]
    if unknown:
        codes.append("unknown_variable")
        errors.append(_("The template has no variable %(names)s.",
                        names=", ".join(f"{{{{{name}}}}}" for name in unknown)))
    filled = rendering.preview_values(template, given)
    missing = [name for name in rendering.variables(template) if not filled.get(name)]
    if missing:
        codes.append("missing_variable")
        errors.append(_("Give a value for %(names)s (the template has no example for it).",
                        names=", ".join(f"{{{{{name}}}}}" for name in missing)))
    if errors:
        raise TestSendError(errors=errors, code=codes[0])
    key = f"test-{uuid.uuid4().hex}"
    if bot:
        message = bot_outbound_for(sender, template, phone, given, key)
    elif sms_rendering.is_sms_channel(sender.channel):
        message = Outbound(key=key, to=phone, text=sms_rendering.preview_for(template, given).text)
    else:
        message = outbound_for(template, phone, given, key)
    try:
        [result] = call_provider(senders.settings_for(sender), lambda channel: channel.send([message]))
    except ChannelError as error:
        # No answer in time: worded as the channel words its own timeout (the message may have gone, and been
        # accepted).
        result = SendResult(message.key, ResultKind.RETRY, code=error.code, sentence=sentence_for(sender.channel,
                            error.code), uncertain=True)
    audit.record("template.test_sent", actor=actor, target=template,
                 details={"name": template.name, "language": template.language, "version": template.version,
                          "sender": sender.name, "phone": phone, "outcome": result.kind.value,
                          "code": result.code or "", "key": message.key})
    return result
