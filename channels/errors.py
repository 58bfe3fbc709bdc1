"""What an error code stored from any channel means: the marketer's sentence, and the decision.

A send result or a failed status carries the provider's code; campaigns store the code, not the
sentence, and word it again when a page shows it (in the reader's language). Each channel's own
code table is the source; a code no table knows gets a generic sentence that names it.
A failed status webhook carries only the code (WhatsApp reports 131049, 131050 and 131026 mostly
that way): :func:`decision_for` tells what it means, as a send result would have.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from channels.base import MessageKind
from channels.decisions import Decision
from channels.max import errors as max_errors
from channels.sentences import unknown_code
from channels.sms.smsc import errors as smsc_errors
from channels.telegram import errors as telegram_errors
from channels.whatsapp_cloud import errors as whatsapp_errors

__all__ = ["Decision", "call_sentence_for", "decision_for", "sentence_for"]

# Channel name → its code table (the sandbox speaks the Cloud API's codes; a MAX or Telegram sender on the sandbox,
# its own channel's).
_TABLES: dict[str, ModuleType] = {"whatsapp_cloud": whatsapp_errors, "sandbox": whatsapp_errors, "max": max_errors,
                                  "telegram": telegram_errors, "smsc": smsc_errors}


def sentence_for(channel: str, code: str | None) -> Any:
    """The lazy sentence for ``code`` as stored from a send on ``channel``; a generic one for a code no table
    knows. It says what happened and why, never what Vestnik does next."""
    table = _TABLES.get(channel)
    return _worded(table.sentence if table is not None else None, code)


def call_sentence_for(channel: str, code: str | None) -> Any:
    """The lazy sentence for ``code`` as stored from a call other than a send on ``channel`` (a connection
    check): a timeout there concerns no message."""
    table = _TABLES.get(channel)
    return _worded(table.call_sentence if table is not None else None, code)


def _worded(lookup: Callable[[str], Any] | None, code: str | None) -> Any:
    found = lookup(code) if lookup is not None and code else None
    if found is not None:
        return found
    return unknown_code(code)


def decision_for(channel: str, code: str, kind: MessageKind = MessageKind.TEMPLATE) -> Decision | None:
    """What a code reported without an HTTP answer (a failed status) means: retry (who waits, how long) or
    failed (the meaning), with its sentence; None for a channel without a table."""
    table = _TABLES.get(channel)
    return table.decide_stored(code, kind) if table is not None else None
