"""The harness itself: a killed worker leaves nothing running, a restarted Redis is empty on the same socket,
a campaign of the harness launches through the real path, and the busiest second is counted right."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from extensions import db, redis_queues
from tests.processes import is_alive, wait_for
from tests.reliability.harness import (
    add_approved_template,
    add_contacts,
    add_sender,
    approved_campaign,
    busiest_second,
    midday_zone,
    row_counts,
    wait_until_launched,
)


def test_the_busiest_second_counts_any_window_of_one_second():
    assert busiest_second([]) == 0
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # [0.5, 1.5) holds 0.5, 0.99, 1.0
    assert busiest_second([0.0, 1.0, 2.0]) == 1  # half-open: a slot a whole second later is the next window
    assert busiest_second([5.0] * 4 + [0.0]) == 4


def test_the_midday_zone_is_inside_the_default_send_window():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    local = datetime.now(UTC).astimezone(ZoneInfo(midday_zone()))
    assert 10 <= local.hour <= 13


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.one_database
def test_a_launched_world_a_killed_worker_and_a_restarted_redis(app, people, workers, provider, redis_server):
    worker = workers.start()
    marketer, reviewer = people
    sender = add_sender(provider, rate=100)
    template = add_approved_template()
    phones = add_contacts(300)
    campaign = approved_campaign(marketer, reviewer, sender, template, rate=100)
    workers.ready()
    db.session.commit()
    wait_until_launched(campaign.id, workers)
    assert sum(row_counts(campaign.id).values()) == len(phones) == db.session.get(Campaign, campaign.id).recipients

    wait_for(lambda: len(worker.observe()) >= 2, "the worker's scheduler and cron process")
    killed = workers.kill(worker)
    assert len(killed) >= 3 and not any(is_alive(process) for process in killed)

    url = redis_server.url
    redis_queues.connection.set("marker", "1")
    redis_server.restart()
    assert redis_server.url == url
    assert redis_server.client().get("marker") is None
    wait_for(lambda: redis_queues.connection.ping(), "the app's connection to reach the new Redis")


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.one_database
def test_a_worker_outlives_a_redis_outage_during_a_job_and_runs_the_next_job(app, workers, redis_server):
    from tests.reliability.jobs import mark_twice
    from tests.test_worker import markers_in_database

    worker = workers.start()
    workers.ready()
    redis_queues.enqueue("default", mark_twice, "during", 1)
    wait_for(lambda: markers_in_database() == ["during-started"], "the job to start")
    redis_server.kill()  # down while the job runs; the job's database work goes on without it
    wait_for(lambda: markers_in_database() == ["during", "during-started"], "the job to end")
    wait_for(lambda: len(worker.observe()) <= 2, "the work horse to exit")  # the scheduler and cron stay
    redis_server.restart()
    redis_queues.enqueue("default", mark_twice, "after", 0)
    wait_for(lambda: "after" in markers_in_database() or worker.popen.poll() is not None,
             "the job after the outage, or the worker's end")
    assert worker.popen.poll() is None, workers.outputs()
