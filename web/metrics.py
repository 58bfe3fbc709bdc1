"""Prometheus metrics: request counts and latency, plus queue depths read at scrape time."""

from __future__ import annotations

import time

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from rq.registry import FailedJobRegistry

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
        self.registry.register(QueueCollector(app))


def init_app(app: Flask) -> None:
    """Create the app's registry and time every request."""
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
