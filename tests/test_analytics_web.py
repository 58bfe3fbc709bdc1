"""Analytics on the pages and the API: the campaign page's funnel, chart and cost in both languages, the home
page's dashboard, the outcomes CSV (columns, formulas neutralised, streamed in batches, who may download it),
the API's keys, the vendored chart library served from our origin, and the CSP as strict as before."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from accounts import users
from audience.models import Contact
from campaigns import outcomes
from campaigns.models import Message, MessageStatus
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import make_world
from tests.helpers import assert_problem, isolated_client, signed_in_client
from tests.test_analytics import T0, mixture, set_rows, suppress_at
from tests.test_pages_i18n import codes, english_in_russian, english_labels, raw_keys, visible_text
from web.security import CONTENT_SECURITY_POLICY

FUNNEL_KEYS = {"audience", "excluded", "recipients", "skipped", "sent", "delivered", "read", "replied", "failed",
               "deferred", "in_flight", "opted_out", "blocked"}
COST_KEYS = {"currency", "actual_minor", "actual", "billable", "unpriced", "estimate_currency", "estimate_minor",
             "estimate", "estimated_messages", "difference_minor"}
DAY_KEYS = {"date", "t", "sent", "delivered", "read", "replied", "opted_out", "blocked", "delivery_rate",
            "read_rate", "reply_rate", "opt_out_rate", "block_rate"}
TIER_KEYS = {"sender_id", "name", "phone", "tier", "used", "limit", "headroom", "share"}


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


def earlier_today(now, by: timedelta):
    """``by`` before ``now``, but not before today's UTC midnight: a test run just after midnight still counts the
    sends for today, as the dashboard's day does."""
    return max(now - by, now.replace(hour=0, minute=0, second=0, microsecond=0))


def browser_of(app, user, language: str):
    users.update_profile(user, name="", language=language)
    db.session.commit()
    return signed_in_client(app, user.email)


def scripts_that_run(page: str) -> list[str]:
    """The page's inline scripts a browser would execute: any <script> without src that is not a JSON block."""
    found = []
    for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.DOTALL | re.IGNORECASE):
        if "src=" in attributes:
            assert not body.strip(), "a script with src has no body"
        elif 'type="application/json"' not in attributes:
            found.append(body)
    return found


def assert_strict_page(response) -> None:
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    page = response.get_data(as_text=True)
    assert scripts_that_run(page) == []
    assert " style=" not in page and "<style" not in page and "cdn" not in page.lower()


# --- the campaign page ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_campaign_page_shows_the_funnel_the_chart_and_the_cost_in_the_readers_language(app, world, language):
    campaign, groups = mixture(world)
    set_rows(groups["delivered"], billable=True, cost_minor=860)
    suppress_at(groups["delivered"][0].phone, SuppressionReason.OPT_OUT, T0 + timedelta(hours=1))
    response = browser_of(app, world.marketer, language).get(f"/campaigns/{campaign.id}")
    assert_strict_page(response)
    page = response.get_data(as_text=True)
    text = visible_text(page)
    figures = dict(re.findall(r'<tr data-funnel="(\w+)"[^>]*><th>[^<]+</th><td class="number">([^<]+)</td>', page))
    assert figures == {"audience": "22", "excluded": "2", "recipients": "20", "skipped": "1", "sent": "12",
                       "delivered": "7", "read": "3", "replied": "2", "failed": "3", "deferred": "2",
                       "in_flight": "4", "opted_out": "1", "blocked": "0"}
    chart = json.loads(re.search(r'<script type="application/json" id="campaign-timeline">(.*?)</script>',
                                 page, re.DOTALL).group(1))
    assert chart["kind"] == "count" and [line["key"] for line in chart["series"]] == ["sent", "delivered", "read"]
    assert sum(chart["series"][0]["values"]) == 12 and len(chart["x"]) == 6
    assert 'data-chart="campaign-timeline"' in page
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page and "/static/js/charts.js" in page
    assert f"/campaigns/{campaign.id}/outcomes.csv" in page
    assert "“Message undeliverable”" in page  # the provider's own words, beside our sentence
    # The provider's words are quoted as they came (in English); everything else is the reader's language.
    shown = text.replace("Message undeliverable", "").replace(
        "This message was not delivered to maintain healthy ecosystem engagement.", "")
    if language == "en":
        assert "Delivered" in text and "58.3%" in text and "of those sent" in text and "Actual cost so far" in text
        assert "$34.40" in text or "34.40" in text
    else:
        assert "Доставлено" in text and "58,3" in text and "от отправленных" in text and "Воронка" in text
        assert "Фактическая стоимость" in text
        assert english_in_russian(shown, english_labels()) == []
    assert raw_keys(shown, codes(), language) == []


def test_a_campaign_with_no_rows_shows_no_results_section(app, world):
    campaign = world.campaign()
    page = browser_of(app, world.marketer, "en").get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="analytics"' not in page and "uPlot" not in page


# --- the home page -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("role", ["marketer", "reviewer"])
def test_the_home_page_shows_the_daily_rates_and_the_tier_use(app, world, make_user, language, role):
    _campaign, groups = mixture(world)
    now = utcnow()
    sent_at = earlier_today(now, timedelta(hours=1))
    set_rows(groups["delivered"] + groups["read"] + groups["sent"], sent_at=sent_at)
    set_rows(groups["delivered"] + groups["read"], delivered_at=max(earlier_today(now, timedelta(minutes=30)), sent_at))
    user = world.marketer if role == "marketer" else world.reviewer
    response = browser_of(app, user, language).get("/")
    assert_strict_page(response)
    page = response.get_data(as_text=True)
    text = visible_text(page)
    for block in ("dashboard-sends", "dashboard-rates"):
        data = json.loads(re.search(rf'<script type="application/json" id="{block}">(.*?)</script>', page,
                                    re.DOTALL).group(1))
        assert len(data["x"]) == 30
    today = re.search(rf'<tr data-day="{now:%Y-%m-%d}"><td>[^<]+</td><td class="number">(\d+)</td>', page)
    assert today and today.group(1) == "10"
    tier = re.search(rf'<tr data-sender="{world.sender.id}">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "Main" in tier and ">10<" in tier and ">250<" in tier
    if language == "en":
        assert "Delivery rate" in text and "Messaging tier use in the last 24 hours" in text and "70%" in text
    else:
        assert "Доля доставленных" in text and "Использование лимита" in text and "70" in text
        assert english_in_russian(text, english_labels()) == []
    assert raw_keys(text, codes(), language) == []
    assert "delivery_rate" not in text and "TIER_250" not in text


def test_the_home_page_without_sends_says_so(app, make_user):
    user = make_user("marketer")
    page = browser_of(app, user, "en").get("/").get_data(as_text=True)
    assert "No campaign has sent anything in these days." in page and "No sender yet." in page


def test_the_chart_library_and_script_are_served_from_our_origin(app, make_user):
    browser = isolated_client(app)
    library = browser.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert library.status_code == 200 and "javascript" in library.mimetype
    assert b"uPlot" in library.get_data() and len(library.get_data()) > 40_000
    assert browser.get("/static/vendor/uplot/uPlot.min.css").mimetype == "text/css"
    assert b"MIT" in browser.get("/static/vendor/uplot/LICENSE").get_data()
    charts = browser.get("/static/js/charts.js")
    assert charts.status_code == 200
    assert b"new uPlot(" in charts.get_data() and b"JSON.parse" in charts.get_data()
    for response in (library, charts):
        response.close()


# --- the outcomes CSV ----------------------------------------------------------------------------------------

def read_outcomes(response) -> list[dict[str, str]]:
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_the_outcomes_csv_has_every_recipient_with_neutralised_cells(app, world, monkeypatch):
    campaign, groups = mixture(world)
    delivered = groups["delivered"][0]
    db.session.execute(update(Contact).where(Contact.id == delivered.contact_id)
                       .values(name='=HYPERLINK("http://evil.example","Анна")'))
    set_rows([delivered], billable=True, cost_minor=860)
    db.session.execute(update(Message).where(Message.id == groups["failed_late"][0].id)
                       .values(error_message="+1 cmd|' /C calc'!A0"))
    db.session.commit()
    monkeypatch.setattr(outcomes, "BATCH", 3)  # seven batches of three for 20 rows: the keyset paging is walked
    # Streamed: a generator that reads the rows batch by batch, only as the lines are taken.
    with app.test_request_context():
        lines = outcomes.outcome_lines(campaign)
        assert next(lines).startswith("phone,name,status,")
        assert outcomes.download(campaign).is_streamed
        assert len(list(lines)) == 20
    response = browser_of(app, world.reviewer, "en").get(f"/campaigns/{campaign.id}/outcomes.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="campaign-{campaign.id}-outcomes.csv"'
    rows = read_outcomes(response)
    assert list(rows[0]) == outcomes.HEADER and len(rows) == 20
    by_phone = {row["phone"]: row for row in rows}
    mine = by_phone[delivered.phone]
    assert mine["phone"].startswith("+7") and mine["name"] == "'" + '=HYPERLINK("http://evil.example","Анна")'
    assert (mine["status"], mine["status_words"], mine["cost"], mine["currency"]) == (
        "delivered", "Delivered", "8.60", campaign.estimate["currency"])
    assert mine["sent_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert mine["delivered_at"] == (T0 + timedelta(minutes=2)).isoformat() and mine["replied_at"]
    failed = by_phone[groups["failed_late"][0].phone]
    assert (failed["status"], failed["reason"]) == ("failed", "131026") and failed["reason_words"]
    assert failed["provider_words"] == "'+1 cmd|' /C calc'!A0"
    skipped = by_phone[groups["skipped"][0].phone]
    assert (skipped["reason"], skipped["reason_words"]) == (
        "opted_out", "The recipient opted out before the message went out.")
    queued = by_phone[groups["queued"][0].phone]
    assert queued["status"] == "queued" and queued["reason"] == "" and queued["sent_at"] == ""
    for row in rows:
        for name, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or name == "phone"


def test_the_outcomes_csv_speaks_russian_to_a_russian_reader(app, world):
    campaign, groups = mixture(world)
    rows = read_outcomes(browser_of(app, world.marketer, "ru").get(f"/campaigns/{campaign.id}/outcomes.csv",
                                                                   buffered=True))
    skipped = next(row for row in rows if row["phone"] == groups["skipped"][0].phone)
    assert skipped["status_words"] == "Пропущено"
    assert skipped["reason_words"] == "Получатель отписался до того, как сообщение ушло."


def test_only_signed_in_people_download_the_outcomes(app, world, call_as):
    campaign, _groups = mixture(world)
    anonymous = isolated_client(app).get(f"/campaigns/{campaign.id}/outcomes.csv")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert isolated_client(app).get(f"/api/v1/campaigns/{campaign.id}/outcomes.csv").status_code == 401
    by_api = call_as("GET", f"/campaigns/{campaign.id}/outcomes.csv", "reviewer", buffered=True)
    assert by_api.status_code == 200 and len(read_outcomes(by_api)) == 20
    missing = browser_of(app, world.marketer, "en").get("/campaigns/999999/outcomes.csv")
    assert missing.status_code == 404
    assert_problem(call_as("GET", "/campaigns/999999/outcomes.csv", "marketer"), 404)


# --- the API -------------------------------------------------------------------------------------------------

def test_the_campaign_analytics_api_answers_with_the_documented_keys(app, world, call_as):
    campaign, _groups = mixture(world)
    response = call_as("GET", f"/campaigns/{campaign.id}/analytics", "reviewer")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"campaign_id", "funnel", "timeline", "cost", "steps", "delivered_twice",
                         "sms_savings_minor"} and body["campaign_id"] == campaign.id
    # A campaign on one sender is one step (a cascade's are in tests/test_cascade_campaigns.py).
    assert [set(step) for step in body["steps"]] == [{"step", "sender_id", "sender", "channel", "tried", "reached",
                                                      "failed", "fallen_back", "cost_minor"}]
    assert body["delivered_twice"] == 0
    assert set(body["funnel"]) == FUNNEL_KEYS
    assert all({"count", "rate", "of"} <= set(line) for line in body["funnel"].values())
    assert set(body["funnel"]["failed"]["by_code"][0]) == {"code", "sentence", "provider_words", "count", "rate"}
    assert set(body["funnel"]["skipped"]["by_reason"][0]) == {"reason", "sentence", "count", "rate"}
    assert set(body["funnel"]["excluded"]["by_reason"][0]) == {"reason", "count", "rate"}
    assert set(body["timeline"]) == {"bucket", "seconds", "points"}
    assert set(body["timeline"]["points"][0]) == {"at", "t", "sent", "delivered", "read"}
    assert set(body["cost"]) == COST_KEYS
    hourly = call_as("GET", f"/campaigns/{campaign.id}/analytics?bucket=hour", "marketer").get_json()
    assert hourly["timeline"]["bucket"] == "hour" and hourly["timeline"]["points"][0]["sent"] == 12
    assert_problem(call_as("GET", f"/campaigns/{campaign.id}/analytics?bucket=week", "marketer"), 400)
    assert_problem(call_as("GET", "/campaigns/999999/analytics", "marketer"), 404)
    assert isolated_client(app).get(f"/api/v1/campaigns/{campaign.id}/analytics").status_code == 401


def test_the_daily_api_answers_with_the_documented_keys(app, world, call_as):
    _campaign, groups = mixture(world)
    set_rows(groups["sent"], sent_at=earlier_today(utcnow(), timedelta(hours=1)))
    body = call_as("GET", "/analytics/daily?days=7", "reviewer").get_json()
    assert set(body) == {"days", "tier_use"} and len(body["days"]) == 7
    assert set(body["days"][0]) == DAY_KEYS and body["days"][-1]["sent"] == 3
    assert {tuple(sorted(sender)) for sender in body["tier_use"]} == {tuple(sorted(TIER_KEYS))}
    assert len(call_as("GET", "/analytics/daily", "marketer").get_json()["days"]) == 30
    for wrong in ("0", "367", "x", "٣"):
        assert_problem(call_as("GET", f"/analytics/daily?days={wrong}", "marketer"), 400)
    assert isolated_client(app).get("/api/v1/analytics/daily").status_code == 401


def test_every_status_of_a_row_is_worded_in_the_csv(app, world):
    campaign, _groups = mixture(world)
    rows = read_outcomes(browser_of(app, world.marketer, "en").get(f"/campaigns/{campaign.id}/outcomes.csv",
                                                                   buffered=True))
    assert {row["status"] for row in rows} == {status.value for status in MessageStatus}
    words = {row["status"]: row["status_words"] for row in rows}
    assert words["unknown"] == "Sent or not, not known yet" and words["deferred"].startswith("Waiting")
    assert all(words.values())
