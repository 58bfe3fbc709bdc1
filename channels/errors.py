"""What an error code stored from any channel means: the marketer's sentence, and the decision.

A send result or a failed status carries the provider's code; campaigns store the code, not the
sentence, and word it again when a page shows it (in the reader's language). Each channel's own
code table is the source; a code no table knows gets a generic sentence that names it.
A failed status webhook carries only the code (WhatsApp reports 131049, 131050 and 131026 mostly
that way): :func:`decision_for` tells what it means, as a send result would have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.base import MessageKind
from channels.sentences import unknown_code
from channels.whatsapp_cloud import errors as whatsapp_errors

Decision = whatsapp_errors.Decision

# Channel name → its table's lookups (the sandbox speaks the Cloud API's codes).
_TABLES: dict[str, Callable[[str | None], Any]] = {
    "whatsapp_cloud": whatsapp_errors.sentence,
    "sandbox": whatsapp_errors.sentence,
}
# The same for a code stored from a call other than a send (a connection check): no message was involved.
_CALL_TABLES: dict[str, Callable[[str | None], Any]] = {
    "whatsapp_cloud": whatsapp_errors.call_sentence,
    "sandbox": whatsapp_errors.call_sentence,
}
_DECISIONS: dict[str, Callable[[str, MessageKind], Decision]] = {
    "whatsapp_cloud": whatsapp_errors.decide_stored,
    "sandbox": whatsapp_errors.decide_stored,
}


def sentence_for(channel: str, code: str | None) -> Any:
    """The lazy sentence for ``code`` as stored from a send on ``channel``; a generic one for a code no table
    knows. It says what happened and why, never what Vestnik does next."""
    return _looked_up(_TABLES, channel, code)


def call_sentence_for(channel: str, code: str | None) -> Any:
    """The lazy sentence for ``code`` as stored from a call other than a send on ``channel`` (a connection
    check): a timeout there concerns no message."""
    return _looked_up(_CALL_TABLES, channel, code)


def _looked_up(tables: dict[str, Callable[[str | None], Any]], channel: str, code: str | None) -> Any:
    table = tables.get(channel)
    found = table(code) if table is not None and code else None
    if found is not None:
        return found
    return unknown_code(code)


def decision_for(channel: str, code: str, kind: MessageKind = MessageKind.TEMPLATE) -> Decision | None:
    """What a code reported without an HTTP answer (a failed status) means: retry (who waits, how long) or
    failed (the meaning), with its sentence; None for a channel without a table."""
    decide = _DECISIONS.get(channel)
    return decide(code, kind) if decide is not None else None
