"""SMSC.ru's error codes and message statuses, and what each means: the one table the SMSC adapter decides with.

``send.php`` answers HTTP 200 whatever happened; with ``fmt=3`` a refusal is ``{"error": "<text>",
"error_code": N}`` with N from 1 to 9, stored as its digits. A delivery report (the status callback) that
says a message failed carries the message's status (3 expired, 20 undeliverable, 22 wrong number, 23
prohibited, 24 no funds, 25 unavailable number), stored as ``status_<N>``; the operator's reason (``err``)
goes to the log beside it. docs/channels-sms.md lists every row; a test keeps the two in step.

The transport's codes are every channel's (:mod:`channels.decisions`), worded here for SMSC: ``timeout`` and
``disconnected`` (the request may have reached SMSC: a message may have been sent), ``connection`` (it
never left), ``http_<status>`` (an answer without SMSC's JSON), ``malformed_response`` (an answer without
a message id), ``payload`` (the message cannot be put in an SMS: no text, or too long) and ``address``
(the address is not a phone number).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from channels.base import FailureMeaning, MessageKind, ResultKind, RetryScope
from channels.decisions import DEFAULT_BACKOFF, Decision, Wording
from channels.sentences import unknown_code

# SMSC blocks an IP for a while after frequent errors, and refuses a login's fifteenth concurrent request or an
# identical request within a minute (code 9): waits long enough for either to pass.
BLOCKED_BACKOFF = 60.0
BUSY_BACKOFF = 10.0


@dataclass(frozen=True)
class Rule:
    """One row of the table: SMSC's code, what it means and its sentence."""

    code: str
    kind: ResultKind
    sentence: Any
    scope: RetryScope = RetryScope.MESSAGE
    meaning: FailureMeaning | None = None
    backoff: float = DEFAULT_BACKOFF


_BAD_LOGIN = _l("SMSC refused the sender's login or password (or this server's IP address is not allowed for the "
                "account). Save the account's current password on the sender's page.")
_NO_FUNDS = _l("The SMSC account has run out of money. Top up its balance, then resume.")
_UNREACHABLE = _l("The phone cannot be reached by SMS: it is switched off or out of coverage, absent from the "
                  "operator's network, or not a mobile number.")

RULES: tuple[Rule, ...] = (
    # send.php's error codes.
    Rule("1", ResultKind.FAILED, _l("SMSC refused the request's parameters as invalid."),
         meaning=FailureMeaning.MESSAGE),
    Rule("2", ResultKind.FAILED, _BAD_LOGIN, meaning=FailureMeaning.SENDER),
    Rule("3", ResultKind.FAILED, _NO_FUNDS, meaning=FailureMeaning.SENDER),
    Rule("4", ResultKind.RETRY, _l("SMSC blocked this server's IP address for a while after frequent errors in its "
                                   "requests."), scope=RetryScope.SENDER, backoff=BLOCKED_BACKOFF),
    Rule("5", ResultKind.FAILED, _l("SMSC refused the message's date format."), meaning=FailureMeaning.MESSAGE),
    Rule("6", ResultKind.FAILED, _l("SMSC refused the message for its text or its sender name: the alpha name may "
                                    "not be registered for this operator, or the text breaks the gateway's rules. "
                                    "Check the sender name and the template."), meaning=FailureMeaning.TEMPLATE),
    Rule("7", ResultKind.FAILED, _l("SMSC refused the phone number's format."),
         meaning=FailureMeaning.INVALID_RECIPIENT),
    Rule("8", ResultKind.FAILED, _UNREACHABLE, meaning=FailureMeaning.UNREACHABLE),
    Rule("9", ResultKind.RETRY, _l("SMSC refused the request as one too many: too many at once from this account, "
                                   "or the same request again within a minute."), scope=RetryScope.SENDER,
         backoff=BUSY_BACKOFF),
    # Failed statuses of a delivery report.
    Rule("status_3", ResultKind.FAILED, _l("The message expired: the phone stayed switched off or out of coverage "
                                           "for as long as the operator kept trying."),
         meaning=FailureMeaning.UNREACHABLE),
    Rule("status_20", ResultKind.FAILED, _UNREACHABLE, meaning=FailureMeaning.UNREACHABLE),
    Rule("status_22", ResultKind.FAILED, _l("The operator says the number is wrong: it does not exist."),
         meaning=FailureMeaning.INVALID_RECIPIENT),
    Rule("status_23", ResultKind.FAILED, _l("The operator refused the message (its spam filter, or a sender name not "
                                            "registered with it)."), meaning=FailureMeaning.MESSAGE),
    Rule("status_24", ResultKind.FAILED, _NO_FUNDS, meaning=FailureMeaning.SENDER),
    Rule("status_25", ResultKind.FAILED, _l("The number is unavailable: the operator does not deliver SMS to it."),
         meaning=FailureMeaning.UNREACHABLE),
)

BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}

TRANSPORT: dict[str, Any] = {
    "timeout": _l("SMSC did not answer in time; the message may or may not have been sent."),
    "disconnected": _l("The connection to SMSC broke during the request; the message may or may not have been "
                       "sent."),
    "connection": _l("SMSC could not be reached; the message was not sent."),
    "payload": _l("The message cannot be sent as an SMS (its text is missing or too long, or it is a provider "
                  "template); it was not sent."),
    "address": _l("The address is not a phone number; the message was not sent."),
    "malformed_response": _l("SMSC answered without a message id; the message may or may not have been sent."),
}
CALLS: dict[str, Any] = {
    "timeout": _l("SMSC did not answer in time."),
    "disconnected": _l("The connection to SMSC broke during the request."),
    "connection": _l("SMSC could not be reached."),
    "malformed_response": _l("SMSC's answer could not be read."),
}


def _http(status: int) -> Any:
    if status >= 500 or status == 429:
        return _l("SMSC answered with a server error (HTTP %(status)s).", status=status)
    return _l("SMSC refused the request (HTTP %(status)s).", status=status)


def decide(code: str | None, status: int = 200, retry_after: float | None = None) -> Decision:
    """The decision for a refusal: SMSC's ``code`` when the table has it; an answer without one by its HTTP
    ``status`` (5xx and 429 transient, anything else fails this message); a code the table lacks fails it."""
    rule = BY_CODE.get(code) if code else None
    if rule is not None:
        if rule.kind is ResultKind.RETRY:
            return Decision(rule.kind, rule.code, rule.sentence, scope=rule.scope,
                            retry_after=retry_after if retry_after is not None else rule.backoff)
        return Decision(rule.kind, rule.code, rule.sentence, meaning=rule.meaning)
    if code:
        return Decision(ResultKind.FAILED, code, unknown_code(code), meaning=FailureMeaning.MESSAGE)
    text = f"http_{status}"
    if status >= 500 or status == 429:
        return Decision(ResultKind.RETRY, text, _http(status),
                        scope=RetryScope.SENDER if status == 429 else RetryScope.MESSAGE,
                        retry_after=retry_after if retry_after is not None else DEFAULT_BACKOFF)
    return Decision(ResultKind.FAILED, text, _http(status), meaning=FailureMeaning.MESSAGE)


def decide_stored(code: str, kind: MessageKind = MessageKind.TEXT) -> Decision:
    """The decision for a stored code: a send's, a failed status's or the transport's."""
    if code == "payload":
        return payload()
    if code == "address":
        return address()
    if code in TRANSPORT:
        return transport(code)
    if code.startswith("http_") and code[5:].isdigit():
        return decide(None, int(code[5:]))
    return decide(code)


_WORDING = Wording(TRANSPORT, BY_CODE, _http, CALLS)
payload, address, transport = _WORDING.payload, _WORDING.address, _WORDING.transport
sentence, call_sentence = _WORDING.sentence, _WORDING.call_sentence
