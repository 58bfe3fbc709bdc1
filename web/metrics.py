"""Prometheus metrics: request counts and latency, queue depths read at scrape time, and what ``/metrics`` shows.

Single-process (tests, ``flask run``): this app's registry and the process-wide one of ``campaigns.metrics``.
Multiprocess (``PROMETHEUS_MULTIPROC_DIR``, set by ``make run``): the sums over the folder's files, written by
every gunicorn worker, the webhook receiver and the RQ workers, plus the queue depths.
"""

from __future__ import annotations

import time

from flask import Flask, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from rq.registry import FailedJobRegistry

from campaigns import metrics as domain_metrics
from extensions import QUEUE_NAMES, redis_queues

EXTENSION_KEY = "vestnik.metrics"


class QueueCollector:
    """Reads each queue's waiting and failed job counts from Redis when Prometheus scrapes."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        waiting = GaugeMetricFamily("vestnik_queue_jobs_waiting", "Jobs waiting in each RQ queue.", labels=["queue"])
        failed = GaugeMetricFamily(
            "vestnik_queue_jobs_failed", "Jobs in each RQ queue's failed registry.", labels=["queue"]
        )
        with self.app.app_context():
            for name in QUEUE_NAMES:
                queue = redis_queues.queue(name)
                waiting.add_metric([name], queue.count)
                failed.add_metric([name], FailedJobRegistry(queue=queue).count)
        yield waiting
        yield failed


class Metrics:
    """One registry per app, so several apps in one process (tests) never clash."""

    def __init__(self, app: Flask):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vestnik_http_requests", "HTTP requests served.", ["method", "endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "vestnik_http_request_duration_seconds",
            "Time to answer HTTP requests.",
            ["endpoint"],
            registry=self.registry,
        )
        self.queues = QueueCollector(app)
        self.registry.register(self.queues)

    def exposition(self, multiprocess_dir: str | None) -> bytes:
        """The text ``/metrics`` answers."""
        if multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=multiprocess_dir)
            registry.register(self.queues)
            return generate_latest(registry)
        return generate_latest(self.registry) + generate_latest(REGISTRY)


def init_app(app: Flask) -> None:
    """Create the app's registry and time every request."""
    domain_metrics.configure()
    metrics = Metrics(app)
    app.extensions[EXTENSION_KEY] = metrics

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response):
        endpoint = request.endpoint or "unmatched"
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        if "request_started" in g:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - g.request_started)
        return response
