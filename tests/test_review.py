"""The four-eyes review: submission runs the preflight on a real audience and stores it, blocking
verdicts refuse it, nobody approves their own campaign, an approval binds to the content hash and
schedules the launch, a rejection needs a reason, and the next review shows what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaigns import campaign_specs, launch, preflight, review
from campaigns.lifecycle import TransitionError
from campaigns.models import CampaignReview, CampaignStatus, Message, MessageStatus, ReviewDecision, TemplateStatus
from compliance import sending
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, add_template, make_world
from tests.records import audit_events, suppress


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


@pytest.fixture
def audience(world):
    """Nine contacts of the segment (one of each exclusion, three who can receive) and one outside it."""
    add_contact("+79030000001", name="Анна")  # eligible, RU
    add_contact("+77010000002", country="KZ", timezone="Asia/Almaty")  # eligible, KZ
    add_contact("+4915112345678", country="DE", timezone=None)  # eligible, DE: the zone from the country
    suppress("+79030000004", SuppressionReason.OPT_OUT)
    add_contact("+79030000004")
    suppress("+79030000005", SuppressionReason.BLOCK)
    add_contact("+79030000005")
    add_contact("+79030000006", consent_source="")
    add_contact("+7903", country="RU")  # invalid number
    add_contact("+79030000008", country=None, timezone=None)  # place unknown: the window cannot be checked
    capped = add_contact("+79030000009")
    add_contact("+79030000010", tags="|other|")  # not in the segment
    earlier = world.campaign(name="Earlier", send_at=None)
    earlier.status = CampaignStatus.COMPLETED
    db.session.add(Message(campaign_id=earlier.id, contact_id=capped.id, phone=capped.phone, idempotency_key="k1",
                           status=MessageStatus.SENT, created_at=utcnow() - timedelta(days=30),
                           sent_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    return world


def submitted(world, **overrides):
    campaign = world.campaign(**overrides)
    review.submit(campaign, world.marketer)
    db.session.commit()
    return campaign


# --- the preflight ---------------------------------------------------------------------------------------

def test_the_preflight_breaks_the_audience_down_by_exclusion_reason(audience):
    campaign = audience.campaign()
    report = preflight.run(campaign)
    assert report["audience"] == {
        "total": 9,
        "eligible": 3,
        "deferred": 0,
        "deferred_by": {},
        "excluded": {
            "no_consent": 1,
            "opted_out": 1,
            "blocked": 1,
            "frequency_cap": 1,
            "invalid_number": 1,
            "time_zone": 1,
        },
    }
    assert report["template"]["approved"] is True and report["blocking"] == []
    assert report["tier"] == {"tier": "TIER_250", "limit": 250, "contacted_last_24h": 1, "headroom": 249,
                              "new_recipients": 3, "fits": True}
    assert report["lint"]["outcome"] in ("pass", "warn")


def test_the_estimate_prices_each_country(audience):
    estimate = preflight.run(audience.campaign())["estimate"]
    assert estimate["currency"] == "USD" and estimate["messages"] == 3
    assert {row["country"]: row["cost"] for row in estimate["by_country"]} == {"RU": "0.08", "KZ": "0.09", "DE": "0.14"}
    assert (estimate["total"], estimate["total_minor"]) == ("0.30", 30)


def test_the_tier_headroom_defers_the_overflow(audience, monkeypatch):
    monkeypatch.setitem(sending.TIER_LIMITS, "TIER_250", 2)
    report = preflight.run(audience.campaign())
    assert report["tier"]["headroom"] == 1 and report["tier"]["fits"] is False
    assert report["audience"]["eligible"] == 3 and report["audience"]["deferred_by"] == {"tier": 2}
    # Stored as a code with its numbers, worded for whoever reads the report.
    assert "tier_overflow" in [warning["code"] for warning in report["warnings"]]
    assert any("messaging tier" in warning for warning in preflight.readable(report)["warnings"])


def test_the_preflight_counts_caps_tier_and_free_allowance_by_send_time(world):
    """A row made long ago and sent an hour ago counts; a row made an hour ago and never sent does not."""
    now = utcnow()
    sent_recently, made_recently, maybe_sent = (add_contact() for _ in range(3))
    earlier = world.campaign(name="Earlier", send_at=None)
    earlier.status = CampaignStatus.COMPLETED
    for contact, status, created, sent in (
            (sent_recently, MessageStatus.DELIVERED, now - timedelta(days=40), now),
            (made_recently, MessageStatus.QUEUED, now - timedelta(hours=1), None),
            # Sent or not, we cannot tell: it counts against the cap and the tier, not the free allowance.
            (maybe_sent, MessageStatus.UNKNOWN, now - timedelta(hours=1), now - timedelta(hours=1))):
        db.session.add(Message(campaign_id=earlier.id, contact_id=contact.id, phone=contact.phone,
                               idempotency_key=f"k-{contact.id}", status=status, created_at=created, sent_at=sent))
    db.session.commit()
    gathered = preflight.gather({"tags": ["promo"]}, world.sender, "marketing", now)
    by_phone = {fact.phone: fact for fact in gathered.facts}
    seen = {contact: (by_phone[contact.phone].sent_this_week, by_phone[contact.phone].contacted_last_24h)
            for contact in (sent_recently, made_recently, maybe_sent)}
    assert seen == {sent_recently: (1, True), maybe_sent: (1, True), made_recently: (0, False)}
    assert by_phone[sent_recently.phone].sent_today == by_phone[maybe_sent.phone].sent_today == 1
    assert gathered.contacted_last_24h == 2
    assert gathered.used_this_month == 1


def test_a_night_send_defers_to_the_window(audience):
    from tests.campaign_world import tomorrow_at

    report = preflight.run(audience.campaign(send_at=tomorrow_at(23).isoformat()))  # 02:00 in Moscow
    assert report["audience"]["deferred_by"]["send_window"] >= 2 and report["audience"]["eligible"] == 3


def test_sample_messages_are_rendered_for_real_recipients(audience):
    campaign = audience.campaign()
    messages = preflight.sample_messages(campaign, limit=20)
    bodies = {message["phone"]: message["body"] for message in messages}
    assert bodies["+79030000001"] == "Здравствуйте, Анна! Скидка 20% в Москве."
    assert bodies["+79030000009"] == "Здравствуйте, друг! Скидка 20% в Москве."
    assert "+79030000010" not in bodies


def test_restricted_mentions_get_the_disclaimer_in_samples(audience):
    template = add_template("insta", body="Подписывайтесь на наш Instagram, {{1}}! Ждём в {{2}}.")
    messages = preflight.sample_messages(audience.campaign(template=template.id), limit=1)
    assert "*" in messages[0]["body"] and len(messages[0]["body"]) > len("Подписывайтесь на наш Instagram")


# --- submitting --------------------------------------------------------------------------------------------

def test_submit_stores_the_report_and_estimate(audience):
    campaign = submitted(audience)
    assert campaign.status is CampaignStatus.IN_REVIEW
    assert campaign.preflight["audience"]["eligible"] == 3 and campaign.estimate["total_minor"] == 30
    assert audit_events("campaign.submit")[0].details["content_hash"] == campaign.content_hash


def test_a_blocking_verdict_refuses_the_submission_with_its_reasons(audience):
    pending = add_template("not_yet", status=TemplateStatus.PENDING)
    campaign = audience.campaign(template=pending.id)
    with pytest.raises(review.ReviewError) as caught:
        review.submit(campaign, audience.marketer)
    db.session.rollback()
    assert "is not approved by WhatsApp" in caught.value.errors[0]
    assert caught.value.report["audience"]["eligible"] == 3
    assert campaign.status is CampaignStatus.DRAFT and campaign.preflight is None


def test_nobody_to_send_to_blocks(world):
    campaign = world.campaign()
    with pytest.raises(review.ReviewError, match="Nobody in the segment"):
        review.submit(campaign, world.marketer)


def test_only_a_draft_can_be_submitted(audience):
    campaign = submitted(audience)
    with pytest.raises(TransitionError, match="cannot become"):
        review.submit(campaign, audience.marketer)


# --- four eyes -------------------------------------------------------------------------------------------------

def test_the_author_cannot_approve_even_as_a_reviewer(audience, make_user):
    author = make_user("reviewer")
    campaign = campaign_specs.create_campaign(audience.spec(), author)
    review.submit(campaign, author)
    with pytest.raises(review.ReviewError, match="four-eyes"):
        review.approve(campaign, author, acknowledgement=ACKNOWLEDGEMENT)
    assert campaign.status is CampaignStatus.IN_REVIEW


def test_the_last_editor_cannot_approve(audience, make_user):
    editor = make_user("admin")
    campaign = audience.campaign()
    campaign_specs.update_campaign(campaign, {"messages_per_second": 9}, editor)
    review.submit(campaign, audience.marketer)
    with pytest.raises(review.ReviewError, match="four-eyes"):
        review.approve(campaign, editor, acknowledgement=ACKNOWLEDGEMENT)


def test_a_marketer_cannot_review(audience, make_user):
    campaign = submitted(audience)
    with pytest.raises(review.ReviewError, match="Only a compliance reviewer"):
        review.approve(campaign, make_user("marketer"))
    with pytest.raises(review.ReviewError, match="Only a compliance reviewer"):
        review.reject(campaign, make_user("marketer"), "spam")


def test_approval_binds_to_the_hash_and_schedules_the_launch(audience):
    campaign = submitted(audience)
    decision = review.approve(campaign, audience.reviewer, note="Fine", acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    assert campaign.status is CampaignStatus.SCHEDULED
    assert campaign.approved_hash == campaign.content_hash and campaign.approved_by_id == audience.reviewer.id
    assert decision.decision is ReviewDecision.APPROVED and decision.content_hash == campaign.content_hash
    assert decision.snapshot["template"]["body"] == audience.template.body
    assert [e.action for e in audit_events("campaign.approve")] == ["campaign.approve"]
    assert audit_events("campaign.schedule")[0].actor_id == audience.reviewer.id
    from rq.job import Job

    from extensions import redis_queues

    assert Job.fetch(launch.launch_job_id(campaign.id), connection=redis_queues.connection)


def test_approve_without_scheduling(audience):
    campaign = submitted(audience)
    review.approve(campaign, audience.reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    assert campaign.status is CampaignStatus.APPROVED


def test_an_admin_may_approve(audience, make_user):
    campaign = submitted(audience)
    review.approve(campaign, make_user("admin"), schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    assert campaign.status is CampaignStatus.APPROVED


def test_an_edit_after_approval_voids_it(audience):
    campaign = submitted(audience)
    review.approve(campaign, audience.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    campaign_specs.update_campaign(campaign, {"send_window": {"start": "10:00", "end": "19:00"}}, audience.marketer)
    db.session.commit()
    assert campaign.status is CampaignStatus.DRAFT and campaign.approved_hash is None
    with pytest.raises(launch.LaunchError):
        launch.schedule_launch(campaign)


def test_content_that_changed_underneath_cannot_be_approved(audience):
    campaign = submitted(audience)
    # An edit through the service returns the campaign to draft (tests/test_segment_edits.py); this is
    # the safety net for a change that bypassed it.
    audience.segment.definition = {"tags": ["promo", "vip"]}
    db.session.flush()
    with pytest.raises(review.ReviewError, match="changed after it was submitted"):
        review.approve(campaign, audience.reviewer, acknowledgement=ACKNOWLEDGEMENT)


def test_approving_twice_is_refused(audience, make_user):
    campaign = submitted(audience)
    review.approve(campaign, audience.reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    with pytest.raises(TransitionError):
        review.approve(campaign, make_user("reviewer"))


# --- rejecting ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "text", "sentence"), [
    (None, "", "Say why the campaign is rejected"),
    ("other", " ", "Write the reason when you choose “Other”"),
    ("nonsense", "x", "Choose one of the listed reasons"),
])
def test_a_rejection_needs_a_reason(audience, code, text, sentence):
    campaign = submitted(audience)
    with pytest.raises(review.ReviewError, match=sentence):
        review.reject(campaign, audience.reviewer, code, text)
    assert campaign.status is CampaignStatus.IN_REVIEW


def test_a_rejection_goes_back_to_the_author_who_revises(audience):
    campaign = submitted(audience)
    decision = review.reject(campaign, audience.reviewer, "spam", "Too many exclamation marks")
    db.session.commit()
    assert campaign.status is CampaignStatus.REJECTED
    assert review.reason_label(decision) == "Too pushy or spam-like — Too many exclamation marks"
    assert audit_events("campaign.reject")[0].details["reason_code"] == "spam"
    review.revise(campaign, audience.marketer)
    assert campaign.status is CampaignStatus.DRAFT


def test_a_written_reason_alone_is_enough(audience):
    campaign = submitted(audience)
    review.reject(campaign, audience.reviewer, None, "Wrong city")
    assert campaign.status is CampaignStatus.REJECTED


# --- the queue and what changed --------------------------------------------------------------------------------------

def test_the_queue_lists_campaigns_in_review_oldest_first(audience):
    first = submitted(audience, name="First")
    second = submitted(audience, name="Second")
    audience.campaign(name="Draft")
    assert review.review_queue() == [first, second]


def test_what_changed_since_the_last_review(audience):
    campaign = submitted(audience)
    assert review.changes_since_last_review(campaign) is None
    review.reject(campaign, audience.reviewer, "timing", "Not on a Sunday")
    db.session.commit()
    assert review.changes_since_last_review(campaign) == []
    campaign_specs.update_campaign(
        campaign, {"messages_per_second": 5, "send_window": {"start": "10:00", "end": "18:00"}}, audience.marketer
    )
    changes = review.changes_since_last_review(campaign)
    assert [change["field"] for change in changes] == ["send_window", "messages_per_second"]
    assert changes[1] == {"field": "messages_per_second", "before": 20, "after": 5}
    review.submit(campaign, audience.marketer)
    review.approve(campaign, audience.reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    assert [r.decision for r in review.reviews_of(campaign)] == [ReviewDecision.APPROVED, ReviewDecision.REJECTED]
    assert db.session.query(CampaignReview).count() == 2
