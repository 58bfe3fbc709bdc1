"""What Telegram's error answers mean: the one table the adapter decides with, and words stored codes with.

The Bot API answers an error as ``{"ok": false, "error_code": <HTTP status>, "description": "…",
"parameters"?: {"retry_after", "migrate_to_chat_id"}}``. The status alone says little (a 403 is a
blocked bot as well as a deleted account), so the description decides, by its well-known beginnings
("Forbidden: bot was blocked by the user", "Bad Request: chat not found", …); each maps to a code of
our own that is stored and worded again later (:func:`sentence`). A description the table does not
know falls back on the status: 403 closes the address, 401 and 404 are the bot's token, 429 waits for
``retry_after``, a 5xx is transient, any other 4xx fails this one message.

The transport's codes (``timeout``, ``disconnected``, ``connection``, ``malformed_response``) and
``http_<status>`` (an error answer that is not Telegram's JSON, e.g. a proxy's 502 page) are worded as
for every channel. Codes of refusals before any request: ``no_templates``, ``message_too_long``,
``button_data_too_long``, ``button_invalid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from channels.base import FailureMeaning, MessageKind, ResultKind, RetryScope
from channels.decisions import CALLS, DEFAULT_BACKOFF, TRANSPORT, Decision, http_sentence
from channels.sentences import unknown_code

__all__ = ["Decision", "call_sentence", "decide", "decide_stored", "refusal", "sentence", "transport"]

_RETRY_AFTER = re.compile(r"retry after (\d+)", re.I)


@dataclass(frozen=True)
class Rule:
    """One row: the HTTP status and the beginning of the description it matches (None: any), our code, the
    decision and its sentence."""

    status: int
    description: str | None
    code: str
    kind: ResultKind
    sentence: Any
    meaning: FailureMeaning | None = None
    scope: RetryScope = RetryScope.MESSAGE


def _fail(status: int, description: str | None, code: str, meaning: FailureMeaning, sentence: Any) -> Rule:
    return Rule(status, description, code, ResultKind.FAILED, sentence, meaning=meaning)


_STOPPED = FailureMeaning.STOPPED
_BLOCKED = _l("The person blocked the bot in Telegram: it cannot write to them until they start it again.")
_NO_CHAT = _l("Telegram knows no chat with this id for the bot.")
_BAD_TOKEN = _l("Telegram does not accept the bot's token: it is wrong or was revoked. Save the token from "
                "@BotFather on the sender's page.")
_THROTTLED = _l("Telegram asks the bot to slow down: too many messages a second, to everyone or to this chat.")
_TOO_LONG = _l("The message is longer than the 4,096 characters Telegram allows.")

RULES: tuple[Rule, ...] = (
    # --- the person or the chat: this address is closed -------------------------------------------------
    _fail(403, "Forbidden: bot was blocked by the user", "bot_blocked", _STOPPED, _BLOCKED),
    _fail(403, "Forbidden: user is deactivated", "user_deactivated", _STOPPED, _l(
        "The person's Telegram account was deleted or deactivated.")),
    _fail(403, "Forbidden: bot can't initiate conversation with a user", "cant_initiate", _STOPPED, _l(
        "The person has not started the bot in Telegram (or deleted the chat with it), so the bot may not write "
        "to them.")),
    _fail(403, "Forbidden: bot was kicked", "bot_kicked", _STOPPED, _l(
        "The bot was removed from this Telegram chat.")),
    _fail(403, "Forbidden: the group chat was deleted", "chat_deleted", _STOPPED, _l(
        "This Telegram chat was deleted.")),
    _fail(403, "Forbidden: bot is not a member", "not_member", _STOPPED, _l(
        "The bot is not a member of this Telegram chat.")),
    _fail(403, None, "forbidden", _STOPPED, _l(
        "Telegram does not let the bot write to this chat.")),
    _fail(400, "Bad Request: chat not found", "chat_not_found", FailureMeaning.INVALID_RECIPIENT, _NO_CHAT),
    _fail(400, "Bad Request: PEER_ID_INVALID", "peer_id_invalid", FailureMeaning.INVALID_RECIPIENT, _l(
        "The Telegram chat id is not valid.")),
    _fail(400, "Bad Request: group chat was upgraded to a supergroup", "chat_migrated",
          FailureMeaning.INVALID_RECIPIENT, _l(
              "The Telegram group became a supergroup with a new id: the old address no longer works.")),
    # --- the message --------------------------------------------------------------------------------------
    _fail(400, "Bad Request: message is too long", "message_too_long", FailureMeaning.MESSAGE, _TOO_LONG),
    _fail(400, "Bad Request: message text is empty", "text_empty", FailureMeaning.MESSAGE, _l(
        "The message has no text.")),
    _fail(400, "Bad Request: can't parse entities", "cant_parse_entities", FailureMeaning.MESSAGE, _l(
        "Telegram could not read the message's formatting (bold, italic, links).")),
    _fail(400, "Bad Request: BUTTON_DATA_INVALID", "button_data_invalid", FailureMeaning.MESSAGE, _l(
        "Telegram refused a button of the message: its reply value is empty or longer than 64 bytes.")),
    _fail(400, "Bad Request: BUTTON_URL_INVALID", "button_url_invalid", FailureMeaning.MESSAGE, _l(
        "Telegram refused a link button of the message: its address is not a valid URL.")),
    _fail(400, "Bad Request: bad webhook", "bad_webhook", FailureMeaning.SENDER, _l(
        "Telegram refused the webhook address: it must be a public HTTPS URL on port 443, 80, 88 or 8443.")),
    _fail(400, None, "bad_request", FailureMeaning.MESSAGE, _l(
        "Telegram refused the message as invalid.")),
    # --- the bot: stop everything on it -------------------------------------------------------------------
    _fail(401, None, "unauthorized", FailureMeaning.SENDER, _BAD_TOKEN),
    _fail(404, None, "not_found", FailureMeaning.SENDER, _l(
        "Telegram does not know the bot's address: the token is malformed or the API address is wrong.")),
    _fail(409, None, "conflict", FailureMeaning.SENDER, _l(
        "Telegram refused the call because another connection of the bot is receiving its updates.")),
    # --- slow down ----------------------------------------------------------------------------------------
    Rule(429, None, "too_many_requests", ResultKind.RETRY, _THROTTLED, scope=RetryScope.SENDER),
)

BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}

# Refusals before any request: the message cannot be put in Telegram's form (nothing was sent).
REFUSALS: dict[str, Any] = {
    "no_templates": _l("Telegram has no provider templates: the message must be rendered to text and buttons "
                       "first."),
    "message_too_long": _TOO_LONG,
    "button_data_too_long": _l("A button's reply value is longer than the 64 bytes Telegram allows; shorten it."),
    "button_invalid": _l("A button of the message has neither a reply value nor a link."),
}


def retry_after_of(document: Any) -> float | None:
    """``parameters.retry_after`` of an error answer (else the "retry after N" of its description), in seconds."""
    if not isinstance(document, dict):
        return None
    parameters = document.get("parameters")
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    found = _RETRY_AFTER.search(str(document.get("description") or ""))
    return float(found.group(1)) if found else None


def description_of(document: Any) -> str:
    return str(document.get("description") or "") if isinstance(document, dict) else ""


def _rule(status: int, description: str) -> Rule | None:
    lowered = description.lower()
    for rule in RULES:
        if rule.status == status and (rule.description is None or lowered.startswith(rule.description.lower())):
            return rule
    return None


def _decision(rule: Rule, retry_after: float | None = None) -> Decision:
    if rule.kind is ResultKind.RETRY:
        wait = retry_after if retry_after is not None else DEFAULT_BACKOFF
        return Decision(ResultKind.RETRY, rule.code, rule.sentence, scope=rule.scope, retry_after=wait)
    return Decision(ResultKind.FAILED, rule.code, rule.sentence, meaning=rule.meaning)


def decide(status: int, document: Any) -> Decision:
    """The decision for an error answer: Telegram's ``error_code`` and ``description`` when the body is
    Telegram's JSON, else the HTTP ``status`` alone (``http_<status>``)."""
    telegram = isinstance(document, dict) and document.get("ok") is False
    code = document.get("error_code") if telegram else None
    if isinstance(code, int) and not isinstance(code, bool):
        status = code
    rule = _rule(status, description_of(document)) if telegram else None
    if rule is not None:
        return _decision(rule, retry_after_of(document))
    wait = retry_after_of(document) if telegram else None
    wait = wait if wait is not None else DEFAULT_BACKOFF
    if status >= 500:
        return Decision(ResultKind.RETRY, f"http_{status}", http_sentence(status), retry_after=wait)
    if status == 429:
        return Decision(ResultKind.RETRY, f"http_{status}", http_sentence(status), scope=RetryScope.SENDER,
                        retry_after=wait)
    return Decision(ResultKind.FAILED, f"http_{status}", http_sentence(status), meaning=FailureMeaning.MESSAGE)


def refusal(code: str) -> Decision:
    """The decision for a message refused before any request (a code of ``REFUSALS``, or of the table for what
    Telegram would have refused the same way): it failed, nothing was sent."""
    wording = REFUSALS.get(code) or BY_CODE[code].sentence
    return Decision(ResultKind.FAILED, code, wording, meaning=FailureMeaning.MESSAGE)


def transport(code: str) -> Decision:
    """The retry decision for a failure of the transport itself (``timeout``, ``connection``, …)."""
    return Decision(ResultKind.RETRY, code, TRANSPORT[code], retry_after=DEFAULT_BACKOFF)


def decide_stored(code: str, kind: MessageKind = MessageKind.TEXT) -> Decision:
    """The decision for a stored code (Telegram reports no failures after a send; this rewords a send's)."""
    if code in TRANSPORT and code != "payload":
        return transport(code)
    if code in BY_CODE:
        return _decision(BY_CODE[code])
    if code in REFUSALS:
        return refusal(code)
    if code.startswith("http_") and code[5:].isdigit():
        return decide(int(code[5:]), None)
    return Decision(ResultKind.FAILED, code, unknown_code(code), meaning=FailureMeaning.MESSAGE)


def sentence(code: str | None) -> Any:
    """The lazy sentence for a code stored from a send on Telegram; None if the table does not know it."""
    if not code:
        return None
    if code in BY_CODE:
        return BY_CODE[code].sentence
    if code in REFUSALS:
        return REFUSALS[code]
    if code in TRANSPORT:
        return TRANSPORT[code]
    if code.startswith("http_") and code[5:].isdigit():
        return http_sentence(int(code[5:]))
    return None


def call_sentence(code: str | None) -> Any:
    """The lazy sentence for a code stored from a call other than a send: a transport failure there concerns
    no message."""
    return CALLS.get(code or "") or sentence(code)
