"""Meta's error codes and what each one means: the one table the adapter decides with.

Meta asks integrators to act on the error ``code`` (and ``details``), never on the HTTP status or the
title: throttling comes back as HTTP 400 as well as 429, and one status carries dozens of codes.
So :func:`decide` looks the code up here first; only a code missing from the table falls back on
the HTTP status (a 5xx or a 429 is transient, anything else fails this one message).

The same table words a stored code again later (:func:`sentence`; :func:`call_sentence` for a code
stored from a call other than a send), so a code recorded from a send or from a failed status webhook
is shown to a marketer in their language. A sentence says what happened and why, never what Vestnik
does next (the rule's decision is for campaigns to act on, and to word where it shows it). docs/channels.md lists
every row; a test keeps the two in step.

Besides Meta's numeric codes, the transport has codes of its own: ``timeout`` and ``disconnected``
(the request may have reached the provider: on a non-idempotent channel the message may have been
accepted), ``connection`` (it never left), ``http_<status>`` (an error answer that is not Meta's
JSON, e.g. a proxy's 502 page) and ``malformed_response`` (a 2xx without a message id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from channels.base import FailureMeaning, MessageKind, ResultKind, RetryScope
from channels.decisions import CALLS, DEFAULT_BACKOFF, TRANSPORT, Decision, http_sentence
from channels.sentences import unknown_code

# 131049: Meta asks not to retry the same marketing message to the person within 24 hours.
ECOSYSTEM_WAIT = 24 * 3600.0

# Marker for the codes whose meaning depends on what was sent: a bad parameter of a template is the
# template's (every message of the campaign would fail the same way: pause it); of free text, the message's.
BY_KIND = "by_kind"


@dataclass(frozen=True)
class Rule:
    """One row of the table: the codes it covers, Meta's title, what it means (the decision) and its sentence."""

    codes: tuple[int, ...]
    title: str  # Meta's title of the code, in English, for the docs and the logs
    kind: ResultKind
    sentence: Any  # a lazy sentence for a marketer: what happened and why (and what a person can do)
    scope: RetryScope = RetryScope.MESSAGE
    meaning: FailureMeaning | str | None = None  # FailureMeaning, or BY_KIND
    backoff: float = DEFAULT_BACKOFF  # retry without Retry-After: seconds to wait
    minimum: float = 0.0  # retry: never sooner than this, whatever Retry-After says

    @property
    def label(self) -> str:
        """The codes as the docs write them: ``131000``, or a range ``200–299``."""
        if len(self.codes) > 2 and self.codes == tuple(range(self.codes[0], self.codes[-1] + 1)):
            return f"{self.codes[0]}–{self.codes[-1]}"
        return ", ".join(str(code) for code in self.codes)


def _retry(codes: Iterable[int], title: str, sentence: Any, scope: RetryScope = RetryScope.MESSAGE,
           backoff: float = DEFAULT_BACKOFF, minimum: float = 0.0) -> Rule:
    return Rule(tuple(codes), title, ResultKind.RETRY, sentence, scope=scope, backoff=backoff, minimum=minimum)


def _fail(codes: Iterable[int], title: str, meaning: FailureMeaning | str, sentence: Any) -> Rule:
    return Rule(tuple(codes), title, ResultKind.FAILED, sentence, meaning=meaning)


# A sentence never says what Vestnik does next: that depends on where the code arrived (a campaign, a test
# send, a connection check), so campaigns words it from the decision.
_UNAVAILABLE = _l("The provider's service is temporarily unavailable.")
_NO_PERMISSION = _l(
    "The sender's access token lacks a permission it needs (whatsapp_business_messaging); save a token that "
    "has it on the sender's page."
)
_BAD_TOKEN = _l(
    "The provider refused the sender's access token: it is invalid, expired or revoked. Save a new token on "
    "the sender's page."
)

RULES: tuple[Rule, ...] = (
    # --- throttling: transient; the sender's own limits slow the whole sender down --------------------
    _retry([130429], "Rate limit hit", scope=RetryScope.SENDER, backoff=2.0, sentence=_l(
        "The number reached its sending speed limit at the provider.")),
    _retry([80007], "Rate limit issues", scope=RetryScope.SENDER, backoff=60.0, sentence=_l(
        "The business account reached the provider's rate limit.")),
    _retry([4], "API Too Many Calls", scope=RetryScope.SENDER, backoff=60.0, sentence=_l(
        "The app reached the provider's limit of API calls.")),
    _retry([131056], "(Business Account, Consumer Account) pair rate limit hit", backoff=6.0, sentence=_l(
        "Too many messages went to this person in a short time.")),
    _retry([131048], "Spam rate limit hit", scope=RetryScope.SENDER, backoff=3600.0, sentence=_l(
        "The provider limits this number because many of its recent messages were blocked or reported as spam. "
        "Check the campaign's content and audience.")),
    _retry([131049], "This message was not delivered to maintain healthy ecosystem engagement",
           scope=RetryScope.RECIPIENT, backoff=ECOSYSTEM_WAIT, minimum=ECOSYSTEM_WAIT, sentence=_l(
               "The provider held this marketing message back so that the person does not get too many; it asks "
               "to wait at least a day before sending them another.")),
    _retry([131057], "Account in maintenance mode", scope=RetryScope.SENDER, backoff=600.0, sentence=_l(
        "The number is in maintenance at the provider (for example, a throughput upgrade).")),
    # --- the provider's own trouble: transient --------------------------------------------------------
    _retry([131000], "Something went wrong", sentence=_l(
        "The provider had an internal error.")),
    _retry([1], "API Unknown", sentence=_l(
        "The provider could not process the request.")),
    _retry([2], "API Service", backoff=30.0, sentence=_UNAVAILABLE),
    _retry([131016], "Service unavailable", backoff=30.0, sentence=_UNAVAILABLE),
    _retry([133004], "Server temporarily unavailable", backoff=30.0, sentence=_UNAVAILABLE),
    # --- the recipient ----------------------------------------------------------------------------------
    _fail([131050], "Unable to deliver the message: user has stopped marketing messages", FailureMeaning.OPTED_OUT,
          _l("The person stopped marketing messages from this business on WhatsApp.")),
    _fail([131026], "Message undeliverable", FailureMeaning.NOT_ON_CHANNEL, _l(
        "The message cannot be delivered to this number: it may not use WhatsApp, may not have accepted "
        "WhatsApp's latest terms, or uses a version of the app that is too old.")),
    _fail([131021], "Recipient cannot be sender", FailureMeaning.INVALID_RECIPIENT, _l(
        "The recipient is the sender's own number.")),
    _fail([131030], "Recipient phone number not in allowed list", FailureMeaning.MESSAGE, _l(
        "The sender is a test number and this recipient is not on its list of allowed numbers; add the number "
        "in Meta's app settings or connect a production number.")),
    _fail([130472], "User's number is part of an experiment", FailureMeaning.MESSAGE, _l(
        "The provider did not deliver this marketing message because the person takes part in a Meta "
        "experiment.")),
    _fail([130497], "Business account is restricted from messaging users in this country", FailureMeaning.MESSAGE,
          _l("The business account may not send messages to people in this recipient's country.")),
    _fail([131047], "Re-engagement message", FailureMeaning.OUTSIDE_WINDOW, _l(
        "More than 24 hours have passed since the person last wrote, so only an approved template can be sent.")),
    # --- the message or the template ------------------------------------------------------------------
    _fail([100], "Invalid parameter", BY_KIND, _l(
        "The provider refused a value of the message as invalid; check the template's variables.")),
    _fail([131008], "Required parameter is missing", BY_KIND, _l(
        "A value the message needs is missing; check the template's variables.")),
    _fail([131009], "Parameter value is not valid", BY_KIND, _l(
        "A value of the message is not valid; check the template's variables and the recipient's number.")),
    _fail([131051], "Unsupported message type", FailureMeaning.MESSAGE, _l(
        "The provider does not support this type of message.")),
    _fail([132005], "Template hydrated text too long", FailureMeaning.MESSAGE, _l(
        "With its variables filled in, the message is longer than the provider allows.")),
    _fail([135000], "Generic user error", FailureMeaning.MESSAGE, _l(
        "The provider refused the message without giving a reason.")),
    _fail([132000], "Number of parameters does not match the expected number of params", FailureMeaning.TEMPLATE, _l(
        "The number of variables does not match the approved template; check the template's variables.")),
    _fail([132001], "Template does not exist", FailureMeaning.TEMPLATE, _l(
        "The provider has no approved template of this name in this language.")),
    _fail([132007], "Template Format Character Policy Violated", FailureMeaning.TEMPLATE, _l(
        "The template's content breaks the provider's formatting policy.")),
    _fail([132012], "Template Parameter Format Mismatch", FailureMeaning.TEMPLATE, _l(
        "The variables' values are not in the format the approved template expects.")),
    _fail([132015], "Template is Paused", FailureMeaning.TEMPLATE, _l(
        "The provider paused the template because people rated it poorly.")),
    _fail([132016], "Template is Disabled", FailureMeaning.TEMPLATE, _l(
        "The provider disabled the template after repeated quality problems; it can no longer be sent.")),
    # --- the sender: stop everything on it ------------------------------------------------------------
    _fail([190], "Access token has expired", FailureMeaning.SENDER, _BAD_TOKEN),
    _fail([0], "AuthException", FailureMeaning.SENDER, _BAD_TOKEN),
    _fail([3], "API Method", FailureMeaning.SENDER, _l(
        "The sender's app lacks the capability to use the WhatsApp API; fix the app's settings at Meta.")),
    _fail([10], "Permission Denied", FailureMeaning.SENDER, _NO_PERMISSION),
    _fail(range(200, 300), "API Permission", FailureMeaning.SENDER, _NO_PERMISSION),
    _fail([131005], "Access denied", FailureMeaning.SENDER, _NO_PERMISSION),
    _fail([131031], "Business Account locked", FailureMeaning.SENDER, _l(
        "The provider locked the business account (a policy violation, or the account could not be "
        "verified).")),
    _fail([368], "Temporarily blocked for policies violations", FailureMeaning.SENDER, _l(
        "The provider temporarily blocked the sender for violating its policies.")),
    _fail([131042], "Business eligibility payment issue", FailureMeaning.SENDER, _l(
        "The business account has a payment problem (no valid payment method, or its credit line is used "
        "up).")),
    _fail([131037], "WhatsApp provided number needs display name approval before message can be sent",
          FailureMeaning.SENDER, _l("The number's display name is not approved yet.")),
    _fail([131045], "Incorrect certificate", FailureMeaning.SENDER, _l(
        "The number's registration at the provider is incomplete.")),
    _fail([133010], "Phone number not registered", FailureMeaning.SENDER, _l(
        "The number is not registered on the WhatsApp Cloud API; register it, then check the connection.")),
    _fail([133006], "Phone number re-verification needed", FailureMeaning.SENDER, _l(
        "The number must be verified with Meta again before it can send.")),
)

BY_CODE: dict[int, Rule] = {code: rule for rule in RULES for code in rule.codes}

# The transport's own codes (TRANSPORT, CALLS) and an error answer without Meta's JSON (http_sentence) are worded
# as for every channel (channels.decisions).


def decide(code: int | None, status: int, retry_after: float | None = None,
           kind: MessageKind = MessageKind.TEMPLATE) -> Decision:
    """The decision for an error answer: Meta's ``code`` when the table has it, else the HTTP ``status``.

    ``retry_after`` is the provider's Retry-After (seconds) if it sent one: it wins over the default backoff,
    except that a rule's minimum (131049: 24 hours) still holds. ``kind`` decides the codes whose meaning
    depends on what was sent (a template's parameters, or free text's).
    """
    rule = BY_CODE.get(code) if code is not None else None
    if rule is not None:
        if rule.kind is ResultKind.RETRY:
            wait = max(retry_after if retry_after is not None else rule.backoff, rule.minimum)
            return Decision(ResultKind.RETRY, str(code), rule.sentence, scope=rule.scope, retry_after=wait)
        meaning = rule.meaning
        if meaning == BY_KIND:
            meaning = FailureMeaning.TEMPLATE if kind is MessageKind.TEMPLATE else FailureMeaning.MESSAGE
        return Decision(ResultKind.FAILED, str(code), rule.sentence, meaning=FailureMeaning(meaning))
    # A code Meta does not document for us (or no JSON at all): only here does the HTTP status decide.
    text, sentence = (str(code), unknown_code(code)) if code is not None else (f"http_{status}", http_sentence(status))
    wait = retry_after if retry_after is not None else DEFAULT_BACKOFF
    if status >= 500:
        return Decision(ResultKind.RETRY, text, sentence, retry_after=wait)
    if status == 429:
        return Decision(ResultKind.RETRY, text, sentence, scope=RetryScope.SENDER, retry_after=wait)
    return Decision(ResultKind.FAILED, text, sentence, meaning=FailureMeaning.MESSAGE)


def decide_stored(code: str, kind: MessageKind = MessageKind.TEMPLATE) -> Decision:
    """The decision for a code reported without an HTTP answer (a failed status webhook, a stored code).

    A numeric code is decided by the table; one the table does not know fails the message (Meta reports
    only permanent failures in statuses). The transport's own codes are retries.
    """
    if code in TRANSPORT and code != "payload":
        return transport(code)
    if code.lstrip("-").isdigit():
        return decide(int(code), 400, kind=kind)
    if code.startswith("http_") and code[5:].isdigit():
        return decide(None, int(code[5:]), kind=kind)
    return Decision(ResultKind.FAILED, code, unknown_code(code), meaning=FailureMeaning.MESSAGE)


def payload() -> Decision:
    """The decision for a message that cannot be put in the wire format at all (nothing was sent)."""
    return Decision(ResultKind.FAILED, "payload", TRANSPORT["payload"], meaning=FailureMeaning.MESSAGE)


def transport(code: str, retry_after: float = DEFAULT_BACKOFF) -> Decision:
    """The retry decision for a failure of the transport itself (``timeout``, ``connection``, …)."""
    return Decision(ResultKind.RETRY, code, TRANSPORT[code], retry_after=retry_after)


def sentence(code: str | None) -> Any:
    """The lazy sentence for a stored code (Meta's numeric code as text, or a transport code); None if unknown."""
    if not code:
        return None
    if code in TRANSPORT:
        return TRANSPORT[code]
    if code.startswith("http_") and code[5:].isdigit():
        return http_sentence(int(code[5:]))
    rule = BY_CODE.get(int(code)) if code.lstrip("-").isdigit() else None
    return rule.sentence if rule is not None else None


def call_sentence(code: str | None) -> Any:
    """The lazy sentence for a code stored from a call other than a send (a connection check), None if unknown:
    a transport failure there concerns no message."""
    return CALLS.get(code or "") or sentence(code)
