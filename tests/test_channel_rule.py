"""The channel rule (``compliance.channel_rule``): its table of cases, its settings and how they are
validated, the recipient's country, and the admin page that changes it (audited, with the values)."""

from __future__ import annotations

import itertools

import pytest
from flask_babel import force_locale

from compliance import policy
from compliance.channel_rule import CHANNELS, ChannelRules, Mode, country_of, judge
from compliance.sending import CATEGORIES
from compliance.verdict import Outcome
from tests.helpers import post_form
from tests.records import audit_events

FOREIGN = {"whatsapp", "telegram"}


def expected(channel: str, russia: bool, category: str, mode: Mode, covered: bool) -> Outcome:
    """The issue's rule in words: nothing outside Russia; under 41-FZ nothing at all through a foreign
    messenger; otherwise marketing through a restricted channel (WhatsApp, Telegram as shipped) is the mode."""
    if not russia:
        return Outcome.PASS
    if covered and channel in FOREIGN:
        return Outcome.BLOCK
    if category == "marketing" and channel in FOREIGN:
        return Outcome.BLOCK if mode is Mode.BLOCK else Outcome.WARN
    return Outcome.PASS


@pytest.mark.parametrize(("channel", "russia", "category", "mode", "covered"),
                         list(itertools.product(CHANNELS, (True, False), CATEGORIES, Mode, (False, True))))
def test_the_table_of_cases(channel, russia, category, mode, covered):
    rules = ChannelRules(marketing_mode=mode, covered_by_41fz=covered)
    verdict = judge(channel, "RU" if russia else "KZ", category, rules)
    assert verdict.rule == "channel" and verdict.outcome is expected(channel, russia, category, mode, covered)
    if verdict.outcome is Outcome.PASS:
        return
    assert verdict.details["channel"] == channel
    if covered and channel in FOREIGN:
        assert "41-FZ" in verdict.reason and "2025-06-01" in verdict.reason and "MAX or SMS" in verdict.reason
        assert verdict.details["law"] == "41-FZ"
    else:
        assert "art. 5 part 10.7 of 38-FZ" in verdict.reason and "March 2026" in verdict.reason
        assert "advertiser and the distributor are both liable" in verdict.reason


def test_max_and_sms_are_lawful_for_every_category_even_under_41fz():
    strictest = ChannelRules(marketing_mode=Mode.BLOCK, covered_by_41fz=True)
    for channel, category in itertools.product(("max", "sms"), CATEGORIES):
        assert judge(channel, "RU", category, strictest).outcome is Outcome.PASS


def test_the_list_of_restricted_channels_is_configurable():
    only_whatsapp = ChannelRules(restricted_channels=("whatsapp",))
    assert judge("telegram", "RU", "marketing", only_whatsapp).outcome is Outcome.PASS
    assert judge("whatsapp", "RU", "marketing", only_whatsapp).outcome is Outcome.WARN
    with_sms = ChannelRules(restricted_channels=("whatsapp", "telegram", "sms"), marketing_mode=Mode.BLOCK)
    assert judge("sms", "RU", "marketing", with_sms).outcome is Outcome.BLOCK
    assert judge("sms", "RU", "utility", with_sms).outcome is Outcome.PASS
    # 41-FZ names foreign messengers, whatever the list says.
    nothing_listed = ChannelRules(restricted_channels=(), covered_by_41fz=True)
    assert judge("telegram", "RU", "authentication", nothing_listed).outcome is Outcome.BLOCK
    assert judge("telegram", "RU", "marketing", ChannelRules(restricted_channels=())).outcome is Outcome.PASS


def test_unknown_channels_and_categories_are_programming_errors():
    with pytest.raises(ValueError, match="Unknown channel"):
        judge("viber", "RU", "marketing", ChannelRules())
    with pytest.raises(ValueError, match="Unknown message category"):
        judge("max", "RU", "promo", ChannelRules())


def test_the_recipients_country_is_the_contacts_else_a_russian_number():
    assert country_of("+4915112345678", "de") == "DE"
    assert country_of("+79031234567", None) == "RU"
    assert country_of("+79031234567", "") == "RU"
    assert country_of("+77011234567", None) == ""  # Kazakhstan shares +7: its ranges are 6xx and 7xx
    assert country_of("+76001234567", None) == ""
    assert country_of(None, "RU") == "RU"  # a messenger-only contact: its contact row says
    assert country_of("", None) == "" and country_of("+7", None) == ""


def test_settings_read_back_and_refuse_what_they_cannot_mean():
    rules = ChannelRules.from_dict({"restricted_channels": ["telegram", "whatsapp", "telegram"],
                                    "marketing_mode": "block", "covered_by_41fz": True})
    assert rules == ChannelRules(("whatsapp", "telegram"), Mode.BLOCK, True)
    assert ChannelRules.from_dict(rules.as_dict()) == rules
    assert ChannelRules.from_dict({}) == ChannelRules()
    assert ChannelRules().as_dict() == {"restricted_channels": ["whatsapp", "telegram"], "marketing_mode": "warning",
                                        "covered_by_41fz": False}
    for bad, words in [({"restricted_channels": ["viber"]}, "list of channels"),
                       ({"restricted_channels": "whatsapp"}, "list of channels"),
                       ({"marketing_mode": "silent"}, "“warning” or “block”"),
                       ({"covered_by_41fz": "yes"}, "true or false"),
                       ({"mode": "block"}, "Unknown channel rule setting: mode"),
                       (["whatsapp"], "named settings")]:
        with pytest.raises(ValueError, match=words):
            ChannelRules.from_dict(bad)


def test_the_sentences_are_translated_and_name_the_law(app):
    with app.test_request_context(), force_locale("ru"):
        warning = judge("whatsapp", "RU", "marketing", ChannelRules()).reason
        covered = judge("telegram", "RU", "utility", ChannelRules(covered_by_41fz=True)).reason
    assert "ч. 10.7 ст. 5 38-ФЗ" in warning and "ФАС" in warning and "WhatsApp" in warning
    assert "41-ФЗ" in covered and "1 июня 2025" in covered and "Telegram" in covered


# --- the admin page --------------------------------------------------------------------------------------------

def save_channels(browser, **fields):
    data = {f"channels-{name}": value for name, value in fields.items()}
    return post_form(browser, "/compliance/settings/channels", data, page="/compliance/settings")


def test_an_admin_changes_the_rule_and_the_change_is_audited_with_its_values(app, admin, admin_browser):
    page = admin_browser.get("/compliance/settings").get_data(as_text=True)
    assert 'id="channels"' in page and "Channels restricted in Russia" in page and "41-FZ" in page
    assert policy.current_policy().channels == ChannelRules()

    response = save_channels(admin_browser, restricted_channels=["whatsapp"], marketing_mode="block",
                             covered_by_41fz="y")
    assert response.status_code == 302
    assert policy.current_policy().channels == ChannelRules(("whatsapp",), Mode.BLOCK, True)
    [changed] = audit_events("compliance.settings_changed")
    assert changed.actor_id == admin.id and changed.details == {
        "section": "channels",
        "before": {"restricted_channels": ["whatsapp", "telegram"], "marketing_mode": "warning",
                   "covered_by_41fz": False},
        "after": {"restricted_channels": ["whatsapp"], "marketing_mode": "block", "covered_by_41fz": True}}

    # Unticking every channel and the 41-FZ box is a valid choice, not "keep what was there".
    assert save_channels(admin_browser, marketing_mode="warning").status_code == 302
    assert policy.current_policy().channels == ChannelRules((), Mode.WARNING, False)

    response = save_channels(admin_browser, marketing_mode="silent")
    assert response.status_code == 400 and policy.current_policy().channels == ChannelRules((), Mode.WARNING, False)

    page = admin_browser.get("/compliance/settings").get_data(as_text=True)
    assert 'action="/compliance/settings/channels/reset"' in page
    assert post_form(admin_browser, "/compliance/settings/channels/reset", {},
                     page="/compliance/settings").status_code == 302
    assert policy.current_policy().channels == ChannelRules()
    [reset] = audit_events("compliance.settings_reset")
    assert reset.details["section"] == "channels" and reset.details["after"]["restricted_channels"] == [
        "whatsapp", "telegram"]


def test_only_an_admin_may_change_the_rule(app, make_user):
    from tests.helpers import signed_in_client

    reviewer = signed_in_client(app, make_user("reviewer").email)
    assert reviewer.get("/compliance/settings").status_code == 403
    response = reviewer.post("/compliance/settings/channels", data={"channels-marketing_mode": "block"})
    assert response.status_code in (400, 403)
    assert policy.current_policy().channels == ChannelRules()
