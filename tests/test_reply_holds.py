"""Replies that may be refusals: the number is held until a person decides; opt-out buttons opt out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audience.status import ContactStatus, status_of
from compliance import suppression
from compliance.keywords import Intent
from compliance.models import SuppressionError, SuppressionReason
from compliance.replies import NOT_A_REFUSAL, REFUSAL, ReplyOutcome, decide_unsure, handle_reply
from compliance.send_verdicts import RecipientFacts, SendContext, evaluate
from compliance.sending import SendingRules
from compliance.verdict import Outcome
from extensions import db
from tests.helpers import assert_problem
from tests.records import audit_events, suppression_rows

PHONE = "+79031234567"
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UNCLEAR = "Зачем вы мне пишете?"


def reasons(phone: str = PHONE) -> set[str]:
    return set(suppression.suppressed_reasons([phone]).get(phone, ()))


def hold(phone: str = PHONE, text: str = UNCLEAR, evidence: str = "wamid.1") -> ReplyOutcome:
    outcome = handle_reply(phone.lstrip("+"), text, RECEIVED, evidence, language="en")
    db.session.commit()
    return outcome


def test_an_unclear_reply_holds_the_number_and_answers_nothing(app):
    assert hold() == ReplyOutcome(Intent.UNSURE, None)
    [entry] = suppression_rows(PHONE)
    assert (entry.reason, entry.source, entry.evidence, entry.note, entry.created_at) == (
        SuppressionReason.UNSURE_REPLY, "reply", "wamid.1", UNCLEAR, RECEIVED)
    assert status_of(tuple(reasons())) is ContactStatus.HELD
    # The same reply delivered twice, or another unclear one, keeps the one hold.
    assert hold(evidence="wamid.2") == ReplyOutcome(Intent.UNSURE, None)
    assert len(suppression_rows(PHONE)) == 1


def test_a_held_number_is_not_sent_to(app):
    hold()
    facts = RecipientFacts(PHONE, "RU", ("Europe/Moscow",), has_consent=True, suppressed=tuple(reasons()))
    context = SendContext(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "marketing", SendingRules(), tier_headroom=None)
    [decision] = evaluate([facts], context)
    assert decision.outcome is Outcome.BLOCK
    assert [(v.rule, v.reason) for v in decision.verdicts if v.outcome is Outcome.BLOCK] == [
        ("suppressed", "The recipient's reply may be a refusal and awaits a decision.")]


def test_start_does_not_lift_a_hold_and_stop_still_opts_out(app):
    hold()
    assert handle_reply(PHONE, "START", RECEIVED, "wamid.2") == ReplyOutcome(Intent.OPT_IN, None)
    assert reasons() == {"unsure_reply"}
    assert handle_reply(PHONE, "STOP", RECEIVED, "wamid.3", language="en").confirmation.startswith(
        "You have unsubscribed")
    db.session.commit()
    assert reasons() == {"opt_out", "unsure_reply"}
    assert status_of(tuple(reasons())) is ContactStatus.OPTED_OUT
    # Their own START lifts their opt-out; the hold stays until a person decides, so nothing is confirmed.
    assert handle_reply(PHONE, "START", RECEIVED, "wamid.4") == ReplyOutcome(Intent.OPT_IN, None)
    assert reasons() == {"unsure_reply"}


def test_deciding_a_refusal_opts_the_number_out_audited(app, make_user):
    marketer = make_user("marketer", email="m@example.com")
    hold()
    decide_unsure(PHONE, True, actor=marketer, note="Clearly wants no more")
    db.session.commit()
    assert reasons() == {"opt_out"}
    held, opted_out = suppression_rows(PHONE)
    assert (held.lifted_by_label, held.lift_reason) == ("m@example.com", REFUSAL)
    assert (opted_out.reason, opted_out.source, opted_out.actor_label, opted_out.evidence, opted_out.note) == (
        SuppressionReason.OPT_OUT, "decision", "m@example.com", "wamid.1", UNCLEAR)
    [decided] = audit_events("suppression.decided")
    assert decided.actor_label == "m@example.com"
    assert decided.details == {"phone": PHONE, "decision": REFUSAL, "evidence": "wamid.1",
                               "note": "Clearly wants no more"}
    # It is the person's opt-out now: their START lifts it, and they are told so.
    outcome = handle_reply(PHONE, "START", RECEIVED, "wamid.2", language="en")
    assert outcome.intent is Intent.OPT_IN and "subscribed again" in outcome.confirmation
    assert reasons() == set()


def test_only_a_reviewer_may_decide_a_reply_was_not_a_refusal(app, make_user):
    marketer, reviewer = make_user("marketer"), make_user("reviewer", email="r@example.com")
    hold()
    with pytest.raises(SuppressionError, match="Only a reviewer"):
        decide_unsure(PHONE, False, actor=marketer)
    assert reasons() == {"unsure_reply"}
    decide_unsure(PHONE, False, actor=reviewer, note="Asked about delivery times")
    db.session.commit()
    assert reasons() == set()
    assert status_of(tuple(reasons())) is ContactStatus.SUBSCRIBED
    [entry] = suppression_rows(PHONE)
    assert (entry.lifted_by_label, entry.lift_reason) == ("r@example.com", NOT_A_REFUSAL)
    [decided] = audit_events("suppression.decided")
    assert (decided.details["decision"], decided.details["note"]) == (NOT_A_REFUSAL, "Asked about delivery times")


def test_a_reply_is_decided_once(app, admin):
    hold()
    decide_unsure(PHONE, False, actor=admin)
    db.session.commit()
    with pytest.raises(SuppressionError, match="awaits a decision"):
        decide_unsure(PHONE, True, actor=admin)
    with pytest.raises(SuppressionError, match="awaits a decision"):
        decide_unsure("+79031110000", True, actor=None)
    assert reasons() == set() and len(audit_events("suppression.decided")) == 1


@pytest.mark.parametrize(("text", "payload"), [
    ("Отписаться", "unsubscribe"),  # the captured Cloud API button reply
    ("Stop promotions", "No-Button-Payload"),  # the label says it, whatever the payload
    ("Не интересно", "STOP_PROMOTIONS"),  # the payload says it, whatever the label
    ("Отписаться от рассылки", "btn-3"),
])
def test_an_opt_out_button_tap_opts_out(app, text, payload):
    outcome = handle_reply(PHONE, text, RECEIVED, "wamid.1", language="ru", button_payload=payload)
    assert outcome.intent is Intent.OPT_OUT and "СТАРТ" in outcome.confirmation
    assert reasons() == {"opt_out"}


def test_another_button_tap_is_read_as_its_text(app):
    assert handle_reply(PHONE, "Узнать больше", RECEIVED, "wamid.1", button_payload="more") == ReplyOutcome(Intent.NONE)
    assert handle_reply(PHONE, "START", RECEIVED, "wamid.2", button_payload="resume").intent is Intent.OPT_IN
    assert reasons() == set()


def test_a_hold_is_placed_only_by_a_reply(call_as):
    response = call_as("POST", "/suppressions", "admin", json={"phone": PHONE, "reason": "unsure_reply"})
    assert_problem(response, 400, detail="must be one of opt_out, block, spam_report or manual", field="reason")
    assert reasons() == set()
