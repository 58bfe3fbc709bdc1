"""classify_reply: whole-message keywords and short requests, in Russian and English."""

from __future__ import annotations

import pytest

from compliance.keywords import Intent, KeywordSets, classify_reply, normalise

CARRIER_OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"]
RUSSIAN_OPT_OUT = ["СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА"]
REQUESTS_OPT_OUT = ["отпишите меня", "Unsubscribe me", "не присылайте больше", "Больше не присылайте!",
                    "Отпишите меня, пожалуйста", "please stop sending", "удалите меня"]


@pytest.mark.parametrize("text", CARRIER_OPT_OUT + RUSSIAN_OPT_OUT + REQUESTS_OPT_OUT)
def test_opt_out_keywords_and_requests(text):
    assert classify_reply(text) is Intent.OPT_OUT


@pytest.mark.parametrize("text", ["START", "UNSTOP", "СТАРТ", "ПОДПИСАТЬСЯ", "подпишите меня", "Subscribe me"])
def test_opt_in_keywords(text):
    assert classify_reply(text) is Intent.OPT_IN


@pytest.mark.parametrize("text", ["HELP", "INFO", "ПОМОЩЬ", "справка", "Help!"])
def test_help_keywords(text):
    assert classify_reply(text) is Intent.HELP


@pytest.mark.parametrize(
    "text",
    ["stop", "Stop.", "stop!!!", "STOP\n", "\tстоп ", "стоп!!!", "«Стоп»",
     "ОТПИСАТЬСЯ", "отписаться", "Отпиcка",  # Latin "c" in a Russian word
     "CTOП",  # Latin C, T, O typed in a Russian word
     "STОP",  # Cyrillic О typed in an English word
     "stop all", "stop_all", "ＳＴＯＰ"],  # full-width letters
)
def test_matching_forgives_case_punctuation_spacing_and_look_alike_letters(text):
    assert classify_reply(text) is Intent.OPT_OUT


def test_yo_and_ye_are_the_same_letter():
    custom = KeywordSets(opt_out=frozenset({"не шлите ещё"}))
    assert classify_reply("не шлите еще", custom) is Intent.OPT_OUT
    assert classify_reply("НЕ ШЛИТЕ ЕЩЁ", custom) is Intent.OPT_OUT


@pytest.mark.parametrize(
    "text",
    ["Can I stop by the store tomorrow?", "How do I stop the order?", "When does the sale end?",
     "Не могу найти кнопку стоп на сайте", "Стоп-кран не работает?", "Подскажите, как отписаться от другой рассылки?",
     "I want to start a new order", "Мне нужна помощь с заказом номер 5", "Help me choose a size please",
     "stopwatch", "стопка", "startup", "information", "", "   ", "!!!", "👍"],
)
def test_keywords_inside_ordinary_messages_trigger_nothing(text):
    assert classify_reply(text) is Intent.NONE


def test_keyword_sets_are_configurable():
    custom = KeywordSets(opt_out=frozenset({"баста"}), opt_in=frozenset(), help=frozenset())
    assert classify_reply("Баста!", custom) is Intent.OPT_OUT
    assert classify_reply("START", custom) is Intent.NONE
    assert classify_reply("HELP", custom) is Intent.NONE
    # A refusal is read in any words, whatever the keywords say (38-FZ art. 18): STOP cannot be configured away.
    assert classify_reply("STOP", custom) is Intent.OPT_OUT


def test_normalise_drops_fillers_and_unifies_look_alikes():
    assert normalise("Пожалуйста, СТОП!") == normalise("стоп")
    assert normalise("STОP") == normalise("stop")
