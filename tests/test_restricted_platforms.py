"""Restricted platforms: mentions in every spelling, no false alarms, blocked links, idempotent tagging."""

from __future__ import annotations

import json

import pytest

from compliance.restricted import REGISTRY_PATH, Registry

RU_NOTE = "*Meta Platforms Inc. признана экстремистской организацией, её деятельность запрещена на территории РФ."
EN_NOTE = ("*Meta Platforms Inc. is recognised as an extremist organisation; "
           "its activities are banned in the Russian Federation.")


@pytest.fixture(scope="module")
def registry():
    return Registry.load()


@pytest.mark.parametrize(
    ("text", "platform", "match"),
    [
        ("Подписывайтесь на наш Инстаграм", "instagram", "Инстаграм"),
        ("Мы есть в Инстаграме", "instagram", "Инстаграме"),
        ("пишите в инсту", "instagram", "инсту"),
        ("Смотрите в инсте", "instagram", "инсте"),
        ("ждём в инсты", "instagram", "инсты"),
        ("Follow us on Instagram", "instagram", "Instagram"),
        ("our Insta is great", "instagram", "Insta"),
        ("IG: new posts", "instagram", "IG"),
        ("Мы в Фейсбуке", "facebook", "Фейсбуке"),
        ("страница в Фэйсбуке", "facebook", "Фэйсбуке"),
        ("группа в ФБ", "facebook", "ФБ"),
        ("Like us on FB", "facebook", "FB"),
        ("FACEBOOK page", "facebook", "FACEBOOK"),
        ("Meta Platforms announced", "meta", "Meta Platforms"),
        ("Products by Meta", "meta", "Meta"),
        ("компания Мета", "meta", "Мета"),
        ("Read us on Threads", "threads", "Threads"),
    ],
)
def test_mentions_are_found_in_every_spelling(registry, text, platform, match):
    assert [(m.platform, m.match) for m in registry.mentions(text)] == [(platform, match)]


@pytest.mark.parametrize(
    "text",
    ["метаданные", "метавселенная", "инструкция", "институт", "инстанция", "инсталляция", "инструмент",
     "IgG antibodies", "книга в FB2", "MetaMask wallet", "Metallica", "<meta charset>", "threads of cotton",
     "meta tags", "метаболизм", "Фейс-контроль", "WhatsApp", "фейерверк", "Instagramming"],
)
def test_ordinary_words_are_not_mentions(registry, text):
    assert registry.mentions(text) == []
    assert registry.tag(text) == text


def test_every_mention_is_marked_and_the_disclaimer_appended_once(registry):
    tagged = registry.tag("Подписывайтесь на Инстаграм и Фейсбук!")
    assert tagged == f"Подписывайтесь на Инстаграм* и Фейсбук*!\n\n{RU_NOTE}"
    assert tagged.count(RU_NOTE) == 1


def test_the_disclaimer_follows_the_language(registry):
    assert registry.tag("Follow our Instagram", "en") == f"Follow our Instagram*\n\n{EN_NOTE}"


@pytest.mark.parametrize(
    "text",
    ["Мы в Инстаграме и ФБ", "*Instagram* и _Facebook_ и ~Meta~", "Привет, {{1}}! Наш Инстаграм: скидка {{2}}%",
     "Meta Platforms и Meta", "Follow us on Threads", "plain text with no platform"],
)
def test_tagging_is_idempotent(registry, text):
    once = registry.tag(text)
    assert registry.tag(once) == once
    assert [(m.platform, m.match) for m in registry.mentions(once)] == [
        (m.platform, m.match) for m in registry.mentions(text)
    ]


def test_formatting_and_placeholders_are_kept(registry):
    tagged = registry.tag("Привет, {{1}}! Наш *Инстаграм* и _Facebook_")
    assert tagged.startswith("Привет, {{1}}! Наш *Инстаграм** и _Facebook_*")


@pytest.mark.parametrize(
    ("text", "url", "platform"),
    [
        (
            "Подписывайтесь: https://www.instagram.com/vestnik_shop",
            "https://www.instagram.com/vestnik_shop",
            "instagram",
        ),
        ("instagram.com/brand", "instagram.com/brand", "instagram"),
        ("наш профиль instagr.am/brand.", "instagr.am/brand", "instagram"),
        ("пишите https://ig.me/m/brand", "https://ig.me/m/brand", "instagram"),
        ("https://m.facebook.com/groups/123", "https://m.facebook.com/groups/123", "facebook"),
        ("fb.me/shop", "fb.me/shop", "facebook"),
        ("чат: m.me/brand", "m.me/brand", "facebook"),
        ("FB.COM/Brand", "FB.COM/Brand", "facebook"),
        ("https://www.threads.net/@brand", "https://www.threads.net/@brand", "threads"),
    ],
)
def test_links_to_restricted_platforms_are_found_and_named(registry, text, url, platform):
    assert [(link.platform, link.url) for link in registry.links(text)] == [(platform, url)]
    assert registry.mentions(text) == []  # a link is blocked, not tagged (a mark would break the URL)


@pytest.mark.parametrize(
    "text",
    ["https://wa.me/79031234567", "whatsapp.com", "https://example.com/instagram", "notinstagram.com/x",
     "https://myfacebook.com.example.org/x", "https://shop.ru/fb.me"],
)
def test_other_links_are_not_blocked(registry, text):
    assert registry.links(text) == []


def test_the_registry_is_data_that_can_be_extended(tmp_path):
    data = json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))
    data["platforms"].append({
        "id": "linkedin", "name": "LinkedIn", "owner": "meta", "policy": {"mentions": "tag", "links": "block"},
        "aliases": ["linkedin"], "exact_aliases": [], "stems": [{"stem": "линкедин", "endings": ["", "е"]}],
        "domains": ["linkedin.com"],
    })
    edited = tmp_path / "registry.json"
    edited.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    custom = Registry.load(edited)
    assert [m.platform for m in custom.mentions("Мы в Линкедине")] == ["linkedin"]
    assert [link.platform for link in custom.links("linkedin.com/in/someone")] == ["linkedin"]
    assert "whatsapp" not in {platform["id"] for platform in data["platforms"]}


def test_a_link_span_stops_before_the_punctuation_that_follows_it(registry):
    text = "Мы тут: instagram.com/shop, заходите"
    (link,) = registry.links(text)
    assert text[link.start:link.end] == link.url == "instagram.com/shop"


@pytest.mark.parametrize(
    ("text", "match"),
    [("Подписывайтесь на наш Instagram-аккаунт", "Instagram"), ("Инстаграм-блогер рекомендует", "Инстаграм"),
     ("Реклама в Facebook-группе", "Facebook"), ("наша Фейсбук-страница", "Фейсбук")],
)
def test_names_that_start_a_hyphenated_compound_are_mentions(registry, text, match):
    assert [m.match for m in registry.mentions(text)] == [match]
    assert registry.tag(text).count("*") == 2  # the mark and the footnote


def test_tagging_again_in_another_language_adds_no_second_footnote(registry):
    tagged = registry.tag("Мы в Инстаграме", "ru")
    assert registry.tag(tagged, "en") == tagged


def test_an_e_mail_address_at_a_restricted_domain_is_not_a_profile_link(registry):
    assert registry.links("Пишите на support@instagram.com") == []


@pytest.mark.parametrize("disclaimer", [{"ru": "*Сноска", "en": ""}, {"ru": "*Сноска", "en": 5}])
def test_every_disclaimer_must_be_text(disclaimer):
    data = json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))
    data["owners"]["meta"]["disclaimer"] = disclaimer
    with pytest.raises(ValueError, match="disclaimer"):
        Registry.from_dict(data)
