"""The suppression life cycle: who may suppress and lift, history kept, imports never lift, replies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from compliance import policy, suppression
from compliance.audit import AuditEvent
from compliance.keywords import Intent
from compliance.models import Suppression, SuppressionError, SuppressionReason
from compliance.numbers import InvalidNumberError, from_provider, to_e164
from compliance.replies import ReplyOutcome, handle_reply
from compliance.suppression_files import import_csv
from extensions import db

PHONE = "+79031234567"
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPT_OUT, BLOCK, SPAM, MANUAL = (SuppressionReason.OPT_OUT, SuppressionReason.BLOCK,
                                SuppressionReason.SPAM_REPORT, SuppressionReason.MANUAL)


def reasons(phone: str = PHONE) -> set[str]:
    return set(suppression.suppressed_reasons([phone]).get(phone, ()))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def reimport(data: bytes, reason: SuppressionReason = MANUAL):
    result = import_csv(data, filename="list.csv", actor=None, default_reason=reason, default_region="RU")
    db.session.commit()
    return result


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+7 903 123-45-67", PHONE), ("8 (903) 123-45-67", PHONE), ("9031234567", PHONE), ("'+79031234567", PHONE),
     ("+1 (415) 555-2671", "+14155552671")],
)
def test_numbers_are_keyed_in_e164(raw, expected):
    assert to_e164(raw, "RU") == expected


@pytest.mark.parametrize("raw", ["", "abc", "123", "+7 903 123"])
def test_what_is_not_a_number_is_refused_with_a_sentence(raw):
    with pytest.raises(InvalidNumberError, match=r"\w+ \w+"):
        to_e164(raw, "RU")


def test_a_provider_number_is_never_refused():
    assert from_provider("79031234567") == PHONE
    assert from_provider("12") == "+12"  # kept as reported: losing an opt-out is worse
    for junk in ("", "abc", "1" * 16):
        with pytest.raises(InvalidNumberError):
            from_provider(junk)


def test_suppressing_records_evidence_and_audits_once(app, admin):
    entry, created = suppression.suppress(PHONE, MANUAL, source="ui", actor=admin, note="asked by phone")
    again, created_again = suppression.suppress(PHONE, MANUAL, source="ui", actor=admin, note="second time")
    db.session.commit()
    assert created and not created_again and again.id == entry.id
    assert (entry.actor_label, entry.source, entry.note) == (admin.email, "ui", "asked by phone")
    assert reasons() == {"manual"}
    assert actions() .count("suppression.added") == 1


def test_manual_suppression_needs_a_note(app):
    with pytest.raises(SuppressionError, match="note"):
        suppression.suppress(PHONE, MANUAL, source="cli", note="  ")


def test_one_number_may_be_suppressed_for_several_reasons(app):
    suppression.suppress(PHONE, OPT_OUT, source="keyword")
    suppression.suppress(PHONE, BLOCK, source="webhook")
    db.session.commit()
    assert reasons() == {"opt_out", "block"}


def test_opt_in_lifts_only_an_opt_out(app):
    suppression.suppress(PHONE, OPT_OUT, source="keyword")
    suppression.suppress(PHONE, SPAM, source="webhook")
    lifted = suppression.lift_opt_out(PHONE, evidence="wamid.2")
    db.session.commit()
    assert [entry.reason for entry in lifted] == [OPT_OUT]
    assert reasons() == {"spam_report"}


def test_only_an_admin_lifts_and_only_with_a_reason(app, make_user, admin):
    suppression.suppress(PHONE, BLOCK, source="webhook")
    db.session.commit()
    for role in ("marketer", "reviewer"):
        with pytest.raises(SuppressionError, match="admin"):
            suppression.lift(PHONE, reason_text="please", actor=make_user(role))
    with pytest.raises(SuppressionError, match="reason"):
        suppression.lift(PHONE, reason_text=" ", actor=admin)
    suppression.lift(PHONE, reason_text="new written consent, ticket 42", actor=admin)
    db.session.commit()
    assert reasons() == set()
    with pytest.raises(SuppressionError, match="not suppressed"):
        suppression.lift(PHONE, reason_text="again", actor=admin)
    suppression.suppress(PHONE, OPT_OUT, source="keyword")
    with pytest.raises(SuppressionError, match="only the person"):
        suppression.lift(PHONE, reason_text="they called us", actor=admin)


def test_history_is_kept_and_never_rewritten(app, admin):
    first, _ = suppression.suppress(PHONE, OPT_OUT, source="keyword", evidence="wamid.1", at=RECEIVED)
    suppression.lift_opt_out(PHONE, evidence="wamid.2")
    second, created = suppression.suppress(PHONE, OPT_OUT, source="keyword", evidence="wamid.3")
    db.session.commit()
    assert created and second.id != first.id
    assert [(entry.evidence, entry.is_open) for entry in suppression.history(PHONE)] == [
        ("wamid.3", True),
        ("wamid.1", False),
    ]
    first.note = "rewritten"
    with pytest.raises(SuppressionError):
        db.session.flush()
    db.session.rollback()
    first = db.session.get(Suppression, first.id)
    first.lifted_at = None  # un-lifting would erase the lift from history
    with pytest.raises(SuppressionError):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(SuppressionError):
        db.session.delete(db.session.get(Suppression, first.id))
        db.session.flush()


def test_an_import_never_lifts_and_never_duplicates(app, admin):
    suppression.suppress(PHONE, BLOCK, source="webhook")
    suppression.suppress("+79031112233", OPT_OUT, source="keyword")
    db.session.commit()
    data = "Телефон;Причина;Комментарий\n+7 903 123-45-67;opt_out;\n8 903 111 22 33;;from CRM\nнет;;\n".encode("cp1251")
    result = reimport(data, OPT_OUT)
    assert (result.read, result.added, result.already) == (3, 1, 1)
    assert [row for row, _ in result.rejected] == [4]
    assert reasons() == {"block", "opt_out"} and reasons("+79031112233") == {"opt_out"}
    assert reimport(data, OPT_OUT).added == 0
    assert len(db.session.scalars(select(Suppression)).all()) == 3


def test_a_bare_column_of_numbers_imports(app):
    result = reimport("\ufeff+79031234567\n+79031112233\n".encode())
    assert result.added == 2 and result.rejected == []
    assert suppression.history(PHONE)[0].note == "Imported from list.csv"


def test_concurrent_stops_leave_one_open_entry(app):
    # Another worker's insert arrives between our check and our insert: the unique index decides.
    suppression.suppress(PHONE, OPT_OUT, source="keyword", evidence="wamid.1")
    db.session.commit()
    racing = Suppression(
        phone=PHONE, reason=OPT_OUT, source="keyword", note="", evidence="wamid.2", actor_label="system"
    )
    db.session.add(racing)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        db.session.flush()
    db.session.rollback()
    assert len(suppression.open_entries(PHONE)) == 1


@pytest.mark.parametrize(("language", "expected"), [("ru", "СТАРТ"), ("en", "START")])
def test_stop_opts_out_and_confirms_once_in_the_contacts_language(app, language, expected):
    outcome = handle_reply("79031234567", "Стоп!", RECEIVED, "wamid.1", language=language)
    db.session.commit()
    assert outcome.intent is Intent.OPT_OUT and expected in outcome.confirmation
    assert reasons() == {"opt_out"}
    entry = suppression.open_entries(PHONE)[0]
    assert (entry.source, entry.evidence, entry.created_at) == ("keyword", "wamid.1", RECEIVED)
    assert handle_reply("79031234567", "STOP", RECEIVED, "wamid.2", language=language) == ReplyOutcome(Intent.OPT_OUT)


def test_start_lifts_the_opt_out_and_confirms(app):
    handle_reply(PHONE, "STOP", RECEIVED, "wamid.1", language="en")
    outcome = handle_reply(PHONE, "start", RECEIVED, "wamid.2", language="en")
    db.session.commit()
    assert outcome.intent is Intent.OPT_IN and "subscribed again" in outcome.confirmation and reasons() == set()
    assert suppression.history(PHONE)[0].lift_evidence == "wamid.2"
    assert handle_reply(PHONE, "start", RECEIVED, "wamid.3", language="en").confirmation is None


def test_start_never_lifts_a_block_and_nothing_is_sent_to_who_blocked_us(app):
    suppression.suppress(PHONE, BLOCK, source="webhook")
    assert handle_reply(PHONE, "START", RECEIVED, "wamid.1").confirmation is None
    assert handle_reply(PHONE, "HELP", RECEIVED, "wamid.2").confirmation is None
    assert handle_reply(PHONE, "СТОП", RECEIVED, "wamid.3").confirmation is None
    assert reasons() == {"block", "opt_out"}


def test_start_says_nothing_while_another_suppression_holds(app):
    suppression.suppress(PHONE, OPT_OUT, source="keyword")
    suppression.suppress(PHONE, MANUAL, source="ui", note="legal hold")
    assert handle_reply(PHONE, "СТАРТ", RECEIVED, "wamid.1").confirmation is None
    assert reasons() == {"manual"}


def test_help_is_answered_and_ordinary_replies_are_left_alone(app):
    assert "СТОП" in handle_reply(PHONE, "помощь", RECEIVED, "wamid.1", language="ru").confirmation
    assert handle_reply(PHONE, "Can I stop by tomorrow?", RECEIVED, "wamid.2") == ReplyOutcome(Intent.NONE)
    assert reasons() == set()


def test_an_admins_keywords_apply_to_replies(app, admin):
    keywords = policy.section_data("keywords")
    policy.save_section("keywords", {**keywords, "opt_out": [*keywords["opt_out"], "хватит"]}, admin)
    db.session.commit()
    assert handle_reply(PHONE, "Хватит!", RECEIVED, "wamid.1").confirmation is not None
    assert reasons() == {"opt_out"}
    assert "compliance.settings_changed" in actions()


@pytest.mark.parametrize(
    ("section", "bad", "sentence"),
    [("keywords", {"opt_out": ["unsubscribe"]}, "STOP"),
     ("sending", {"cap_per_day": 3, "cap_per_week": 2}, "weekly cap"),
     ("registry", {"owners": {}}, "platforms"),
     ("spam", {"warn_at": 5, "block_at": 1}, "block_at")],
)
def test_settings_are_validated_before_they_are_stored(app, admin, section, bad, sentence):
    with pytest.raises(ValueError, match=sentence):
        policy.save_section(section, bad, admin)
    assert not policy.is_customised(section)


def test_settings_reach_the_policy_and_reset_to_the_default(app, admin):
    sending = policy.section_data("sending")
    policy.save_section("sending", {**sending, "cap_per_day": 2}, admin)
    db.session.commit()
    assert policy.current_policy().sending.cap_per_day == 2
    policy.reset_section("sending", admin)
    db.session.commit()
    assert policy.current_policy().sending.cap_per_day == 1
    assert actions()[-2:] == ["compliance.settings_changed", "compliance.settings_reset"]


def test_an_exported_history_imports_back_without_reviving_lifted_entries(app, admin):
    from compliance.suppression_files import export_lines

    suppression.suppress(PHONE, MANUAL, source="ui", note="=HYPERLINK(1)")
    suppression.suppress("+79031112233", BLOCK, source="webhook")
    suppression.lift("+79031112233", reason_text="consent", actor=admin)
    db.session.commit()
    exported = "".join(export_lines(include_lifted=True)).encode()
    result = reimport(exported)
    assert (result.added, result.already) == (0, 1)
    assert reasons("+79031112233") == set()
    assert suppression.history(PHONE)[0].note == "=HYPERLINK(1)"


def test_a_second_lift_of_the_same_entry_changes_nothing(app, admin):
    entry, _ = suppression.suppress(PHONE, BLOCK, source="webhook")
    db.session.commit()
    stale = [db.session.get(Suppression, entry.id)]
    suppression.lift(PHONE, reason_text="first", actor=admin)
    db.session.commit()
    # A second lift working from rows it read before the first lift committed.
    assert suppression._lift(stale, actor=admin, reason_text="second", evidence="", at=None) == []
    db.session.commit()
    assert suppression.history(PHONE)[0].lift_reason == "first"
