"""WhatsApp's template rules: every violation is found, named by its field, all of them at once;
rendering fills variables in and the preview carries the compliance lint."""

from __future__ import annotations

from dataclasses import replace

import pytest

from campaigns import rendering
from campaigns.template_rules import (
    LANGUAGES,
    TemplateSpec,
    check,
    is_opt_out_label,
    parse_tags,
    suggested_opt_out,
    variable_names,
    warnings,
)
from compliance.keywords import KeywordSets
from compliance.policy import Policy
from compliance.restricted import Registry
from compliance.sending import SendingRules
from compliance.spam import SpamRules

STOP = {"type": "quick_reply", "text": "Stop promotions"}
GOOD = TemplateSpec(
    name="autumn_sale_2025", language="en", category="marketing", header="Hello {{1}}",
    body="Hi {{1}}, your order {{2}} is ready. See you soon!", footer="Shop Example",
    buttons=[{"type": "url", "text": "Open the shop", "url": "https://shop.example.com"},
             {"type": "phone", "text": "Call us", "phone": "+74951234567"}, STOP],
    examples={"1": "Anna", "2": "A-17"},
)


def errors_of(**changes) -> list[str]:
    return check(replace(GOOD, **changes))


def test_a_good_template_passes():
    assert check(GOOD) == []
    assert check(TemplateSpec("otp", "ru", "authentication", "Ваш код: {{1}}. Никому его не сообщайте.",
                              examples={"1": "1234"})) == []
    assert (
        check(
            TemplateSpec("news", "pt_BR", "utility", "Olá {{first_name}}, tudo certo.", examples={"first_name": "Ana"})
        )
        == []
    )


@pytest.mark.parametrize(("name", "error"), [
    ("", "Name: give the template a name."),
    ("Autumn Sale", "Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025."),
    ("осень", "Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025."),
    ("a-b", "Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025."),
    ("a" * 513, "Name: the name is longer than 512 characters."),
    (None, "Name: give the template a name."),
])
def test_name(name, error):
    assert errors_of(name=name) == [error]


def test_the_longest_name_is_allowed():
    assert errors_of(name="a" * 512) == []


@pytest.mark.parametrize("language", ["ru", "en", "en_US", "pt_BR", "kk", "uk", "zh_CN"])
def test_whatsapp_languages_are_accepted(language):
    assert language in LANGUAGES and errors_of(language=language) == []


@pytest.mark.parametrize(("language", "error"), [
    ("", "Language: choose the template's language."),
    ("english", "Language: “english” is not a language code WhatsApp accepts; use one such as ru, en or en_US."),
    ("en-US", "Language: “en-US” is not a language code WhatsApp accepts; use one such as ru, en or en_US."),
    ("RU", "Language: “RU” is not a language code WhatsApp accepts; use one such as ru, en or en_US."),
])
def test_language(language, error):
    assert errors_of(language=language) == [error]


def test_category():
    assert errors_of(category="promo") == ["Category: choose marketing, utility or authentication."]
    assert errors_of(category="utility", buttons=[]) == []


def test_header_length_lines_and_variables():
    assert errors_of(header="x" * 60) == []
    assert errors_of(header="x" * 61) == ["Header: the header is 61 characters long; WhatsApp allows 60."]
    assert errors_of(header="Hello\nthere") == ["Header: the header must be a single line."]
    assert errors_of(header="{{1}} and {{2}}") == ["Header: the header may contain at most one variable."]
    assert errors_of(header="") == []


def test_body_is_required_and_at_most_1024_characters():
    assert errors_of(header="", body="   ", examples={}) == ["Body: write the message text."]
    assert errors_of(header="", body="x" * 1024, examples={}) == []
    assert errors_of(header="", body="x" * 1025, examples={}) == [
        "Body: the text is 1025 characters long; WhatsApp allows 1024."
    ]


def test_body_variables_not_at_the_start_or_the_end():
    assert errors_of(body="{{1}}, your order {{2}} is ready.") == [
        "Body: the text cannot start with a variable; put some words before it."]
    assert errors_of(body="Hi {{1}}, your order is {{2}}") == [
        "Body: the text cannot end with a variable; put some words or a full stop after it."]
    assert errors_of(body="  {{1}} is {{2}}  ") == [
        "Body: the text cannot start with a variable; put some words before it.",
        "Body: the text cannot end with a variable; put some words or a full stop after it."]


def test_positional_variables_count_from_one_without_gaps():
    assert errors_of(header="", body="Hi {{1}}, order {{3}} is ready.", examples={"1": "a", "3": "c"}) == [
        "Body: numbered variables must count from {{1}} without gaps; {{2}} is missing."]
    assert errors_of(header="", body="Hi {{2}}, order {{3}} is ready.", examples={"2": "b", "3": "c"}) == [
        "Body: numbered variables must count from {{1}} without gaps; {{1}} is missing."]
    # The header shares the numbering: its {{1}} is the body's {{1}}.
    assert errors_of(header="Hello {{2}}") == []
    assert variable_names("Order {{3}}", "Hi {{2}}, {{1}}!") == ["1", "2", "3"]


def test_named_and_positional_variables_do_not_mix():
    assert errors_of(
        header="", body="Hi {{first_name}}, order {{1}} is ready.", examples={"first_name": "a", "1": "b"}
    ) == ["Body: use either numbered variables ({{1}}, {{2}}…) or named ones ({{first_name}}), not both."]
    assert errors_of(header="Hi {{name}}", body="Order {{1}} is ready.", examples={"name": "a", "1": "b"}) == [
        "Body: use either numbered variables ({{1}}, {{2}}…) or named ones ({{first_name}}), not both."]


def test_malformed_variables_are_named():
    assert errors_of(header="", body="Hi {{First Name}}, welcome.", examples={}) == [
        "Body: “{{First Name}}” is not a variable; write {{1}}, {{2}}… or a name in lowercase letters, digits and "
        "underscores such as {{first_name}}."]
    assert errors_of(header="Hi {{ 1 }}", body="Welcome, friend.", examples={}) == [
        "Header: “{{ 1 }}” is not a variable; write {{1}}, {{2}}… or a name in lowercase letters, digits and "
        "underscores such as {{first_name}}."]
    assert errors_of(header="", body="Code {{0}} here.", examples={})[0].startswith("Body: “{{0}}” is not a variable")


def test_footer():
    assert errors_of(footer="x" * 60) == []
    assert errors_of(footer="x" * 61) == ["Footer: the footer is 61 characters long; WhatsApp allows 60."]
    assert errors_of(footer="Bye {{1}}") == ["Footer: the footer cannot contain variables."]


def test_examples_are_required_for_every_variable():
    assert errors_of(examples={"1": "Anna"}) == ["Examples: give an example value for {{2}}."]
    assert errors_of(examples={"1": " ", "2": "x"}) == ["Examples: give an example value for {{1}}."]
    assert errors_of(examples=None) == [
        "Examples: give an example value for {{1}}.",
        "Examples: give an example value for {{2}}.",
    ]
    assert errors_of(examples={"1": "x" * 201, "2": "x"}) == [
        "Examples: the example for {{1}} is longer than 200 characters."
    ]
    assert errors_of(examples={"1": "a\nb", "2": "x"}) == ["Examples: the example for {{1}} must be a single line."]


QR = "quick_reply"


@pytest.mark.parametrize(
    ("buttons", "error"),
    [
        ("junk", "Buttons: give a list of buttons, each with a type and a label."),
        ([1], "Buttons: give a list of buttons, each with a type and a label."),
        ([STOP, {"type": "call", "text": "x"}], "Button 2: the type must be a quick reply, a link or a phone number."),
        ([STOP, {"type": QR, "text": ""}], "Button 2: give the button a label."),
        ([STOP, {"type": QR}], "Button 2: give the button a label."),
        ([STOP, {"type": QR, "text": "x" * 26}], f"Button 2: the label “{'x' * 26}” is longer than 25 characters."),
        ([STOP, {"type": QR, "text": "Hi {{1}}"}], "Button 2: a label cannot contain variables."),
        (
            [STOP, {"type": QR, "text": "stop PROMOTIONS"}],
            "Button 2: another button already has the label “stop PROMOTIONS”.",
        ),
        (
            [STOP, {"type": "url", "text": "Shop", "url": "shop.example.com"}],
            "Button 2: give the link as a full web address starting with https://.",
        ),
        (
            [STOP, {"type": "url", "text": "Shop", "url": "https://example.com/{{1}}"}],
            "Button 2: the link cannot contain variables.",
        ),
        (
            [STOP, {"type": "phone", "text": "Call", "phone": "84951234567"}],
            "Button 2: give the phone number in international format, such as +74951234567.",
        ),
        (
            [STOP, {"type": "phone", "text": "Call", "phone": "+74951234567\n"}],
            "Button 2: give the phone number in international format, such as +74951234567.",
        ),
        (
            [STOP] + [{"type": "url", "text": f"Link {n}", "url": "https://example.com"} for n in range(3)],
            "Buttons: a template may have at most 2 link buttons.",
        ),
        (
            [STOP] + [{"type": "phone", "text": f"Call {n}", "phone": "+74951234567"} for n in range(2)],
            "Buttons: a template may have at most one phone button.",
        ),
        (
            [STOP] + [{"type": QR, "text": f"Answer {n}"} for n in range(10)],
            "Buttons: a template may have at most 10 buttons.",
        ),
    ],
)
def test_buttons(buttons, error):
    assert errors_of(buttons=buttons) == [error]


def test_the_longest_label_and_every_kind_of_button_together_are_fine():
    buttons = [
        STOP,
        {"type": QR, "text": "x" * 25},
        {"type": "url", "text": "A", "url": "https://a.example.com/x?y=1"},
        {"type": "url", "text": "B", "url": "http://b.example.com"},
        {"type": "phone", "text": "C", "phone": "+12025550123"},
    ]
    assert errors_of(buttons=buttons) == []


OPT_OUT_MISSING = ("Buttons: a marketing template must offer an opt-out quick reply in its language, "
                   "such as “Stop promotions”.")


@pytest.mark.parametrize(
    "label", ["Stop promotions", "STOP", "Отписаться", "отписаться от рассылки", "Unsubscribe", "Стоп"]
)
def test_marketing_templates_accept_any_opt_out_looking_quick_reply(label):
    assert is_opt_out_label(label)
    assert errors_of(buttons=[{"type": QR, "text": label}]) == []


@pytest.mark.parametrize(
    "buttons",
    [[], [{"type": QR, "text": "Tell me more"}], [{"type": "url", "text": "Stop", "url": "https://x.example.com"}]],
)
def test_marketing_templates_without_an_opt_out_quick_reply_are_refused(buttons):
    assert errors_of(buttons=buttons) == [OPT_OUT_MISSING]
    assert errors_of(buttons=buttons, category="utility") == []


def test_what_counts_as_opt_out_follows_the_policy_keywords():
    keywords = KeywordSets.from_dict({"opt_out": ["stop", "стоп", "хватит"], "opt_in": ["start"], "help": ["help"]})
    spec = replace(GOOD, buttons=[{"type": QR, "text": "Хватит"}])
    assert check(spec) == [OPT_OUT_MISSING]
    assert check(spec, keywords) == []


def test_the_suggested_opt_out_label_follows_the_language():
    assert suggested_opt_out("ru") == "Отписаться"
    assert suggested_opt_out("en_US") == "Stop promotions"
    assert (suggested_opt_out("uk"), suggested_opt_out("kk")) == ("СТОП", "СТОП")  # Cyrillic: the required keyword
    assert (suggested_opt_out("de"), suggested_opt_out("ar"), suggested_opt_out("ja")) == ("STOP", "STOP", "STOP")
    for language in LANGUAGES:  # every suggestion opts out, and is in its template's script
        spec = replace(GOOD, language=language, buttons=[{"type": QR, "text": suggested_opt_out(language)}])
        assert is_opt_out_label(suggested_opt_out(language)) and check(spec) == [] and warnings(spec) == [], language


def test_the_missing_opt_out_sentence_suggests_one_in_the_templates_language():
    assert check(replace(GOOD, language="ru", buttons=[])) == [
        "Buttons: a marketing template must offer an opt-out quick reply in its language, such as “Отписаться”."]


@pytest.mark.parametrize(("language", "label", "suggestion"), [
    ("ru", "Stop promotions", "Отписаться"), ("ru", "STOP", "Отписаться"), ("en", "Отписаться", "Stop promotions"),
    ("en_US", "Стоп", "Stop promotions"), ("kk", "Unsubscribe", "СТОП"), ("ar", "Отписаться", "STOP"),
])
def test_an_opt_out_reply_in_another_script_than_the_template_is_warned_about(language, label, suggestion):
    spec = replace(GOOD, language=language, buttons=[{"type": "url", "text": "Open", "url": "https://a.example.com"},
                                                     {"type": QR, "text": label}])
    assert warnings(spec) == [f"Button 2: the opt-out reply “{label}” is not written in the template's language "
                              f"({language}), so its recipients may not recognise it; write it as “{suggestion}”, "
                              "for example."]
    assert check(spec) == []  # a warning, not a violation: the template can be saved


@pytest.mark.parametrize(("language", "buttons"), [
    ("ru", [{"type": QR, "text": "Отписаться от рассылки"}]), ("en", [STOP]), ("de", [{"type": QR, "text": "STOP"}]),
    ("ja", [{"type": QR, "text": "STOP"}]), ("ru", [{"type": QR, "text": "Learn more"}, {"type": QR, "text": "Стоп"}]),
    ("xx", [STOP]), ("ru", "not a list"), ("ru", [{"type": QR, "text": 5}, "junk"]),
])
def test_no_warning_where_nothing_is_off(language, buttons):
    assert warnings(replace(GOOD, language=language, buttons=buttons)) == []


def test_every_violation_is_reported_at_once():
    spec = TemplateSpec(
        name="Bad Name",
        language="xx",
        category="promo",
        header="x" * 61 + "{{1}}{{2}}",
        body="{{1}} " + "y" * 1030 + " {{3}}",
        footer="{{1}}" + "z" * 60,
        buttons=[{"type": QR, "text": "x" * 30}, {"type": "phone", "text": "p", "phone": "1"}],
        examples={},
    )
    found = check(spec)
    assert len(found) == 15
    for field in (
        "Name:",
        "Language:",
        "Category:",
        "Header:",
        "Body:",
        "Footer:",
        "Button 1:",
        "Button 2:",
        "Examples:",
    ):
        assert any(error.startswith(field) for error in found), field


def test_tags():
    assert parse_tags(" Promo, autumn,promo ,, ") == (["promo", "autumn"], [])
    assert parse_tags(["VIP"]) == (["vip"], [])
    assert parse_tags(None) == ([], [])
    assert parse_tags(3)[1] == ["Tags: give the tags as text separated by commas."]
    assert parse_tags("a|b")[1] == ["Tags: a tag may have up to 30 characters and no “|”."]
    assert parse_tags(",".join(f"t{n}" for n in range(16)))[1] == ["Tags: a template may have at most 15 tags."]


# --- rendering --------------------------------------------------------------------------------------

POLICY = Policy(KeywordSets(), Registry.load(), SpamRules(), SendingRules())


def test_variables_render_and_missing_ones_stay_as_written():
    assert rendering.variables(GOOD) == ["1", "2"]
    rendered = rendering.render(GOOD, {"1": "Анна", "2": "A-17"})
    assert (rendered.header, rendered.body, rendered.footer) == (
        "Hello Анна", "Hi Анна, your order A-17 is ready. See you soon!", "Shop Example")
    assert rendering.render_text("Hi {{1}}, {{2}} and {{x y}}.", {"1": "A"}) == "Hi A, {{2}} and {{x y}}."
    assert rendering.render_text("Hi {{name}}!", {"name": "{{1}}"}) == "Hi {{1}}!"  # values are not rendered again


def test_preview_uses_examples_and_lints_the_body(app):
    spec = replace(
        GOOD, body="Hi {{1}}, follow us on Instagram for order {{2}}. FREE gifts!! Only today!!", language="ru"
    )
    shown = rendering.preview(spec, {"1": "Борис"}, "ru", POLICY)
    assert shown["values"] == {"1": "Борис", "2": "A-17"}
    assert shown["body"] == "Hi Борис, follow us on Instagram for order A-17. FREE gifts!! Only today!!"
    assert shown["sent_body"].startswith("Hi Борис, follow us on Instagram* for order A-17.")
    assert "Meta" in shown["sent_body"].split("\n\n", 1)[1]  # the disclaimer, in Russian
    assert {"text": "Instagram", "mark": "mention"} in shown["pieces"]
    rules = {verdict["rule"]: verdict["outcome"] for verdict in shown["verdicts"]}
    assert rules["restricted_mention"] == "warn" and rules["spam_score"] in ("warn", "block")
    assert {signal["name"] for signal in shown["spam"]["signals"]} >= {"exclamations", "trigger_words"}
    assert shown["length"] == len(shown["sent_body"])


def test_restricted_platforms_in_the_header_or_footer_block(app):
    spec = replace(GOOD, header="Instagram news", footer="facebook.com/shop")
    shown = rendering.preview(spec, None, "en", POLICY)
    outcomes = {verdict["rule"]: verdict["outcome"] for verdict in shown["verdicts"]}
    assert outcomes["restricted_in_header"] == "block" and outcomes["restricted_in_footer"] == "block"
    assert shown["outcome"] == "block"


def test_a_clean_message_passes(app):
    shown = rendering.preview(GOOD, None, "en", POLICY)
    assert shown["outcome"] == "pass" and shown["sent_body"] == shown["body"]
    assert [verdict["rule"] for verdict in shown["verdicts"]] == ["spam_score"]


def test_the_body_as_sent_carries_the_disclaimer_in_the_templates_language(app):
    sent = rendering.sent_body("Follow our Instagram.", "en_US", POLICY)
    assert sent.startswith("Follow our Instagram*.\n\n") and "Meta" in sent
    assert sent != rendering.sent_body("Follow our Instagram.", "ru", POLICY)
    assert rendering.sent_body("Plain text.", "ru", POLICY) == "Plain text."
