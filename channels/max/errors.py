"""MAX's error codes and what each one means: the one table the MAX adapter decides with.

An error answer of the MAX Bot API is ``{"code": "<key>", "message": "<text>"}`` with an HTTP status
(401, 403, 404, 429, 5xx). The code is a dotted string (``chat.denied``, ``verify.token``): it is
what is stored, and :func:`sentence` words it again later. :func:`decide` looks the code up first;
a code the table does not know falls back on the HTTP status (401: the token; 5xx and 429:
transient; anything else fails this one message). docs/channels-max.md lists every row; a test
keeps the two in step.

The transport's own codes are every channel's (:mod:`channels.decisions`), worded here for MAX:
``timeout`` and ``disconnected`` (the request may have reached MAX: a message may have been
accepted), ``connection`` (it never left), ``http_<status>`` (an error answer without MAX's JSON),
``malformed_response`` (a 2xx without a message id), ``payload`` (the message cannot be put in MAX's
format) and ``address`` (the address is not a MAX user or chat id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from channels.base import FailureMeaning, MessageKind, ResultKind, RetryScope
from channels.decisions import DEFAULT_BACKOFF, Decision, Wording
from channels.sentences import unknown_code

# MAX counts requests per second and sends no Retry-After (maxapi's docs): a second is the window to wait out.
THROTTLE_BACKOFF = 1.0


@dataclass(frozen=True)
class Rule:
    """One row of the table: MAX's code, the HTTP status it comes with, what it means and its sentence."""

    code: str
    status: int  # the HTTP status MAX answers it with (for the docs; the code decides)
    kind: ResultKind
    sentence: Any
    scope: RetryScope = RetryScope.MESSAGE
    meaning: FailureMeaning | None = None
    backoff: float = DEFAULT_BACKOFF


_BAD_TOKEN = _l("MAX refused the bot's token: it is invalid or was revoked. Save the bot's current token on the "
                "sender's page.")

RULES: tuple[Rule, ...] = (
    Rule("verify.token", 401, ResultKind.FAILED, _BAD_TOKEN, meaning=FailureMeaning.SENDER),
    Rule("chat.denied", 403, ResultKind.FAILED, _l(
        "The person stopped or blocked the bot in MAX: the bot may not write to them until they start it again."),
        meaning=FailureMeaning.STOPPED),
    Rule("chat.not.found", 404, ResultKind.FAILED, _l(
        "MAX has no dialog with this address: the person never started the bot, or the user or chat id is wrong."),
        meaning=FailureMeaning.INVALID_RECIPIENT),
    Rule("too.many.requests", 429, ResultKind.RETRY, _l(
        "The bot reached MAX's speed limit (30 requests a second, 2 messages a second to one dialog)."),
        scope=RetryScope.SENDER, backoff=THROTTLE_BACKOFF),
    Rule("proto.payload", 400, ResultKind.FAILED, _l(
        "MAX refused the message as malformed: its text may be longer than 4,000 characters, or a button may be "
        "invalid."), meaning=FailureMeaning.MESSAGE),
    Rule("attachment.not.ready", 400, ResultKind.RETRY, _l(
        "MAX is still processing an attachment of the message."), backoff=DEFAULT_BACKOFF),
    Rule("internal.error", 500, ResultKind.RETRY, _l("MAX had an internal error.")),
    Rule("service.unavailable", 503, ResultKind.RETRY, _l("MAX's service is temporarily unavailable."),
         backoff=30.0),
)

BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}

# The transport's own codes (see the module's docstring), as a send meets them.
TRANSPORT: dict[str, Any] = {
    "timeout": _l("MAX did not answer in time; the message may or may not have been accepted."),
    "disconnected": _l("The connection to MAX broke during the request; the message may or may not have been "
                       "accepted."),
    "connection": _l("MAX could not be reached; the message was not sent."),
    "payload": _l("The message cannot be sent through MAX in this form (its text is missing or longer than 4,000 "
                  "characters, a button is invalid, or it is a provider template); it was not sent."),
    "address": _l("The address is not a MAX user or chat id; the message was not sent."),
    "malformed_response": _l("MAX answered without a message id; the message may or may not have been accepted."),
}
# The same codes met by a call other than a send (reading the bot, subscribing its webhook): no message.
CALLS: dict[str, Any] = {
    "timeout": _l("MAX did not answer in time."),
    "disconnected": _l("The connection to MAX broke during the request."),
    "connection": _l("MAX could not be reached."),
    "malformed_response": _l("MAX's answer could not be read."),
}
_HTTP_THROTTLED = _l("MAX asks to slow down (HTTP 429).")


def _http(status: int) -> Any:
    """The sentence for an error answer without MAX's JSON (or with a code the table lacks), by its status."""
    if status == 429:
        return _HTTP_THROTTLED
    if status == 401:
        return _BAD_TOKEN
    if status >= 500:
        return _l("MAX answered with a server error (HTTP %(status)s).", status=status)
    return _l("MAX refused the request (HTTP %(status)s).", status=status)


def decide(code: str | None, status: int, retry_after: float | None = None) -> Decision:
    """The decision for an error answer: MAX's ``code`` when the table has it, else the HTTP ``status``.

    ``retry_after`` is the answer's Retry-After (seconds), if any: it wins over the rule's backoff.
    """
    rule = BY_CODE.get(code) if code else None
    if rule is not None:
        if rule.kind is ResultKind.RETRY:
            wait = retry_after if retry_after is not None else rule.backoff
            return Decision(ResultKind.RETRY, rule.code, rule.sentence, scope=rule.scope, retry_after=wait)
        return Decision(ResultKind.FAILED, rule.code, rule.sentence, meaning=rule.meaning)
    text = code if code else f"http_{status}"
    sentence = unknown_code(code) if code and status not in (401, 429) and status < 500 else _http(status)
    if status >= 500:
        return Decision(ResultKind.RETRY, text, sentence, retry_after=retry_after or DEFAULT_BACKOFF)
    if status == 429:
        return Decision(ResultKind.RETRY, text, sentence, scope=RetryScope.SENDER,
                        retry_after=retry_after if retry_after is not None else THROTTLE_BACKOFF)
    if status == 401:  # whatever MAX calls it, a 401 is the token's
        return Decision(ResultKind.FAILED, text, sentence, meaning=FailureMeaning.SENDER)
    return Decision(ResultKind.FAILED, text, sentence, meaning=FailureMeaning.MESSAGE)


def decide_stored(code: str, kind: MessageKind = MessageKind.TEXT) -> Decision:
    """The decision for a stored code (MAX reports no failed statuses, so this only words stored codes again)."""
    if code in TRANSPORT and code not in ("payload", "address"):
        return transport(code)
    if code == "payload":
        return payload()
    if code == "address":
        return address()
    if code.startswith("http_") and code[5:].isdigit():
        return decide(None, int(code[5:]))
    rule = BY_CODE.get(code)
    if rule is not None:
        return decide(code, rule.status)
    return Decision(ResultKind.FAILED, code, unknown_code(code), meaning=FailureMeaning.MESSAGE)


_WORDING = Wording(TRANSPORT, BY_CODE, _http, CALLS)
payload, address, transport = _WORDING.payload, _WORDING.address, _WORDING.transport
sentence, call_sentence = _WORDING.sentence, _WORDING.call_sentence
