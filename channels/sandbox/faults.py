"""Injected faults: which share of Graph API requests is throttled, fails or times out.

Each request draws one number from its sequence number and the seed; the configured shares are laid
end to end on [0, 1) (429, then 130429, then 500, then timeout), so a run with the same seed and the
same order of requests meets the same faults.
"""

from __future__ import annotations

from channels.sandbox import dice, errors
from channels.sandbox.errors import GraphError
from channels.sandbox.settings import Settings

TIMEOUT = "timeout"


def fault_for(settings: Settings, sequence: int) -> GraphError | str | None:
    """The fault of request number ``sequence``: an error to answer, ``TIMEOUT``, or None (no fault)."""
    faults = settings.faults
    if not any(faults.values()):
        return None
    draw = dice.chance(settings.seed, "fault", sequence)
    edge = faults["http_429"]
    if draw < edge:
        return errors.too_many_requests(settings.retry_after)
    edge += faults["code_130429"]
    if draw < edge:
        return errors.throughput(settings.retry_after)
    edge += faults["http_500"]
    if draw < edge:
        return errors.server_error()
    edge += faults["timeout"]
    if draw < edge:
        return TIMEOUT
    return None
