"""The answer every compliance rule gives: may this go out, and if not, why."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l


class Outcome(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"  # may go out, but a person should look at it
    DEFER = "defer"  # not now; ``details["until"]`` says when
    BLOCK = "block"


_SEVERITY = {Outcome.PASS: 0, Outcome.WARN: 1, Outcome.DEFER: 2, Outcome.BLOCK: 3}
OUTCOME_LABELS = {
    Outcome.PASS: _l("Pass"),
    Outcome.WARN: _l("Warning"),
    Outcome.DEFER: _l("Later"),
    Outcome.BLOCK: _l("Blocked"),
}


@dataclass(frozen=True)
class Verdict:
    """One rule's decision with a sentence for people and details for programs."""

    rule: str
    outcome: Outcome
    reason: str
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data."""
        return {"rule": self.rule, "outcome": self.outcome.value, "reason": str(self.reason), "details": self.details}


def worst(verdicts) -> Outcome:
    """The most severe outcome among ``verdicts`` (``pass`` when there are none)."""
    return max((verdict.outcome for verdict in verdicts), key=_SEVERITY.__getitem__, default=Outcome.PASS)
