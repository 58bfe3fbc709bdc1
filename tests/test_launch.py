"""Scheduling and launching: only an approved, unchanged campaign is scheduled, on RQ's scheduler
under one job id; cancel removes the job until launch; the launch is a compare-and-set, so racing
launchers and retried jobs materialise once; a real worker started after send_at still launches."""

from __future__ import annotations

import signal
import threading
import traceback
from datetime import datetime, timedelta

import pytest
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

from audience.models import Segment
from campaigns import jobs, launch
from campaigns.content import content_hash
from campaigns.dispatch.progress import progress
from campaigns.launch import LaunchError, cancel_launch, launch_job_id, schedule_launch
from campaigns.lifecycle import TransitionError
from campaigns.models import Campaign, CampaignStatus, Message, Template, TemplateStatus
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.processes import wait_for
from tests.records import audit_events
from tests.test_materialise import add_campaign, add_contact, add_template, suppress
from tests.test_worker import finished_cleanly, start_worker  # noqa: F401  (a fixture)


def scheduled_jobs() -> dict[str, datetime]:
    """The launch queue's scheduled jobs and the moment each is due."""
    registry = ScheduledJobRegistry(launch.LAUNCH_QUEUE, connection=redis_queues.connection)
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def fresh(campaign: Campaign) -> Campaign:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Campaign, campaign.id)


def message_count(campaign: Campaign) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign.id))


@pytest.fixture
def audience(app):
    contacts = [add_contact(name=f"Контакт {index}") for index in range(5)]
    suppress(contacts[0].phone)
    db.session.commit()
    return contacts


# --- scheduling --------------------------------------------------------------------------------------

def test_an_approved_campaign_is_scheduled_at_send_at_under_one_job_id(app, make_user):
    marketer = make_user("marketer")
    send_at = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    campaign = add_campaign(send_at=send_at)

    schedule_launch(campaign, marketer)
    assert campaign.status is CampaignStatus.SCHEDULED
    assert scheduled_jobs() == {}, "nothing may reach Redis before the commit"
    db.session.commit()

    assert scheduled_jobs() == {launch_job_id(campaign.id): send_at}
    job = Job.fetch(launch_job_id(campaign.id), connection=redis_queues.connection)
    assert job.func_name == "campaigns.jobs.launch_campaign" and job.args == (campaign.id,)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retry_intervals and job.retries_left == launch.LAUNCH_RETRIES
    [event] = audit_events("campaign.schedule")
    assert event.actor_id == marketer.id and event.details["send_at"] == send_at.isoformat()


def test_without_send_at_the_launch_is_due_now(app):
    campaign = add_campaign(send_at=None)
    before = utcnow().replace(microsecond=0)
    schedule_launch(campaign)
    db.session.commit()
    [(job_id, due)] = scheduled_jobs().items()
    assert job_id == launch_job_id(campaign.id)
    assert before <= due <= utcnow()


def test_a_rolled_back_schedule_enqueues_nothing(app):
    campaign = add_campaign()
    schedule_launch(campaign)
    db.session.rollback()
    assert fresh(campaign).status is CampaignStatus.APPROVED
    db.session.commit()  # a later commit of the same session must not enqueue the forgotten launch
    assert scheduled_jobs() == {}


@pytest.mark.parametrize(
    "status",
    [
        CampaignStatus.DRAFT,
        CampaignStatus.IN_REVIEW,
        CampaignStatus.REJECTED,
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
        CampaignStatus.CANCELLED,
    ],
)
def test_only_an_approved_campaign_can_be_scheduled(app, status):
    campaign = add_campaign(status=status)
    with pytest.raises(LaunchError, match="Only an approved campaign can be scheduled"):
        schedule_launch(campaign)
    assert fresh(campaign).status is status
    assert scheduled_jobs() == {}


@pytest.mark.parametrize("approved_hash", [None, "", "h0"])
def test_a_campaign_edited_after_its_approval_is_not_scheduled(app, approved_hash):
    campaign = add_campaign(approved_hash=approved_hash)
    with pytest.raises(LaunchError, match="changed after it was approved"):
        schedule_launch(campaign)
    assert fresh(campaign).status is CampaignStatus.APPROVED


def test_a_campaign_whose_template_is_not_approved_is_not_scheduled(app):
    campaign = add_campaign(template=add_template(status=TemplateStatus.PAUSED))
    with pytest.raises(LaunchError, match="template is not approved"):
        schedule_launch(campaign)


def test_a_campaign_with_a_variable_that_cannot_be_filled_is_not_scheduled(app):
    campaign = add_campaign(variables={"1": {"source": "field", "value": "password"}})
    with pytest.raises(LaunchError, match="contact field that does not exist"):
        schedule_launch(campaign)
    assert fresh(campaign).status is CampaignStatus.APPROVED


def test_scheduling_again_moves_the_pending_job_to_the_new_time(app):
    first_time = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    campaign = add_campaign(send_at=first_time)
    schedule_launch(campaign)
    db.session.commit()
    # An edit returns it to draft; it is reviewed again and scheduled for another time.
    campaign.status, campaign.send_at = CampaignStatus.APPROVED, first_time + timedelta(hours=5)
    campaign.approved_hash = content_hash(campaign)
    db.session.commit()
    schedule_launch(campaign)
    db.session.commit()
    assert scheduled_jobs() == {launch_job_id(campaign.id): first_time + timedelta(hours=5)}


def test_a_launch_job_that_redis_lost_is_restored(app):
    due = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    kept, lost = add_campaign(send_at=due), add_campaign(send_at=due)
    for campaign in (kept, lost):
        schedule_launch(campaign)
    db.session.commit()
    launch.remove_launch_job(lost.id)
    assert set(scheduled_jobs()) == {launch_job_id(kept.id)}

    assert jobs.restore_launches() == 2
    assert scheduled_jobs() == {launch_job_id(kept.id): due, launch_job_id(lost.id): due}


# --- cancelling -------------------------------------------------------------------------------------

def test_cancel_before_launch_removes_the_scheduled_job(app, audience, make_user):
    marketer = make_user("marketer")
    campaign = add_campaign(send_at=utcnow() + timedelta(hours=1))
    schedule_launch(campaign, marketer)
    db.session.commit()
    assert launch_job_id(campaign.id) in scheduled_jobs()

    cancel_launch(campaign, marketer, reason="wrong offer")
    db.session.commit()
    assert fresh(campaign).status is CampaignStatus.CANCELLED
    assert scheduled_jobs() == {}
    assert not Job.exists(launch_job_id(campaign.id), connection=redis_queues.connection)
    [event] = audit_events("campaign.cancel")
    assert event.details == {"from": "scheduled", "to": "cancelled", "reason": "wrong offer"}

    # A launch that fires anyway (an old job, another scheduler) finds it cancelled and does nothing.
    assert jobs.launch_campaign(campaign.id)["skipped"] == "not_scheduled"
    assert message_count(campaign) == 0


def test_cancel_after_launch_is_a_lifecycle_transition_only(app, audience):
    campaign = add_campaign()
    schedule_launch(campaign)
    db.session.commit()
    jobs.launch_campaign(campaign.id)
    campaign = fresh(campaign)

    cancel_launch(campaign, reason="stop")
    db.session.commit()
    assert fresh(campaign).status is CampaignStatus.CANCELLED
    assert message_count(campaign) == 4  # the rows stay; dispatch will not send a cancelled campaign's rows


def test_a_cancelled_campaign_cannot_be_cancelled_again(app):
    campaign = add_campaign(status=CampaignStatus.CANCELLED)
    with pytest.raises(TransitionError):
        cancel_launch(campaign)


# --- launching --------------------------------------------------------------------------------------

def test_the_launch_materialises_once_and_a_retried_job_does_nothing(app, audience, caplog):
    campaign = add_campaign()
    schedule_launch(campaign)
    db.session.commit()

    caplog.set_level("INFO", logger="campaigns.jobs")
    first = jobs.launch_campaign(campaign.id)
    assert db.session.get(Template, campaign.template_id).last_used_at is not None  # sorts the template list
    assert first == {
        "launched": True,
        "skipped": "",
        "status": "sending",
        "recipients": 4,
        "exclusions": {"invalid_number": 0, "blocked": 0, "opted_out": 1, "no_consent": 0, "frequency_cap": 0},
    }
    campaign = fresh(campaign)
    assert campaign.status is CampaignStatus.SENDING and campaign.recipients == 4
    assert campaign.exclusions["opted_out"] == 1
    assert campaign.launched_at is not None
    keys = set(db.session.scalars(select(Message.idempotency_key).where(Message.campaign_id == campaign.id)))

    again = jobs.launch_campaign(campaign.id)
    assert again["launched"] is False and again["skipped"] == "not_scheduled" and again["status"] == "sending"
    assert message_count(campaign) == 4
    assert set(db.session.scalars(select(Message.idempotency_key).where(Message.campaign_id == campaign.id))) == keys
    assert "event=campaign_launched" in caplog.text and "recipients=4" in caplog.text
    assert "event=campaign_launch_skipped" in caplog.text and "reason=not_scheduled status=sending" in caplog.text
    assert [event.details["to"] for event in audit_events("campaign.launch")] == ["sending"]


def test_a_crash_during_materialisation_leaves_it_scheduled_without_rows_and_the_retry_works(
    app, audience, monkeypatch
):
    campaign = add_campaign()
    schedule_launch(campaign)
    db.session.commit()
    real = launch.materialise

    def crash(*args, **kwargs):
        real(*args, **kwargs)  # the rows are written, then the worker dies before the commit
        raise RuntimeError("worker lost")

    monkeypatch.setattr(launch, "materialise", crash)
    with pytest.raises(RuntimeError):
        jobs.launch_campaign(campaign.id)
    assert fresh(campaign).status is CampaignStatus.SCHEDULED
    assert fresh(campaign).launched_at is None
    assert message_count(campaign) == 0

    monkeypatch.setattr(launch, "materialise", real)
    assert jobs.launch_campaign(campaign.id)["recipients"] == 4
    assert message_count(campaign) == 4


def test_a_campaign_whose_segment_was_edited_while_scheduled_fails_at_launch_with_the_reason(app, audience):
    campaign = add_campaign()
    schedule_launch(campaign)
    db.session.commit()
    # The segment belongs to the audience, which knows nothing of campaigns: the launch must notice.
    db.session.get(Segment, campaign.segment_id).definition = {"countries": ["RU", "KZ"]}
    db.session.commit()

    outcome = jobs.launch_campaign(campaign.id)
    assert outcome["skipped"] == "failed"
    assert fresh(campaign).status is CampaignStatus.FAILED
    assert message_count(campaign) == 0
    [event] = audit_events("campaign.fail")
    assert "changed after it was approved" in event.details["reason"]


def test_a_scheduled_campaign_with_a_broken_variable_fails_at_launch_instead_of_retrying(app, audience):
    campaign = add_campaign(status=CampaignStatus.SCHEDULED, variables={"1": {"source": "attribute", "value": ""}})
    assert jobs.launch_campaign(campaign.id)["skipped"] == "failed"
    assert fresh(campaign).status is CampaignStatus.FAILED
    [event] = audit_events("campaign.fail")
    assert "neither which contact field or attribute" in event.details["reason"]


def test_a_scheduled_campaign_whose_segment_no_longer_compiles_fails_at_launch(app, audience):
    campaign = add_campaign(status=CampaignStatus.SCHEDULED)
    segment = db.session.get(Segment, campaign.segment_id)
    segment.definition = {"countries": ["Атлантида"]}
    db.session.commit()
    assert jobs.launch_campaign(campaign.id)["skipped"] == "failed"
    assert fresh(campaign).status is CampaignStatus.FAILED
    assert message_count(campaign) == 0
    [event] = audit_events("campaign.fail")
    assert event.details["reason"]


def test_two_launchers_racing_materialise_once(app, audience, monkeypatch):
    """Two schedulers fire the same launch at the same moment, each in its own app context and
    database connection: both see "scheduled", both try the compare-and-set, one wins."""
    campaign = add_campaign()
    schedule_launch(campaign)
    db.session.commit()
    both_read = threading.Barrier(2, timeout=30)
    real_transition = launch.transition

    def transition_together(*args, **kwargs):
        both_read.wait()  # neither moves the campaign until both have read it as scheduled
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(launch, "transition", transition_together)
    campaign_id = campaign.id  # the threads must not touch this session's objects
    results, errors = [], []

    def launcher():
        try:
            with app.app_context():
                results.append(jobs.launch_campaign(campaign_id))
                db.session.remove()
        except BaseException:  # reported below, with the thread's traceback
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=launcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, "\n".join(errors)
    assert sorted(result["launched"] for result in results) == [False, True]
    loser = next(result for result in results if not result["launched"])
    assert loser["skipped"] == "lost_race" and loser["status"] == "sending"
    assert message_count(campaign) == 4
    assert fresh(campaign).recipients == 4
    assert len(audit_events("campaign.launch")) == 1


def test_a_lost_race_leaves_the_callers_own_work_and_its_after_commit_action_alone(app, audience):
    """A caller that schedules one campaign and then loses the launch race of another keeps both its
    schedule and the launch job that goes to Redis when it commits."""
    raced, mine = add_campaign(), add_campaign()
    schedule_launch(raced)
    db.session.commit()
    assert raced.status is CampaignStatus.SCHEDULED  # loaded as scheduled: what this launcher believes
    with db.engine.begin() as other_launcher:  # another worker wins in the meantime
        other_launcher.execute(update(Campaign).where(Campaign.id == raced.id).values(status=CampaignStatus.SENDING))

    schedule_launch(mine)  # the caller's own pending work, with its after-commit enqueue
    outcome = launch.launch(raced.id)
    db.session.commit()

    assert (outcome.launched, outcome.skipped, outcome.status) == (False, "lost_race", "sending")
    assert fresh(mine).status is CampaignStatus.SCHEDULED
    assert launch_job_id(mine.id) in scheduled_jobs()
    assert message_count(raced) == 0


def test_the_launch_shows_as_queued_rows_and_its_exclusions(app, audience):
    campaign = add_campaign()
    before = progress(campaign)
    assert before["launched_at"] is None and before["total"] == 0 and campaign.exclusions is None
    schedule_launch(campaign)
    db.session.commit()
    jobs.launch_campaign(campaign.id)

    state = progress(fresh(campaign))
    assert state["status"] == "sending"
    assert fresh(campaign).recipients == state["total"] == state["counts"]["queued"] == 4
    assert {key: count for key, count in state["counts"].items() if count} == {"queued": 4}
    assert fresh(campaign).exclusions["opted_out"] == 1 and sum(fresh(campaign).exclusions.values()) == 1
    assert state["launched_at"] == fresh(campaign).launched_at.isoformat()


# --- the real worker and RQ's scheduler ----------------------------------------------------------------

@pytest.mark.slow
def test_past_send_at_with_no_worker_running_it_launches_when_one_starts(app, audience, start_worker, sandbox_sender):
    # On the sandbox the launch's send batches drain at once, so the worker's drain at SIGTERM stays short.
    campaign = add_campaign(send_at=utcnow() + timedelta(seconds=1), sender=sandbox_sender)
    schedule_launch(campaign)
    db.session.commit()
    wait_for(lambda: utcnow() > campaign.send_at + timedelta(seconds=2), "send_at to pass with no worker", timeout=10)
    assert fresh(campaign).status is CampaignStatus.SCHEDULED
    assert launch_job_id(campaign.id) in scheduled_jobs()

    worker = start_worker()
    wait_for(
        lambda: fresh(campaign).status is CampaignStatus.SENDING, "the late worker's scheduler to launch the campaign"
    )
    job = Job.fetch(launch_job_id(campaign.id), connection=redis_queues.connection)
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, "the launch job to finish")
    worker.observe_children()
    worker.popen.send_signal(signal.SIGTERM)
    finished_cleanly(worker)

    assert message_count(campaign) == 4
    assert job.return_value(refresh=True)["recipients"] == 4
    assert f"event=campaign_launched campaign_id={campaign.id} recipients=4" in worker.output()
    assert f"job_id={launch_job_id(campaign.id)}" in worker.output()


@pytest.mark.slow
def test_two_workers_running_duplicate_launch_jobs_launch_once(app, audience, start_worker, sandbox_sender):
    """As when a scheduler picks a campaign up again (Chatwoot) or crons overlap (Mautic): two jobs
    for the same launch, under different ids, on two real workers at once. (The launch enqueues its send
    batches; with a sender on the sandbox they drain at once, so the burst workers can run out of work.)"""
    campaign = add_campaign(sender=sandbox_sender)
    db.session.commit()
    campaign.status = CampaignStatus.SCHEDULED
    db.session.commit()
    duplicates = [redis_queues.enqueue(launch.LAUNCH_QUEUE, jobs.launch_campaign, campaign.id, job_id=f"duplicate-{n}")
                  for n in range(2)]
    workers = [start_worker("--burst"), start_worker("--burst")]
    for worker in workers:
        finished_cleanly(worker)

    results = [job.return_value(refresh=True) for job in duplicates]
    assert sorted(result["launched"] for result in results) == [False, True], [w.output() for w in workers]
    assert message_count(campaign) == 4
    assert len(audit_events("campaign.launch")) == 1
