"""Preference changes, block and spam reports, template status and quality updates posted to the endpoint and
applied by the processing: each suppresses, records or pauses as docs/feedback.md says, once, in any order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from campaigns.feedback import notices, routing
from campaigns.feedback.models import NotificationKind
from campaigns.models import CampaignStatus, Sender, TemplateApproval, TemplateStatus
from compliance import suppression
from compliance.audit import AuditEvent
from compliance.models import SuppressionReason
from extensions import db
from tests.campaign_world import add_template
from tests.feedback.conftest import add_message, add_sender, campaign_of
from tests.feedback.guard_world import (
    apply,
    at,
    campaign_now,
    fixture,
    notifications,
    preference,
    report,
    suppressions,
)
from tests.test_materialise import add_campaign

PHONE = "+79161234567"  # the recipient of the fixtures
R = SuppressionReason


@pytest.fixture
def touched(monkeypatch):
    """The campaigns each batch touched (the breaker's hook replaced by a recorder)."""
    seen: list[set[int]] = []
    monkeypatch.setattr(routing, "AFTER_BATCH", [lambda context: seen.append(set(context.touched_campaigns))])
    return seen


def open_reasons(phone: str) -> dict[R, str]:
    return {row.reason: row.source for row in suppressions(phone) if row.lifted_at is None}


# --- user_preferences ------------------------------------------------------------------------------------

def test_a_stop_suppresses_the_number_at_once_as_a_provider_opt_out_once(client, cloud_sender):
    done = apply(client, cloud_sender, preference("stop", PHONE))
    assert done["events"] == {"PreferenceChange": 1}
    [row] = suppressions(PHONE)
    assert (row.reason, row.source, row.created_at, row.lifted_at) == (R.OPT_OUT, "preference", at(0), None)
    assert row.evidence == f"user_preferences stop marketing_messages {at(0):%s}"
    # The same stop again in another body (Meta resends with other contacts' names): nothing new.
    apply(client, cloud_sender, preference("stop", PHONE, name="Anna"))
    assert len(suppressions(PHONE)) == 1


def test_a_resume_lifts_the_provider_opt_out_and_nothing_else(client, cloud_sender):
    apply(client, cloud_sender, preference("stop", PHONE))
    suppression.suppress(PHONE, R.BLOCK, source="block_report", evidence="earlier block")
    db.session.commit()
    apply(client, cloud_sender, preference("resume", PHONE, seconds=60))
    assert open_reasons(PHONE) == {R.BLOCK: "block_report"}
    [opt_out] = [row for row in suppressions(PHONE) if row.reason is R.OPT_OUT]
    assert (opt_out.lifted_at, opt_out.lift_reason) == (at(60), "preference_resume")


def test_a_resume_does_not_lift_an_opt_out_the_person_wrote(client, cloud_sender):
    suppression.suppress(PHONE, R.OPT_OUT, source="keyword", evidence="wamid.STOP", at=at(-60))
    db.session.commit()
    apply(client, cloud_sender, preference("stop", PHONE), preference("resume", PHONE, seconds=60))
    assert open_reasons(PHONE) == {R.OPT_OUT: "keyword"}


def test_a_stop_older_than_a_resume_applied_already_changes_nothing(client, cloud_sender):
    apply(client, cloud_sender, preference("stop", PHONE))
    apply(client, cloud_sender, preference("resume", PHONE, seconds=60))
    apply(client, cloud_sender, preference("stop", PHONE, seconds=30, name="late"))  # arrives last, said earlier
    assert open_reasons(PHONE) == {}
    apply(client, cloud_sender, preference("stop", PHONE, seconds=90))  # a newer stop does
    assert open_reasons(PHONE) == {R.OPT_OUT: "preference"}


def test_a_resume_older_than_the_stop_in_force_changes_nothing(client, cloud_sender):
    apply(client, cloud_sender, preference("stop", PHONE, seconds=60))
    apply(client, cloud_sender, preference("resume", PHONE, seconds=0))
    assert open_reasons(PHONE) == {R.OPT_OUT: "preference"}


@pytest.mark.parametrize(("first", "second", "suppressed"), [
    (("resume", 60), ("stop", 0), False),  # reordered within one batch: the resume is the last word
    (("stop", 60), ("resume", 0), True),
])
def test_within_one_batch_the_newest_preference_stands(client, cloud_sender, first, second, suppressed):
    apply(client, cloud_sender, preference(first[0], PHONE, seconds=first[1]),
          preference(second[0], PHONE, seconds=second[1]))
    assert bool(open_reasons(PHONE)) is suppressed


def test_a_stop_touches_the_sending_campaigns_that_messaged_the_number(client, cloud_sender, touched):
    messaged = campaign_of(cloud_sender)
    add_message(messaged, phone=PHONE, sent_at=at(-600))
    other = campaign_of(cloud_sender)  # never messaged the number
    add_message(other, sent_at=at(-600))
    later = campaign_of(cloud_sender)  # messaged it only after the stop
    add_message(later, phone="+79161234599", sent_at=at(600))
    apply(client, cloud_sender, preference("stop", PHONE))
    assert touched == [{messaged.id}]


# --- blocks and spam reports ------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "reason", "name"), [("block", R.BLOCK, "vestnik_block_report"),
                                                     ("spam_report", R.SPAM_REPORT, "vestnik_spam_report")])
def test_a_block_or_spam_report_suppresses_for_good_with_its_reason(client, cloud_sender, touched, kind, reason,
                                                                    name):
    campaign = campaign_of(cloud_sender)
    add_message(campaign, phone=PHONE, sent_at=at(-600))
    done = apply(client, cloud_sender, fixture(name))
    assert done["events"] == {"BlockReport": 1}
    [row] = suppressions(PHONE)
    assert (row.reason, row.source, row.created_at) == (reason, "block_report", at(0))
    assert row.evidence == f"{kind}.106540352242922.79161234567.{at(0):%s}"
    assert touched == [{campaign.id}]
    assert suppression.suppressed_reasons([PHONE]) == {PHONE: (reason.value,)}  # what the dispatch gate reads
    apply(client, cloud_sender, report(kind, PHONE, seconds=5))  # reported again
    assert len(suppressions(PHONE)) == 1
    # Resuming marketing messages in the app does not undo a block.
    apply(client, cloud_sender, preference("resume", PHONE, seconds=60))
    assert open_reasons(PHONE) == {reason: "block_report"}


# --- template status updates ------------------------------------------------------------------------------

TEMPLATE_ID = "806312974732579"


@pytest.fixture
def template_world(app, cloud_sender):
    """Template ``autumn_sale`` (provider id TEMPLATE_ID in the sender's account) used by a sending campaign, a
    scheduled one, and a sending one of another account; and a sending campaign of another template."""
    template = add_template()
    other_account = add_sender("Другой", "+74957654321", waba_id="999000999000999", phone_number_id="555")
    world = {
        "using": add_campaign(status=CampaignStatus.SENDING, sender=cloud_sender, template=template),
        "scheduled": add_campaign(status=CampaignStatus.SCHEDULED, sender=cloud_sender, template=template),
        "elsewhere": add_campaign(status=CampaignStatus.SENDING, sender=other_account, template=template),
        "other_template": add_campaign(status=CampaignStatus.SENDING, sender=cloud_sender),
    }
    approval = db.session.scalar(select(TemplateApproval).where(
        TemplateApproval.template_id == template.id, TemplateApproval.account_id == cloud_sender.waba_id))
    approval.provider_template_id = TEMPLATE_ID
    db.session.commit()
    return template, approval, world


def approval_now(approval: TemplateApproval) -> TemplateApproval:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(TemplateApproval, approval.id)


@pytest.mark.parametrize(("name", "status", "reason"), [
    ("template_paused", TemplateStatus.PAUSED, "Your WhatsApp message template has been paused for 3 hours until "
                                                "Dec 2 at 10:53 AM UTC because it had issues."),
    ("template_disabled", TemplateStatus.DISABLED, "Your WhatsApp message template has been disabled because of "
                                                    "continued quality issues."),
])
def test_a_paused_or_disabled_template_pauses_exactly_the_campaigns_sending_it(client, cloud_sender, template_world,
                                                                              name, status, reason):
    _template, approval, world = template_world
    done = apply(client, cloud_sender, fixture(name))
    assert done["events"] == {"TemplateStatusChange": 1}
    found = approval_now(approval)
    assert (found.status, found.reason) == (status, reason)
    using = campaign_now(world["using"])
    assert using.status is CampaignStatus.PAUSED and using.pause_reason == "template_paused"
    assert using.pause_details == {"template": "autumn_sale", "language": "ru", "status": status.value,
                                   "reason": reason}
    assert using.paused_at is not None
    for untouched in ("scheduled", "elsewhere", "other_template"):
        assert campaign_now(world[untouched]).status is world[untouched].status, untouched
    [note] = notifications(NotificationKind.TEMPLATE_PAUSED)
    assert (note.campaign_id, note.sender_id, note.resolved_at) == (using.id, cloud_sender.id, None)
    assert note.params == {"campaign": using.name, **using.pause_details}
    assert "?" not in notices.sentence(note.kind, note.params) and "autumn_sale" in notices.pause_sentence(using)
    # Paused by the system: the audit log's entry has no actor and says why.
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.pause")
                              .order_by(AuditEvent.id.desc()))
    assert entry.actor_id is None and entry.details["reason"] == "template_paused"
    # The same update again (another body): no second pause, no second notification.
    apply(client, cloud_sender, fixture(name, other_info={"title": "FIRST_PAUSE", "description": reason}))
    assert len(notifications(NotificationKind.TEMPLATE_PAUSED)) == 1


def test_an_approval_and_a_category_change_are_recorded_and_pause_nothing(client, cloud_sender, template_world):
    _template, approval, world = template_world
    apply(client, cloud_sender, fixture("template_category_update"))
    assert approval_now(approval).category == "marketing"
    apply(client, cloud_sender, fixture("template_paused"), fixture("template_approved"))  # paused, then approved
    found = approval_now(approval)
    assert (found.status, found.reason) == (TemplateStatus.APPROVED, None)
    # The pause stands: only a reviewer's resume sends again.
    assert campaign_now(world["using"]).status is CampaignStatus.PAUSED
    assert campaign_now(world["other_template"]).status is CampaignStatus.SENDING


def test_an_update_of_a_template_vestnik_never_submitted_is_left_alone(client, cloud_sender, template_world):
    _template, approval, world = template_world
    apply(client, cloud_sender, fixture("template_paused", message_template_id=111, message_template_name="other"))
    assert approval_now(approval).status is TemplateStatus.APPROVED
    assert campaign_now(world["using"]).status is CampaignStatus.SENDING


# --- number quality ---------------------------------------------------------------------------------------

def sender_now(sender: Sender) -> Sender:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Sender, sender.id)


def test_a_flagged_number_is_red_and_pauses_every_sending_campaign_of_its_sender(client, cloud_sender):
    sending = [campaign_of(cloud_sender), campaign_of(cloud_sender)]
    paused_by_hand = campaign_of(cloud_sender, CampaignStatus.PAUSED)
    other = campaign_of(add_sender("Другой", "+74957654321", phone_number_id="555"))
    done = apply(client, cloud_sender, fixture("quality_flagged"))
    assert done["events"] == {"NumberQualityChange": 1}
    sender = sender_now(cloud_sender)
    assert (sender.quality_rating, sender.provider_tier, sender.tier) == ("RED", "TIER_1K", "TIER_1K")
    for campaign in sending:
        found = campaign_now(campaign)
        assert (found.status, found.pause_reason) == (CampaignStatus.PAUSED, "quality_red")
        assert found.pause_details == {"sender": sender.name, "phone": sender.phone, "quality": "RED",
                                       "previous": "UNKNOWN", "tier": "TIER_1K"}
    assert campaign_now(paused_by_hand).pause_reason is None  # a person's pause is left as it is
    assert campaign_now(other).status is CampaignStatus.SENDING
    assert sorted(note.campaign_id for note in notifications(NotificationKind.QUALITY_RED)) == [
        campaign.id for campaign in sending]
    assert "?" not in notices.pause_sentence(campaign_now(sending[0]))
    [change] = notifications(NotificationKind.QUALITY_CHANGE)
    assert "?" not in notices.sentence(change.kind, change.params)
    assert (change.sender_id, change.campaign_id) == (sender.id, None)
    assert change.params == {"sender": sender.name, "phone": sender.phone, "event": "FLAGGED", "quality": "RED",
                             "previous": "UNKNOWN", "tier": "TIER_1K", "previous_tier": "TIER_250"}
    apply(client, cloud_sender, fixture("quality_flagged", max_daily_conversation_per_phone=1000))  # a repeat
    assert len(notifications()) == 3


def test_a_tier_downgrade_is_recorded_and_notified_without_pausing(client, cloud_sender):
    cloud_sender.tier = "TIER_1K"
    db.session.commit()
    campaign = campaign_of(cloud_sender)
    apply(client, cloud_sender, fixture("quality_downgrade"))
    sender = sender_now(cloud_sender)
    assert (sender.provider_tier, sender.tier, sender.quality_rating) == ("TIER_250", "TIER_250", None)
    [change] = notifications()
    assert change.kind is NotificationKind.QUALITY_CHANGE
    assert change.params == {"sender": sender.name, "phone": sender.phone, "event": "DOWNGRADE", "tier": "TIER_250",
                             "previous_tier": "TIER_1K"}  # the rating did not change: not named
    assert campaign_now(campaign).status is CampaignStatus.SENDING


def test_a_rating_in_the_body_wins_over_what_flagged_implies(client, cloud_sender):
    campaign = campaign_of(cloud_sender)
    apply(client, cloud_sender, fixture("quality_flagged", current_quality_rating="YELLOW"))
    assert sender_now(cloud_sender).quality_rating == "YELLOW"
    assert campaign_now(campaign).status is CampaignStatus.SENDING
