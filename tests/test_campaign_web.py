"""Campaigns from the outside: the JSON API, the `flask campaigns` commands and the pages."""

from __future__ import annotations

import json
import re

import pytest

from accounts import tokens
from campaigns import review, senders, template_approvals
from campaigns.launch import launch_job_id
from campaigns.models import Campaign, CampaignStatus, Template
from extensions import db, redis_queues
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, add_template, make_world
from tests.helpers import assert_problem
from tests.records import audit_events


@pytest.fixture
def world(app, make_user):
    made = make_world(make_user)
    add_contact("+79030000001", name="Анна")
    add_contact("+79030000002")
    return made


def token(user) -> dict[str, str]:
    _row, plaintext = tokens.create_token(user, "script")
    db.session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


# --- the API ------------------------------------------------------------------------------------------------

def test_the_api_walks_a_campaign_from_spec_to_scheduled(client, world):
    author, reviewer = token(world.marketer), token(world.reviewer)
    response = client.post("/api/v1/campaigns", json=world.spec(), headers=author)
    assert response.status_code == 201
    campaign_id = response.json["id"]
    assert response.json["status"] == "draft" and response.json["reviews"] == []

    response = client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=author)
    assert response.status_code == 200 and response.json["status"] == "in_review"
    assert response.json["preflight"]["audience"]["eligible"] == 2 and response.json["estimate"]["total_minor"] == 16

    queue = client.get("/api/v1/reviews", headers=reviewer).json
    assert [item["id"] for item in queue["campaigns"]] == [campaign_id] and "other" in queue["reasons"]

    response = client.post(f"/api/v1/campaigns/{campaign_id}/approve", json={"note": "ok"}, headers=author)
    assert_problem(response, 403)  # a marketer holds no reviewer role
    response = client.post(f"/api/v1/campaigns/{campaign_id}/approve",
                           json={"note": "ok", "acknowledgement": ACKNOWLEDGEMENT}, headers=reviewer)
    assert response.status_code == 200 and response.json["status"] == "scheduled"
    assert response.json["approved_hash"] == response.json["content_hash"]

    listed = client.get("/api/v1/campaigns?status=scheduled", headers=author).json["campaigns"]
    assert [item["id"] for item in listed] == [campaign_id]
    response = client.post(f"/api/v1/campaigns/{campaign_id}/cancel", json={"reason": "changed plans"}, headers=author)
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    response = client.post(f"/api/v1/campaigns/{campaign_id}/cancel", headers=author)
    assert_problem(response, 409, detail="cannot become")


def test_the_api_refuses_a_self_approval_with_403(client, world, make_user):
    admin = make_user("admin")
    headers = token(admin)
    campaign_id = client.post("/api/v1/campaigns", json=world.spec(), headers=headers).json["id"]
    client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=headers)
    response = client.post(f"/api/v1/campaigns/{campaign_id}/approve", headers=headers)
    assert_problem(response, 403, detail="four-eyes")


def test_the_api_rejects_with_a_reason_and_the_author_edits(client, world):
    author, reviewer = token(world.marketer), token(world.reviewer)
    campaign_id = client.post("/api/v1/campaigns", json=world.spec(), headers=author).json["id"]
    client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=author)
    response = client.post(f"/api/v1/campaigns/{campaign_id}/reject", json={"reason_code": "other"}, headers=reviewer)
    assert_problem(response, 400, detail="Other")
    response = client.post(f"/api/v1/campaigns/{campaign_id}/reject",
                           json={"reason_code": "timing", "reason": "Not on a Sunday"}, headers=reviewer)
    assert response.status_code == 200 and response.json["status"] == "rejected"
    assert response.json["reviews"][0]["reason_label"] == "Bad timing, schedule or send window — Not on a Sunday"
    response = client.put(f"/api/v1/campaigns/{campaign_id}", json={"messages_per_second": 5}, headers=author)
    assert response.status_code == 200 and response.json["status"] == "draft"
    assert response.json["changes_since_last_review"][0]["field"] == "messages_per_second"


def test_the_api_explains_bad_specs_and_blocked_submissions(client, world):
    author = token(world.marketer)
    response = client.post(
        "/api/v1/campaigns", json=world.spec(messages_per_second=500, segment="nope"), headers=author
    )
    assert [error["field"] for error in assert_problem(response, 400)["errors"]] == ["segment", "messages_per_second"]
    missing = client.get("/api/v1/campaigns/999", headers=author)
    assert_problem(missing, 404, detail="There is no campaign with this id.")
    campaign_id = client.post("/api/v1/campaigns", json=world.spec(segment=world.segment.id), headers=author).json["id"]
    from audience import segments

    segments.update_segment(world.segment, definition={"tags": ["nobody"]})
    db.session.commit()
    response = client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=author)
    blocked = assert_problem(response, 422)
    assert blocked["report"]["audience"]["eligible"] == 0
    assert [error["message"] for error in blocked["errors"]] == blocked["report"]["blocking"]


def test_rate_card_and_senders_over_the_api(client, world, make_user):
    admin, marketer = token(make_user("admin")), token(world.marketer)
    assert client.get("/api/v1/rate-card", headers=marketer).json["currency"] == "USD"
    card = {"currency": "RUB", "prices": {"other": {"marketing": "7", "utility": "1", "authentication": "1"}}}
    assert_problem(client.put("/api/v1/rate-card", json=card, headers=marketer), 403)
    response = client.put("/api/v1/rate-card", json=card, headers=admin)
    assert response.status_code == 200 and response.json["customised"] is True
    assert_problem(client.put("/api/v1/rate-card", json={"currency": "RUB"}, headers=admin), 400)
    assert client.delete("/api/v1/rate-card", headers=admin).json["currency"] == "USD"
    refused = client.post("/api/v1/senders", json={"name": "", "phone": "12", "tier": "TIER_2K"}, headers=admin)
    assert [error["field"] for error in assert_problem(refused, 400)["errors"]] == ["name", "phone"]
    response = client.post(
        "/api/v1/senders", json={"name": "Second", "phone": "+74950000001", "tier": "TIER_2K"}, headers=admin
    )
    assert response.status_code == 201 and response.json["tier"] == "TIER_2K"
    assert [s["name"] for s in client.get("/api/v1/senders", headers=marketer).json["senders"]] == ["Main", "Second"]


# --- the CLI ---------------------------------------------------------------------------------------------------------

def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["campaigns", *args])


def test_the_cli_walks_a_campaign_through_the_review(app, world, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(world.spec()), encoding="utf-8")
    result = run(app, "create", "--file", str(spec), "--as", world.marketer.email)
    assert result.exit_code == 0, result.output
    campaign_id = db.session.scalar(db.select(Campaign.id))
    assert f"(id {campaign_id})" in result.output
    result = run(app, "submit", str(campaign_id))
    assert result.exit_code == 0 and "2 recipients, estimated 0.16 USD" in result.output
    result = run(app, "approve", str(campaign_id), "--as", world.marketer.email)
    assert result.exit_code == 1 and "Only a compliance reviewer" in result.output
    result = run(
        app, "reject", str(campaign_id), "--as", world.reviewer.email, "--code", "spam", "--reason", "Calmer, please"
    )
    assert result.exit_code == 0, result.output
    assert run(app, "revise", str(campaign_id)).exit_code == 0
    assert run(app, "submit", str(campaign_id)).exit_code == 0
    result = run(app, "approve", str(campaign_id), "--as", world.reviewer.email)  # WhatsApp to Russia: a warning
    assert result.exit_code == 1 and "acknowledge this in writing" in result.output
    result = run(app, "approve", str(campaign_id), "--as", world.reviewer.email, "--acknowledgement", ACKNOWLEDGEMENT)
    assert result.exit_code == 0 and "approved and scheduled" in result.output
    shown = json.loads(run(app, "show", str(campaign_id), "--json").output)
    assert shown["status"] == "scheduled" and [r["decision"] for r in shown["reviews"]] == ["approved", "rejected"]
    assert "scheduled" in run(app, "list", "--status", "scheduled").output
    assert "recipients: 2 of 2" in run(app, "show", str(campaign_id)).output
    result = run(app, "cancel", str(campaign_id), "--reason", "no")
    assert result.exit_code == 0
    assert run(app, "cancel", str(campaign_id)).exit_code == 1
    assert audit_events("campaign.cancel")


def test_the_cli_prints_every_mistake_of_a_spec(app, world, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(world.spec(messages_per_second=99, sender="nobody")), encoding="utf-8")
    result = run(app, "create", "--file", str(spec))
    assert result.exit_code == 1 and "Sender:" in result.output
    spec.write_text("{", encoding="utf-8")
    assert "not valid JSON" in run(app, "create", "--file", str(spec)).output


def test_the_cli_updates_a_campaign(app, world, tmp_path):
    campaign = world.campaign()
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"messages_per_second": 7}), encoding="utf-8")
    result = run(app, "update", str(campaign.id), "--file", str(change), "--as", world.marketer.email)
    assert result.exit_code == 0 and "Draft" in result.output
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).messages_per_second == 7
    assert run(app, "update", "999", "--file", str(change)).exit_code == 1


def test_the_api_revises_a_rejected_campaign(client, world):
    author, reviewer = token(world.marketer), token(world.reviewer)
    campaign_id = client.post("/api/v1/campaigns", json=world.spec(), headers=author).json["id"]
    assert_problem(client.post(f"/api/v1/campaigns/{campaign_id}/revise", headers=author), 409)
    client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=author)
    client.post(f"/api/v1/campaigns/{campaign_id}/reject", json={"reason": "No"}, headers=reviewer)
    response = client.post(f"/api/v1/campaigns/{campaign_id}/revise", headers=author)
    assert response.status_code == 200 and response.json["status"] == "draft"


def test_the_cli_manages_senders_and_the_rate_card(app, world, tmp_path):
    result = run(app, "sender", "create", "Backup", "+7 495 000-00-02", "--channel", "sandbox", "--tier", "TIER_10K",
                 "--mps", "40")
    assert result.exit_code == 0 and "+74950000002" in result.output
    assert "Backup" in run(app, "sender", "list").output
    assert "RU,,USD,0.0802" in run(app, "rate-card", "show").output
    card = tmp_path / "card.csv"
    card.write_text("country,currency,marketing,utility,authentication\nother,RUB,7,1,1\n", encoding="utf-8")
    result = run(app, "rate-card", "load", str(card), "--free", "100")
    assert result.exit_code == 0 and "RUB" in result.output
    assert "free per month: 100; edited by an admin" in run(app, "rate-card", "show").output
    assert run(app, "rate-card", "reset").exit_code == 0


# --- the pages --------------------------------------------------------------------------------------------------------

def wizard_data(world, **overrides) -> dict[str, str]:
    data = {
        "name": "Autumn sale",
        "sender": str(world.sender.id),
        "template": str(world.template.id),
        "segment": str(world.segment.id),
        "send_at": "",
        "send_at_zone": "Europe/Moscow",
        "window_start": "10:00",
        "window_end": "20:00",
        "messages_per_second": "20",
        "action": "save",
        "variables-0-name": "1",
        "variables-0-source": "field",
        "variables-0-value": "name",
        "variables-0-fallback": "друг",
        "variables-1-name": "2",
        "variables-1-source": "constant",
        "variables-1-value": "Москве",
        "variables-1-fallback": "",
    }
    data.update(overrides)
    return data


def test_the_wizard_creates_a_campaign_and_explains_mistakes(app, world):
    from tests.helpers import post_form, signed_in_client

    browser = signed_in_client(app, world.marketer.email)
    page = browser.get("/campaigns/new").get_data(as_text=True)
    assert "{{1}}" in page and "{{2}}" in page and 'name="variables-1-source"' in page
    response = post_form(
        browser, "/campaigns/new", wizard_data(world, **{"variables-0-value": "shoe_size", "messages_per_second": "90"})
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "shoe_size" in page and "more than the sender" in page
    other = add_template("thanks", body="Спасибо, {{name}}!", examples={"name": "Анна"})
    response = post_form(browser, "/campaigns/new", wizard_data(world, template=str(other.id), action="variables"))
    assert response.status_code == 200 and 'value="name"' in response.get_data(as_text=True)
    response = post_form(browser, "/campaigns/new", wizard_data(world, send_at="2099-01-15T12:00"))
    assert response.status_code == 302
    campaign = db.session.scalar(db.select(Campaign))
    assert (
        campaign.send_window == {"start": "10:00", "end": "20:00"}
        and campaign.send_at.isoformat() == "2099-01-15T09:00:00+00:00"
    )
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Autumn sale" in page and "Submit for review" in page and "Campaign created" in page


def test_submit_review_and_approve_through_the_pages(app, world, make_user):
    from tests.helpers import post_form, signed_in_client

    author = signed_in_client(app, world.marketer.email)
    campaign = world.campaign()
    page_url = f"/campaigns/{campaign.id}"
    response = post_form(author, f"{page_url}/submit", {}, page=page_url)
    assert response.status_code == 302
    page = author.get(page_url).get_data(as_text=True)
    assert "In review" in page and "Will receive it" in page and "Cost estimate: 0.16 USD" in page

    reviewer = signed_in_client(app, world.reviewer.email)
    assert "Autumn sale" in reviewer.get("/reviews").get_data(as_text=True)
    page = reviewer.get(f"/reviews/{campaign.id}").get_data(as_text=True)
    assert "Здравствуйте, Анна! Скидка 20% в Москве." in page and "Approve and schedule" in page
    assert author.get(f"/reviews/{campaign.id}").status_code == 403  # a marketer is no reviewer

    admin_author = make_user("admin")
    own = campaigns_create(world, admin_author)
    admin = signed_in_client(app, admin_author.email)
    page = admin.get(f"/reviews/{own.id}").get_data(as_text=True)
    assert "four-eyes" in page and "Approve and schedule" not in page

    response = post_form(reviewer, f"/reviews/{campaign.id}/approve",
                         {"note": "Good", "acknowledgement": ACKNOWLEDGEMENT}, page=f"/reviews/{campaign.id}")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SCHEDULED
    assert "Scheduled (1)" in author.get("/campaigns").get_data(as_text=True)


def campaigns_create(world, user):
    from campaigns import campaign_specs, review

    made = campaign_specs.create_campaign(world.spec(name="Own"), user)
    review.submit(made, user)
    db.session.commit()
    return made


def test_a_rejection_with_its_reason_shows_to_the_author(app, world):
    from tests.helpers import post_form, signed_in_client

    campaign = campaigns_create(world, world.marketer)
    reviewer = signed_in_client(app, world.reviewer.email)
    review_url = f"/reviews/{campaign.id}"
    response = post_form(reviewer, f"{review_url}/reject", {"reason_code": "", "reason": ""}, page=review_url)
    assert response.status_code == 400 and "Say why the campaign is rejected" in response.get_data(as_text=True)
    response = post_form(
        reviewer, f"{review_url}/reject", {"reason_code": "audience", "reason": "Only Moscow, please"}, page=review_url
    )
    assert response.status_code == 302
    author = signed_in_client(app, world.marketer.email)
    page = author.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Wrong audience or consent in doubt — Only Moscow, please" in page and "Revise" in page
    assert (
        post_form(author, f"/campaigns/{campaign.id}/revise", {}, page=f"/campaigns/{campaign.id}").status_code == 302
    )
    response = post_form(author, f"/campaigns/{campaign.id}/edit", wizard_data(world, messages_per_second="5"),
                         page=f"/campaigns/{campaign.id}/edit")
    assert response.status_code == 302
    page = author.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Changed since the last review" in page


def test_the_admin_edits_the_rate_card(app, world, admin_browser):
    from tests.helpers import post_form

    page = admin_browser.get("/campaigns/rate-card").get_data(as_text=True)
    assert "RU,,USD,0.0802" in page
    response = post_form(
        admin_browser,
        "/campaigns/rate-card",
        {"free_per_month": "0", "prices": "country,currency,marketing\nRU,USD,1\n"},
    )
    assert response.status_code == 400 and "needs the columns" in response.get_data(as_text=True)
    csv_text = "country,currency,marketing,utility,authentication\nother,RUB,7,1,1\n"
    assert (
        post_form(admin_browser, "/campaigns/rate-card", {"free_per_month": "10", "prices": csv_text}).status_code
        == 302
    )
    assert "as shipped" not in admin_browser.get("/campaigns/rate-card").get_data(as_text=True)
    assert post_form(admin_browser, "/campaigns/rate-card/reset", {}, page="/campaigns/rate-card").status_code == 302
    assert "as shipped" in admin_browser.get("/campaigns/rate-card").get_data(as_text=True)


def approved_not_scheduled(world) -> Campaign:
    """A campaign approved without scheduling its launch (as when scheduling failed at approval)."""
    campaign = world.campaign()
    review.submit(campaign, world.marketer)
    review.approve(campaign, world.reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    assert campaign.status is CampaignStatus.APPROVED
    return campaign


def test_the_cli_and_the_api_schedule_an_approved_campaign(app, client, world):
    by_cli = approved_not_scheduled(world)
    result = run(app, "schedule", str(by_cli.id))
    assert result.exit_code == 0, result.output
    assert f"Campaign {by_cli.id} is scheduled to launch at " in result.output
    db.session.refresh(by_cli)
    assert by_cli.status is CampaignStatus.SCHEDULED
    assert redis_queues.connection.exists(f"rq:job:{launch_job_id(by_cli.id)}")
    result = run(app, "schedule", str(by_cli.id))
    assert result.exit_code == 1 and "Only an approved campaign can be scheduled" in result.output

    by_api = approved_not_scheduled(world)
    response = client.post(f"/api/v1/campaigns/{by_api.id}/schedule", headers=token(world.marketer))
    assert response.status_code == 200 and response.json["status"] == "scheduled"
    again = client.post(f"/api/v1/campaigns/{by_api.id}/schedule", headers=token(world.marketer))
    assert_problem(again, 409, detail="Only an approved campaign")


def test_the_list_says_when_each_campaign_goes_or_went_out(app, world):
    from campaigns import campaign_specs, launch
    from tests.campaign_world import tomorrow_at
    from tests.helpers import signed_in_client

    world.campaign(name="Later")  # a draft for tomorrow 09:00 UTC
    world.campaign(name="Whenever", send_at=None)
    launched, due, dropped = (world.campaign(name=name, send_at=None) for name in ("Launched", "Due", "Dropped"))
    for campaign in (launched, due):
        review.submit(campaign, world.marketer)
        review.approve(campaign, world.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    campaign_specs.cancel_campaign(dropped, world.marketer)
    db.session.commit()
    assert launch.launch(launched.id).launched
    db.session.commit()
    page = signed_in_client(app, world.marketer.email).get("/campaigns").get_data(as_text=True)
    rows = dict(re.findall(r'<td><a href="/campaigns/\d+">([^<]+)</a></td>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>', page))
    assert rows == {
        "Later": tomorrow_at(9).strftime("%Y-%m-%d %H:%M"),
        "Whenever": "When approved",
        "Launched": f"Launched {db.session.get(Campaign, launched.id).launched_at:%Y-%m-%d %H:%M}",
        "Due": "Launching now",
        "Dropped": "Not sent",
    }


def test_the_wizard_offers_only_templates_that_can_be_used(app, world):
    from campaigns.models import TemplateStatus
    from tests.helpers import post_form, signed_in_client

    add_template("awaiting", status=TemplateStatus.PENDING)
    refused = add_template("refused", status=TemplateStatus.REJECTED)
    browser = signed_in_client(app, world.marketer.email)

    def offered(path: str) -> list[str]:
        page = browser.get(path).get_data(as_text=True)
        select_box = re.search(r'<select[^>]*name="template".*?</select>', page, re.S)
        return re.findall(r"<option[^>]*>([^<]*)</option>", select_box.group(0))

    assert offered("/campaigns/new") == ["autumn_sale · ru · v1 · Approved", "awaiting · ru · v1 · Pending"]
    response = post_form(browser, "/campaigns/new", wizard_data(world, template=str(refused.id)))
    assert response.status_code == 400
    assert "Template: “refused” (ru) is “Rejected” at WhatsApp for the sender “Main”" in response.get_data(as_text=True)
    campaign = world.campaign()
    # The campaign's own template lost its approval for its sender since.
    template_approvals.set_status(world.template, "paused", "Quality rating dropped.", sender=world.sender)
    db.session.commit()
    assert offered(f"/campaigns/{campaign.id}/edit") == ["autumn_sale · ru · v1 · Paused",
                                                         "awaiting · ru · v1 · Pending"]
    # Another sender's account has none of them approved: choosing it offers only the campaign's own template.
    other = senders.create_sender("Other", "+74957777701", channel="whatsapp_cloud", phone_number_id="7",
                                  waba_id="707", access_token="EAAG-other-0000")
    template_approvals.set_status(db.session.get(Template, refused.id), "approved", sender=other)
    db.session.commit()
    page = post_form(browser, f"/campaigns/{campaign.id}/edit", {**wizard_data(world, sender=str(other.id)),
                                                                  "action": "variables"},
                     page=f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    options = re.findall(r"<option[^>]*>([^<]*)</option>",
                         re.search(r'<select[^>]*name="template".*?</select>', page, re.S).group(0))
    assert options == ["autumn_sale · ru · v1 · Draft", "refused · ru · v1 · Approved"]
