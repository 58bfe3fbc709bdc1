"""The complaint circuit breaker: a sending campaign whose last delivered messages drew too many opt-outs, blocks
or spam reports pauses with its reason and a notification; below the threshold, the minimum of delivered
messages or the minimum of complaints it sends on."""

from __future__ import annotations

import pytest

from campaigns.feedback import breaker, notices
from campaigns.feedback.models import NotificationKind
from campaigns.models import CampaignStatus
from compliance import suppression
from compliance.models import SuppressionReason
from extensions import db
from tests.feedback.conftest import campaign_of
from tests.feedback.guard_world import (
    apply,
    at,
    campaign_now,
    delivered,
    notifications,
    preference,
    report,
)


@pytest.fixture
def small_breaker(app):
    """Settings a test can reach with tens of messages: 20 delivered at least, over the last 100; blocks and spam
    reports over 3 %, or all complaints over 5 %, and never on fewer than 2."""
    settings = {"BREAKER_WINDOW": 100, "BREAKER_MIN_DELIVERED": 20, "BREAKER_BLOCK_THRESHOLD": 0.03,
                "BREAKER_THRESHOLD": 0.05, "BREAKER_MIN_COMPLAINTS": 2}
    saved = {name: app.config[name] for name in settings}
    app.config.update(settings)
    yield settings
    app.config.update(saved)


def test_blocks_over_the_threshold_pause_the_campaign_with_the_reason_and_a_notification(client, cloud_sender,
                                                                                        small_breaker):
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 40)
    untouched = campaign_of(cloud_sender)  # never messaged those numbers
    delivered(untouched, 40)
    apply(client, cloud_sender, report("block", phones[3]), report("spam_report", phones[7]))
    found = campaign_now(campaign)
    assert (found.status, found.pause_reason) == (CampaignStatus.PAUSED, "circuit_breaker")
    assert found.pause_details == {"measure": "blocks", "rate": 0.05, "threshold": 0.03, "window": 40,
                                   "window_size": 100, "complaints": 2, "opt_outs": 0, "blocks": 1,
                                   "spam_reports": 1}
    [note] = notifications(NotificationKind.CIRCUIT_BREAKER)
    assert (note.campaign_id, note.sender_id) == (campaign.id, cloud_sender.id)
    assert note.params == {"campaign": campaign.name, **found.pause_details}
    # What reviewers read (notices words the params): nothing missing.
    assert notices.sentence(note.kind, note.params) == (
        f"Campaign «{campaign.name}» paused: 5% of its last 40 delivered messages brought complaints — opt-outs, "
        "blocks and spam reports (threshold 3%).")
    assert campaign_now(untouched).status is CampaignStatus.SENDING
    # Another complaint later: the campaign is paused already, nothing is paused or notified twice.
    apply(client, cloud_sender, report("block", phones[9], seconds=10))
    assert len(notifications(NotificationKind.CIRCUIT_BREAKER)) == 1


def test_opt_outs_count_towards_all_complaints(client, cloud_sender, small_breaker):
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 40)
    apply(client, cloud_sender, *(preference("stop", phone) for phone in phones[:2]))
    assert campaign_now(campaign).status is CampaignStatus.SENDING  # 2 of 40 = 5 %: not over 5 %
    apply(client, cloud_sender, preference("stop", phones[2], seconds=5))
    found = campaign_now(campaign)
    assert found.status is CampaignStatus.PAUSED
    assert (found.pause_details["measure"], found.pause_details["rate"], found.pause_details["opt_outs"]) == (
        "complaints", 0.075, 3)


def test_below_the_threshold_the_campaign_sends_on(client, cloud_sender, small_breaker):
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 100)
    # 3 % blocks (not over 3 %), 5 % complaints in all (not over 5 %).
    apply(client, cloud_sender, report("block", *phones[:3]), *(preference("stop", p) for p in phones[3:5]))
    assert breaker.read(campaign.id, 100) == breaker.Reading(100, 2, 3, 0)
    assert campaign_now(campaign).status is CampaignStatus.SENDING
    assert notifications(NotificationKind.CIRCUIT_BREAKER) == []


def test_below_the_minimum_of_delivered_messages_nothing_trips(client, cloud_sender, small_breaker):
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 19)
    apply(client, cloud_sender, report("spam_report", *phones[:10]))
    assert campaign_now(campaign).status is CampaignStatus.SENDING


def test_one_complaint_is_not_a_trend(client, cloud_sender, small_breaker):
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 20)
    apply(client, cloud_sender, report("block", phones[0]))  # 5 % of 20, but a single block
    assert campaign_now(campaign).status is CampaignStatus.SENDING


def test_only_the_last_delivered_messages_of_the_window_count(app, client, cloud_sender, small_breaker):
    app.config["BREAKER_WINDOW"] = 30
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 60)
    apply(client, cloud_sender, report("block", *phones[:5]))  # the oldest 5: outside the last 30
    assert breaker.read(campaign.id, 30) == breaker.Reading(30, 0, 0, 0)
    assert campaign_now(campaign).status is CampaignStatus.SENDING


def test_an_opt_out_over_before_the_message_was_sent_does_not_count(app, cloud_sender):
    campaign = campaign_of(cloud_sender)
    phones = delivered(campaign, 3)
    old, current = phones[0], phones[1]
    suppression.suppress(old, SuppressionReason.OPT_OUT, source="keyword", at=at(-90000))
    suppression.lift_opt_out(old, at=at(-80000))  # opted back in, then messaged
    suppression.suppress(current, SuppressionReason.OPT_OUT, source="keyword", at=at(-60))
    suppression.suppress(phones[2], SuppressionReason.UNSURE_REPLY, source="reply", at=at(-60))  # a hold: no
    db.session.commit()
    assert breaker.read(campaign.id, 100) == breaker.Reading(3, 1, 0, 0)


def test_a_campaign_not_sending_is_never_checked(client, cloud_sender, small_breaker):
    campaign = campaign_of(cloud_sender, CampaignStatus.COMPLETED)
    phones = delivered(campaign, 40)
    apply(client, cloud_sender, report("block", *phones[:10]))
    assert campaign_now(campaign).status is CampaignStatus.COMPLETED
    assert notifications() == []
