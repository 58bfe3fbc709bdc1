"""The channel rule where campaigns meet it: the preflight's lawful reach per channel and its suggestion,
the review's written acknowledgement of a warning (page, API, CLI; audited), a block refusing submission
and approval, and the send-time check that skips what the rule blocks, even when an admin switches to
block while the campaign is sending."""

from __future__ import annotations

from datetime import timedelta
from itertools import count as counter

import pytest
from sqlalchemy import select

from audience import segments
from audience.models import AddressChannel, AddressStatus, Contact, ContactAddress
from campaigns import channel_reach, review
from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.dispatch.progress import progress
from campaigns.models import Campaign, CampaignReview, CampaignStatus, MessageStatus, Sender, TemplateCategory
from compliance import policy
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, add_template, make_world
from tests.helpers import assert_problem, post_form, signed_in_client
from tests.records import audit_events
from tests.test_campaign_web import run, token
from tests.test_dispatch import fast_sender, ledger_keys, people, ranges, rows, sandbox_template, sending_campaign

__all__ = ["fast_sender"]  # a fixture used by name below

_ids = counter(5000)


def set_rule(**values) -> None:
    """An admin changes the channel rule (through the same service the settings page calls)."""
    policy.save_section("channels", {**policy.section_data("channels"), **values}, None)
    db.session.commit()


def bot(channel: str) -> Sender:
    """A bot sender: a row with no number (the bot senders' own forms are another branch's)."""
    sender = Sender(name=f"{channel} bot {next(_ids)}", phone=None, channel=channel, bot_username=f"shop_{channel}")
    db.session.add(sender)
    db.session.commit()
    return sender


def address(contact: Contact, sender: Sender, status: AddressStatus = AddressStatus.ACTIVE) -> ContactAddress:
    user_id = str(next(_ids))
    row = ContactAddress(contact_id=contact.id, sender_id=sender.id, channel=AddressChannel(sender.channel),
                         address=user_id, address_key=f"{sender.channel}:{user_id}", status=status,
                         consent_source="qr:shop", consent_at=utcnow() - timedelta(days=1))
    db.session.add(row)
    db.session.commit()
    return row


def messenger_only(country: str | None = "RU", tags: str = "|promo|") -> Contact:
    contact = Contact(phone=None, country=country, timezone="Europe/Moscow" if country else None, tags=tags,
                      consent_source="qr:shop", consent_at=utcnow() - timedelta(days=1))
    db.session.add(contact)
    db.session.commit()
    return contact


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


@pytest.fixture
def mixed(world):
    """The Promo segment: three Russian numbers (one on MAX, one whose MAX address is stopped, one on
    Telegram), a German number on Telegram, a messenger-only Russian on MAX, a messenger-only contact of
    unknown country on MAX and a Russian with an unusable number; outside it, a Russian on MAX."""
    max_bot, telegram_bot = bot("max"), bot("telegram")
    on_max, stopped, on_telegram = add_contact(), add_contact(), add_contact()
    address(on_max, max_bot)
    address(stopped, max_bot, AddressStatus.STOPPED)
    address(on_telegram, telegram_bot)
    address(add_contact("+4915112345678", country="DE", timezone="Europe/Berlin"), telegram_bot)
    address(messenger_only("RU"), max_bot)
    address(messenger_only(None), max_bot)
    add_contact("+7903", country="RU")
    address(add_contact(tags="|other|"), max_bot)
    world.bots = {"max": max_bot, "telegram": telegram_bot}
    return world


def reach_of(report: dict) -> dict[str, tuple[int, int, int, int]]:
    """Per channel: (reachable, lawful, warned, blocked)."""
    return {channel: (item["reachable"], item["lawful"], item["warned"], item["blocked"])
            for channel, item in report["channels"]["by_channel"].items()}


def submitted(world, **overrides) -> Campaign:
    campaign = world.campaign(**overrides)
    review.submit(campaign, world.marketer)
    db.session.commit()
    return campaign


# --- the preflight -------------------------------------------------------------------------------------------

def test_the_preflight_counts_each_channels_lawful_reach_and_warns_about_its_own(mixed):
    from campaigns import preflight

    report = preflight.run(mixed.campaign())
    assert reach_of(report) == {
        "whatsapp": (4, 4, 3, 0),  # the four usable numbers; the three Russian ones with a warning
        "telegram": (2, 2, 1, 0),  # active Telegram addresses: one Russian, one German
        "max": (3, 3, 0, 0),  # active MAX addresses in the segment (not the stopped one, not the outsider)
        "sms": (4, 4, 0, 0),
    }
    assert report["channels"]["channel"] == "whatsapp" and report["channels"]["outcome"] == "warn"
    assert report["channels"]["suggestion"] == "sms"  # reaches four without a warning; MAX three
    worded = preflight.readable(report)
    [warning] = [text for text in worded["warnings"] if "restricted" in text]
    assert warning.startswith("3 recipients in Russia") and "art. 5 part 10.7 of 38-FZ" in warning
    assert report["blocking"] == [] and report["outcome"] == "warn"


def test_the_suggestion_is_the_channel_that_reaches_most_without_a_warning(mixed):
    for _ in range(2):
        address(messenger_only("RU"), mixed.bots["max"])
    report = channel_reach.campaign_reach(mixed.campaign())
    assert report.by_channel["max"].clean == 5 and report.by_channel["sms"].clean == 4
    assert report.suggestion == "max"
    # A segment nobody in it can be reached by any channel: no suggestion.
    empty = segments.create_segment("Nobody", {"tags": ["nobody"]})
    db.session.commit()
    assert channel_reach.campaign_reach(mixed.campaign(name="Empty", segment=empty.name)).suggestion is None


def test_a_max_campaigns_own_channel_is_max_and_passes(mixed):
    campaign = mixed.campaign()
    campaign.sender_id = mixed.bots["max"].id  # a bot campaign's sender (the botdispatch branch makes these)
    db.session.commit()
    report = channel_reach.campaign_reach(campaign)
    assert (report.channel, report.outcome.value, report.own.reachable, report.sentences) == ("max", "pass", 3, [])


def test_block_mode_makes_the_restricted_channel_a_blocking_error_and_41fz_blocks_every_category(mixed):
    from campaigns import preflight

    set_rule(marketing_mode="block")
    report = preflight.readable(preflight.run(mixed.campaign()))
    assert reach_of(report)["whatsapp"] == (4, 1, 0, 3) and reach_of(report)["telegram"] == (2, 1, 0, 1)
    assert any(text.startswith("3 recipients in Russia cannot get") for text in report["blocking"])
    with pytest.raises(review.ReviewError, match="this workspace blocks it"):
        review.submit(mixed.campaign(name="Blocked"), mixed.marketer)
    db.session.rollback()

    set_rule(marketing_mode="warning", covered_by_41fz=True)
    utility = add_template("order_ready", category=TemplateCategory.UTILITY)
    report = preflight.readable(preflight.run(mixed.campaign(
        name="Order", template={"name": utility.name, "language": utility.language})))
    assert reach_of(report)["whatsapp"] == (4, 1, 0, 3) and reach_of(report)["max"] == (3, 3, 0, 0)
    assert any("41-FZ" in text and text.startswith("3 recipients") for text in report["blocking"])


def test_utility_through_whatsapp_to_russia_passes_without_41fz(mixed):
    utility = add_template("order_ready", category=TemplateCategory.UTILITY)
    report = channel_reach.campaign_reach(mixed.campaign(
        name="Order", template={"name": utility.name, "language": utility.language}))
    assert report.outcome.value == "pass" and report.by_channel["whatsapp"].warned == 0


# --- the review ----------------------------------------------------------------------------------------------

def test_an_approval_despite_a_warning_needs_a_written_acknowledgement_and_is_audited_with_it(mixed):
    campaign = submitted(mixed)
    for words in (None, "", "   ", "Согласен.", "I agree fully"):  # no sentence: refused, nothing changes
        with pytest.raises(review.ReviewError, match="acknowledge this in writing") as refused:
            review.approve(campaign, mixed.reviewer, acknowledgement=words)
        assert refused.value.status == 422
        db.session.rollback()
        assert db.session.get(Campaign, campaign.id).status is CampaignStatus.IN_REVIEW
    assert db.session.scalars(select(CampaignReview)).all() == []

    decision = review.approve(campaign, mixed.reviewer, acknowledgement=f"  {ACKNOWLEDGEMENT}\n")
    db.session.commit()
    assert decision.acknowledgement == ACKNOWLEDGEMENT
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SCHEDULED
    [approved] = audit_events("campaign.approve")
    assert approved.actor_id == mixed.reviewer.id and approved.details["acknowledgement"] == ACKNOWLEDGEMENT
    assert approved.details["channel_rule"] == {"channel": "whatsapp", "warned": 3}


def test_an_approval_without_a_warning_needs_no_acknowledgement(world):
    add_contact("+4915112345678", country="DE", timezone="Europe/Berlin")
    foreign = segments.create_segment("Germany", {"countries": ["DE"]})
    db.session.commit()
    campaign = submitted(world, segment=foreign.name)
    decision = review.approve(campaign, world.reviewer)
    db.session.commit()
    assert decision.acknowledgement is None
    [approved] = audit_events("campaign.approve")
    assert "acknowledgement" not in approved.details and "channel_rule" not in approved.details


def test_an_admin_switching_to_block_after_the_submission_refuses_the_approval(mixed):
    campaign = submitted(mixed)
    set_rule(marketing_mode="block")
    with pytest.raises(review.ReviewError, match="this workspace blocks it") as refused:
        review.approve(campaign, mixed.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    assert refused.value.status == 422
    db.session.rollback()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.IN_REVIEW


def test_the_review_page_asks_for_the_acknowledgement_and_refuses_without_it(app, mixed):
    campaign = submitted(mixed)
    reviewer = signed_in_client(app, mixed.reviewer.email)
    page = reviewer.get(f"/reviews/{campaign.id}").get_data(as_text=True)
    assert 'name="acknowledgement"' in page and "3 recipients in Russia would get" in page
    assert 'id="channel-reach"' in page and "Lawful reach by channel" in page

    response = post_form(reviewer, f"/reviews/{campaign.id}/approve", {"note": "ok"}, page=f"/reviews/{campaign.id}")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.IN_REVIEW
    assert "acknowledge this in writing" in reviewer.get(response.location).get_data(as_text=True)

    response = post_form(reviewer, f"/reviews/{campaign.id}/approve", {"acknowledgement": ACKNOWLEDGEMENT},
                         page=f"/reviews/{campaign.id}")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SCHEDULED
    shown = reviewer.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert ACKNOWLEDGEMENT in shown and "Channel warning acknowledged" in shown


def test_the_api_and_the_cli_take_the_acknowledgement(app, client, mixed):
    headers = token(mixed.reviewer)
    campaign = submitted(mixed)
    response = client.post(f"/api/v1/campaigns/{campaign.id}/approve", json={"note": "ok"}, headers=headers)
    assert_problem(response, 422, detail="acknowledge this in writing")
    response = client.post(f"/api/v1/campaigns/{campaign.id}/approve",
                           json={"acknowledgement": ACKNOWLEDGEMENT}, headers=headers)
    assert response.status_code == 200 and response.json["status"] == "scheduled"
    assert [item["acknowledgement"] for item in response.json["reviews"]] == [ACKNOWLEDGEMENT]
    assert response.json["preflight"]["channels"]["suggestion"] == "sms"

    other = submitted(mixed, name="Other")
    result = run(app, "approve", str(other.id), "--as", mixed.reviewer.email, "--acknowledgement", "Ок")
    assert result.exit_code == 1 and "at least 3 words" in result.output
    result = run(app, "approve", str(other.id), "--as", mixed.reviewer.email, "--acknowledgement", ACKNOWLEDGEMENT)
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(CampaignReview.acknowledgement)
                             .where(CampaignReview.campaign_id == other.id)) == ACKNOWLEDGEMENT


# --- send time -----------------------------------------------------------------------------------------------

def test_an_admin_switching_to_block_mid_campaign_stops_the_rest_at_send_time(app, sandbox, fast_sender):
    app.config["DISPATCH_BATCH_SIZE"] = 3
    people(6)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    (first, last), *later = ranges(campaign.id)
    dispatch_jobs.send_batch(campaign.id, first, last)  # warning mode: acknowledged at review, so it goes out
    sent = {row.id for row in rows(campaign.id) if row.status is MessageStatus.SENT}
    assert sent

    set_rule(marketing_mode="block")
    for first, last in later:
        dispatch_jobs.send_batch(campaign.id, first, last)
    after = rows(campaign.id)
    held = [row for row in after if row.id not in sent]
    assert held and {(row.status, row.error_code, row.lease_owner) for row in held} == {
        (MessageStatus.SKIPPED, "channel_rule", None)}
    assert sorted(ledger_keys(sandbox)) == sorted(row.idempotency_key for row in after if row.id in sent)
    state = progress(db.session.get(Campaign, campaign.id))
    [failure] = [item for item in state["failures"] if item["code"] == "channel_rule"]
    assert failure["count"] == len(held) and "Russia" in failure["sentence"]
    assert state["status"] == "completed"


def test_under_41fz_nothing_goes_through_whatsapp_to_russia_whatever_the_list_says(app, sandbox, fast_sender):
    people(2)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    set_rule(covered_by_41fz=True, restricted_channels=[])
    for first, last in ranges(campaign.id):
        dispatch_jobs.send_batch(campaign.id, first, last)
    assert {(row.status, row.error_code) for row in rows(campaign.id)} == {(MessageStatus.SKIPPED, "channel_rule")}
    assert ledger_keys(sandbox) == []
