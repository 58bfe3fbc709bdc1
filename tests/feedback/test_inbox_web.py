"""The inbox's pages and JSON API: the order of the conversations, a thread with the campaign message each
reply answers, marking read, the reply box on both sides of the window (through the sandbox, audited, sent
once), the decision on an unsure reply (audited, resolving the hold and the notification), and who may do
what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import tokens
from campaigns.feedback.models import Conversation, ConversationMessage, Direction, Notification
from compliance import suppression
from compliance.audit import AuditEvent
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.feedback.inbox_world import a_contact, apply, conversation_of, inbound, sent
from tests.helpers import assert_problem, csrf_token, signed_in_client

PHONE = "+79035557777"


def browser_of(app, user):
    return signed_in_client(app, user.email)


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def post_on_page(browser, page: str, action: str, data: dict):
    html = browser.get(page).get_data(as_text=True)
    return browser.post(action, data={"csrf_token": csrf_token(html), **data})


def reply_key(html: str) -> str:
    return re.search(r'name="key"[^>]*value="([^"]+)"', html).group(1)


def a_conversation(sender, phone: str, *, unread: int, minutes_ago: float, name: str = "",
                   window_hours_ago: float = 1) -> Conversation:
    conversation = Conversation(sender_id=sender.id, phone=phone, profile_name=name, unread=unread,
                                last_message_at=utcnow() - timedelta(minutes=minutes_ago),
                                last_inbound_at=utcnow() - timedelta(hours=window_hours_ago))
    db.session.add(conversation)
    db.session.commit()
    return conversation


def api(client, method: str, path: str, user, **kwargs):
    _row, plaintext = tokens.create_token(user, "скрипт")
    db.session.commit()
    return client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {plaintext}"}, **kwargs)


# --- the list ------------------------------------------------------------------------------------------------

def test_the_inbox_shows_unread_conversations_first_then_the_newest(app, client, sandbox_sender, make_user):
    marketer = make_user("marketer")
    a_conversation(sandbox_sender, "+79035550001", unread=2, minutes_ago=50, name="Старая непрочитанная")
    a_conversation(sandbox_sender, "+79035550002", unread=0, minutes_ago=1, name="Новая прочитанная")
    a_conversation(sandbox_sender, "+79035550003", unread=1, minutes_ago=5, name="Новая непрочитанная")
    a_conversation(sandbox_sender, "+79035550004", unread=0, minutes_ago=90, name="Старая прочитанная",
                   window_hours_ago=30)
    order = ["Новая непрочитанная", "Старая непрочитанная", "Новая прочитанная", "Старая прочитанная"]

    text = page_text(browser_of(app, marketer).get("/inbox"))
    assert sorted(order, key=text.index) == order
    assert "Unread (2)" in text
    listed = api(client, "GET", "/conversations", marketer).get_json()["conversations"]
    assert [entry["name"] for entry in listed] == order
    assert [entry["window"]["open"] for entry in listed] == [True, True, True, False]
    unread_only = api(client, "GET", "/conversations?filter=unread", marketer).get_json()["conversations"]
    assert [entry["name"] for entry in unread_only] == order[:2]
    assert_problem(api(client, "GET", "/conversations?filter=everything", marketer), 400, field="filter")


def test_the_navigation_counts_the_conversations_with_unread_messages(app, sandbox_sender, make_user):
    a_conversation(sandbox_sender, "+79035550001", unread=3, minutes_ago=5)
    a_conversation(sandbox_sender, "+79035550002", unread=1, minutes_ago=5)
    html = browser_of(app, make_user("marketer")).get("/").get_data(as_text=True)
    assert re.search(r'href="/inbox">[^<]*<span class="count"[^>]*>2</span>', html)


# --- a thread ------------------------------------------------------------------------------------------------

def test_a_thread_shows_the_campaign_message_each_reply_answers_and_opening_it_marks_it_read(
        app, client, sandbox_sender, make_user):
    marketer, reviewer = make_user("marketer"), make_user("reviewer")
    contact = a_contact(name="Ольга Смирнова")
    message = sent(contact, sandbox_sender, provider_id="wamid.campaign9")
    apply(sandbox_sender, [inbound(contact.phone, "А в Казань доставляете?", context_id="wamid.campaign9")])
    conversation = conversation_of(sandbox_sender, contact.phone)
    campaign_name = db.session.execute(select(ConversationMessage.campaign_id)).scalar()
    from campaigns.models import Campaign, Template

    campaign = db.session.get(Campaign, campaign_name)
    template = db.session.get(Template, campaign.template_id)

    page = browser_of(app, reviewer).get(f"/inbox/{conversation.id}")  # a reviewer reads without marking
    assert page.status_code == 200 and conversation_of(sandbox_sender, contact.phone).unread == 1
    html = browser_of(app, marketer).get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert "Ольга Смирнова" in html and "А в Казань доставляете?" in html
    assert f'href="/campaigns/{message.campaign_id}">{campaign.name}</a>' in html
    assert f'href="/templates/{template.id}">{template.name}</a>' in html
    assert conversation_of(sandbox_sender, contact.phone).unread == 0

    thread = api(client, "GET", f"/conversations/{conversation.id}", marketer).get_json()
    [item] = thread["messages"]
    assert item["answers"] == {"message_id": message.id, "campaign_id": campaign.id, "campaign": campaign.name,
                               "template": template.name}
    assert item["intent"] == "none" and thread["window"]["open"]


# --- replying --------------------------------------------------------------------------------------------------

def test_a_reply_from_the_page_goes_out_through_the_sandbox_once_and_is_audited(app, sandbox, sandbox_sender,
                                                                                make_user):
    marketer = make_user("marketer")
    sandbox.inbound(PHONE.lstrip("+"), "Есть размер M?")
    conversation = a_conversation(sandbox_sender, PHONE, unread=1, minutes_ago=1)
    browser = browser_of(app, marketer)
    page = f"/inbox/{conversation.id}"
    html = browser.get(page).get_data(as_text=True)
    form = {"csrf_token": csrf_token(html), "key": reply_key(html), "text": "Да, есть. Оформить?"}
    answer = browser.post(f"{page}/reply", data=form)
    assert answer.status_code == 302
    assert "The reply was sent." in page_text(browser.get(page))
    assert browser.post(f"{page}/reply", data=form).status_code == 302  # the same form again: not sent twice

    messages = [message for message in sandbox.ledger()["messages"] if message["type"] == "text"]
    assert [(message["text"], message["key"]) for message in messages] == [("Да, есть. Оформить?", form["key"])]
    db.session.rollback()
    [row] = db.session.scalars(select(ConversationMessage).where(ConversationMessage.direction == Direction.OUTBOUND))
    assert (row.status, row.sent_by_id, row.provider_message_id) == ("sent", marketer.id, messages[0]["id"])
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "conversation.replied")).all()
    assert event.actor_id == marketer.id and event.details["result"] == "accepted"
    audit_page = page_text(browser_of(app, make_user("admin")).get("/audit"))
    assert "Reply sent from the inbox" in audit_page


def test_a_closed_window_says_so_offers_a_template_and_refuses_the_reply(app, sandbox, sandbox_sender, make_user):
    from tests.campaign_world import add_template

    template = add_template("order_ready")
    marketer = make_user("marketer")
    conversation = a_conversation(sandbox_sender, PHONE, unread=0, minutes_ago=1, window_hours_ago=25)
    browser = browser_of(app, marketer)
    page = f"/inbox/{conversation.id}"
    html = browser.get(page).get_data(as_text=True)
    assert "More than 24 hours have passed since the person last wrote" in html
    assert 'name="text"' not in html  # no reply box
    link = f'/templates/{template.id}?to=%2B79035557777&amp;sender={sandbox_sender.id}#test-send'
    assert link in html
    template_page = browser.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'value="+79035557777"' in template_page  # the test send is filled in with the number

    refused = browser.post(f"{page}/reply", data={"csrf_token": csrf_token(html), "text": "Здравствуйте",
                                                  "key": "reply-" + "0" * 32})
    assert refused.status_code == 409 and "only an approved template can be sent" in page_text(refused)
    assert sandbox.ledger()["messages"] == []


def test_the_api_replies_once_per_idempotency_key_and_refuses_outside_the_window(app, client, sandbox,
                                                                                  sandbox_sender, make_user):
    marketer = make_user("marketer")
    sandbox.inbound(PHONE.lstrip("+"), "Здравствуйте")
    open_one = a_conversation(sandbox_sender, PHONE, unread=1, minutes_ago=1)
    body = {"text": "Добрый день! Чем помочь?", "idempotency_key": "crm-42"}
    first = api(client, "POST", f"/conversations/{open_one.id}/reply", marketer, json=body)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["message"]["status"] == "sent" and first.get_json()["sent_now"]
    again = api(client, "POST", f"/conversations/{open_one.id}/reply", marketer, json=body)
    assert again.status_code == 200 and not again.get_json()["sent_now"]
    assert again.get_json()["message"]["id"] == first.get_json()["message"]["id"]
    assert len([message for message in sandbox.ledger()["messages"] if message["type"] == "text"]) == 1

    closed = a_conversation(sandbox_sender, "+79035558888", unread=0, minutes_ago=1, window_hours_ago=48)
    problem = assert_problem(api(client, "POST", f"/conversations/{closed.id}/reply", marketer,
                                 json={"text": "Здравствуйте"}), 409)
    assert "only an approved template can be sent" in problem["detail"]
    assert_problem(api(client, "POST", f"/conversations/{open_one.id}/reply", marketer, json={"text": " "}), 400,
                   field="text")
    assert_problem(api(client, "POST", "/conversations/999/reply", marketer, json={"text": "Да"}), 404)


# --- who may do what -----------------------------------------------------------------------------------------

def test_marketers_and_admins_use_the_inbox_a_reviewer_only_opens_a_conversation_to_decide(
        app, client, sandbox_sender, make_user):
    reviewer = make_user("reviewer")
    conversation = a_conversation(sandbox_sender, PHONE, unread=1, minutes_ago=1)
    browser = browser_of(app, reviewer)
    assert browser.get("/inbox").status_code == 403
    html = browser.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert 'name="text"' not in html and 'href="/inbox"' not in html.split("<main>")[0]
    reply = browser.post(f"/inbox/{conversation.id}/reply",
                         data={"csrf_token": csrf_token(html), "text": "Здравствуйте", "key": "reply-" + "1" * 32})
    assert reply.status_code == 403
    assert_problem(api(client, "GET", "/conversations", reviewer), 403)
    assert_problem(api(client, "POST", f"/conversations/{conversation.id}/reply", reviewer, json={"text": "Да"}), 403)
    assert api(client, "GET", f"/conversations/{conversation.id}", reviewer).status_code == 200
    assert browser_of(app, make_user("admin")).get("/inbox").status_code == 200
    assert client.get("/inbox").status_code == 302  # signed out: to the sign-in page


# --- the decision on an unsure reply --------------------------------------------------------------------------

def unsure_conversation(sender) -> Conversation:
    contact = a_contact(phone=PHONE)
    sent(contact, sender)
    apply(sender, [inbound(PHONE, "Не надо")])
    return conversation_of(sender, PHONE)


def test_a_marketer_opts_an_unsure_reply_out_in_one_click_audited_and_the_hold_resolved(app, sandbox_sender,
                                                                                         make_user):
    marketer = make_user("marketer")
    conversation = unsure_conversation(sandbox_sender)
    browser = browser_of(app, marketer)
    page = f"/inbox/{conversation.id}"
    html = browser.get(page).get_data(as_text=True)
    assert 'value="refusal"' in html and 'value="not_refusal"' not in html  # releasing is a reviewer's call
    assert "May be a refusal: decide" in page_text(browser.get("/inbox"))

    denied = post_on_page(browser, page, f"{page}/decision", {"decision": "not_refusal"})
    assert "Only a reviewer can decide" in page_text(browser.get(denied.headers["Location"]))
    assert [entry.reason for entry in suppression.open_entries(PHONE)] == [SuppressionReason.UNSURE_REPLY]

    done = post_on_page(browser, page, f"{page}/decision", {"decision": "refusal", "note": "Просила не писать"})
    assert "The number is opted out" in page_text(browser.get(done.headers["Location"]))
    db.session.rollback()
    assert [entry.reason for entry in suppression.open_entries(PHONE)] == [SuppressionReason.OPT_OUT]
    assert not conversation_of(sandbox_sender, PHONE).needs_decision
    [notification] = db.session.scalars(select(Notification)).all()
    assert notification.resolved_at is not None and notification.resolved_by_id == marketer.id
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "suppression.decided")).all()
    assert event.actor_id == marketer.id and event.details["decision"] == "reply_refusal"
    assert event.details["note"] == "Просила не писать"

    again = post_on_page(browser, page, f"{page}/decision", {"decision": "refusal"})
    assert "No reply in this conversation waits for a decision" in page_text(browser.get(again.headers["Location"]))


def test_a_reviewer_decides_an_unsure_reply_was_not_a_refusal_and_messages_may_resume(app, client, sandbox_sender,
                                                                                      make_user):
    reviewer = make_user("reviewer")
    conversation = unsure_conversation(sandbox_sender)
    answer = api(client, "POST", f"/conversations/{conversation.id}/decision", reviewer,
                 json={"refusal": False, "note": "Спрашивала про доставку"})
    assert answer.status_code == 200 and answer.get_json()["decided_now"] and not answer.get_json()["needs_decision"]
    db.session.rollback()
    assert suppression.open_entries(PHONE) == []
    assert db.session.scalars(select(Notification.resolved_by_id)).all() == [reviewer.id]
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "suppression.decided")).all()
    assert event.details["decision"] == "reply_not_refusal" and event.actor_id == reviewer.id
    assert_problem(api(client, "POST", f"/conversations/{conversation.id}/decision", reviewer,
                       json={"refusal": True}), 409)
    assert_problem(api(client, "POST", f"/conversations/{conversation.id}/decision", reviewer,
                       json={"refusal": "yes"}), 400, field="refusal")


@pytest.mark.parametrize("language, words", [("ru", "Это отказ?"), ("en", "Is this a refusal?")])
def test_the_decision_reads_in_the_readers_language(app, sandbox_sender, make_user, language, words):
    conversation = unsure_conversation(sandbox_sender)
    text = page_text(browser_of(app, make_user("marketer", language=language)).get(f"/inbox/{conversation.id}"))
    assert words in text
