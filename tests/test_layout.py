"""The base layout: a long unbroken name wraps instead of stretching the page, and the site has an icon.

A test cannot measure pixels without a browser, so the wrapping is checked where it is decided: the
stylesheet's rules, and that the long name sits in the part of the page they apply to.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaigns import review
from extensions import db
from tests.campaign_world import add_contact, make_world
from tests.helpers import signed_in_client

STATIC = Path(__file__).resolve().parents[1] / "static"
# As long as the name column allows, and no space, hyphen or other place a browser would break a line.
LONG_NAME = "Константинопольский" * 10 + "Ъ" * 10


def rules(css: str) -> dict[str, str]:
    """Each selector of a stylesheet and its declarations (comments and @media blocks are enough like rules)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    found: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        for selector in selectors.split(","):
            found[selector.strip()] = found.get(selector.strip(), "") + body
    return found


def test_the_stylesheet_wraps_long_words_everywhere_and_lets_columns_shrink():
    base = rules((STATIC / "vestnik.css").read_text())
    assert re.search(r"overflow-wrap:\s*anywhere", base["body"]), (
        "overflow-wrap is inherited: on body it reaches every cell"
    )
    for selector in ("main > *", ".card", ".grid > *", ".filters > *", ".field"):
        assert re.search(r"min-width:\s*0", base.get(selector, "")), f"{selector} must be allowed to shrink"
    # Nothing turns the wrapping off again without clipping what does not fit.
    for sheet in STATIC.glob("*.css"):
        for selector, body in rules(sheet.read_text()).items():
            assert not re.search(r"overflow-wrap:\s*(normal|break-word)|word-break:\s*keep-all", body), (
                sheet.name,
                selector,
            )
            if re.search(r"white-space:\s*nowrap", body):
                assert re.search(r"overflow:\s*hidden", body), (sheet.name, selector)


@pytest.fixture
def long_named(app, make_user):
    world = make_world(make_user)
    contact = add_contact(name=LONG_NAME)
    campaign = world.campaign()
    review.submit(campaign, world.marketer)
    db.session.commit()
    return world, contact, campaign


def in_main(page: str) -> str:
    match = re.search(r"<main>(.*)</main>", page, flags=re.DOTALL)
    assert match, "the base layout puts every page's content in <main>"
    return match.group(1)


def test_a_long_name_is_shown_where_the_wrapping_applies(app, long_named):
    world, contact, campaign = long_named
    pages = {
        "contacts": (world.marketer, "/audience/contacts"),
        "contact": (world.marketer, f"/audience/contacts/{contact.id}"),
        "review": (world.reviewer, f"/reviews/{campaign.id}"),
    }
    for name, (user, url) in pages.items():
        response = signed_in_client(app, user.email).get(url)
        assert response.status_code == 200, name
        page = response.get_data(as_text=True)
        assert '<link rel="stylesheet" href="/static/vestnik.css">' in page
        assert LONG_NAME in in_main(page), name
        assert 'style="' not in in_main(page), f"{name}: an inline style could undo the stylesheet"


def test_the_favicon_is_served_and_linked(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    data = icon.get_data()
    assert data[:4] == b"\x00\x00\x01\x00" and b"PNG" in data[:40], "an ICO file holding a PNG image"
    page = client.get("/login").get_data(as_text=True)
    linked = re.findall(r'<link rel="icon" href="([^"]+)"', page)
    assert "/favicon.ico" in linked and "/static/favicon.svg" in linked
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.get_data()
