"""One batch job's work: claim a range's due rows, then sub-chunk by sub-chunk re-check, pace, send and record."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import current_app


@dataclass
class BatchOutcome:
    """What one batch did: rows claimed, rows by what became of them, why it stopped early, if it did."""

    claimed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    stopped: str = ""
    completed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "counts": dict(self.counts), "stopped": self.stopped,
                "completed": self.completed}


def time_budget() -> float:
    """Seconds a batch keeps claiming and sending before it gives the rest back for the next job."""
    return 10.0 * current_app.config["DISPATCH_LEASE_SECONDS"]


def run_batch(campaign_id: int, first_id: int, last_id: int, job_id: str | None = None) -> BatchOutcome:
    """Send the due rows of the range (lands with the rest of the batch job)."""
    raise NotImplementedError("the batch job's body lands next")
