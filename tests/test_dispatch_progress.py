"""What people see of a sending campaign and what they may do to it: ``campaigns.dispatch.progress``
(rows by state, rate, ETA, failures by reason) and ``campaigns.dispatch.control`` (pause, resume), through
the CLI, the API and the campaign page, in both languages.

Every campaign here is launched for real (its rows made by the launch); the rows are then put into the
states a sending campaign's rows pass through with one UPDATE each, as dispatch would leave them.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select, update

from accounts import tokens, users
from campaigns import jobs, review
from campaigns.dispatch.progress import COUNT_KEYS, MESSAGE_STATUS_LABELS, REASON_SENTENCES, progress, worded
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from channels.errors import sentence_for
from channels.sentences import unknown_code
from compliance.audit import AuditEvent
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, make_world
from tests.helpers import assert_problem, post_form, signed_in_client

PROGRESS_KEYS = {"status", "counts", "total", "done", "rate", "eta_seconds", "failures", "launched_at"}


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


def sending_campaign(world, recipients: int) -> tuple[Campaign, list[int]]:
    """A campaign launched for ``recipients`` contacts (all queued), and its message ids in order."""
    for _index in range(recipients):
        add_contact()
    campaign = world.campaign()
    review.submit(campaign, world.marketer)
    review.approve(campaign, world.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    jobs.launch_campaign(campaign.id)
    db.session.expire_all()
    ids = list(db.session.scalars(select(Message.id).where(Message.campaign_id == campaign.id).order_by(Message.id)))
    assert len(ids) == recipients and db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING
    return db.session.get(Campaign, campaign.id), ids


def set_rows(ids: list[int], **values) -> None:
    db.session.execute(update(Message).where(Message.id.in_(ids)).values(**values))
    db.session.commit()


def set_campaign(campaign: Campaign, **values) -> Campaign:
    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(**values))
    db.session.commit()
    db.session.expire_all()
    return db.session.get(Campaign, campaign.id)


def dispatch_jobs() -> list[str]:
    return redis_queues.queue("dispatch").job_ids


def batch_jobs(campaign: Campaign) -> list[str]:
    """The campaign's batch jobs waiting in the ``dispatch`` queue."""
    return [job for job in dispatch_jobs() if job.startswith(f"send-batch-{campaign.id}-")]


def bearer(user) -> dict[str, str]:
    _row, plaintext = tokens.create_token(user, "script")
    db.session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def audit_actions(campaign: Campaign) -> list[tuple[str, int | None]]:
    return list(db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id)
        .where(AuditEvent.object_type == "campaign", AuditEvent.object_id == str(campaign.id))
        .order_by(AuditEvent.id)
    ).all())


# --- the figures ------------------------------------------------------------------------------------------

def test_progress_counts_the_rows_in_every_state_and_words_the_failures(app, world):
    campaign, ids = sending_campaign(world, 14)
    now = utcnow()
    queued, retry, deferred, in_flight = ids[0:1], ids[1:2], ids[2:3], ids[3:4]
    sent, delivered, read = ids[4:6], ids[6:7], ids[7:8]
    refused, unsettled, unknown, opted_out, capped = ids[8:10], ids[10:11], ids[11:12], ids[12:13], ids[13:14]
    # A retry waiting for its backoff keeps its last error code: it is no failure (yet).
    set_rows(retry, attempts=1, not_before=now + timedelta(seconds=30), error_code="130429")
    set_rows(deferred, status=MessageStatus.DEFERRED, not_before=now + timedelta(hours=2))
    set_rows(in_flight, status=MessageStatus.SENDING, sent_at=now, lease_owner="batch", attempts=1)
    set_rows(sent, status=MessageStatus.SENT, sent_at=now, provider_message_id="wamid.x")
    set_rows(delivered, status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now)
    set_rows(read, status=MessageStatus.READ, sent_at=now, read_at=now)
    set_rows(refused, status=MessageStatus.FAILED, error_code="131026", failed_at=now)
    set_rows(unsettled, status=MessageStatus.FAILED, error_code="unknown_outcome", failed_at=now)
    set_rows(unknown, status=MessageStatus.UNKNOWN, sent_at=now - timedelta(minutes=5))
    set_rows(opted_out, status=MessageStatus.SKIPPED, error_code="opted_out")
    set_rows(capped, status=MessageStatus.SKIPPED, error_code="frequency_cap")
    assert queued

    state = progress(campaign)
    assert set(state) == PROGRESS_KEYS and tuple(state["counts"]) == COUNT_KEYS
    assert state["counts"] == {"queued": 2, "deferred": 1, "sending": 1, "sent": 2, "delivered": 1, "read": 1,
                               "failed": 3, "unknown": 1, "skipped": 2}
    assert state["status"] == "sending" and state["total"] == 14
    assert state["done"] == 10  # all but the queued, deferred and in-flight rows
    assert state["launched_at"] == campaign.launched_at.isoformat()

    channel = world.sender.channel
    provider_sentence = str(sentence_for(channel, "131026"))
    assert provider_sentence != str(unknown_code("131026"))  # the channel's own table words it
    assert state["failures"] == [
        {"code": "131026", "sentence": provider_sentence, "count": 2},
        {"code": "frequency_cap", "sentence": str(REASON_SENTENCES["frequency_cap"]), "count": 1},
        {"code": "opted_out", "sentence": "The recipient opted out before the message went out.", "count": 1},
        {"code": "unknown_outcome", "sentence": str(REASON_SENTENCES["unknown_outcome"]), "count": 1},
    ]
    with force_locale("ru"):
        russian = progress(campaign)["failures"]
        provider_in_russian = str(sentence_for(channel, "131026"))
    assert russian[2]["sentence"] == "Получатель отписался до того, как сообщение ушло."
    assert russian[0]["sentence"] == provider_in_russian != provider_sentence


def test_a_campaign_not_launched_has_nothing_to_show(app, world):
    campaign = world.campaign()
    state = progress(campaign)
    assert state["counts"] == dict.fromkeys(COUNT_KEYS, 0)
    assert (state["total"], state["done"], state["rate"], state["eta_seconds"], state["failures"],
            state["launched_at"]) == (0, 0, 0, 0, [], None)


def test_the_rate_counts_the_last_minute_by_sent_at_and_the_eta_follows_it(app, world):
    campaign, ids = sending_campaign(world, 40)
    now = utcnow()
    campaign = set_campaign(campaign, launched_at=now - timedelta(minutes=10))
    set_rows(ids[:10], status=MessageStatus.SENT, sent_at=now - timedelta(seconds=20))  # in the last minute
    set_rows(ids[10:15], status=MessageStatus.DELIVERED, sent_at=now - timedelta(seconds=50))
    set_rows(ids[15:20], status=MessageStatus.SENT, sent_at=now - timedelta(minutes=5))  # long ago: not the rate
    set_rows(ids[20:22], status=MessageStatus.SENDING, sent_at=now - timedelta(seconds=1))  # leaving right now
    # ids[22:] (18 rows) are still queued; with the 2 in flight 20 are left, at 17 a minute.

    state = progress(campaign)
    assert state["rate"] == round(17 / 60, 2)
    assert state["eta_seconds"] == round(20 / (17 / 60))

    # A row deferred to a window an hour away: the campaign cannot be done before it opens.
    set_rows(ids[-1:], status=MessageStatus.DEFERRED, not_before=now + timedelta(hours=1))
    assert 3590 <= progress(campaign)["eta_seconds"] <= 3600

    # Launched 30 s ago, the rate is over those 30 s, not over a minute.
    campaign = set_campaign(campaign, launched_at=utcnow() - timedelta(seconds=30))
    assert 17 / 31 <= progress(campaign)["rate"] <= round(17 / 30, 2)

    # Paused, it will not finish by itself: no ETA; the rate is still what went out.
    campaign = set_campaign(campaign, status=CampaignStatus.PAUSED)
    assert progress(campaign)["eta_seconds"] is None and progress(campaign)["rate"] > 0


def test_no_eta_when_nothing_went_out_in_the_last_minute_and_zero_when_nothing_is_left(app, world):
    campaign, ids = sending_campaign(world, 4)
    now = utcnow()
    campaign = set_campaign(campaign, launched_at=now - timedelta(minutes=10))
    set_rows(ids[:2], status=MessageStatus.SENT, sent_at=now - timedelta(minutes=3))
    state = progress(campaign)
    assert (state["rate"], state["eta_seconds"]) == (0, None)
    set_rows(ids[2:], status=MessageStatus.SKIPPED, error_code="time_zone")
    state = progress(campaign)
    assert (state["done"], state["eta_seconds"]) == (4, 0)


def test_the_figures_are_worded_for_the_reader(app, world):
    campaign, ids = sending_campaign(world, 3)
    set_rows(ids[:1], status=MessageStatus.SENT, sent_at=utcnow())
    state = {**progress(campaign), "total": 12345, "done": 1234, "rate": 12.5, "eta_seconds": 5400}
    with force_locale("en"):
        text = worded(state)
    assert (text["done"], text["sent"], text["rate"], text["eta"]) == (
        "1,234 of 12,345 done", "1 of 12,345 sent", "12.5 messages a second", "About 2 hours")
    with force_locale("ru"):
        text = worded({**state, "eta_seconds": None})
    assert text["done"] == "Готово 1\xa0234 из 12\xa0345" and text["rate"] == "12,5 сообщ. в секунду"
    assert text["eta"] == "Пока неизвестно"


# --- the CLI --------------------------------------------------------------------------------------------

def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["campaigns", *args])


def test_the_cli_shows_the_status_and_pauses_and_resumes(app, world, make_user):
    campaign, ids = sending_campaign(world, 3)
    set_rows(ids[:1], status=MessageStatus.FAILED, error_code="131026")

    result = run(app, "status", str(campaign.id), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == PROGRESS_KEYS and tuple(data["counts"]) == COUNT_KEYS
    assert data["status"] == "sending" and data["counts"]["queued"] == 2 and data["counts"]["failed"] == 1
    assert "rate" in data and "eta_seconds" in data and data["failures"][0]["code"] == "131026"

    result = run(app, "status", str(campaign.id))
    assert result.exit_code == 0, result.output
    assert "Sending" in result.output and "0 of 3 sent; 1 of 3 done" in result.output
    assert re.search(r"Queued\s+2", result.output) and "messages a second" in result.output
    assert str(sentence_for(world.sender.channel, "131026")) in result.output

    stranger = make_user("marketer")
    result = run(app, "pause", str(campaign.id), "--as", stranger.email)
    assert result.exit_code == 1 and "Only compliance reviewers and the campaign's author" in result.output

    result = run(app, "pause", str(campaign.id), "--as", world.marketer.email)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED
    result = run(app, "pause", str(campaign.id))
    assert result.exit_code == 1 and "The campaign is already paused." in result.output

    redis_queues.queue("dispatch").empty()
    result = run(app, "resume", str(campaign.id))  # the operator at the shell
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING
    assert batch_jobs(campaign)
    assert audit_actions(campaign)[-2:] == [("campaign.pause", world.marketer.id), ("campaign.resume", None)]
    assert run(app, "status", "999999").exit_code == 1


# --- the API --------------------------------------------------------------------------------------------

def test_the_api_status_pause_and_resume_with_who_may(app, client, world, make_user):
    campaign, _ids = sending_campaign(world, 3)
    url = f"/api/v1/campaigns/{campaign.id}"

    answer = client.get(f"{url}/status", headers=bearer(make_user("marketer")))
    assert answer.status_code == 200 and set(answer.get_json()) == PROGRESS_KEYS
    assert answer.get_json()["counts"]["queued"] == 3
    assert_problem(client.get("/api/v1/campaigns/999999/status", headers=bearer(world.marketer)), 404)
    assert client.get(f"{url}/status").status_code == 401

    # A marketer who is not its author may look, not pause.
    stranger = make_user("marketer")
    assert_problem(client.post(f"{url}/pause", headers=bearer(stranger)), 403,
                   detail="Only compliance reviewers and the campaign's author can pause or resume it.")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING

    answer = client.post(f"{url}/pause", headers=bearer(world.marketer))  # its author
    assert answer.status_code == 200 and answer.get_json()["status"] == "paused"
    assert answer.get_json()["eta_seconds"] is None
    assert_problem(client.post(f"{url}/pause", headers=bearer(world.reviewer)), 409,
                   detail="The campaign is already paused.")

    redis_queues.queue("dispatch").empty()
    assert_problem(client.post(f"{url}/resume", headers=bearer(stranger)), 403)
    assert dispatch_jobs() == []  # a refused resume enqueues nothing
    answer = client.post(f"{url}/resume", headers=bearer(world.reviewer))  # any reviewer
    assert answer.status_code == 200 and answer.get_json()["status"] == "sending"
    assert batch_jobs(campaign)
    assert_problem(client.post(f"{url}/resume", headers=bearer(world.reviewer)), 409,
                   detail="The campaign is already sending.")

    admin = make_user("admin")  # admins hold every role, as every other check has it
    assert client.post(f"{url}/pause", headers=bearer(admin)).status_code == 200
    assert audit_actions(campaign)[-3:] == [("campaign.pause", world.marketer.id),
                                            ("campaign.resume", world.reviewer.id), ("campaign.pause", admin.id)]

    set_campaign(campaign, status=CampaignStatus.COMPLETED)
    assert_problem(client.post(f"{url}/pause", headers=bearer(world.marketer)), 409,
                   detail="The campaign has finished sending, so there is nothing left to pause.")
    assert_problem(client.post(f"{url}/resume", headers=bearer(world.marketer)), 409,
                   detail="The campaign has finished sending, so there is nothing left to resume.")


def test_resume_enqueues_the_batches_only_once_committed(app, world):
    from campaigns.dispatch import control

    campaign, _ids = sending_campaign(world, 3)
    control.pause(campaign, world.reviewer)
    db.session.commit()
    redis_queues.queue("dispatch").empty()

    control.resume(campaign, world.reviewer)
    assert dispatch_jobs() == []  # not before the commit: a worker must find the campaign sending
    db.session.commit()
    assert batch_jobs(campaign) == dispatch_jobs() != []

    control.pause(campaign, world.reviewer)
    db.session.commit()
    redis_queues.queue("dispatch").empty()
    control.resume(campaign, world.reviewer)
    db.session.rollback()
    assert dispatch_jobs() == []  # rolled back: nothing resumed, nothing enqueued
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED


# --- the page -------------------------------------------------------------------------------------------

def progress_section(page: str) -> str:
    found = re.search(r'<section class="card" id="progress".*?</section>', page, flags=re.DOTALL)
    assert found, "the page has no progress section"
    return found.group()


def test_the_page_shows_the_bar_and_the_buttons_to_those_allowed(app, world, make_user):
    campaign, ids = sending_campaign(world, 4)
    set_rows(ids[:1], status=MessageStatus.SENT, sent_at=utcnow())
    set_rows(ids[1:2], status=MessageStatus.SKIPPED, error_code="opted_out")
    page_url = f"/campaigns/{campaign.id}"

    author = signed_in_client(app, world.marketer.email)
    page = author.get(page_url).get_data(as_text=True)
    section = progress_section(page)
    assert '<progress max="4" value="2"' in section and "1 of 4 sent" in section and "2 of 4 done" in section
    assert "messages a second" in section and "The recipient opted out before the message went out. — 1" in section
    assert all(str(label) in section for label in MESSAGE_STATUS_LABELS.values())
    assert f'data-progress-url="/campaigns/{campaign.id}/progress"' in section
    assert "campaign_progress.js" in page and "Pause sending" in section and "Resume sending" not in section
    # The CSP allows scripts from our origin only (web/security.py): no script on the page is inline (the
    # analytics' chart data is a JSON block, which no browser runs).
    scripts = [tag for tag in re.findall(r"<script\b[^>]*>", page) if 'type="application/json"' not in tag]
    assert all(" src=" in tag for tag in scripts) and '<script src="/static/campaign_progress.js" defer>' in scripts
    assert "script-src 'self'" in author.get(page_url).headers["Content-Security-Policy"]

    stranger = signed_in_client(app, make_user("marketer").email)
    section = progress_section(stranger.get(page_url).get_data(as_text=True))
    assert "<progress" in section and "Pause sending" not in section
    reviewer = signed_in_client(app, world.reviewer.email)
    assert "Pause sending" in progress_section(reviewer.get(page_url).get_data(as_text=True))

    # The JSON the page polls: the figures, and the same figures worded.
    state = author.get(f"{page_url}/progress").get_json()
    assert set(state) >= PROGRESS_KEYS and state["text"]["sent"] == "1 of 4 sent"
    assert state["text"]["counts"]["queued"] == "2" and state["text"]["failures"][0]["count"] == "1"

    # A stranger's post is refused; the author's pauses it, audited.
    response = post_form(stranger, f"{page_url}/pause", {}, page=page_url)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING
    refused = html.unescape(stranger.get(page_url).get_data(as_text=True))
    assert "Only compliance reviewers and the campaign's author" in refused
    response = post_form(author, f"{page_url}/pause", {}, page=page_url)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED
    assert audit_actions(campaign)[-1] == ("campaign.pause", world.marketer.id)

    page = reviewer.get(page_url).get_data(as_text=True)
    section = progress_section(page)
    assert "Resume sending" in section and "Pause sending" not in section and "Not known yet" in section
    assert "Resume sending" not in progress_section(stranger.get(page_url).get_data(as_text=True))
    redis_queues.queue("dispatch").empty()
    assert post_form(reviewer, f"{page_url}/resume", {}, page=page_url).status_code == 302
    assert batch_jobs(campaign)

    set_campaign(campaign, status=CampaignStatus.COMPLETED)
    page = reviewer.get(page_url).get_data(as_text=True)
    assert "<progress" in page and "campaign_progress.js" not in page and "Pause sending" not in page


def test_the_russian_page_has_no_english_in_its_progress(app, world):
    campaign, ids = sending_campaign(world, 4)
    set_rows(ids[:1], status=MessageStatus.FAILED, error_code="131026")
    set_rows(ids[1:2], status=MessageStatus.SKIPPED, error_code="frequency_cap")
    set_rows(ids[2:3], status=MessageStatus.SENT, sent_at=utcnow())
    users.update_profile(world.reviewer, name="", language="ru")
    db.session.commit()
    reviewer = signed_in_client(app, world.reviewer.email)
    section = progress_section(reviewer.get(f"/campaigns/{campaign.id}").get_data(as_text=True))

    with force_locale("en"):
        english = {str(label) for label in MESSAGE_STATUS_LABELS.values()} | {
            str(sentence) for sentence in REASON_SENTENCES.values()} | {
            "Progress", "Current rate", "Time left", "Messages by state", "Not sent, by reason", "Pause sending",
            "messages a second", " sent", " done", str(sentence_for(world.sender.channel, "131026"))}
    text = re.sub(r"<[^>]+>", " ", section)
    assert [word for word in english if word in text] == []
    assert "Ход рассылки" in text and "Отправлено 1 из 4" in text and "Готово 3 из 4" in text
    assert "Приостановить рассылку" in text and "сообщ. в секунду" in text
    assert "Не удалось получить ход рассылки; обновите страницу." in text
    with force_locale("ru"):
        assert str(REASON_SENTENCES["frequency_cap"]) in text
        assert str(MESSAGE_STATUS_LABELS[MessageStatus.QUEUED]) in text
    state = reviewer.get(f"/campaigns/{campaign.id}/progress").get_json()
    assert state["text"]["sent"] == "Отправлено 1 из 4"
    assert [item["code"] for item in state["failures"]] == ["131026", "frequency_cap"]
    assert state["failures"][1]["sentence"] == (
        "Получатель уже получил столько сообщений, сколько позволяет ограничение частоты.")
