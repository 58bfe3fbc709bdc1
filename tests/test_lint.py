"""The content linter: restricted platforms tagged or blocked, the body length, the spam score, one report."""

from __future__ import annotations

import json
import re

import pytest

from compliance.lint import BODY_LIMIT, default_registry, lint
from compliance.restricted import REGISTRY_PATH, Registry
from compliance.spam import SpamRules
from compliance.verdict import Outcome

RU_NOTE = "*Meta Platforms Inc. признана экстремистской организацией, её деятельность запрещена на территории РФ."
EN_NOTE = ("*Meta Platforms Inc. is recognised as an extremist organisation; "
           "its activities are banned in the Russian Federation.")


def verdicts(report) -> list[tuple[str, Outcome, str]]:
    return [(verdict.rule, verdict.outcome, verdict.reason) for verdict in report.verdicts]


def rules(report) -> list[str]:
    return [verdict.rule for verdict in report.verdicts]


def test_an_ordinary_text_gets_only_its_spam_score():
    report = lint("Здравствуйте, {{1}}! Ваш заказ готов, ждём вас в магазине до 21:00.")
    assert verdicts(report) == [("spam_score", Outcome.PASS, "Spam score 0 is below the warning level of 3.")]
    assert (report.outcome, report.tagged, report.mentions, report.links) == (Outcome.PASS, report.text, [], [])


def test_mentions_are_tagged_and_reported_once():
    report = lint("Подписывайтесь на наш Инстаграм и Фейсбук, а ещё на Инсту")
    assert report.tagged == f"Подписывайтесь на наш Инстаграм* и Фейсбук*, а ещё на Инсту*\n\n{RU_NOTE}"
    assert [(mention.platform, mention.match) for mention in report.mentions] == [
        ("instagram", "Инстаграм"), ("facebook", "Фейсбук"), ("instagram", "Инсту"),
    ]
    assert verdicts(report)[0] == (
        "restricted_mention",
        Outcome.WARN,
        "Mentions of Instagram, Facebook are marked with * and the disclaimer is added.",
    )
    assert report.verdicts[0].details == {"platforms": ["instagram", "facebook"]}
    assert report.outcome is Outcome.WARN


def test_the_disclaimer_follows_the_language():
    assert lint("Follow our Instagram", "en").tagged == f"Follow our Instagram*\n\n{EN_NOTE}"


@pytest.mark.parametrize(
    "text",
    ["Мы в Инстаграме и ФБ", "*Instagram* и _Facebook_ и ~Meta~", "Привет, {{1}}! Наш Инстаграм: скидка {{2}}%",
     "Meta Platforms и Meta", "Пишите в директ: instagram.com/shop или в Фейсбук"],
)
def test_linting_the_tagged_text_changes_nothing(text):
    first = lint(text)
    again = lint(first.tagged)
    assert again.tagged == first.tagged
    assert again.tagged.count("*") == first.tagged.count("*")
    assert [(m.platform, m.match) for m in again.mentions] == [(m.platform, m.match) for m in first.mentions]
    assert rules(again) == rules(first) and again.outcome is first.outcome


def test_placeholders_and_formatting_are_kept():
    report = lint("Привет, {{1}}! Наш *Инстаграм* и _Facebook_, скидка {{2}}%", "en")
    assert report.tagged == f"Привет, {{{{1}}}}! Наш *Инстаграм** и _Facebook_*, скидка {{{{2}}}}%\n\n{EN_NOTE}"


def test_links_to_restricted_platforms_are_blocked_and_named():
    report = lint("Подписывайтесь: instagram.com/shop и https://m.facebook.com/groups/1")
    assert verdicts(report)[:2] == [
        ("restricted_link", Outcome.BLOCK, "Links to Instagram are not allowed in Russia: instagram.com/shop."),
        ("restricted_link", Outcome.BLOCK, "Links to Facebook are not allowed in Russia: https://m.facebook.com/groups/1."),
    ]
    assert [(link.platform, link.url) for link in report.links] == [
        ("instagram", "instagram.com/shop"), ("facebook", "https://m.facebook.com/groups/1"),
    ]
    # A mark would break the address: links are blocked, never tagged.
    assert (report.tagged, report.mentions, report.outcome) == (report.text, [], Outcome.BLOCK)


def test_a_platform_whose_links_only_need_a_look_gets_a_warning():
    data = json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))
    for entry in data["platforms"]:
        if entry["id"] == "threads":
            entry["policy"]["links"] = "warn"
    report = lint("https://www.threads.net/@brand", registry=Registry(data))
    assert verdicts(report)[0] == (
        "restricted_link", Outcome.WARN, "Links to Threads may be restricted in Russia: https://www.threads.net/@brand.",
    )
    assert report.outcome is Outcome.WARN


def _digits(reason: str) -> str:
    # Thousands are grouped by the reader's locale (1,071 or 1 071); the digits are what matter here.
    return re.sub(r"\D", "", reason)


def test_the_disclaimer_can_push_the_body_over_the_limit():
    text = "Наш Инстаграм: " + "новости магазина. " * 54
    text = text[:1000]
    report = lint(text)
    assert len(text) <= BODY_LIMIT < len(report.tagged)
    length = next(verdict for verdict in report.verdicts if verdict.rule == "body_length")
    assert length.outcome is Outcome.BLOCK
    assert re.fullmatch(
        r"With the disclaimer the text is [\d,\s]+ characters; a template body allows [\d,\s]+\.", length.reason
    )
    assert _digits(length.reason) == f"{len(report.tagged)}{BODY_LIMIT}"
    assert report.outcome is Outcome.BLOCK


def test_a_body_over_the_limit_is_blocked_even_without_a_disclaimer():
    report = lint("ж" * 1100)
    length = next(verdict for verdict in report.verdicts if verdict.rule == "body_length")
    assert length.reason.startswith("The text is ") and _digits(length.reason) == f"1100{BODY_LIMIT}"
    assert length.details == {"length": 1100, "tagged_length": 1100, "limit": BODY_LIMIT}


def test_a_body_that_fits_says_nothing_about_length():
    assert "body_length" not in rules(lint("ж" * BODY_LIMIT))
    assert "body_length" in rules(lint("ж" * 51, body_limit=50))


@pytest.mark.parametrize(
    "text",
    ["метаданные", "метавселенная", "инструкция", "институт", "инстанция", "IgG antibodies", "книга в FB2",
     "MetaMask wallet", "Metallica", "<meta charset>", "threads of cotton"],
)
def test_ordinary_words_are_neither_mentions_nor_restricted(text):
    report = lint(text)
    assert (report.mentions, report.links, report.tagged) == ([], [], text)
    assert rules(report) == ["spam_score"]


def test_the_spam_score_is_a_verdict():
    report = lint("ВЫ ВЫИГРАЛИ!!! ЗАБЕРИТЕ ПРИЗ БЕСПЛАТНО!!! bit.ly/a clck.ru/b")
    assert verdicts(report) == [
        ("spam_score", Outcome.BLOCK, "Spam score 10 reaches the blocking level of 6; reword the message."),
    ]
    assert report.verdicts[0].details == {
        "score": 10.0, "signals": ["uppercase", "exclamations", "shorteners", "trigger_words"],
    }
    assert report.outcome is Outcome.BLOCK


def test_the_spam_rules_can_be_replaced():
    text = "Доставка бесплатно"
    assert lint(text).outcome is Outcome.PASS
    report = lint(text, rules=SpamRules(warn_at=0.5))
    assert verdicts(report) == [
        ("spam_score", Outcome.WARN, "Spam score 1 reaches the warning level of 0.5; check the wording."),
    ]


def test_a_custom_registry_is_used():
    data = json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))
    data["platforms"].append({
        "id": "linkedin", "name": "LinkedIn", "owner": "meta", "policy": {"mentions": "tag", "links": "block"},
        "aliases": ["linkedin"], "exact_aliases": [], "stems": [], "domains": ["linkedin.com"],
    })
    report = lint("Мы в LinkedIn", registry=Registry(data))
    assert report.tagged == f"Мы в LinkedIn*\n\n{RU_NOTE}"
    assert lint("Мы в LinkedIn").mentions == []


def test_the_default_registry_is_read_once():
    assert default_registry() is default_registry()


def test_the_report_is_json_with_the_documented_keys():
    report = lint("СРОЧНО!! Наш Инстаграм и профиль instagram.com/shop — бесплатно", "ru")
    data = json.loads(json.dumps(report.as_dict(), ensure_ascii=False))
    assert set(data) == {"text", "language", "tagged", "mentions", "links", "spam", "verdicts", "outcome"}
    assert (data["text"], data["language"], data["tagged"], data["outcome"]) == (
        report.text,
        "ru",
        report.tagged,
        "block",
    )
    assert data["mentions"] == [{"platform": "instagram", "match": "Инстаграм", "start": 13, "end": 22}]
    assert data["links"] == [{"platform": "instagram", "url": "instagram.com/shop", "start": 33, "end": 51}]
    assert set(data["spam"]) == {"score", "outcome", "signals"}
    assert data["spam"]["score"] == 3.0 and data["spam"]["outcome"] == "warn"
    assert [set(signal) for signal in data["spam"]["signals"]] == [{"name", "weight", "explanation"}] * 2
    assert [(verdict["rule"], verdict["outcome"]) for verdict in data["verdicts"]] == [
        ("restricted_link", "block"), ("restricted_mention", "warn"), ("spam_score", "warn"),
    ]
    assert all(set(verdict) == {"rule", "outcome", "reason"} for verdict in data["verdicts"])
