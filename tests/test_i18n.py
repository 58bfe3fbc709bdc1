"""Every interface string is translatable, Russian is complete, and each user gets their language."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.helpers import PASSWORD, post_form, sign_in

ROOT = Path(__file__).resolve().parents[1]
RU_PO = ROOT / "translations/ru/LC_MESSAGES/messages.po"
RU_MO = ROOT / "translations/ru/LC_MESSAGES/messages.mo"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def source_messages() -> set[str]:
    with open(ROOT / "babel.cfg") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.fixture(scope="module")
def russian():
    with open(RU_PO, "rb") as handle:
        return read_po(handle)


def test_every_string_in_the_code_has_a_russian_translation(russian):
    untranslated = sorted(
        message for message in source_messages()
        if message not in russian or not russian[message].string or russian[message].fuzzy
    )
    assert untranslated == [], "run `make translations` and translate these in messages.po"


def test_translations_keep_every_placeholder(russian):
    for message in russian:
        if message.id and message.string:
            # A plural entry: each Russian form keeps the English forms' placeholders.
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for string in strings:
                assert sorted(PLACEHOLDER.findall(ids[0])) == sorted(PLACEHOLDER.findall(string)), message.id


def test_compiled_catalog_matches_the_po_file(russian):
    with open(RU_MO, "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for message in russian:
        if isinstance(message.id, tuple):  # Russian's three plural forms: 1, 2 and 5 of a thing
            assert [compiled.ngettext(*message.id, count) for count in (1, 2, 5)] == list(message.string), \
                "run `make translations` to recompile"
        elif message.id:
            assert compiled.gettext(message.id) == message.string, "run `make translations` to recompile"


def test_browser_language_picks_russian_for_visitors(client):
    page = client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert "Вход в Вестник" in page and '<html lang="ru">' in page
    assert "Sign in to Vestnik" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_a_visitor_can_switch_language_before_signing_in(client):
    post_form(client, "/language", {"language": "ru"}, page="/login")
    assert "Вход в Вестник" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_each_user_sees_their_own_language(client, make_user):
    make_user("marketer", email="ivan@example.com", language="ru")
    sign_in(client, "ivan@example.com")
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Вы вошли с ролью «Маркетолог»." in page


def test_switching_language_is_saved_on_the_account(app, client, make_user):
    from accounts.users import find_by_email

    make_user("marketer", email="anna@example.com", language="en")
    sign_in(client, "anna@example.com")
    post_form(client, "/language", {"language": "ru"}, page="/")
    assert find_by_email("anna@example.com").language == "ru"
    # A new browser session, signing in again: the choice is remembered on the account.
    fresh = app.test_client()
    sign_in(fresh, "anna@example.com", PASSWORD)
    assert "Главная" in fresh.get("/").get_data(as_text=True)


def test_form_errors_are_translated_too(client):
    page = post_form(client, "/login", {"email": "", "password": ""}, page="/login",
                     headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Обязательное поле." in page
