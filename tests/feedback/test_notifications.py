"""What reviewers see of what the platform stopped on its own (``campaigns.feedback.notices``): the list page in
both languages, the menu's badge, the JSON API; and who may resume a campaign the platform paused
(``campaigns.dispatch.control``): a reviewer, with a reason, audited, its notifications resolved.

The notifications and the automatic pauses are written here as their producers leave them (rows inserted, the
campaign's ``pause_reason`` set), so these tests read only the consumer's side.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import users
from campaigns.feedback import notices
from campaigns.feedback.models import Notification, NotificationKind, NotificationRead
from campaigns.models import Campaign, CampaignStatus
from compliance.audit import AuditEvent
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.campaign_world import make_world
from tests.helpers import assert_problem, post_form, signed_in_client
from tests.test_dispatch_progress import audit_actions, batch_jobs, bearer, sending_campaign, set_campaign

BREAKER = {"campaign": "Осенняя распродажа", "rate": 0.012, "threshold": 0.005, "window": 1000, "complaints": 12}
# One notification of every kind, with the params its producer writes (the module docstring of notices).
PARAMS = {
    NotificationKind.CIRCUIT_BREAKER: BREAKER,
    NotificationKind.QUALITY_RED: {"quality": "RED", "previous": "YELLOW", "sender": "Main", "phone": "+79990000001"},
    NotificationKind.QUALITY_CHANGE: {"previous": "GREEN", "quality": "YELLOW", "previous_tier": "TIER_1K",
                                      "tier": "TIER_250", "sender": "Main"},
    NotificationKind.TEMPLATE_PAUSED: {"template": "autumn_sale", "status": "paused", "reason": "SCAM"},
    NotificationKind.UNSURE_REPLY: {"phone": "+79161234567", "name": "Ольга", "text": "Больше не надо"},
}
SENTENCES = {
    "en": {
        NotificationKind.CIRCUIT_BREAKER: "paused: 1.2% of its last 1,000 delivered messages brought complaints — "
                                          "opt-outs, blocks and spam reports (threshold 0.5%).",
        NotificationKind.QUALITY_RED: "paused: the quality rating of the number",
        NotificationKind.QUALITY_CHANGE: "changed from High (green) to Medium (yellow).",
        NotificationKind.TEMPLATE_PAUSED: "paused: the provider paused its template «autumn_sale». Reason: Scam.",
        NotificationKind.UNSURE_REPLY: "A reply from Ольга (+79161234567) may be a refusal: “Больше не надо”.",
    },
    "ru": {
        NotificationKind.CIRCUIT_BREAKER: "приостановлена: на 1,2% из последних 1\xa0000 доставленных сообщений "
                                          "пришли жалобы",
        NotificationKind.QUALITY_RED: "приостановлена: оценка качества номера",
        NotificationKind.QUALITY_CHANGE: "изменилась: была «Высокое (зелёное)», стала «Среднее (жёлтое)».",
        NotificationKind.TEMPLATE_PAUSED: "провайдер приостановил её шаблон «autumn_sale». Причина: Мошенничество.",
        NotificationKind.UNSURE_REPLY: "Ответ от Ольга (+79161234567) может быть отказом: «Больше не надо».",
    },
}


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


def notify(kind: NotificationKind, campaign: Campaign | None = None, sender_id: int | None = None,
           minutes_ago: int = 0, **fields) -> Notification:
    row = Notification(kind=kind, campaign_id=campaign.id if campaign else None, sender_id=sender_id,
                       params=PARAMS[kind], created_at=utcnow() - timedelta(minutes=minutes_ago), **fields)
    db.session.add(row)
    db.session.commit()
    return row


def auto_paused(world, recipients: int = 3, reason: str = "circuit_breaker") -> Campaign:
    """A sending campaign the platform paused, as the circuit breaker leaves it, with its notification."""
    campaign, _ids = sending_campaign(world, recipients)
    campaign = set_campaign(campaign, status=CampaignStatus.PAUSED, pause_reason=reason, pause_details=BREAKER,
                            paused_at=utcnow())
    notify(NotificationKind.CIRCUIT_BREAKER, campaign)
    return campaign


def open_of(campaign: Campaign) -> int:
    return db.session.scalar(select(func.count()).where(Notification.campaign_id == campaign.id,
                                                        Notification.resolved_at.is_(None)))


def badge(page: str) -> str | None:
    found = re.search(r'href="/notifications">[^<]*(?:<span class="count"[^>]*>(\d+)</span>)?</a>', page)
    assert found, "the menu has no link to the notifications"
    return found.group(1)


# --- the sentences, the page, the badge -------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_page_words_every_kind_in_the_readers_language_and_links_them(app, world, language):
    campaign = world.campaign(name="Осенняя распродажа")
    db.session.commit()
    for minutes, kind in enumerate(NotificationKind):
        notify(kind, campaign if kind is not NotificationKind.QUALITY_CHANGE else None, sender_id=world.sender.id,
               minutes_ago=minutes)
    users.update_profile(world.reviewer, name="", language=language)
    db.session.commit()
    page = html.unescape(signed_in_client(app, world.reviewer.email).get("/notifications").get_data(as_text=True))
    for kind, expected in SENTENCES[language].items():
        assert expected in page, kind
    assert "circuit_breaker" not in page and "unsure_reply" not in page and "%(" not in page
    assert f'href="/campaigns/{campaign.id}"' in page
    if language == "ru":
        assert "Открыто: ждёт проверяющего." in page and "paused" not in page


def test_the_list_puts_the_open_ones_first_then_the_newest_and_says_who_resolved(app, world):
    campaign = world.campaign()
    db.session.commit()
    old_open = notify(NotificationKind.CIRCUIT_BREAKER, campaign, minutes_ago=30)
    resolved = notify(NotificationKind.TEMPLATE_PAUSED, campaign, minutes_ago=1, resolved_at=utcnow(),
                      resolved_by_id=world.reviewer.id)
    new_open = notify(NotificationKind.UNSURE_REPLY, minutes_ago=5)
    entries, more = notices.list_notifications(world.reviewer)
    assert [entry.notification.id for entry in entries] == [new_open.id, old_open.id, resolved.id] and not more
    assert entries[2].resolved_by == world.reviewer.email and entries[2].resolved
    only_open, _more = notices.list_notifications(world.reviewer, unresolved=True)
    assert [entry.notification.id for entry in only_open] == [new_open.id, old_open.id]

    page = html.unescape(signed_in_client(app, world.reviewer.email).get("/notifications").get_data(as_text=True))
    assert page.index(f'id="notification-{new_open.id}"') < page.index(f'id="notification-{resolved.id}"')
    assert f"by {world.reviewer.email}." in page and "Open: waiting for a reviewer." in page


def test_the_badge_counts_the_open_notifications_each_reviewer_has_not_read(app, world, make_user):
    campaign = world.campaign()
    db.session.commit()
    first = notify(NotificationKind.CIRCUIT_BREAKER, campaign)
    notify(NotificationKind.UNSURE_REPLY)
    notify(NotificationKind.TEMPLATE_PAUSED, campaign, resolved_at=utcnow())  # resolved: never counted
    other = make_user("reviewer")
    assert notices.unread_count(world.reviewer) == notices.unread_count(other) == 2

    reviewer = signed_in_client(app, world.reviewer.email)
    assert badge(reviewer.get("/campaigns").get_data(as_text=True)) == "2"  # on every page
    reviewer.get("/notifications")  # seeing the list reads what it shows, for this reviewer only
    assert badge(reviewer.get("/campaigns").get_data(as_text=True)) is None
    assert notices.unread_count(world.reviewer) == 0 and notices.unread_count(other) == 2
    reviewer.get("/notifications")  # seen twice is read once
    assert db.session.scalar(select(func.count()).select_from(NotificationRead)
                             .where(NotificationRead.user_id == world.reviewer.id)) == 3

    notify(NotificationKind.QUALITY_RED, campaign)  # a new one lights it again
    assert badge(reviewer.get("/").get_data(as_text=True)) == "1"
    admin = signed_in_client(app, make_user("admin").email)
    assert badge(admin.get("/").get_data(as_text=True)) == "3"
    # Marketers read the list, without a badge; the page tells them a reviewer decides.
    marketer = signed_in_client(app, world.marketer.email)
    assert badge(marketer.get("/").get_data(as_text=True)) is None
    page = html.unescape(marketer.get("/notifications").get_data(as_text=True))
    assert "A reviewer decides on each" in page and f'id="notification-{first.id}"' in page
    # No inline script: the CSP stays strict.
    assert "<script" not in reviewer.get("/notifications").get_data(as_text=True)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_empty_page_explains_what_would_appear(app, world, language):
    users.update_profile(world.reviewer, name="", language=language)
    db.session.commit()
    reviewer = signed_in_client(app, world.reviewer.email)
    page = html.unescape(reviewer.get("/notifications").get_data(as_text=True))
    assert ("No notifications yet." if language == "en" else "Уведомлений пока нет.") in page
    page = html.unescape(reviewer.get("/notifications?unresolved=1").get_data(as_text=True))
    assert ("Nothing is open" if language == "en" else "Открытых нет") in page


# --- the API ------------------------------------------------------------------------------------------------------

def test_the_api_lists_filters_and_marks_read_with_a_token(app, client, world, make_user):
    campaign = world.campaign()
    db.session.commit()
    old = notify(NotificationKind.CIRCUIT_BREAKER, campaign, minutes_ago=60)
    new = notify(NotificationKind.UNSURE_REPLY, minutes_ago=1)
    done = notify(NotificationKind.TEMPLATE_PAUSED, campaign, minutes_ago=2, resolved_at=utcnow(),
                  resolved_by_id=world.reviewer.id)
    headers = bearer(world.reviewer)

    answer = client.get("/api/v1/notifications", headers=headers)
    assert answer.status_code == 200
    data = answer.get_json()
    assert [item["id"] for item in data["notifications"]] == [new.id, old.id, done.id] and data["unread"] == 2
    first = data["notifications"][1]
    assert first["kind"] == "circuit_breaker" and first["campaign_id"] == campaign.id and first["read"] is False
    assert "1.2% of its last 1,000 delivered messages" in first["sentence"] and first["resolved"] is False
    assert data["notifications"][2]["resolved_by_id"] == world.reviewer.id and data["notifications"][2]["resolved_at"]

    data = client.get("/api/v1/notifications?unresolved=1", headers=headers).get_json()
    assert [item["id"] for item in data["notifications"]] == [new.id, old.id]
    since = (utcnow() - timedelta(minutes=30)).isoformat()
    data = client.get("/api/v1/notifications", query_string={"since": since}, headers=headers).get_json()
    assert [item["id"] for item in data["notifications"]] == [new.id, done.id]
    assert_problem(client.get("/api/v1/notifications?since=yesterday", headers=headers), 400, field="since")
    assert_problem(client.get("/api/v1/notifications?unresolved=yes", headers=headers), 400, field="unresolved")

    answer = client.post(f"/api/v1/notifications/{old.id}/read", headers=headers)
    assert answer.status_code == 200 and answer.get_json()["read"] is True
    assert client.post(f"/api/v1/notifications/{old.id}/read", headers=headers).status_code == 200  # idempotent
    assert client.get("/api/v1/notifications", headers=headers).get_json()["unread"] == 1
    assert client.get("/api/v1/notifications", headers=bearer(make_user("reviewer"))).get_json()["unread"] == 2
    assert_problem(client.post("/api/v1/notifications/999999/read", headers=headers), 404)
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post(f"/api/v1/notifications/{old.id}/read").status_code == 401
    # Marketers read them too (why their campaign stopped).
    assert client.get("/api/v1/notifications", headers=bearer(world.marketer)).status_code == 200

    users.update_profile(world.reviewer, name="", language="ru")
    db.session.commit()
    data = client.get("/api/v1/notifications?unresolved=1", headers=headers).get_json()
    assert "на 1,2% из последних 1\xa0000" in data["notifications"][1]["sentence"]
    assert data["notifications"][1]["kind_label"] == "Доля жалоб выше порога"


# --- resuming -----------------------------------------------------------------------------------------------------

def test_only_a_reviewer_with_a_reason_resumes_a_campaign_the_platform_paused(app, client, world, make_user):
    campaign = auto_paused(world)
    url = f"/api/v1/campaigns/{campaign.id}"
    redis_queues.queue("dispatch").empty()

    refused = assert_problem(client.post(f"{url}/resume", headers=bearer(world.marketer)), 403)  # even its author
    assert "only a compliance reviewer can resume it, with a reason" in refused["detail"]
    assert "Paused automatically: too many complaints" in refused["detail"]
    assert_problem(client.post(f"{url}/resume", headers=bearer(world.reviewer)), 400, field="reason",
                   detail="Say why it is safe to send again: a campaign the platform paused resumes only with a "
                          "reviewer's reason.")
    assert_problem(client.post(f"{url}/resume", json={"reason": "   "}, headers=bearer(world.reviewer)), 400,
                   field="reason")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED and open_of(campaign) == 1
    assert batch_jobs(campaign) == []

    data = client.get(f"/api/v1/campaigns/{campaign.id}", headers=bearer(world.marketer)).get_json()
    assert data["pause"]["reason"] == "circuit_breaker" and data["pause"]["automatic"] is True
    assert "1.2% of its last 1,000" in data["pause"]["sentence"]

    answer = client.post(f"{url}/resume", json={"reason": "Списки почищены, жалобы были от старой базы"},
                         headers=bearer(world.reviewer))
    assert answer.status_code == 200 and answer.get_json()["status"] == "sending"
    assert batch_jobs(campaign)
    db.session.expire_all()
    resumed = db.session.get(Campaign, campaign.id)
    assert (resumed.pause_reason, resumed.pause_details, resumed.paused_at) == (None, None, None)
    assert open_of(campaign) == 0
    note = db.session.scalar(select(Notification).where(Notification.campaign_id == campaign.id))
    assert note.resolved_by_id == world.reviewer.id and note.resolved_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "campaign",
                                                       AuditEvent.object_id == str(campaign.id))
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event.action == "campaign.resume" and event.actor_id == world.reviewer.id
    assert event.details["reason"] == "Списки почищены, жалобы были от старой базы"
    assert event.details["pause_reason"] == "circuit_breaker" and event.details["pause_details"]["window"] == 1000


def test_an_unsure_reply_naming_the_campaign_stays_open_after_the_resume(app, world):
    from campaigns.dispatch import control

    campaign = auto_paused(world, reason="quality_red")
    reply = notify(NotificationKind.UNSURE_REPLY, campaign)
    control.resume(campaign, world.reviewer, "The number is green again")
    db.session.commit()
    db.session.expire_all()
    assert open_of(campaign) == 1  # the pause's notification resolved, not the reply's
    assert db.session.get(Notification, reply.id).resolved_at is None  # settled by the decision on the reply


def test_the_page_shows_the_pause_and_asks_the_reviewer_for_a_reason(app, world, make_user):
    campaign = auto_paused(world)
    page_url = f"/campaigns/{campaign.id}"
    author = signed_in_client(app, world.marketer.email)
    page = html.unescape(author.get(page_url).get_data(as_text=True))
    assert "Paused automatically: too many complaints" in page and "1.2% of its last 1,000" in page
    assert "only a compliance reviewer can resume it, with a reason." in page and "Resume sending" not in page
    # The author's post is refused with the sentence; nothing moves.
    assert post_form(author, f"{page_url}/resume", {"reason": "please"}, page=page_url).status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED
    assert "only a compliance reviewer can resume it" in html.unescape(author.get(page_url).get_data(as_text=True))

    reviewer = signed_in_client(app, world.reviewer.email)
    page = html.unescape(reviewer.get(page_url).get_data(as_text=True))
    assert "Resume sending…" in page and 'name="reason"' in page and "required" in page
    assert post_form(reviewer, f"{page_url}/resume", {"reason": ""}, page=page_url).status_code == 302
    page = html.unescape(reviewer.get(page_url).get_data(as_text=True))
    assert "Say why it is safe to send again" in page
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED

    redis_queues.queue("dispatch").empty()
    assert post_form(reviewer, f"{page_url}/resume", {"reason": "Checked the list"}, page=page_url).status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING and batch_jobs(campaign)
    assert open_of(campaign) == 0
    page = html.unescape(reviewer.get(page_url).get_data(as_text=True))
    assert "Paused automatically: too many complaints — Checked the list" in page  # the history

    users.update_profile(world.marketer, name="", language="ru")
    db.session.commit()
    set_campaign(campaign, status=CampaignStatus.PAUSED, pause_reason="template_paused",
                 pause_details=PARAMS[NotificationKind.TEMPLATE_PAUSED], paused_at=utcnow())
    page = html.unescape(author.get(page_url).get_data(as_text=True))
    assert "Приостановлена автоматически: провайдер приостановил или отключил шаблон" in page
    assert "возобновить её может только проверяющий" in page and "template_paused" not in page


def test_a_pause_by_hand_is_still_resumed_by_its_author_without_a_reason(app, client, world):
    campaign, _ids = sending_campaign(world, 2)
    url = f"/api/v1/campaigns/{campaign.id}"
    assert client.post(f"{url}/pause", headers=bearer(world.marketer)).status_code == 200
    db.session.expire_all()
    paused = db.session.get(Campaign, campaign.id)
    assert paused.pause_reason == "manual" and paused.paused_at is not None
    assert client.get(url, headers=bearer(world.marketer)).get_json()["pause"]["automatic"] is False
    answer = client.post(f"{url}/resume", headers=bearer(world.marketer))
    assert answer.status_code == 200 and answer.get_json()["status"] == "sending"
    assert audit_actions(campaign)[-2:] == [("campaign.pause", world.marketer.id),
                                            ("campaign.resume", world.marketer.id)]
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).pause_reason is None


def test_the_cli_resumes_a_campaign_the_platform_paused_only_with_a_reason(app, world):
    campaign = auto_paused(world)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaigns", "status", str(campaign.id)])
    assert result.exit_code == 0 and "Paused automatically: too many complaints" in result.output
    assert "1.2% of its last 1,000 delivered messages" in result.output
    result = runner.invoke(args=["campaigns", "resume", str(campaign.id), "--as", world.marketer.email,
                                 "--reason", "x"])
    assert result.exit_code == 1 and "only a compliance reviewer can resume it" in result.output
    result = runner.invoke(args=["campaigns", "resume", str(campaign.id), "--as", world.reviewer.email])
    assert result.exit_code == 1 and "Say why it is safe to send again" in result.output
    result = runner.invoke(args=["campaigns", "resume", str(campaign.id), "--as", world.reviewer.email,
                                 "--reason", "Quality is back to green"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING and open_of(campaign) == 0


def test_a_cancel_settles_the_pause_notifications_of_the_campaign(app, client, world):
    campaign = auto_paused(world)
    answer = client.post(f"/api/v1/campaigns/{campaign.id}/cancel", json={"reason": "Too risky"},
                         headers=bearer(world.marketer))
    assert answer.status_code == 200 and answer.get_json()["status"] == "cancelled"
    db.session.expire_all()
    note = db.session.scalar(select(Notification).where(Notification.campaign_id == campaign.id))
    assert note.resolved_at is not None and note.resolved_by_id == world.marketer.id
    assert notices.unread_count(world.reviewer) == 0


def test_the_breaker_sentence_adds_up_the_complaints_when_no_rate_is_given(app):
    from flask_babel import force_locale

    params = {"delivered": 400, "opt_outs": 3, "blocks": 1, "spam_reports": 2, "threshold": 0.005}
    with app.test_request_context(), force_locale("en"):
        text = notices.sentence(NotificationKind.CIRCUIT_BREAKER, params, campaign="Sale")
        assert "Campaign «Sale» paused: 1.5% of its last 400 delivered messages" in text
        assert "(threshold 0.5%)" in text
        # Whatever a producer left out reads as "?", never a crash or a raw key.
        assert "?" in notices.sentence(NotificationKind.TEMPLATE_PAUSED, {})
        disabled = notices.sentence(NotificationKind.TEMPLATE_PAUSED, {"template": "t", "status": "DISABLED"})
        assert "the provider disabled its template «t»" in disabled


def test_a_reviewer_settles_by_hand_only_what_nothing_else_settles(app, client, world, make_user):
    campaign = world.campaign()
    db.session.commit()
    change = notify(NotificationKind.QUALITY_CHANGE, sender_id=world.sender.id)
    breaker = notify(NotificationKind.CIRCUIT_BREAKER, campaign)
    reply = notify(NotificationKind.UNSURE_REPLY)

    # The page offers it to reviewers for the quality change only.
    reviewer = signed_in_client(app, world.reviewer.email)
    page = reviewer.get("/notifications").get_data(as_text=True)
    assert f"/notifications/{change.id}/resolve" in page
    assert f"/notifications/{breaker.id}/resolve" not in page and f"/notifications/{reply.id}/resolve" not in page
    marketer = signed_in_client(app, world.marketer.email)
    assert "/resolve" not in marketer.get("/notifications").get_data(as_text=True)
    assert post_form(marketer, f"/notifications/{change.id}/resolve", {}, page="/notifications").status_code == 403

    # The API refuses the kinds their own step settles, with how they are settled.
    headers = bearer(world.reviewer)
    assert_problem(client.post(f"/api/v1/notifications/{breaker.id}/resolve", headers=headers), 409,
                   detail="This notification is settled when a reviewer resumes the campaign, or when it is "
                          "cancelled.")
    assert_problem(client.post(f"/api/v1/notifications/{reply.id}/resolve", headers=headers), 409,
                   detail="This notification is settled by the decision on the reply, in the inbox.")
    assert_problem(client.post(f"/api/v1/notifications/{change.id}/resolve", headers=bearer(world.marketer)), 403)

    assert post_form(reviewer, f"/notifications/{change.id}/resolve", {}, page="/notifications").status_code == 302
    db.session.expire_all()
    settled = db.session.get(Notification, change.id)
    assert settled.resolved_by_id == world.reviewer.id and settled.resolved_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification.resolved"))
    assert event.actor_id == world.reviewer.id and event.object_id == str(change.id)
    assert_problem(client.post(f"/api/v1/notifications/{change.id}/resolve", headers=headers), 409,
                   detail="This notification is settled already.")
    page = html.unescape(reviewer.get("/notifications").get_data(as_text=True))
    assert "The notification is marked settled." in page and f"by {world.reviewer.email}." in page


def test_a_pause_without_a_recorded_reason_is_not_called_a_persons_and_keeps_todays_rule(app, client, world):
    campaign, _ids = sending_campaign(world, 2)
    campaign = set_campaign(campaign, status=CampaignStatus.PAUSED)  # as dispatch pauses for a provider's refusal
    page = html.unescape(signed_in_client(app, world.marketer.email).get(f"/campaigns/{campaign.id}")
                         .get_data(as_text=True))
    assert "Paused by hand" not in page and 'id="pause"' not in page and "Resume sending" in page
    assert client.get(f"/api/v1/campaigns/{campaign.id}", headers=bearer(world.marketer)).get_json()["pause"] is None
    answer = client.post(f"/api/v1/campaigns/{campaign.id}/resume", headers=bearer(world.marketer))
    assert answer.status_code == 200 and answer.get_json()["status"] == "sending"
