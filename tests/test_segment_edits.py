"""Editing a segment that campaigns rely on: the edit names the campaigns whose review or approval it
voids before anything is saved (service, page, API, CLI), and once confirmed they return to draft
through the lifecycle, audited, a scheduled one without its launch job; launched campaigns keep theirs."""

from __future__ import annotations

import html
import re

import pytest
from rq.exceptions import NoSuchJobError
from rq.job import Job

from audience import segments
from campaigns import review
from campaigns.content import content_hash
from campaigns.launch import launch_job_id
from campaigns.models import Campaign, CampaignStatus
from extensions import db, redis_queues
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, make_world
from tests.helpers import assert_problem, post_form, signed_in_client
from tests.records import audit_events

NEW = {"tags": ["promo"], "countries": ["RU"]}


@pytest.fixture
def world(app, make_user):
    world = make_world(make_user)
    add_contact("+79030000001", name="Анна")
    add_contact("+79030000002", name="Борис")
    return world


@pytest.fixture
def campaigns_on_segment(world):
    """One campaign on the segment in each status that matters, by status."""
    made = {
        status: world.campaign(name=f"Campaign {status.value}")
        for status in (
            CampaignStatus.DRAFT,
            CampaignStatus.IN_REVIEW,
            CampaignStatus.APPROVED,
            CampaignStatus.SCHEDULED,
            CampaignStatus.SENDING,
        )
    }
    for status in (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        review.submit(made[status], world.marketer)
    for status in (CampaignStatus.APPROVED, CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        review.approve(made[status], world.reviewer, schedule=status is not CampaignStatus.APPROVED,
                       acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    made[
        CampaignStatus.SENDING
    ].status = CampaignStatus.SENDING  # launched: its rows are materialised (the launch has its own tests)
    db.session.commit()
    return made


def statuses(made) -> dict[CampaignStatus, CampaignStatus]:
    db.session.expire_all()
    return {status: db.session.get(Campaign, campaign.id).status for status, campaign in made.items()}


def unchanged(made) -> dict[CampaignStatus, CampaignStatus]:
    return {status: status for status in made}


def job_exists(campaign_id: int) -> bool:
    try:
        Job.fetch(launch_job_id(campaign_id), connection=redis_queues.connection)
    except NoSuchJobError:
        return False
    return True


def ids_of(made, *chosen: CampaignStatus) -> list[int]:
    return [made[status].id for status in chosen]


def voided_keys(made) -> list[str]:
    return [
        f"campaign:{made[status].id}:{status.value}"
        for status in (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED)
    ]


# --- the service ---------------------------------------------------------------------------------------

def test_a_new_definition_names_the_campaigns_it_voids_and_saves_nothing(world, campaigns_on_segment):
    with pytest.raises(segments.SegmentInUseError) as refused:
        segments.update_segment(world.segment, definition=NEW, actor=world.marketer)
    db.session.rollback()
    made = campaigns_on_segment
    assert [(use.name, use.status) for use in refused.value.uses] == [
        ("Campaign in_review", "in_review"), ("Campaign approved", "approved"), ("Campaign scheduled", "scheduled")]
    assert refused.value.errors == [("Saving this change returns these campaigns to draft, because their review or "
                                     "approval covered the segment as it was: “Campaign in_review” (In review), "
                                     "“Campaign approved” (Approved), “Campaign scheduled” (Scheduled). "
                                     "Confirm the change to save it.")]
    assert db.session.get(type(world.segment), world.segment.id).definition == {"tags": ["promo"]}
    assert statuses(made) == unchanged(made) and audit_events("segment.updated") == []
    assert segments.uses_if_redefined(world.segment, {"tags": ["promo"]}) == []  # the same definition
    assert [use.key for use in segments.uses_if_redefined(world.segment, NEW)] == voided_keys(made)


def test_a_confirmed_edit_returns_them_to_draft_audited_and_drops_the_launch_job(world, campaigns_on_segment):
    made = campaigns_on_segment
    scheduled = made[CampaignStatus.SCHEDULED]
    assert job_exists(scheduled.id)
    segments.update_segment(world.segment, definition=NEW, actor=world.marketer, confirmed=voided_keys(made))
    assert job_exists(scheduled.id)  # not before the commit: a rollback would leave the campaign scheduled
    db.session.commit()
    assert not job_exists(scheduled.id)
    assert statuses(made) == {
        CampaignStatus.DRAFT: CampaignStatus.DRAFT,
        CampaignStatus.IN_REVIEW: CampaignStatus.DRAFT,
        CampaignStatus.APPROVED: CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED: CampaignStatus.DRAFT,
        CampaignStatus.SENDING: CampaignStatus.SENDING,
    }
    for status in (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED):
        campaign = db.session.get(Campaign, made[status].id)
        assert campaign.approved_hash is None and campaign.content_hash == content_hash(campaign)
    edits = audit_events("campaign.edit")
    assert sorted(int(event.object_id) for event in edits) == ids_of(
        made, CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED
    )
    assert {(event.details["reason"], event.details["segment_id"], event.actor_label) for event in edits} == {
        ("segment edited", world.segment.id, world.marketer.email)}
    assert audit_events("segment.updated")[0].details["voided"] == voided_keys(made)
    review.submit(db.session.get(Campaign, scheduled.id), world.marketer)  # a draft again, to review anew


def test_a_rollback_keeps_the_campaigns_and_the_launch_job(world, campaigns_on_segment):
    made = campaigns_on_segment
    segments.update_segment(world.segment, definition=NEW, confirmed=voided_keys(made))
    db.session.rollback()
    assert statuses(made) == unchanged(made) and job_exists(made[CampaignStatus.SCHEDULED].id)


def test_a_confirmation_that_missed_a_change_is_asked_again(world, campaigns_on_segment):
    made = campaigns_on_segment
    seen = voided_keys(made)
    # approved since the editor looked
    review.approve(made[CampaignStatus.IN_REVIEW], world.reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    with pytest.raises(segments.SegmentInUseError):
        segments.update_segment(world.segment, definition=NEW, confirmed=seen)
    db.session.rollback()
    assert statuses(made)[CampaignStatus.IN_REVIEW] is CampaignStatus.APPROVED


def test_a_rename_or_a_campaign_nobody_approved_needs_no_confirmation(world, campaigns_on_segment):
    made = campaigns_on_segment
    segments.update_segment(world.segment, name="Promo 2", description="Renamed")
    db.session.commit()
    assert statuses(made) == unchanged(made)
    other = segments.create_segment("Other", {"tags": ["other"]})
    db.session.commit()
    segments.update_segment(other, definition={"tags": ["else"]})
    db.session.commit()


# --- the page, the API, the CLI ------------------------------------------------------------------------

def page_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def builder(**fields) -> dict:
    data = {"name": "Promo", "description": "", "countries": "", "regions": "", "cities": "", "near_city": "",
            "near_latitude": "", "near_longitude": "", "near_km": "", "timezones": "", "tags": "promo"}
    data.update(fields)
    return data


@pytest.mark.parametrize("language, status_label, button", [
    ("en", "Scheduled", "Save and return these campaigns to draft"),
    ("ru", "Запланировано", "Сохранить и вернуть эти кампании в черновики"),
])
def test_the_page_asks_before_saving_and_then_returns_them_to_draft(app, make_user, world, campaigns_on_segment,
                                                                   language, status_label, button):
    made = campaigns_on_segment
    editor = make_user("marketer", language=language)
    browser = signed_in_client(app, editor.email)
    path = f"/audience/segments/{world.segment.id}"
    asked = post_form(browser, path, {**builder(countries="RU"), "action": "save"})
    page = page_of(asked)
    assert asked.status_code == 409 and button in page
    shown = re.findall(r'<a href="/campaigns/(\d+)">([^<]+)</a> — ([^<\n]+)', page)
    assert shown[2] == (str(made[CampaignStatus.SCHEDULED].id), "Campaign scheduled", status_label)
    shown_ids = [int(campaign_id) for campaign_id, _name, _label in shown]
    assert shown_ids == ids_of(made, CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED)
    assert re.findall(r'name="confirm" value="([^"]+)"', page) == voided_keys(made)
    assert statuses(made) == unchanged(made)
    assert db.session.get(type(world.segment), world.segment.id).definition == {"tags": ["promo"]}

    saved = post_form(browser, path, {**builder(countries="RU"), "action": "save", "confirm": voided_keys(made)})
    assert saved.status_code == 302
    assert statuses(made)[CampaignStatus.SCHEDULED] is CampaignStatus.DRAFT and not job_exists(
        made[CampaignStatus.SCHEDULED].id
    )
    assert "Campaign scheduled" in page_of(browser.get(path))  # the flash names them
    detail = page_of(browser.get(f"/campaigns/{made[CampaignStatus.SCHEDULED].id}"))
    assert "Campaign scheduled" in detail and ("Draft" if language == "en" else "Черновик") in detail


def test_the_api_answers_409_with_the_campaigns_until_they_are_confirmed(call_as, world, campaigns_on_segment):
    made = campaigns_on_segment
    path = f"/segments/{world.segment.id}"
    refused = call_as("PUT", path, json={"definition": NEW})
    assert_problem(refused, 409, "conflict", detail="Saving this change returns these campaigns")
    assert [use["key"] for use in refused.json["affected"]] == voided_keys(made)
    assert refused.json["affected"][0] == {
        "kind": "campaign",
        "id": made[CampaignStatus.IN_REVIEW].id,
        "name": "Campaign in_review",
        "status": "in_review",
        "key": voided_keys(made)[0],
    }
    assert statuses(made) == unchanged(made)
    saved = call_as("PUT", path, json={"definition": NEW, "confirm": voided_keys(made)})
    assert saved.status_code == 200 and saved.json["definition"] == {"countries": ["RU"], "tags": ["promo"]}
    assert [use["id"] for use in saved.json["returned_to_draft"]] == ids_of(
        made, CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED
    )
    assert statuses(made)[CampaignStatus.APPROVED] is CampaignStatus.DRAFT


def test_the_cli_lists_the_campaigns_and_asks(app, world, campaigns_on_segment):
    made = campaigns_on_segment
    runner = app.test_cli_runner()
    command = ["audience", "segment", "update", "Promo", "--definition", '{"tags": ["promo"], "countries": ["RU"]}']
    declined = runner.invoke(args=command, input="n\n")
    assert declined.exit_code == 1 and "Campaign scheduled\tscheduled" in declined.output
    assert statuses(made) == unchanged(made)
    accepted = runner.invoke(args=command, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Updated segment “Promo”" in accepted.output
    assert statuses(made)[CampaignStatus.IN_REVIEW] is CampaignStatus.DRAFT and not job_exists(
        made[CampaignStatus.SCHEDULED].id
    )
    renamed = runner.invoke(args=["audience", "segment", "update", "Promo", "--rename", "Promo RU"])
    assert renamed.exit_code == 0 and "Updated segment “Promo RU”" in renamed.output
