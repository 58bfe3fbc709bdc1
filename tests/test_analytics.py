"""``campaigns.analytics``: a campaign's funnel from a realistic mixture of row states (every line counted,
exclusions by reason, failures by code with the provider's words), opt-outs and blocks attributed only to the
message the number last got before them, the timeline's buckets, the actual cost beside the estimate, the daily
series across campaigns and the senders' tier use. On SQLite and PostgreSQL alike (the fixtures run both).

Every campaign is launched for real (its rows and exclusions made by the launch); the rows are then put into the
states dispatch and the status webhooks leave them in, with one UPDATE each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from campaigns import analytics, jobs, review
from campaigns.models import Campaign, Message, MessageStatus
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, make_world

# A fixed moment well in the past, so that buckets and days are known whatever the clock says.
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


def launched(world, recipients: int, **spec) -> tuple[Campaign, list[Message]]:
    """A campaign launched for ``recipients`` new contacts (and whoever the segment already holds), and its
    rows in id order."""
    for _index in range(recipients):
        add_contact()
    campaign = world.campaign(**spec)
    review.submit(campaign, world.marketer)
    review.approve(campaign, world.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    jobs.launch_campaign(campaign.id)
    db.session.expire_all()
    rows = list(db.session.scalars(select(Message).where(Message.campaign_id == campaign.id).order_by(Message.id)))
    return db.session.get(Campaign, campaign.id), rows


def set_rows(rows: list[Message], **values) -> None:
    db.session.execute(update(Message).where(Message.id.in_([row.id for row in rows])).values(**values))
    db.session.commit()


def suppress_at(phone: str, reason: SuppressionReason, at: datetime) -> None:
    suppression.suppress(phone, reason, source="ui", note="test" if reason is SuppressionReason.MANUAL else "",
                         at=at)
    db.session.commit()


def mixture(world) -> tuple[Campaign, dict[str, list[Message]]]:
    """A campaign of 20 recipients in every state a sending campaign's rows pass through, and 2 contacts the
    launch excluded (no consent; opted out before)."""
    add_contact(consent_source="  ")  # a blank proof is no consent
    refused = add_contact()
    suppress_at(refused.phone, SuppressionReason.OPT_OUT, T0 - timedelta(days=3))
    campaign, rows = launched(world, 20)
    assert len(rows) == 20
    groups = {"queued": rows[0:2], "sending": rows[2:3], "unknown": rows[3:4], "deferred": rows[4:6],
              "sent": rows[6:9], "delivered": rows[9:13], "read": rows[13:16], "failed_late": rows[16:18],
              "failed_now": rows[18:19], "skipped": rows[19:20]}
    set_rows(groups["sending"], status=MessageStatus.SENDING, sent_at=T0)
    set_rows(groups["unknown"], status=MessageStatus.UNKNOWN, sent_at=T0)
    set_rows(groups["deferred"], status=MessageStatus.DEFERRED, not_before=T0 + timedelta(hours=8))
    set_rows(groups["sent"], status=MessageStatus.SENT, sent_at=T0, provider_message_id="wamid.s")
    set_rows(groups["delivered"], status=MessageStatus.DELIVERED, sent_at=T0 + timedelta(minutes=1),
             delivered_at=T0 + timedelta(minutes=2), provider_message_id="wamid.d")
    set_rows(groups["read"], status=MessageStatus.READ, sent_at=T0 + timedelta(minutes=1),
             delivered_at=T0 + timedelta(minutes=2), read_at=T0 + timedelta(minutes=5), provider_message_id="wamid.r")
    set_rows(groups["delivered"][:1] + groups["read"][:1], replied_at=T0 + timedelta(minutes=7))
    # Accepted, then reported undeliverable by a status: it went out. Refused at once: it never did.
    set_rows(groups["failed_late"], status=MessageStatus.FAILED, sent_at=T0, failed_at=T0 + timedelta(minutes=3),
             provider_message_id="wamid.f", error_code="131026", error_message="Message undeliverable")
    set_rows(groups["failed_now"], status=MessageStatus.FAILED, failed_at=T0, error_code="131049",
             error_message="This message was not delivered to maintain healthy ecosystem engagement.")
    set_rows(groups["skipped"], status=MessageStatus.SKIPPED, error_code="opted_out")
    return db.session.get(Campaign, campaign.id), groups


# --- the funnel ----------------------------------------------------------------------------------------------

def test_the_funnel_counts_every_line_of_a_realistic_mixture(app, world):
    campaign, _groups = mixture(world)
    figures = analytics.funnel(campaign)
    counts = {key: line["count"] for key, line in figures.items()}
    assert counts == {"audience": 22, "excluded": 2, "recipients": 20, "skipped": 1, "sent": 12, "delivered": 7,
                      "read": 3, "replied": 2, "failed": 3, "deferred": 2, "in_flight": 4, "opted_out": 0,
                      "blocked": 0}
    assert [key for key, _base in analytics.FUNNEL_LINES] == list(figures)
    assert figures["delivered"] == {"count": 7, "rate": round(7 / 12, 4), "of": "sent"}
    assert figures["read"]["rate"] == round(3 / 7, 4) and figures["read"]["of"] == "delivered"
    assert figures["sent"]["rate"] == 0.6 and figures["sent"]["of"] == "recipients"
    assert figures["audience"]["rate"] is None and figures["audience"]["of"] is None
    assert figures["excluded"]["by_reason"] == [
        {"reason": "no_consent", "count": 1, "rate": round(1 / 22, 4)},
        {"reason": "opted_out", "count": 1, "rate": round(1 / 22, 4)},
    ]
    assert figures["skipped"]["by_reason"] == [
        {"reason": "opted_out", "sentence": "The recipient opted out before the message went out.", "count": 1,
         "rate": 0.05}]
    failed = figures["failed"]["by_code"]
    assert [(item["code"], item["count"], item["rate"]) for item in failed] == [("131026", 2, 0.1),
                                                                                ("131049", 1, 0.05)]
    assert failed[0]["provider_words"] == "Message undeliverable"
    assert failed[1]["provider_words"].startswith("This message was not delivered")
    assert failed[0]["sentence"] and "131026" not in failed[0]["sentence"]  # the channel's table words it


def test_a_campaign_with_no_rows_has_a_funnel_of_zeros_without_rates(app, world):
    campaign = world.campaign()
    figures = analytics.funnel(campaign)
    assert {line["count"] for line in figures.values()} == {0}
    assert {line["rate"] for line in figures.values()} == {None}
    assert figures["failed"]["by_code"] == [] and figures["excluded"]["by_reason"] == []


def test_opt_outs_and_blocks_count_only_after_the_campaigns_message_and_before_the_next(app, world):
    campaign, groups = mixture(world)
    delivered, read = groups["delivered"], groups["read"]
    sent_at = T0 + timedelta(minutes=1)
    suppress_at(delivered[0].phone, SuppressionReason.OPT_OUT, sent_at + timedelta(hours=1))  # counts
    suppress_at(read[0].phone, SuppressionReason.BLOCK, sent_at + timedelta(minutes=30))  # counts
    suppress_at(read[1].phone, SuppressionReason.SPAM_REPORT, sent_at + timedelta(days=2))  # counts
    suppress_at(delivered[1].phone, SuppressionReason.OPT_OUT, sent_at - timedelta(hours=1))  # before: not this one
    suppress_at(delivered[2].phone, SuppressionReason.MANUAL, sent_at + timedelta(hours=1))  # a team's, no refusal
    # A number the campaign reached, then a later campaign too, then it opted out: the later one's.
    later = delivered[3]
    suppress_at(later.phone, SuppressionReason.OPT_OUT, sent_at + timedelta(hours=5))
    second = world.campaign(name="Winter sale")
    review.submit(second, world.marketer)
    review.approve(second, world.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    jobs.launch_campaign(second.id)  # the open opt-out excludes it now; the row below is history
    db.session.add(Message(campaign_id=second.id, contact_id=later.contact_id, phone=later.phone, variables={},
                           idempotency_key="winter-later", status=MessageStatus.DELIVERED,
                           sent_at=sent_at + timedelta(hours=2), delivered_at=sent_at + timedelta(hours=2),
                           provider_message_id="wamid.w"))
    db.session.commit()

    figures = analytics.funnel(campaign)
    assert (figures["opted_out"]["count"], figures["blocked"]["count"]) == (1, 2)
    assert figures["opted_out"]["rate"] == round(1 / 7, 4) and figures["blocked"]["of"] == "delivered"
    assert analytics.funnel(db.session.get(Campaign, second.id))["opted_out"]["count"] == 1


# --- the timeline --------------------------------------------------------------------------------------------

def test_the_timeline_counts_sends_deliveries_and_reads_per_minute_with_the_empty_minutes(app, world):
    campaign, _groups = mixture(world)
    found = analytics.timeline(campaign)
    assert (found["bucket"], found["seconds"]) == ("minute", 60)
    by_minute = {point["at"]: (point["sent"], point["delivered"], point["read"]) for point in found["points"]}
    start = int(T0.timestamp())
    assert [point["t"] for point in found["points"]] == list(range(start, start + 6 * 60, 60))
    assert by_minute == {
        "2026-11-20T09:00:00+00:00": (5, 0, 0),  # 3 sent + 2 accepted then failed (in flight and unknown: not yet)
        "2026-11-20T09:01:00+00:00": (7, 0, 0),
        "2026-11-20T09:02:00+00:00": (0, 7, 0),
        "2026-11-20T09:03:00+00:00": (0, 0, 0),
        "2026-11-20T09:04:00+00:00": (0, 0, 0),
        "2026-11-20T09:05:00+00:00": (0, 0, 3),
    }


def test_the_timelines_bucket_follows_the_campaigns_span(app, world):
    campaign, groups = mixture(world)
    set_rows(groups["read"][:1], read_at=T0 + timedelta(hours=30))
    hourly = analytics.timeline(campaign)
    assert hourly["bucket"] == "hour" and len(hourly["points"]) == 31
    assert hourly["points"][0] == {"at": "2026-11-20T09:00:00+00:00", "t": int(T0.timestamp()), "sent": 12,
                                   "delivered": 7, "read": 2}
    assert hourly["points"][-1]["read"] == 1
    set_rows(groups["read"][:1], read_at=T0 + timedelta(days=9, hours=20))
    daily = analytics.timeline(campaign)
    assert daily["bucket"] == "day" and [point["at"][:10] for point in daily["points"]][::9] == [
        "2026-11-20", "2026-11-29"]
    assert sum(point["sent"] for point in daily["points"]) == 12
    assert analytics.timeline(campaign, "minute")["bucket"] == "minute"  # asked for: kept
    assert analytics.bucket_for(None, None) == "minute"


def test_a_campaign_that_sent_nothing_has_an_empty_timeline(app, world):
    assert analytics.timeline(world.campaign()) == {"bucket": "minute", "seconds": 60, "points": []}


# --- the cost ------------------------------------------------------------------------------------------------

def test_the_actual_cost_sums_the_billable_messages_beside_the_estimate(app, world):
    campaign, groups = mixture(world)
    set_rows(groups["delivered"], billable=True, cost_minor=860, price_category="marketing")
    set_rows(groups["read"][:2], billable=True, cost_minor=None)  # the card has no price for them (yet)
    set_rows(groups["read"][2:], billable=False, cost_minor=0)
    estimate = campaign.estimate
    assert estimate and estimate["total_minor"] > 0
    found = analytics.cost(campaign)
    assert found["actual_minor"] == 4 * 860 and found["billable"] == 6 and found["unpriced"] == 2
    assert found["currency"] == estimate["currency"] and found["estimate_minor"] == estimate["total_minor"]
    assert found["difference_minor"] == 4 * 860 - estimate["total_minor"]
    assert found["actual"] == "34.40" and found["estimated_messages"] == estimate["messages"]


def test_a_campaign_without_an_estimate_has_no_difference(app, world):
    found = analytics.cost(world.campaign())
    assert found["actual_minor"] == 0 and found["estimate_minor"] is None and found["difference_minor"] is None


# --- the dashboard -------------------------------------------------------------------------------------------

def test_the_daily_series_counts_each_days_sends_and_their_rates_across_campaigns(app, world):
    _campaign, groups = mixture(world)
    suppress_at(groups["delivered"][0].phone, SuppressionReason.OPT_OUT, T0 + timedelta(hours=1))
    suppress_at(groups["read"][0].phone, SuppressionReason.BLOCK, T0 + timedelta(hours=1))
    # Two of the read ones went out the day before (a second campaign's day would count the same way).
    set_rows(groups["read"][1:], sent_at=T0 - timedelta(days=1), delivered_at=T0 - timedelta(days=1),
             read_at=T0 - timedelta(days=1))
    series = analytics.daily(days=3, now=T0 + timedelta(hours=2))
    assert [day["date"] for day in series] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert series[0] == {"date": "2026-11-18", "t": int(datetime(2026, 11, 18, tzinfo=UTC).timestamp()), "sent": 0,
                         "delivered": 0, "read": 0, "replied": 0, "opted_out": 0, "blocked": 0,
                         "delivery_rate": None, "read_rate": None, "reply_rate": None, "opt_out_rate": None,
                         "block_rate": None}
    assert {key: series[1][key] for key in ("sent", "delivered", "read", "replied", "delivery_rate", "read_rate")} \
        == {"sent": 2, "delivered": 2, "read": 2, "replied": 0, "delivery_rate": 1.0, "read_rate": 1.0}
    today = series[2]
    assert (today["sent"], today["delivered"], today["read"], today["replied"]) == (10, 5, 1, 2)
    assert (today["opted_out"], today["blocked"]) == (1, 1)
    assert today["delivery_rate"] == 0.5 and today["reply_rate"] == 0.4
    assert today["opt_out_rate"] == 0.2 and today["block_rate"] == 0.2


def test_tier_use_counts_each_senders_unique_recipients_in_the_last_24_hours(app, world):
    _campaign, groups = mixture(world)
    now = utcnow()
    # Within the last day: 3 rows to 3 numbers, and one of them again from another campaign of the sender.
    recent = groups["sent"]
    set_rows(recent, sent_at=now - timedelta(hours=2))
    set_rows(groups["sending"], sent_at=now - timedelta(hours=30))  # outside the window
    again = world.campaign(name="Winter sale")
    db.session.add(Message(campaign_id=again.id, contact_id=recent[0].contact_id, phone=recent[0].phone,
                           variables={}, idempotency_key="winter-again", status=MessageStatus.SENT,
                           sent_at=now - timedelta(hours=1), provider_message_id="wamid.again"))
    db.session.commit()
    found = {sender["name"]: sender for sender in analytics.tier_use(now)}
    main = found["Main"]
    assert main["tier"] == "TIER_250" and main["limit"] == 250
    assert (main["used"], main["headroom"], main["share"]) == (3, 247, round(3 / 250, 4))
