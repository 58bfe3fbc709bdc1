"""What every channel decides an error with: the :class:`Decision` shape, the default wait, and the
transport's own codes worded for a provider in general.

Each channel's ``errors`` module keeps its own code table and decides with it; what is the same for
all of them lives here, so that no channel imports another. ``TRANSPORT`` words the transport's codes
as a send meets them (``timeout`` and ``disconnected``: the request may have reached the provider;
``connection``: it never left; ``malformed_response``: a 2xx without a message id; ``payload``: the
message cannot be put in the wire format), ``CALLS`` as a call other than a send meets them (no
message concerned), and :func:`http_sentence` an error answer that is not the provider's JSON. A
channel that names itself in these sentences (MAX) has its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from channels.base import FailureMeaning, ResultKind, RetryScope, SendResult

# Without a Retry-After header, how long a transient failure waits by default (seconds).
DEFAULT_BACKOFF = 5.0
# Transport codes after which the provider may have accepted the send although no id came back (the request left).
MAY_HAVE_GONE = frozenset({"timeout", "disconnected", "malformed_response"})

TRANSPORT: dict[str, Any] = {
    "timeout": _l("The provider did not answer in time; the message may or may not have been accepted."),
    "disconnected": _l("The connection to the provider broke during the request; the message may or may not "
                       "have been accepted."),
    "connection": _l("The provider could not be reached; the message was not sent."),
    "payload": _l("The message cannot be sent in this form (for example, its text is too long); it was not sent."),
    "malformed_response": _l("The provider answered without a message id; the message may or may not have been "
                             "accepted."),
}
CALLS: dict[str, Any] = {
    "timeout": _l("The provider did not answer in time."),
    "disconnected": _l("The connection to the provider broke during the request."),
    "connection": _l("The provider could not be reached."),
    "malformed_response": _l("The provider's answer could not be read."),
}
_HTTP_THROTTLED = _l("The provider asks to slow down (HTTP 429).")


def http_sentence(status: int) -> Any:
    """The sentence for an error answer that is not the provider's JSON (a proxy's page), by its HTTP status."""
    if status == 429:
        return _HTTP_THROTTLED
    if status >= 500:
        return _l("The provider answered with a server error (HTTP %(status)s).", status=status)
    return _l("The provider refused the request (HTTP %(status)s).", status=status)


@dataclass(frozen=True)
class Decision:
    """What to do about one error answer: the fields of a retry or failed :class:`SendResult`."""

    kind: ResultKind
    code: str
    sentence: Any
    scope: RetryScope = RetryScope.MESSAGE
    meaning: FailureMeaning | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind is ResultKind.RETRY

    @property
    def may_have_gone(self) -> bool:
        """A retry after which the provider may have accepted the message all the same (:data:`MAY_HAVE_GONE`)."""
        return self.kind is ResultKind.RETRY and self.code in MAY_HAVE_GONE

    def result(self, key: str, detail: str = "", uncertain: bool = False) -> SendResult:
        """The retry or failed :class:`SendResult` of the message ``key``, with the provider's words ``detail``."""
        return SendResult(key, self.kind, code=self.code, sentence=self.sentence, retry_after=self.retry_after,
                          scope=self.scope, meaning=self.meaning, uncertain=uncertain, detail=detail)


@dataclass(frozen=True)
class Wording:
    """A channel's own words for what no provider code says, and its sentences by stored code: its transport
    table (``payload``, ``address`` and the transport's codes, naming the provider), its code table (code → rule
    with a ``sentence``), its wording of a bare HTTP error, and its transport table for calls other than a send."""

    transport_sentences: Mapping[str, Any]
    rules: Mapping[str, Any]
    http: Callable[[int], Any]
    calls: Mapping[str, Any]

    def payload(self) -> Decision:
        """The decision for a message that cannot be put in the channel's format at all (nothing was sent)."""
        return Decision(ResultKind.FAILED, "payload", self.transport_sentences["payload"],
                        meaning=FailureMeaning.MESSAGE)

    def address(self) -> Decision:
        """The decision for an address the channel cannot write to (nothing was sent)."""
        return Decision(ResultKind.FAILED, "address", self.transport_sentences["address"],
                        meaning=FailureMeaning.INVALID_RECIPIENT)

    def transport(self, code: str, retry_after: float = DEFAULT_BACKOFF) -> Decision:
        """The retry decision for a failure of the transport itself (``timeout``, ``connection``, …)."""
        return Decision(ResultKind.RETRY, code, self.transport_sentences[code], retry_after=retry_after)

    def sentence(self, code: str | None) -> Any:
        """The lazy sentence for a stored code (the provider's, ``http_<status>``, or the transport's); None if
        unknown."""
        if not code:
            return None
        if code in self.transport_sentences:
            return self.transport_sentences[code]
        if code.startswith("http_") and code[5:].isdigit():
            return self.http(int(code[5:]))
        rule = self.rules.get(code)
        return rule.sentence if rule is not None else None

    def call_sentence(self, code: str | None) -> Any:
        """The lazy sentence for a code stored from a call other than a send (a connection check: a transport
        failure there concerns no message), None if unknown."""
        return self.calls.get(code or "") or self.sentence(code)
