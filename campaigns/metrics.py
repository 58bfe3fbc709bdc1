"""Prometheus metrics of the domain: webhook intake and processing, and sending.

The metrics are process-wide, as Prometheus' client keeps them (its default registry): the web app's
``/metrics`` shows them beside its per-app HTTP metrics. In multiprocess mode — ``PROMETHEUS_MULTIPROC_DIR``
set in the environment before the process starts, as ``make run`` does (run.py) — every process writes its
values to files in that folder and ``/metrics`` sums the files of all of them: gunicorn's workers, the
webhook receiver, the RQ workers and the work horses they fork per job.

A work horse would write files of its own pid, a few per job, and the folder would grow by thousands a day:
``use_process_identity`` gives every horse of one RQ worker that worker's name instead (its horses run one
at a time, so they never write one file at once), and the worker's files keep the sums of all its jobs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client import multiprocess as multiprocess_files

# Acknowledgements are milliseconds; a send to a provider is ~100 ms; a body is applied within seconds.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
# Why a callback was refused, by the status the intake answered.
REFUSAL_REASONS = {400: "malformed", 403: "signature", 404: "unknown_sender", 413: "too_large",
                   503: "unavailable"}

WEBHOOK_REQUESTS = Counter("vestnik_webhook_requests", "Webhook callbacks answered, by edge and outcome "
                           "(stored: acknowledged after the commit; refused: see vestnik_webhook_rejections).",
                           ["edge", "outcome"])
WEBHOOK_EVENTS_RECEIVED = Counter("vestnik_webhook_events_received", "Events in acknowledged callbacks, by kind.",
                                  ["kind"])
WEBHOOK_REJECTIONS = Counter("vestnik_webhook_rejections", "Webhook callbacks refused, by edge and reason.",
                             ["edge", "reason"])
WEBHOOK_ACK_SECONDS = Histogram("vestnik_webhook_ack_seconds", "From a callback's first byte to its answer "
                                "(a stored one: after its commit).", ["edge"], buckets=ACK_BUCKETS)
WEBHOOK_BODIES_STORED = Counter("vestnik_webhook_bodies_stored", "Acknowledged bodies by what storing them did "
                                "(new: a row inserted; duplicate: that body was stored before).", ["result"])
WEBHOOK_EVENTS_APPLIED = Counter("vestnik_webhook_events_applied", "Events applied by the workers, by kind.",
                                 ["kind"])
# Every metric has labels: an unlabelled one would make its value at import, before ``configure``.
WEBHOOK_PROCESSING_LAG = Histogram("vestnik_webhook_processing_lag_seconds", "From a body's arrival to the commit "
                                   "that applied it, by the provider family that posted it.", ["channel"],
                                   buckets=LAG_BUCKETS)

MESSAGES_SENT = Counter("vestnik_messages_sent", "Messages the provider accepted, by channel.", ["channel"])
MESSAGES_FAILED = Counter("vestnik_messages_failed", "Messages failed for good at sending, by channel.",
                          ["channel"])
MESSAGES_RETRIED = Counter("vestnik_messages_retried", "Sends put back for a retry after a transient error, by "
                           "channel.", ["channel"])
SEND_SECONDS = Histogram("vestnik_send_seconds", "One send request to the provider, from leaving to its answer.",
                         ["channel"], buckets=SEND_BUCKETS)
SENDS_IN_FLIGHT = Gauge("vestnik_sends_in_flight", "Send requests waiting for the provider's answer.", ["channel"],
                        multiprocess_mode="livesum")

_identity: dict[str, Any] = {"name": None, "configured": False}


def _process_identifier() -> str | int:
    return _identity["name"] or os.getpid()


def multiprocess() -> bool:
    """Whether this process writes its metrics to the multiprocess folder (``PROMETHEUS_MULTIPROC_DIR`` was set
    when Prometheus' client was imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def configure() -> None:
    """In multiprocess mode, name this process's files by its identity (``use_process_identity``, else its pid)
    instead of always its pid. Once per process, before anything counts (``create_app`` calls it): the metrics
    above create their values lazily, at their first labels."""
    if multiprocess() and not _identity["configured"]:
        values.ValueClass = values.MultiProcessValue(_process_identifier)
        _identity["configured"] = True


def use_process_identity(name: str) -> None:
    """Write this process's metrics under ``name`` instead of its pid (multiprocess mode; a no-op otherwise).

    For a process that succeeds another of the same name, never beside it: an RQ work horse, named after its
    worker. The live gauges its predecessor left (a horse killed mid-job) are dropped first; counters and
    histograms go on from the predecessor's sums.
    """
    if multiprocess():
        multiprocess_files.mark_process_dead(name)
    _identity["name"] = name


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def event_kind(event: object) -> str:
    """The label of an event of ``channels.base``: its class in snake case (status_event, inbound_message, …)."""
    return _snake(type(event).__name__)


# --- webhook intake -------------------------------------------------------------------------------------

def _count_kinds(metric: Counter, events: Iterable[object]) -> None:
    """Add ``events`` to ``metric`` by kind: one increment per kind, not per event."""
    kinds: dict[str, int] = {}
    for event in events:
        kind = event_kind(event)
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in kinds.items():
        metric.labels(kind).inc(count)


def webhook_acknowledged(events: Iterable[object], edge: str, seconds: float) -> None:
    """A callback stored and answered 200 by ``edge`` after ``seconds``; ``events`` what its body held."""
    WEBHOOK_REQUESTS.labels(edge, "stored").inc()
    WEBHOOK_ACK_SECONDS.labels(edge).observe(seconds)
    _count_kinds(WEBHOOK_EVENTS_RECEIVED, events)


def webhook_refused(status: int, edge: str, seconds: float) -> None:
    """A callback ``edge`` refused with ``status`` after ``seconds``."""
    WEBHOOK_REQUESTS.labels(edge, "refused").inc()
    WEBHOOK_REJECTIONS.labels(edge, REFUSAL_REASONS.get(status, str(status))).inc()
    WEBHOOK_ACK_SECONDS.labels(edge).observe(seconds)


def webhook_stored(bodies: int, new: int) -> None:
    """One commit of ``bodies`` acknowledged bodies, ``new`` of them not stored before."""
    if new:
        WEBHOOK_BODIES_STORED.labels("new").inc(new)
    if bodies > new:
        WEBHOOK_BODIES_STORED.labels("duplicate").inc(bodies - new)


def webhook_applied(channel: str, events: Iterable[object], lags: Iterable[float]) -> None:
    """One processed batch of ``channel``'s bodies: the events applied, and each body's seconds from arrival to
    this commit."""
    _count_kinds(WEBHOOK_EVENTS_APPLIED, events)
    for lag in lags:
        WEBHOOK_PROCESSING_LAG.labels(channel).observe(max(lag, 0.0))


# --- sending ---------------------------------------------------------------------------------------------

def sends_started(channel: str, count: int = 1) -> None:
    SENDS_IN_FLIGHT.labels(channel).inc(count)


def send_answered(channel: str, seconds: float) -> None:
    """One send request answered (or given up on) after ``seconds``."""
    SENDS_IN_FLIGHT.labels(channel).dec()
    SEND_SECONDS.labels(channel).observe(seconds)


def sends_recorded(channel: str, *, sent: int = 0, failed: int = 0, retried: int = 0) -> None:
    """The outcomes of a chunk of sends as written to the rows."""
    if sent:
        MESSAGES_SENT.labels(channel).inc(sent)
    if failed:
        MESSAGES_FAILED.labels(channel).inc(failed)
    if retried:
        MESSAGES_RETRIED.labels(channel).inc(retried)
