"""What relies on a segment's definition, asked of the packages that rely on it.

Audience sits left of campaigns and must not import it, yet an edit of a segment changes the
audience of every campaign that uses it, and so voids their reviews and approvals. Campaigns answers
through the two signals below (it connects its receivers in its ``init_app``, as the audit log does
for ``accounts.events``): one says what an edit of the definition would void, so the edit can be
confirmed before it is saved; the other tells it that the definition changed, inside the same
transaction, so it voids them with the edit or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blinker import Namespace

_signals = Namespace()

#: Sent with the segment; each receiver returns the ``SegmentUse``s that a change of its definition voids.
uses_asked = _signals.signal("segment-uses-asked")
#: Sent with the segment and ``actor`` once its new definition is flushed; receivers void what relied on the old one.
redefined = _signals.signal("segment-redefined")


@dataclass(frozen=True)
class SegmentUse:
    """Something whose review or approval a change of the segment's definition voids."""

    kind: str  # what it is, in a word: "campaign"
    id: int
    name: str
    status: str  # its status code
    status_label: str  # its status in the reader's language
    url: str = ""  # its page, when there is a request to build it for

    @property
    def key(self) -> str:
        """What a confirmation names: the thing and the status it was seen in."""
        return f"{self.kind}:{self.id}:{self.status}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "status": self.status, "key": self.key}


def uses_of(segment: Any) -> list[SegmentUse]:
    """Everything that a change of ``segment``'s definition would void, as its users report it."""
    return [use for _receiver, found in uses_asked.send(segment) for use in (found or ())]


def announce_redefined(segment: Any, actor: Any = None) -> None:
    """Tell the users of ``segment`` that its definition changed (in the caller's transaction)."""
    redefined.send(segment, actor=actor)
