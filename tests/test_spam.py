"""Spam-likeness: every signal fires when it should and only then; thresholds and rules are configurable."""

from __future__ import annotations

import json

import pytest

from compliance.spam import DEFAULT_SPAM_RULES, SpamRules, SpamWeights, score
from compliance.verdict import Outcome

ORDINARY = [
    "Здравствуйте, {{1}}! Ваш заказ №{{2}} готов к выдаче в магазине на Тверской. Ждём вас до 21:00, "
    "подробности на https://shop.example.ru/orders. Вопросы: help@shop.example.ru.",
    "Hi {{first_name}}, your *order* is ready. Pick it up at our Main Street store before 9 pm, "
    "or see https://example.com/orders for delivery options. Reply STOP to unsubscribe.",
]


def fired(text: str, rules: SpamRules = DEFAULT_SPAM_RULES) -> dict:
    return {signal.name: signal for signal in score(text, rules).signals}


@pytest.mark.parametrize("text", ORDINARY)
def test_an_ordinary_message_fires_nothing(text):
    result = score(text)
    assert (result.signals, result.total, result.outcome) == ([], 0.0, Outcome.PASS)


# Upper case

@pytest.mark.parametrize(
    "text", ["СКИДКИ НА ВСЁ ДО КОНЦА НЕДЕЛИ", "HUGE SALE THIS WEEKEND ONLY", "Новая КОЛЛЕКЦИЯ УЖЕ В ПРОДАЖЕ"]
)
def test_shouting_counts_capitals_in_any_alphabet(text):
    signal = fired(text)["uppercase"]
    assert signal.weight == 2.0
    assert signal.explanation.endswith("% of the letters are capitals; shouting reads as spam.")
    assert signal.details["ratio"] >= 0.5


def test_the_explanation_gives_the_share_of_capitals():
    # 15 capitals of 22 letters.
    assert fired("ВСЕ НА РАСПРОДАЖУ сегодня")["uppercase"].explanation == (
        "68% of the letters are capitals; shouting reads as spam."
    )


@pytest.mark.parametrize(
    "text",
    ["SALE -20%", "OK, ждём", "Новая КОЛЛЕКЦИЯ уже в магазинах города", "Скидки в ТЦ «МЕГА» до воскресенья",
     # Placeholder names and links are not the author's wording.
     "{{CUSTOMER_FULL_NAME}}, ждём", "Ждём: shop.example.ru/SPRING-SALE-COLLECTION-NOW"],
)
def test_a_few_capitals_are_not_shouting(text):
    assert "uppercase" not in fired(text)


def test_the_share_and_the_minimum_of_letters_are_configurable():
    text = "НОВАЯ КОЛЛЕКЦИЯ уже здесь"  # 14 capitals of 21 letters
    assert "uppercase" in fired(text)
    assert "uppercase" not in fired(text, SpamRules(uppercase_ratio=0.9))
    assert "uppercase" not in fired(text, SpamRules(uppercase_min_letters=30))


# Exclamation marks

def test_each_run_of_exclamation_marks_counts():
    signal = fired("Скидки!! Только у нас!!! Приходите!")["exclamations"]
    assert (signal.weight, signal.details) == (2.0, {"runs": 2})
    assert signal.explanation == "Runs of exclamation marks (!!) look like spam; found: 2."


@pytest.mark.parametrize("text", ["Привет! Скидки для вас!", "Привет, {{1}}! Ждём!", "Hello!"])
def test_single_exclamation_marks_are_fine(text):
    assert "exclamations" not in fired(text)


def test_the_length_of_a_run_is_configurable():
    rules = SpamRules(exclamation_run=3)
    signal = fired("Скидки!! Только у нас!!!", rules)["exclamations"]
    assert signal.details == {"runs": 1}
    assert "(!!!)" in signal.explanation


# Link shorteners

@pytest.mark.parametrize(
    ("text", "host"),
    [("Жми https://bit.ly/3xYzAb", "bit.ly"), ("Жми bit.ly/3xYzAb", "bit.ly"), ("see www.bit.ly/x", "bit.ly"),
     ("go.clck.ru/abc", "clck.ru"), ("HTTP://TINYURL.COM/abc", "tinyurl.com"), ("(vk.cc/cHx1)", "vk.cc"),
     ("u.to/a1b2", "u.to")],
)
def test_a_shortened_link_is_named(text, host):
    signal = fired(text)["shorteners"]
    assert signal.details["hosts"] == [host]
    assert signal.explanation == f"Shortened links ({host}) hide where they lead; use the full address."


def test_every_shortened_link_adds_its_weight_and_each_host_is_named_once():
    signal = fired("bit.ly/a, bit.ly/b и clck.ru/c")["shorteners"]
    assert signal.weight == 6.0
    assert signal.explanation == "Shortened links (bit.ly, clck.ru) hide where they lead; use the full address."


@pytest.mark.parametrize(
    "text",
    ["https://notbit.ly/x", "https://bit.ly.example.com/x", "https://shop.ru/bit.ly", "пишите: bitly@shop.ru",
     "Текст про bit ly"],
)
def test_other_links_are_not_shortened(text):
    assert "shorteners" not in fired(text)


def test_the_list_of_shorteners_is_configurable():
    rules = SpamRules.from_dict({"shorteners": ["  Sho.rt "]})
    assert rules.shorteners == ("sho.rt",)
    assert fired("sho.rt/x", rules)["shorteners"].details["hosts"] == ["sho.rt"]
    assert "shorteners" not in fired("bit.ly/x", rules)


# Trigger words

@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Доставка бесплатно", "бесплатно"),
        ("С бесплатной доставкой", "бесплатной"),
        ("Только   сегодня скидка", "только   сегодня"),
        ("ВЫ ВЫИГРАЛИ приз", "вы выиграли"),
        ("Кредит без отказа за час", "кредит без отказа"),
        ("Лёгкие деньги", "лёгкие деньги"),
        ("Скидка 100% на второй товар", "100%"),
        ("FREE delivery", "free"),
        ("Act now", "act now"),
        ("It's risk-free.", "risk-free"),
    ],
)
def test_trigger_words_are_found_in_russian_and_english(text, word):
    signal = fired(text)["trigger_words"]
    assert signal.details["words"] == [word]
    assert signal.explanation == f"Words typical of spam: {word}."


@pytest.mark.parametrize(
    "text",
    ["Свобода выбора, freedom of choice", "несрочный ремонт", "заработная плата", "cashback 5%", "Winners of last year",
     "Привет, {{ free }}", "Подробнее: https://shop.example.ru/free-delivery/besplatno"],
)
def test_trigger_words_match_only_whole_words_outside_links_and_placeholders(text):
    assert "trigger_words" not in fired(text)


def test_a_word_without_a_star_matches_only_as_written():
    rules = SpamRules(trigger_words=("бесплатно",))
    assert fired("Доставка бесплатно", rules)["trigger_words"].details["words"] == ["бесплатно"]
    assert "trigger_words" not in fired("С бесплатной доставкой", rules)


def test_each_distinct_trigger_word_adds_its_weight_once():
    signal = fired("Бесплатно! бесплатно, БЕСПЛАТНО и срочно; бесплатная доставка")["trigger_words"]
    assert signal.details["words"] == ["бесплатно", "срочно"]
    assert signal.weight == 2.0


def test_the_longest_entry_wins():
    assert fired("Totally risk-free")["trigger_words"].details["words"] == ["risk-free"]
    rules = SpamRules(trigger_words=("last", "last chance"))
    assert fired("The last chance, really the last", rules)["trigger_words"].details["words"] == ["last chance", "last"]


def test_an_empty_list_of_trigger_words_finds_none():
    assert "trigger_words" not in fired("Бесплатно, срочно, free", SpamRules(trigger_words=()))


# Links

def test_too_many_links():
    signal = fired("a.example.com, b.example.com и https://c.example.com/x")["too_many_links"]
    assert (signal.weight, signal.details) == (1.5, {"links": 3, "max": 2})
    assert signal.explanation == "Too many links (3); keep to 2 or fewer."


@pytest.mark.parametrize(
    "text", ["a.example.com и b.example.com", "пишите ivan.petrov@mail.ru, a@b.ru или sales@shop.example.com"]
)
def test_a_couple_of_links_and_e_mail_addresses_are_fine(text):
    assert "too_many_links" not in fired(text)


def test_the_number_of_links_allowed_is_configurable():
    assert "too_many_links" in fired("see example.com", SpamRules(max_links=0))


# Score and outcome

def test_the_score_adds_up_and_the_outcome_follows_the_thresholds():
    warned = score("СРОЧНАЯ РАСПРОДАЖА СЕГОДНЯ: bit.ly/sale")
    assert sorted(signal.name for signal in warned.signals) == ["shorteners", "trigger_words", "uppercase"]
    assert (warned.total, warned.outcome) == (5.0, Outcome.WARN)
    blocked = score("ВЫ ВЫИГРАЛИ!!! ЗАБЕРИТЕ ПРИЗ БЕСПЛАТНО!!! bit.ly/a clck.ru/b")
    assert {signal.name: signal.weight for signal in blocked.signals} == {
        "uppercase": 2.0, "exclamations": 2.0, "shorteners": 4.0, "trigger_words": 2.0,
    }
    assert (blocked.total, blocked.outcome) == (10.0, Outcome.BLOCK)


@pytest.mark.parametrize(
    ("total", "outcome"),
    [(0, Outcome.PASS), (2.99, Outcome.PASS), (3, Outcome.WARN), (5.99, Outcome.WARN), (6, Outcome.BLOCK)],
)
def test_thresholds_are_inclusive(total, outcome):
    assert DEFAULT_SPAM_RULES.outcome(total) is outcome


def test_custom_weights_and_thresholds_change_the_outcome():
    text = "Доставка бесплатно"
    assert score(text).outcome is Outcome.PASS
    assert score(text, SpamRules(weights=SpamWeights(trigger_words=3.0))).outcome is Outcome.WARN
    assert score(text, SpamRules.from_dict({"warn_at": 0.5, "block_at": 1})).outcome is Outcome.BLOCK
    assert score(text, SpamRules.from_dict({"weights": {"trigger_words": 0}})).total == 0.0


def test_as_dict_of_a_score_is_json():
    data = json.loads(json.dumps(score("Бесплатно!!").as_dict()))
    assert data == {
        "score": 2.0,
        "outcome": "pass",
        "signals": [
            {
                "name": "exclamations",
                "weight": 1.0,
                "explanation": "Runs of exclamation marks (!!) look like spam; found: 1.",
            },
            {"name": "trigger_words", "weight": 1.0, "explanation": "Words typical of spam: бесплатно."},
        ],
    }


# Settings

def test_rules_round_trip_through_json():
    assert SpamRules.from_dict(json.loads(json.dumps(DEFAULT_SPAM_RULES.as_dict()))) == DEFAULT_SPAM_RULES
    custom = SpamRules(SpamWeights(uppercase=4.5), warn_at=2, block_at=2.5, exclamation_run=3, max_links=1,
                       shorteners=("sho.rt",), trigger_words=("скидк*", "sale now"))
    assert SpamRules.from_dict(json.loads(json.dumps(custom.as_dict()))) == custom
    assert set(custom.as_dict()) == {"weights", "warn_at", "block_at", "uppercase_ratio", "uppercase_min_letters",
                                     "exclamation_run", "max_links", "shorteners", "trigger_words"}


def test_missing_settings_keep_their_defaults():
    assert SpamRules.from_dict({}) == DEFAULT_SPAM_RULES
    rules = SpamRules.from_dict({"weights": {"uppercase": 5}})
    assert rules.weights == SpamWeights(uppercase=5.0)
    assert rules.trigger_words == DEFAULT_SPAM_RULES.trigger_words


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "Spam rules must be an object of named settings."),
        ({"colour": 1}, "colour is not a spam rule setting."),
        ({"weights": [1, 2]}, "weights must be an object with a number for each signal."),
        ({"weights": {"shouting": 1}}, "weights.shouting is not a spam rule setting."),
        ({"weights": {"uppercase": -1}}, "weights.uppercase must be at least 0."),
        ({"warn_at": "3"}, "warn_at must be a number."),
        ({"warn_at": float("nan")}, "warn_at must be a number."),
        ({"warn_at": 0}, "warn_at must be more than 0."),
        ({"warn_at": 7}, "block_at must not be below warn_at."),
        ({"uppercase_ratio": 1.5}, "uppercase_ratio must be at most 1."),
        ({"exclamation_run": 1.5}, "exclamation_run must be a whole number."),
        ({"exclamation_run": 0}, "exclamation_run must be at least 1."),
        ({"max_links": True}, "max_links must be a whole number."),
        ({"shorteners": "bit.ly"}, "shorteners must be a list of texts."),
        ({"shorteners": ["bit ly"]}, "shorteners: bit ly is not a domain name such as bit.ly."),
        ({"trigger_words": ["free", " "]}, "trigger_words must be a list of texts, none of them empty."),
        ({"trigger_words": ["*"]}, "trigger_words: * may have a * only right after its last word."),
        ({"trigger_words": ["бес*платно"]}, "trigger_words: бес*платно may have a * only right after its last word."),
    ],
)
def test_a_bad_setting_is_named_in_a_sentence(data, message):
    with pytest.raises(ValueError) as error:
        SpamRules.from_dict(data)
    assert str(error.value) == message
