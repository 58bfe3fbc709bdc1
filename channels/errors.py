"""The marketer's sentence for an error code stored from any channel.

A send result or a failed status carries the provider's code; campaigns store the code, not the
sentence, and word it again when a page shows it (in the reader's language). Each channel's own
code table is the source; a code no table knows gets a generic sentence that names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.sentences import unknown_code
from channels.whatsapp_cloud import errors as whatsapp_errors

# Channel name → its table's lookup (the sandbox speaks the Cloud API's codes).
_TABLES: dict[str, Callable[[str | None], Any]] = {
    "whatsapp_cloud": whatsapp_errors.sentence,
    "sandbox": whatsapp_errors.sentence,
}


def sentence_for(channel: str, code: str | None) -> Any:
    """The lazy sentence for ``code`` as stored from ``channel``; a generic one for a code no table knows."""
    table = _TABLES.get(channel)
    found = table(code) if table is not None and code else None
    if found is not None:
        return found
    return unknown_code(code)
