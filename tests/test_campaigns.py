"""Campaigns as a service: senders, create from a spec, validation sentences, the content hash,
edits that void a review or an approval, and every lifecycle transition, legal and illegal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from audience import segments
from campaigns import campaign_specs, lifecycle, senders, template_approvals
from campaigns.campaign_specs import CampaignError
from campaigns.lifecycle import TRANSITIONS, TransitionError
from campaigns.models import Campaign, CampaignStatus, Sender, TemplateStatus
from campaigns.senders import SenderError
from compliance.audit import AuditEvent
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import add_template, make_world, tomorrow_at
from tests.records import audit_events


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


def errors_of(spec) -> list[str]:
    with pytest.raises(CampaignError) as caught:
        campaign_specs.create_campaign(spec)
    db.session.rollback()
    return caught.value.errors


def force_status(campaign: Campaign, status: CampaignStatus) -> None:
    campaign.status = status
    db.session.commit()


# --- senders ------------------------------------------------------------------------------------------

def test_create_sender_normalises_the_phone_and_audits(app):
    sender = senders.create_sender("Shop", "8 (495) 765-43-21", tier="TIER_2K", messages_per_second=30)
    db.session.commit()
    assert (sender.phone, sender.tier, sender.messages_per_second) == ("+74957654321", "TIER_2K", 30)
    assert senders.find_sender("Shop") is sender and senders.find_sender(str(sender.id)) is sender
    assert senders.find_sender("+74957654321") is sender
    assert audit_events("sender.created")[0].details["name"] == "Shop"


def test_create_sender_refuses_mistakes_with_sentences(app):
    senders.create_sender("Shop", "+74957654321")
    db.session.commit()
    with pytest.raises(SenderError) as caught:
        senders.create_sender("", "12", tier="TIER_1", messages_per_second=0)
    assert len(caught.value.errors) == 4
    with pytest.raises(SenderError, match="already exists"):
        senders.create_sender("Shop", "+74950000000")
    assert db.session.scalar(select(func.count()).select_from(Sender)) == 1


# --- creating ------------------------------------------------------------------------------------------

def test_create_campaign_from_a_spec(world):
    campaign = world.campaign()
    assert campaign.status is CampaignStatus.DRAFT
    assert (campaign.template_id, campaign.segment_id, campaign.sender_id) == (
        world.template.id,
        world.segment.id,
        world.sender.id,
    )
    assert campaign.send_at == tomorrow_at(9)
    assert campaign.created_by_id == campaign.updated_by_id == world.marketer.id
    assert len(campaign.content_hash) == 64 and campaign.content_hash == campaign_specs.content_hash(campaign)
    assert audit_events("campaign.created")[0].object_id == str(campaign.id)


def test_template_by_name_takes_its_current_version(world):
    world.template.is_current = False
    newer = add_template(version=2)
    assert world.campaign().template_id == newer.id
    assert world.campaign(template=world.template.id).template_id == world.template.id


def test_send_at_empty_means_now_and_defaults(world):
    campaign = world.campaign(send_at=None, messages_per_second=None)
    assert campaign.send_at is None and campaign.messages_per_second == 20


def test_every_mistake_is_a_sentence_naming_its_field(world):
    errors = errors_of(world.spec(
        name=" ", sender="nobody", segment="nowhere", send_at=(utcnow() - timedelta(hours=1)).isoformat(),
        send_window={"start": "21:00", "end": "09:00"},
        variables={"1": {"source": "field", "value": "shoe_size"}, "2": {"source": "constant", "value": "x"}}))
    assert any(e.startswith("Name:") for e in errors)
    assert any(e.startswith("Sender:") for e in errors)
    assert any(e.startswith("Segment:") for e in errors)
    assert any(e.startswith("Send time:") and "past" in e for e in errors)
    assert any(e.startswith("Send window:") for e in errors)
    assert any("{{1}}" in e and "shoe_size" in e and "not a contact field" in e for e in errors)
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


@pytest.mark.parametrize(("window", "kept"), [
    ({"start": " 10:00", "end": "20:30 "}, {"start": "10:00", "end": "20:30"}),
    ({"start": "9:00", "end": "20:00"}, "Send window: write the times as HH:MM, for example 09:00."),
    ({"start": "10:00", "end": "24:00"}, "Send window: write the times as HH:MM, for example 09:00."),
    ({"start": 10, "end": "20:00"}, "Send window: write the times as HH:MM, for example 09:00."),
    ({"start": "20:00", "end": "20:00"}, "Send window: it must start before it ends."),
])
def test_a_send_window_is_two_times_written_hh_mm(world, window, kept):
    if isinstance(kept, dict):
        assert world.campaign(send_window=window).send_window == kept
    else:
        assert errors_of(world.spec(send_window=window)) == [kept]


def test_every_template_variable_must_be_mapped(world):
    errors = errors_of(world.spec(variables={"1": {"source": "attribute", "value": "first_name"}}))
    assert errors == ["Variables: map every template variable to a source; missing: {{2}}."]
    errors = errors_of(world.spec(variables={**world.spec()["variables"], "3": {"source": "constant", "value": "x"}}))
    assert errors == ["Variables: the template has no variable {{3}}."]


def test_rate_may_not_exceed_the_senders_throughput(world):
    errors = errors_of(world.spec(messages_per_second=51))
    assert errors == ["Rate: 51 messages per second is more than the sender “Main” allows (50)."]
    assert errors_of(world.spec(messages_per_second=0))[0].startswith("Rate:")


def test_unknown_template_and_bad_send_at(world):
    errors = errors_of(world.spec(template={"name": "nope", "language": "ru"}, send_at="tomorrow"))
    assert errors[0].startswith("Template:") and errors[-1].startswith("Send time:")


# --- the content hash ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "change",
    [
        {
            "variables": {
                "1": {"source": "field", "value": "city", "fallback": ""},
                "2": {"source": "constant", "value": "Москве"},
            }
        },
        {"send_at": None},
        {"send_window": {"start": "10:00", "end": "18:00"}},
        {"messages_per_second": 10},
    ],
)
def test_the_hash_covers_what_decides_what_is_sent_to_whom(world, change):
    campaign = world.campaign()
    before = campaign.content_hash
    campaign_specs.update_campaign(campaign, change, world.marketer)
    assert campaign.content_hash != before


def test_the_hash_follows_the_segment_template_and_sender(world):
    campaign = world.campaign()
    before = campaign_specs.content_hash(campaign)
    segments.update_segment(world.segment, definition={"tags": ["vip"]})
    assert campaign_specs.content_hash(campaign) != before
    middle = campaign_specs.content_hash(campaign)
    other = senders.create_sender("Second", "+74957777777")
    campaign_specs.update_campaign(campaign, {"sender": other.id})
    assert campaign.content_hash not in (before, middle)


def test_a_rename_is_not_content(world):
    campaign = world.campaign()
    before = campaign.content_hash
    campaign_specs.update_campaign(campaign, {"name": "Winter sale"})
    assert campaign.content_hash == before and campaign.name == "Winter sale"


# --- edits void reviews and approvals --------------------------------------------------------------------

@pytest.mark.parametrize("status", [CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED])
def test_a_content_edit_returns_the_campaign_to_draft_and_voids_the_approval(world, status):
    campaign = world.campaign()
    campaign.status, campaign.approved_hash, campaign.approved_by_id = status, campaign.content_hash, world.reviewer.id
    db.session.commit()
    campaign_specs.update_campaign(campaign, {"messages_per_second": 5}, world.marketer)
    db.session.commit()
    assert (
        campaign.status is CampaignStatus.DRAFT and campaign.approved_hash is None and campaign.approved_by_id is None
    )
    assert audit_events("campaign.edit")[0].details == {"from": status.value, "to": "draft", "reason": "content edited"}


def test_a_rename_keeps_the_approval(world):
    campaign = world.campaign()
    campaign.status, campaign.approved_hash = CampaignStatus.APPROVED, campaign.content_hash
    db.session.commit()
    campaign_specs.update_campaign(campaign, {"name": "Renamed"}, world.marketer)
    assert campaign.status is CampaignStatus.APPROVED and campaign.approved_hash == campaign.content_hash


def test_any_edit_of_a_rejected_campaign_makes_it_a_draft(world):
    campaign = world.campaign()
    force_status(campaign, CampaignStatus.REJECTED)
    campaign_specs.update_campaign(campaign, {"name": "Fixed"}, world.marketer)
    assert campaign.status is CampaignStatus.DRAFT and audit_events("campaign.revise")


def test_the_last_editor_is_recorded(world, make_user):
    campaign = world.campaign()
    other = make_user("marketer")
    campaign_specs.update_campaign(campaign, {"messages_per_second": 7}, other)
    assert campaign.updated_by_id == other.id and campaign.created_by_id == world.marketer.id


@pytest.mark.parametrize(
    "status",
    [
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
        CampaignStatus.COMPLETED,
        CampaignStatus.CANCELLED,
        CampaignStatus.FAILED,
    ],
)
def test_a_launched_or_finished_campaign_cannot_be_edited(world, status):
    campaign = world.campaign()
    force_status(campaign, status)
    with pytest.raises(CampaignError, match="can no longer be edited"):
        campaign_specs.update_campaign(campaign, {"messages_per_second": 5})


def test_a_failed_edit_changes_nothing(world):
    campaign = world.campaign()
    with pytest.raises(CampaignError):
        campaign_specs.update_campaign(campaign, {"messages_per_second": 500, "name": "X"})
    db.session.rollback()
    assert campaign.messages_per_second == 20 and campaign.name == "Autumn sale"


# --- the lifecycle -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "target"), sorted(TRANSITIONS, key=lambda pair: (pair[0].value, pair[1].value)))
def test_every_legal_transition_moves_and_is_audited(world, source, target):
    campaign = world.campaign()
    force_status(campaign, source)
    lifecycle.transition(campaign, target, actor=world.reviewer, reason="because")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is target
    event = audit_events(f"campaign.{TRANSITIONS[source, target]}")[-1]
    assert event.details == {"from": source.value, "to": target.value, "reason": "because"}
    assert event.actor_id == world.reviewer.id


ILLEGAL = [(a, b) for a in CampaignStatus for b in CampaignStatus if (a, b) not in TRANSITIONS]


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a.value}-{b.value}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused_with_a_sentence(world, source, target):
    campaign = world.campaign()
    force_status(campaign, source)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(TransitionError) as caught:
        lifecycle.transition(campaign, target)
    assert str(caught.value).startswith("A campaign that is “")
    assert campaign.status is source
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_stale_object_loses_the_compare_and_set(world):
    campaign = world.campaign()
    assert campaign.status is CampaignStatus.DRAFT  # loaded: this object believes it is a draft
    db.session.execute(Campaign.__table__.update().values(status="cancelled"))
    with pytest.raises(TransitionError, match="Someone else changed this campaign") as lost:
        lifecycle.transition(campaign, CampaignStatus.IN_REVIEW)
    assert campaign.status is CampaignStatus.CANCELLED and lost.value.status == 409


def test_an_edit_made_on_a_stale_status_is_refused(world):
    campaign = world.campaign()
    assert campaign.status is CampaignStatus.DRAFT
    db.session.execute(Campaign.__table__.update().values(status="in_review"))
    with pytest.raises(CampaignError, match="Someone else changed this campaign") as lost:
        campaign_specs.update_campaign(campaign, {"messages_per_second": 5})
    assert lost.value.status == 409


def test_cancel_through_the_service(world):
    campaign = world.campaign()
    campaign_specs.cancel_campaign(campaign, world.marketer)
    assert campaign.status is CampaignStatus.CANCELLED
    with pytest.raises(TransitionError):
        campaign_specs.cancel_campaign(campaign)


def test_list_campaigns_by_status(world):
    first, second = world.campaign(), world.campaign(name="Second")
    force_status(second, CampaignStatus.CANCELLED)
    assert campaign_specs.list_campaigns() == [second, first]
    assert campaign_specs.list_campaigns(CampaignStatus.DRAFT) == [first]


def test_variable_values_take_fields_attributes_constants_and_fallbacks(world):
    from tests.campaign_world import add_contact

    contact = add_contact(name="Анна", attributes={"level": "gold"})
    mapping = {"a": {"source": "field", "value": "name", "fallback": "друг"},
               "b": {"source": "attribute", "value": "level", "fallback": "basic"},
               "c": {"source": "attribute", "value": "missing", "fallback": "basic"},
               "d": {"source": "field", "value": "city", "fallback": "вашем городе"},
               "e": {"source": "constant", "value": "20%", "fallback": ""}}
    assert campaign_specs.variable_values(mapping, contact) == {
        "a": "Анна",
        "b": "gold",
        "c": "basic",
        "d": "вашем городе",
        "e": "20%",
    }


def test_a_pending_template_can_be_used_in_a_draft(world):
    pending = add_template("pending_one", status=TemplateStatus.PENDING)
    assert world.campaign(template=pending.id).template_id == pending.id


@pytest.mark.parametrize("status", [TemplateStatus.REJECTED, TemplateStatus.PAUSED, TemplateStatus.DISABLED,
                                    TemplateStatus.DRAFT])
def test_a_template_that_cannot_be_sent_is_refused_with_a_sentence(world, status):
    unusable = add_template("not_usable", status=status)
    label = {TemplateStatus.REJECTED: "Rejected", TemplateStatus.PAUSED: "Paused", TemplateStatus.DISABLED: "Disabled",
             TemplateStatus.DRAFT: "Draft"}[status]
    sentence = (f"Template: “not_usable” (ru) is “{label}” at WhatsApp for the sender “Main”; choose a template "
                "approved for this sender, or one WhatsApp is still reviewing.")
    with pytest.raises(campaign_specs.CampaignError) as refused:
        campaign_specs.create_campaign(world.spec(template=unusable.id), world.marketer)
    assert refused.value.errors == [sentence]
    db.session.rollback()
    campaign = world.campaign()
    with pytest.raises(campaign_specs.CampaignError) as refused:
        campaign_specs.update_campaign(campaign, {"template": {"name": "not_usable", "language": "ru"}}, world.marketer)
    assert refused.value.errors == [sentence]


def test_a_campaign_keeps_its_template_when_the_template_loses_its_approval(world):
    campaign = world.campaign()
    template_approvals.set_status(world.template, "paused", "Quality rating dropped.")
    db.session.commit()
    campaign_specs.update_campaign(campaign, {"template": world.template.id, "name": "Renamed"}, world.marketer)
    assert campaign.name == "Renamed"  # the launch refuses it later, with its own sentence
    assert world.template not in campaign_specs.usable_templates()
    assert world.template in campaign_specs.usable_templates(keep=campaign.template_id)


def test_a_template_approved_for_another_senders_account_is_refused_for_this_one(world):
    other = senders.create_sender("Other", "+74957777700", channel="whatsapp_cloud", phone_number_id="1",
                                         waba_id="999", access_token="EAAG-other-token")
    db.session.commit()
    only_there = add_template("only_other_account", status=TemplateStatus.DRAFT)
    template_approvals.set_status(only_there, "approved", sender=other)
    db.session.commit()
    assert only_there.status is TemplateStatus.APPROVED  # approved somewhere: the sum says so
    with pytest.raises(campaign_specs.CampaignError) as refused:
        world.campaign(template=only_there.id)
    assert "for the sender “Main”" in refused.value.errors[0]
    assert world.campaign(template=only_there.id, sender="Other").template_id == only_there.id
    assert only_there in campaign_specs.usable_templates(sender=other)
    assert only_there not in campaign_specs.usable_templates(sender=world.sender)
