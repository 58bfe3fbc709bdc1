"""Dispatch, in process: ``send_batch`` called directly against the real sandbox and a real Redis, on SQLite
and PostgreSQL. Each test counts from the sandbox's ledger (what the provider accepted) and the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import select, update

from campaigns import launch
from campaigns.dispatch import claims, completion
from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.records import audit_events
from tests.test_materialise import add_campaign, add_contact


def rows(campaign_id: int) -> list[Message]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)))


def launched(contacts: int, **options) -> Campaign:
    """A campaign in ``sending`` with one queued row per contact (launched for real: materialised)."""
    for index in range(contacts):
        add_contact(name=f"Контакт {index}")
    campaign = add_campaign(status=CampaignStatus.SCHEDULED, **options)
    assert launch.launch(campaign.id).launched
    db.session.commit()
    return db.session.get(Campaign, campaign.id)


# --- claims -----------------------------------------------------------------------------------------

def test_a_claim_leases_due_rows_of_the_range_in_id_order_and_a_second_claim_gets_others(app):
    campaign = launched(6)
    ids = [row.id for row in rows(campaign.id)]
    now = utcnow()
    db.session.execute(update(Message).where(Message.id == ids[1]).values(not_before=now + timedelta(minutes=5)))
    db.session.execute(update(Message).where(Message.id == ids[2]).values(status=MessageStatus.SENT))
    db.session.commit()

    first = claims.claim(campaign.id, ids[0], ids[4], "a", 2, now, 60)
    db.session.commit()
    assert [row.id for row in first] == [ids[0], ids[3]]  # not the future one, not the sent one
    assert first[0].key and first[0].phone.startswith("+7") and first[0].attempts == 0
    second = claims.claim(campaign.id, ids[0], ids[4], "b", 10, now, 60)
    db.session.commit()
    assert [row.id for row in second] == [ids[4]]  # the range ends at ids[4]; a's rows are leased
    held = {row.id: (row.lease_owner, row.status) for row in rows(campaign.id)}
    assert held[ids[0]] == ("a", MessageStatus.QUEUED) and held[ids[4]] == ("b", MessageStatus.QUEUED)

    # An expired lease makes a row claimable again (its worker died before it went "sending").
    later = now + timedelta(seconds=61)
    third = claims.claim(campaign.id, ids[0], ids[5], "c", 10, later, 60)
    db.session.commit()
    assert [row.id for row in third] == [ids[0], ids[3], ids[4], ids[5]]


def test_renew_and_release_touch_only_the_owners_rows(app):
    campaign = launched(4)
    ids = [row.id for row in rows(campaign.id)]
    now = utcnow()
    claims.claim(campaign.id, ids[0], ids[1], "a", 10, now, 60)
    claims.claim(campaign.id, ids[2], ids[3], "b", 10, now, 60)
    db.session.commit()
    assert claims.renew("a", ids[0], ids[3], now + timedelta(seconds=30), 60) == 2
    later = now + timedelta(hours=1)
    assert claims.release("a", ids[0], ids[3], ids=[ids[0]], not_before=later) == 1
    assert claims.release("a", ids[0], ids[3]) == 1
    db.session.commit()
    by_id = {row.id: row for row in rows(campaign.id)}
    assert by_id[ids[0]].lease_owner is None and by_id[ids[0]].not_before == later
    assert by_id[ids[1]].lease_owner is None and by_id[ids[1]].not_before is None
    assert {by_id[ids[2]].lease_owner, by_id[ids[3]].lease_owner} == {"b"}


# --- jobs ---------------------------------------------------------------------------------------------

def test_enqueue_batches_makes_one_job_per_range_with_due_rows_and_never_doubles_one(app):
    app.config["DISPATCH_BATCH_SIZE"] = 3
    campaign = launched(7)
    ids = [row.id for row in rows(campaign.id)]
    # The rows of one range are all sent already: it gets no job.
    first_range = {row_id for row_id in ids if row_id // 3 == ids[0] // 3}
    db.session.execute(update(Message).where(Message.id.in_(first_range)).values(status=MessageStatus.SENT))
    db.session.commit()
    expected = sorted({row_id // 3 for row_id in ids} - {ids[0] // 3})

    assert dispatch_jobs.enqueue_batches(campaign.id) == len(expected)
    queue = redis_queues.queue("dispatch")
    wanted = [dispatch_jobs.batch_job_id(campaign.id, bucket * 3) for bucket in expected]
    assert sorted(queue.job_ids) == sorted(wanted)
    job = Job.fetch(wanted[0], connection=redis_queues.connection)
    assert job.func_name == "campaigns.dispatch.jobs.send_batch"
    assert job.args == (campaign.id, expected[0] * 3, expected[0] * 3 + 2)
    assert job.timeout > 3 * app.config["DISPATCH_LEASE_SECONDS"] and job.retries_left == dispatch_jobs.BATCH_RETRIES

    assert dispatch_jobs.enqueue_batches(campaign.id) == len(expected)  # the sweep asking again
    assert sorted(queue.job_ids) == sorted(wanted)


# --- completion ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("open_status", [MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING])
def test_a_campaign_completes_only_when_no_row_is_left_to_send(app, open_status):
    campaign = launched(3)
    ids = [row.id for row in rows(campaign.id)]
    db.session.execute(update(Message).where(Message.id == ids[0]).values(status=MessageStatus.UNKNOWN))
    db.session.execute(update(Message).where(Message.id == ids[1]).values(status=MessageStatus.FAILED))
    db.session.execute(update(Message).where(Message.id == ids[2]).values(status=open_status))
    db.session.commit()
    assert completion.complete_if_done(campaign.id) is False
    db.session.execute(update(Message).where(Message.id == ids[2]).values(status=MessageStatus.SKIPPED))
    db.session.commit()
    assert completion.complete_if_done(campaign.id) is True  # an unknown row does not hold it open
    db.session.commit()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.COMPLETED
    assert [event.details["to"] for event in audit_events("campaign.complete")] == ["completed"]
    assert completion.complete_if_done(campaign.id) is False


def test_a_paused_campaign_is_not_completed_by_a_batch(app):
    campaign = launched(1)
    db.session.execute(update(Message).where(Message.campaign_id == campaign.id).values(status=MessageStatus.SENT))
    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(status=CampaignStatus.PAUSED))
    db.session.commit()
    assert completion.complete_if_done(campaign.id) is False


