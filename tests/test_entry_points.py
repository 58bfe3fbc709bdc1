"""Entry points: codes and tokens that fit every platform's payload, the deep links exactly as each platform
reads them, QR codes of those links (SVG and PNG), the public subscribe page (no login, both languages, its
visits counted set-wise, polite for a code that is gone), the marketers' pages, and minting personal tokens
through the API and the CLI."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import segno
from sqlalchemy import select

from campaigns import entry_links, entry_points
from campaigns.entry_point_models import EntryPoint, EntryPointSender, EntryToken
from campaigns.entry_points import Changes, EntryPointError
from dbtypes import utcnow
from extensions import db
from tests.bot_world import a_bot
from tests.campaign_world import add_contact
from tests.entry_world import a_whatsapp, an_entry_point, fresh
from tests.helpers import csrf_token, isolated_client, post_form, signed_in_client

CODE = re.compile(r"^[abcdefghjkmnpqrstuvwxyz23456789]{8}$")
TELEGRAM_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # core.telegram.org/bots/features#deep-linking
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def three_ways(app, keyword: str = "JOIN") -> tuple[EntryPoint, dict]:
    senders = {"max": a_bot("Бот MAX", "max", "shop_bot"), "telegram": a_bot("Бот TG", "telegram", "@shop_tg_bot"),
               "whatsapp": a_whatsapp()}
    return an_entry_point(*senders.values(), keyword=keyword), senders


# --- codes, tokens, links ---------------------------------------------------------------------------------

def test_codes_and_tokens_are_random_and_fit_every_platforms_start_payload(app):
    codes = {entry_points.new_code() for _ in range(500)}
    tokens = {entry_points.new_token() for _ in range(500)}
    assert len(codes) == 500 and all(CODE.match(code) for code in codes)
    assert len(tokens) == 500 and all(TELEGRAM_PAYLOAD.match(token) and len(token) == 22 for token in tokens)
    # MAX takes at most 128 characters (dev.max.ru/help/deeplinks); Telegram's 64 is the tighter limit.


def test_the_deep_links_are_exactly_what_each_platform_reads(app):
    entry_point, senders = three_ways(app)
    links = {link.messenger: link.url for link in entry_links.links_for(entry_point, list(senders.values()))}
    code = entry_point.code
    assert links == {"max": f"https://max.ru/shop_bot?start={code}",
                     "telegram": f"https://t.me/shop_tg_bot?start={code}",
                     "whatsapp": f"https://wa.me/74951110000?text=JOIN%20{code}"}
    cyrillic = an_entry_point(senders["whatsapp"], keyword="ПОДПИСКА")
    [link] = entry_links.links_for(cyrillic, [senders["whatsapp"]])
    assert link.url == f"https://wa.me/74951110000?text=%D0%9F%D0%9E%D0%94%D0%9F%D0%98%D0%A1%D0%9A%D0%90%20{cyrillic.code}"
    # A personal token goes to the bots only: WhatsApp knows the person by their number.
    personal = entry_links.links_for(entry_point, list(senders.values()), token="tok_EN-123")
    assert [link.url for link in personal] == ["https://max.ru/shop_bot?start=tok_EN-123",
                                               "https://t.me/shop_tg_bot?start=tok_EN-123"]


def test_an_entry_point_is_refused_with_sentences_naming_each_field(app):
    nameless_bot = a_bot("Без имени", "max", "")
    number = a_whatsapp()
    try:
        entry_points.create_entry_point(Changes(name=" ", sender_ids=(nameless_bot.id, number.id), keyword="stop"))
    except EntryPointError as error:
        fields = {field for field, _message in error.field_errors}
        assert fields == {"name", "sender_ids", "keyword"}
        assert any("no username" in message for message in error.errors)
    else:
        raise AssertionError("refused nothing")
    try:
        entry_points.create_entry_point(Changes(name="Пусто", sender_ids=()))
    except EntryPointError as error:
        assert [field for field, _message in error.field_errors] == ["sender_ids"]


def test_concurrent_visits_are_all_counted(app):
    entry_point, _senders = three_ways(app)
    entry_point_id = entry_point.id  # the threads must not touch this session's objects

    def visit(times: int) -> None:
        with app.app_context():
            for _ in range(times):
                entry_points.count_visit(entry_point_id)
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=visit, args=(10,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fresh(entry_point).visits == 40


# --- QR codes -------------------------------------------------------------------------------------------

def test_each_links_qr_code_is_served_as_svg_and_png_encoding_that_link(app):
    entry_point, senders = three_ways(app)
    visitor = isolated_client(app)
    expected = {senders["max"].id: f"https://max.ru/shop_bot?start={entry_point.code}",
                senders["whatsapp"].id: f"https://wa.me/74951110000?text=JOIN%20{entry_point.code}"}
    for sender_id, url in expected.items():
        svg = visitor.get(f"/subscribe/{entry_point.code}/qr/{sender_id}.svg")
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
        body = svg.get_data(as_text=True)
        assert body.startswith("<?xml") and "<svg" in body and f"<title>{url}</title>" in body
        png = visitor.get(f"/subscribe/{entry_point.code}/qr/{sender_id}.png?download=1")
        assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(PNG_SIGNATURE)
        assert png.headers["Content-Disposition"].startswith("attachment;")
        # The same QR built by segno from the expected URL, pixel for pixel.
        assert png.data == entry_links.qr_png(url)
        assert segno.make(url, error="m").matrix == entry_links.qr_code(url).matrix
    page = visitor.get(f"/subscribe/{entry_point.code}/qr/page.svg")
    assert f"<title>{app.config['PUBLIC_URL']}/subscribe/{entry_point.code}</title>" in page.get_data(as_text=True)
    assert visitor.get(f"/subscribe/{entry_point.code}/qr/{senders['max'].id}.gif").status_code == 404
    assert visitor.get(f"/subscribe/{entry_point.code}/qr/999999.svg").status_code == 404


# --- the public page ------------------------------------------------------------------------------------

def test_the_subscribe_page_needs_no_login_and_speaks_both_languages(app):
    entry_point, senders = three_ways(app)
    senders["whatsapp"].verified_name = "Кофейня «Зерно»"
    db.session.commit()
    visitor = isolated_client(app)
    english = visitor.get(f"/subscribe/{entry_point.code}", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    html = english.get_data(as_text=True)
    assert "Subscribe to Кофейня «Зерно»" in html and "Open in MAX" in html and "Open in Telegram" in html
    assert f'href="https://max.ru/shop_bot?start={entry_point.code}"' in html
    assert f'href="https://wa.me/74951110000?text=JOIN%20{entry_point.code}"' in html
    assert f'src="/subscribe/{entry_point.code}/qr/{senders["telegram"].id}.svg"' in html
    assert "<script" not in html and "style=" not in html
    assert "script-src 'self'" in english.headers["Content-Security-Policy"]
    russian = visitor.get(f"/subscribe/{entry_point.code}", headers={"Accept-Language": "ru"})
    assert "Подписка на Кофейня «Зерно»" in russian.get_data(as_text=True)
    assert "Открыть в MAX" in russian.get_data(as_text=True)


def test_the_subscribe_page_shows_a_signed_in_marketer_none_of_the_app(app, make_user):
    entry_point, senders = three_ways(app)
    senders["whatsapp"].verified_name = "Кофейня «Зерно»"
    db.session.commit()
    marketer = make_user("marketer")
    browser = signed_in_client(app, marketer.email)
    with browser.session_transaction() as session:  # a flash waiting for the marketer's next page of the app
        session["_flashes"] = [("info", "Saved for the app")]
    html = browser.get(f"/subscribe/{entry_point.code}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<title>Subscribe to Кофейня «Зерно»</title>" in html
    assert '<meta name="robots" content="noindex">' in html and 'class="subscribe"' in html
    assert '<span class="brand">Кофейня «Зерно»</span>' in html and 'lang="ru">RU</button>' in html
    for app_only in ("<nav>", "Sign out", marketer.email, "Saved for the app", "/contacts", "Vestnik"):
        assert app_only not in html, app_only
    # The flash is still there for the app's own next page, which shows the navigation.
    home = browser.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Saved for the app" in home and "<nav>" in home and "Sign out" in home


def test_the_page_title_is_the_entry_points_name_when_the_business_has_none(app):
    entry_point, _senders = three_ways(app)
    html = isolated_client(app).get(f"/subscribe/{entry_point.code}", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert f"Subscribe to {entry_point.name}" in html


def test_a_view_counts_a_visit_but_head_and_link_previews_do_not(app):
    entry_point, _senders = three_ways(app)
    visitor = isolated_client(app)
    url = f"/subscribe/{entry_point.code}"
    assert visitor.get(url).status_code == 200
    assert visitor.get(url.upper().replace("/SUBSCRIBE/", "/subscribe/")).status_code == 200  # any case
    assert visitor.head(url).status_code == 200
    assert visitor.get(url, headers={"User-Agent": "TelegramBot (like TwitterBot)"}).status_code == 200
    assert visitor.get(url, headers={"User-Agent": "WhatsApp/2.23.20.0"}).status_code == 200
    assert visitor.get(url, headers={"User-Agent": ""}).status_code == 200
    assert fresh(entry_point).visits == 2


def test_an_unknown_expired_or_archived_code_gets_a_polite_404(app):
    entry_point, senders = three_ways(app)
    visitor = isolated_client(app)
    unknown = visitor.get("/subscribe/zzzzzzzz", headers={"Accept-Language": "en"})
    assert unknown.status_code == 404 and "There is no subscription page at this address" in unknown.get_data(
        as_text=True)
    entry_point.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    expired = visitor.get(f"/subscribe/{entry_point.code}", headers={"Accept-Language": "ru"})
    assert expired.status_code == 404 and "истёк" in expired.get_data(as_text=True)
    entry_point.expires_at = None
    entry_points.set_archived(entry_point, True)
    db.session.commit()
    assert visitor.get(f"/subscribe/{entry_point.code}").status_code == 404
    assert visitor.get(f"/subscribe/{entry_point.code}/qr/{senders['max'].id}.png").status_code == 404
    assert visitor.get("/subscribe/" + "x" * 300).status_code == 404
    assert fresh(entry_point).visits == 0


# --- the marketers' pages -------------------------------------------------------------------------------

def test_a_marketer_creates_archives_and_restores_an_entry_point_on_its_pages(app, make_user):
    bot, number = a_bot(), a_whatsapp()
    marketer = make_user("marketer")
    browser = signed_in_client(app, marketer.email)
    created = post_form(browser, "/entry-points/new", {"name": "Плакат у кассы", "senders": [bot.id, number.id],
                                                       "keyword": "ПОДПИСКА", "source_label": "касса",
                                                       "expires_at": "2030-01-01T12:00", "campaign": ""})
    assert created.status_code == 302
    db.session.expire_all()
    entry_point = db.session.scalar(select(EntryPoint))
    assert (entry_point.name, entry_point.source_label, entry_point.created_by_id) == ("Плакат у кассы", "касса",
                                                                                      marketer.id)
    assert entry_point.expires_at.isoformat() == "2030-01-01T12:00:00+00:00"
    assert [row.sender_id for row in db.session.scalars(select(EntryPointSender).order_by(
        EntryPointSender.position))] == [bot.id, number.id]
    detail = browser.get(created.headers["Location"]).get_data(as_text=True)
    assert f"https://max.ru/shop_bot?start={entry_point.code}" in detail and 'id="entry-opt-ins">0<' in detail
    listing = browser.get("/entry-points").get_data(as_text=True)
    assert entry_point.code in listing and "Плакат у кассы" in listing
    assert browser.get(f"/entry-points/{entry_point.id}/print").status_code == 200

    page = browser.get(f"/entry-points/{entry_point.id}").get_data(as_text=True)
    archived = browser.post(f"/entry-points/{entry_point.id}/archive", data={"csrf_token": csrf_token(page)})
    assert archived.status_code == 302 and fresh(entry_point).archived_at is not None
    assert entry_point.code in browser.get("/entry-points?archived=1").get_data(as_text=True)
    browser.post(f"/entry-points/{entry_point.id}/restore", data={"csrf_token": csrf_token(page)})
    assert fresh(entry_point).archived_at is None


def test_the_page_refuses_with_sentences_and_a_reviewer_may_not_manage_entry_points(app, make_user):
    browser = signed_in_client(app, make_user("marketer").email)
    refused = post_form(browser, "/entry-points/new", {"name": "", "keyword": "ПОДПИСКА"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "Name the entry point." in text or "Укажите название точки входа." in text
    reviewer = signed_in_client(app, make_user("reviewer").email)
    assert reviewer.get("/entry-points").status_code == 403
    assert isolated_client(app).get("/entry-points").status_code == 302  # to sign in


# --- minting personal tokens ----------------------------------------------------------------------------

def test_the_api_creates_an_entry_point_and_mints_a_personal_token_for_a_known_contact(app, call_as):
    bot, number = a_bot(), a_whatsapp()
    contact = add_contact("+79035550301")
    created = call_as("POST", "/entry-points", json={"name": "Письмо о заказе", "senders": [bot.id, number.id],
                                                     "keyword": "ЗАКАЗ", "source_label": "e-mail"})
    assert created.status_code == 201
    body = created.get_json()
    assert CODE.match(body["code"]) and (body["visits"], body["starts"], body["opt_ins"]) == (0, 0, 0)
    assert [link["url"] for link in body["links"]] == [
        f"https://max.ru/shop_bot?start={body['code']}",
        f"https://wa.me/74951110000?text=%D0%97%D0%90%D0%9A%D0%90%D0%97%20{body['code']}"]

    minted = call_as("POST", f"/entry-points/{body['code']}/tokens",
                     json={"contact": "8 903 555-03-01", "expires_at": "2030-06-01T00:00:00+03:00"})
    assert minted.status_code == 201
    token = minted.get_json()
    row = db.session.scalar(select(EntryToken).where(EntryToken.token == token["token"]))
    assert row.contact_id == contact.id and token["contact_id"] == contact.id
    assert token["expires_at"] == "2030-05-31T21:00:00+00:00"
    assert [link["url"] for link in token["links"]] == [f"https://max.ru/shop_bot?start={token['token']}"]
    by_id = call_as("POST", f"/entry-points/{body['id']}/tokens", json={"contact": contact.id})
    assert by_id.status_code == 201 and by_id.get_json()["token"] != token["token"]


def test_the_api_refuses_with_problem_details(app, call_as):
    bot = a_bot()
    entry_point = an_entry_point(bot)
    unknown = call_as("POST", f"/entry-points/{entry_point.code}/tokens", json={"contact": "+79035550399"})
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    assert unknown.get_json()["detail"] in ("There is no contact with this phone number or id.",
                                            "Контакта с таким номером телефона или id нет.")
    bad = call_as("POST", "/entry-points", json={"name": "X", "senders": "all"})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "senders"
    past = call_as("POST", f"/entry-points/{entry_point.code}/tokens",
                   json={"contact": add_contact().id, "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 400 and past.get_json()["errors"][0]["field"] == "expires_at"
    assert call_as("POST", "/entry-points/nosuch/tokens", json={"contact": 1}).status_code == 404
    assert call_as("GET", "/entry-points", role="reviewer").status_code == 403
    archived = call_as("POST", f"/entry-points/{entry_point.code}/archive")
    assert archived.status_code == 200 and archived.get_json()["live"] is False
    refused = call_as("POST", f"/entry-points/{entry_point.code}/tokens", json={"contact": add_contact().id})
    assert refused.status_code == 409


def test_the_cli_mints_a_token_by_code_and_phone_and_says_why_it_cannot(app):
    bot = a_bot()
    entry_point = an_entry_point(bot, expires_at=utcnow() + timedelta(days=7))
    contact = add_contact("+79035550302")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaigns", "entry-token", "--entry-point", entry_point.code,
                                 "--contact", "+7 903 555-03-02"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    db.session.expire_all()
    row = db.session.scalar(select(EntryToken).where(EntryToken.token == printed["token"]))
    assert row.contact_id == contact.id
    assert row.expires_at == fresh(entry_point).expires_at  # never outlives its entry point
    assert printed["links"] == [{"messenger": "max", "sender_id": bot.id, "sender": bot.name,
                                 "url": f"https://max.ru/shop_bot?start={printed['token']}"}]
    missing = runner.invoke(args=["campaigns", "entry-token", "--entry-point", entry_point.code, "--contact", "999999"])
    assert missing.exit_code == 1 and "There is no contact" in missing.output
    listed = runner.invoke(args=["campaigns", "entry-point", "list"])
    assert entry_point.code in listed.output
