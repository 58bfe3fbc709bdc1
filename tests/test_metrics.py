"""Prometheus metrics of the domain: what /metrics shows after real sends, in one process and summed over many."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.models import MessageStatus
from tests.conftest import build_app
from tests.processes import wait_for
from tests.test_dispatch import fast_sender, people, rows, sandbox_template, send_all, sending_campaign  # noqa: F401
from tests.test_worker import start_worker  # noqa: F401  (a fixture)


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample /metrics shows: (name, sorted labels) → value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_sends_count_by_channel_with_their_latency_and_nothing_left_in_flight(app, client, fast_sender):
    before = samples(client)
    template = sandbox_template(fast_sender)
    people(3)
    campaign = sending_campaign(fast_sender, template)
    send_all(campaign.id)
    assert [row.status for row in rows(campaign.id)] == [MessageStatus.SENT] * 3

    after = samples(client)
    for name in ("vestnik_messages_sent_total", "vestnik_send_seconds_count"):
        assert value(after, name, channel="sandbox") - value(before, name, channel="sandbox") == 3, name
    assert value(after, "vestnik_messages_failed_total", channel="sandbox") == value(
        before, "vestnik_messages_failed_total", channel="sandbox")
    assert value(after, "vestnik_sends_in_flight", channel="sandbox") == 0
    assert value(after, "vestnik_send_seconds_sum", channel="sandbox") > value(
        before, "vestnik_send_seconds_sum", channel="sandbox")


def test_a_workers_sends_are_summed_from_the_multiprocess_folder_one_set_of_files_per_worker(
        app, database_url, redis_url, fast_sender, start_worker, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    template = sandbox_template(fast_sender)
    people(4)
    campaign = sending_campaign(fast_sender, template)
    worker = start_worker(PROMETHEUS_MULTIPROC_DIR=str(folder))
    dispatch_jobs.enqueue_batches(campaign.id)
    wait_for(lambda: all(row.status is MessageStatus.SENT for row in rows(campaign.id)), "the worker to send all 4")

    scraper = build_app(database_url, redis_url, METRICS_MULTIPROC_DIR=str(folder)).test_client()
    found = wait_for(lambda: (lambda f: f if value(f, "vestnik_messages_sent_total", channel="sandbox") == 4
                              else None)(samples(scraper)), "the worker's counts in /metrics")
    assert value(found, "vestnik_send_seconds_count", channel="sandbox") == 4
    assert value(found, "vestnik_sends_in_flight", channel="sandbox") == 0
    assert 'vestnik_queue_jobs_waiting' in {name for name, _labels in found}
    # The job ran in a forked work horse; its files carry the worker's name, not the horse's pid.
    names = sorted(path.name for path in Path(folder).iterdir())
    assert names and all("_rq-" in name for name in names), names
    assert worker.popen.poll() is None
