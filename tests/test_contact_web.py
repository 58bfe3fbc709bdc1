"""Contact pages and the contacts API: the list with search and pages, one contact with its consent
proof and suppression history, the CSV download (marketers and admins only)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from audience.contacts import EXPORT_HEADER
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from tests import audience_files as files
from tests.helpers import assert_problem, signed_in_client
from tests.records import suppress
from tests.test_contacts import add_contact, add_import, read_csv

FORBIDDEN = "Your role does not allow this. Ask an administrator if you need access."
NOTHING_HERE = "There is nothing at this address."


@pytest.fixture
def browser_as(app, make_user):
    """A browser signed in with a new account of the given role."""
    return lambda role: signed_in_client(app, make_user(role).email)


@pytest.fixture
def call(client):
    """``call(path, token)``: one GET of the API."""
    return lambda path, token=None, **kwargs: client.get(
        f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"} if token else {}, **kwargs)


def page_of(response) -> str:
    return response.get_data(as_text=True)


def listed(response) -> list[str]:
    """The numbers in the contact table, top to bottom."""
    return re.findall(r'<td><a href="/audience/contacts/\d+">(\+\d+)</a></td>', page_of(response))


def older_link(response) -> str | None:
    match = re.search(r'<a href="([^"]+)">Older contacts</a>', page_of(response))
    return html.unescape(match.group(1)) if match else None


def cells(response) -> list[list[str]]:
    """The contact table's rows as plain text cells."""
    body = page_of(response).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


# --- the list -------------------------------------------------------------------------------------

def test_the_list_shows_each_contact_with_its_status(browser_as):
    add_contact("+79031112233", "Иван Петров", country="RU", region="Москва", city="Москва", timezone="Europe/Moscow",
                tags="|vip|moscow|")
    add_contact("+442079460958", "<b>John</b>", country="GB")
    suppress("+442079460958", SuppressionReason.BLOCK)
    response = browser_as("reviewer").get("/audience/contacts")
    assert response.status_code == 200
    assert cells(response) == [
        ["+442079460958", "<b>John</b>", "GB", "—", "", "Blocked (never message)", "2024-03-01"],
        [
            "+79031112233",
            "Иван Петров",
            "Москва, Москва, RU",
            "Europe/Moscow",
            "vip, moscow",
            "Subscribed",
            "2024-03-01",
        ],
    ]
    assert "<b>John</b>" not in page_of(response)  # escaped
    assert older_link(response) is None


def test_search_and_filters_on_the_page(browser_as):
    add_contact("+79031112233", "Иван Петров", country="RU", tags="|vip|")
    add_contact("+79031112234", "Иванова Мария", country="RU")
    add_contact("+442079460958", "Ivan Smith", country="GB", tags="|vip|")
    suppress("+79031112234")
    browser = browser_as("marketer")
    assert listed(browser.get("/audience/contacts?q=8+(903)+111-22-33")) == ["+79031112233"]
    assert listed(browser.get("/audience/contacts?q=%2B7+903")) == ["+79031112234", "+79031112233"]
    assert sorted(listed(browser.get("/audience/contacts?q=ИВАН"))) == ["+79031112233", "+79031112234"]
    assert listed(browser.get("/audience/contacts?country=gb")) == ["+442079460958"]
    assert listed(browser.get("/audience/contacts?tag=vip&country=RU")) == ["+79031112233"]
    response = browser.get("/audience/contacts?status=opted_out")
    assert listed(response) == ["+79031112234"]
    assert '<option value="opted_out" selected>Opted out</option>' in page_of(response)
    assert listed(browser.get("/audience/contacts?q=петров")) == ["+79031112233"]  # a surname is found too
    assert "No contacts match." in page_of(browser.get("/audience/contacts?q=сидоров"))


def test_the_older_link_keeps_the_filters_and_pages_without_overlap(app, browser_as):
    created = [
        add_contact(f"+7903000{index:04d}", f"Клиент {index}", country="RU", tags="|vip|") for index in range(75)
    ]
    add_contact("+442079460958", "Other", country="GB", tags="|vip|")
    browser = browser_as("reviewer")
    first = browser.get("/audience/contacts?q=7903&country=ru&tag=vip&status=subscribed")
    link = older_link(first)
    assert link and parse_qs(urlsplit(link).query) == {
        "before": [str(created[25].id)], "q": ["7903"], "country": ["RU"], "tag": ["vip"], "status": ["subscribed"]}
    second = browser.get(link)
    numbers = [contact.phone for contact in created][::-1]
    assert (listed(first), listed(second)) == (numbers[:50], numbers[50:])
    assert older_link(second) is None


@pytest.mark.parametrize(
    "query", ["before=abc", "before=-1", "before=99999999999999999999999", "status=nonsense&country=XXX"]
)
def test_bad_arguments_give_the_page_not_an_error(browser_as, query):
    add_contact("+79031112233", "Иван")
    response = browser_as("reviewer").get(f"/audience/contacts?{query}")
    assert response.status_code == 200 and listed(response) == ["+79031112233"]


# --- one contact ----------------------------------------------------------------------------------

def test_the_detail_page_shows_everything_with_the_proof_and_history(browser_as):
    upload = add_import()
    contact = add_contact("+79031112233", "Смирнова Анна Сергеевна", first_name="Анна", patronymic="Сергеевна",
                          last_name="Смирнова", country="RU", region="Московская область", city="Химки",
                          latitude=55.89, longitude=37.44, timezone="Europe/Moscow", language="ru", tags="|vip|",
                          attributes={"loyalty": "=gold", "birthday": "03-14"}, consent_source="import",
                          consent_import_id=upload.id, consent_row=17)
    suppress(contact.phone, SuppressionReason.OPT_OUT)
    suppression.lift_opt_out(contact.phone, evidence="wamid.START")
    suppress(contact.phone, SuppressionReason.MANUAL, note="Asked in the shop")

    response = browser_as("reviewer").get(f"/audience/contacts/{contact.id}")
    assert response.status_code == 200
    page = page_of(response)
    assert (
        "<h1>+79031112233 · Смирнова Анна Сергеевна</h1>" in page
        and '<strong class="status-blocked">Blocked (never message)</strong>' in page
    )
    for label, value in [("Full name", "Смирнова Анна Сергеевна"), ("Last name", "Смирнова"), ("First name", "Анна"),
                         ("Patronymic", "Сергеевна"), ("Region", "Московская область"), ("City", "Химки"),
                         ("Coordinates", "55.89, 37.44"),
                         ("Time zone", "Europe/Moscow"), ("Language", "ru"), ("Tags", "vip"), ("Source", "import"),
                         ("Consented at (UTC)", "2024-03-01 09:30:00"), ("Import number", f"#{upload.id}"),
                         ("File", "клиенты-март.csv"), ("File SHA-256", f"<code>{'ab' * 32}</code>"),
                         ("Row in the file", "17"), ("Uploaded by", "anna@example.com"),
                         ("Uploaded at (UTC)", "2024-03-02 08:00:00")]:
        assert f"<tr><th>{label}</th><td>{value}</td></tr>" in page, label
    assert "<tr><td>birthday</td><td>03-14</td></tr>" in page and "<tr><td>loyalty</td><td>=gold</td></tr>" in page
    # The suppression history, newest first, and the way to the number's compliance page.
    assert page.index("Suppressed manually") < page.index("Opted out") and "Asked in the shop" in page
    assert "system · The person opted back in" in page
    assert 'href="/suppressions/+79031112233"' in page
    # Marketers, who may open imports, reach the file's import from the proof.
    marketers = page_of(browser_as("marketer").get(f"/audience/contacts/{contact.id}"))
    assert (
        f'<tr><th>Import number</th><td><a href="/audience/imports/{upload.id}">#{upload.id}</a></td></tr>' in marketers
    )


def test_the_proof_of_a_merged_number_names_its_last_row_and_the_rows_merged_into_it(browser_as, call, token_of):
    rows = [("+79031234501", "Иван", "", "да"), ("+79031234502", "Мария", "", "да"),
            ("8 903 123-45-01", "Иван Петров", "", "да")]
    record, _summary = files.import_content(files.cp1251_csv(rows))
    ivan = files.contact_of("+79031234501")

    page = page_of(browser_as("reviewer").get(f"/audience/contacts/{ivan.id}"))
    assert "<h1>+79031234501 · Иван Петров</h1>" in page
    assert "<tr><th>Row in the file</th><td>4</td></tr>" in page
    assert "<tr><th>Earlier rows of the number, merged into it</th><td>2</td></tr>" in page
    consent = call(f"/contacts/{ivan.id}", token_of("reviewer")).json["consent"]
    assert (consent["import_id"], consent["row"], consent["merged_rows"]) == (record.id, 4, [2])
    maria = files.contact_of("+79031234502")
    assert "merged into it" not in page_of(browser_as("reviewer").get(f"/audience/contacts/{maria.id}"))


def test_the_detail_of_a_contact_never_suppressed_without_a_file(browser_as):
    contact = add_contact("+79031112233", None)
    page = page_of(browser_as("reviewer").get(f"/audience/contacts/{contact.id}"))
    assert (
        "This number has never been suppressed." in page and "This contact was not added from an uploaded file." in page
    )
    assert "This contact has no attributes." in page and '<strong class="status-subscribed">Subscribed</strong>' in page


@pytest.mark.parametrize("path", ["/audience/contacts/999", "/audience/contacts/abc", "/audience/contacts/-1",
                                  "/audience/contacts/99999999999999999999999", "/audience/contacts/0"])
def test_a_contact_that_does_not_exist_is_404(browser_as, path):
    add_contact("+79031112233", "Иван")
    response = browser_as("admin").get(path)
    assert response.status_code == 404 and NOTHING_HERE in page_of(response)


# --- the CSV download -----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["marketer", "admin"])
def test_marketers_and_admins_download_the_csv(browser_as, role):
    add_contact("+79031112233", '=HYPERLINK("http://evil.example")', attributes={"loyalty": "gold"})
    browser = browser_as(role)
    assert 'href="/audience/contacts.csv"' in page_of(browser.get("/audience/contacts"))
    response = browser.get("/audience/contacts.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="contacts-{utcnow():%Y-%m-%d}.csv"'
    text = page_of(response)
    assert text.startswith("\ufeffphone,name,")
    header, [record] = read_csv(text)
    assert header == [*EXPORT_HEADER, "loyalty"]
    assert (record["phone"], record["name"], record["status"]) == (
        "+79031112233",
        '\'=HYPERLINK("http://evil.example")',
        "subscribed",
    )


def test_reviewers_see_contacts_but_cannot_download_them(browser_as):
    contact = add_contact("+79031112233", "Иван")
    browser = browser_as("reviewer")
    page = page_of(browser.get("/audience/contacts"))
    assert listed_in(page) == ["+79031112233"] and "/audience/contacts.csv" not in page
    assert browser.get(f"/audience/contacts/{contact.id}").status_code == 200
    response = browser.get("/audience/contacts.csv")
    assert response.status_code == 403 and FORBIDDEN in page_of(response)


def listed_in(page: str) -> list[str]:
    return re.findall(r'<td><a href="/audience/contacts/\d+">(\+\d+)</a></td>', page)


@pytest.mark.parametrize("path", ["/audience/contacts", "/audience/contacts/1", "/audience/contacts.csv"])
def test_anonymous_visitors_sign_in_first(client, path):
    add_contact("+79031112233", "Иван")
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"] == f"/login?next={path}"


# --- the API --------------------------------------------------------------------------------------

def test_the_api_lists_contacts_with_the_same_filters_and_cursor(call, token_of):
    for index in range(55):
        add_contact(f"+7903000{index:04d}", f"Клиент {index}", country="RU", tags="|vip|")
    add_contact("+442079460958", "John", country="GB", tags="|vip|")
    suppress("+79030000054", SuppressionReason.SPAM_REPORT)
    token = token_of("reviewer")

    first = call("/contacts?q=%2B7903&tag=vip", token).json
    assert len(first["contacts"]) == 50 and first["contacts"][0]["phone"] == "+79030000054"
    assert first["contacts"][0]["status"] == "blocked" and first["contacts"][1]["status"] == "subscribed"
    assert first["next_before"] == first["contacts"][-1]["id"]
    second = call(f"/contacts?q=%2B7903&tag=vip&before={first['next_before']}", token).json
    assert [c["phone"] for c in second["contacts"]] == [f"+7903000{index:04d}" for index in range(4, -1, -1)]
    assert second["next_before"] is None
    assert [c["phone"] for c in call("/contacts?country=GB", token).json["contacts"]] == ["+442079460958"]
    assert [c["phone"] for c in call("/contacts?status=blocked", token).json["contacts"]] == ["+79030000054"]
    john = call("/contacts?before=zzz&q=JOHN", token).json
    assert [c["phone"] for c in john["contacts"]] == ["+442079460958"] and john["next_before"] is None


def test_the_api_gives_one_contact_with_its_proof_and_history(call, token_of):
    upload = add_import()
    contact = add_contact(
        "+79031112233",
        "Анна",
        first_name="Анна",
        last_name="Смирнова",
        country="RU",
        latitude=55.75,
        longitude=37.61,
        tags="|vip|moscow|",
        attributes={"loyalty": "gold"},
        consent_source="import",
        consent_import_id=upload.id,
        consent_row=17,
    )
    suppress(contact.phone, SuppressionReason.OPT_OUT)
    body = call(f"/contacts/{contact.id}", token_of("reviewer")).json
    assert {key: body[key] for key in ("id", "phone", "name", "first_name", "patronymic", "last_name", "country",
                                       "latitude", "tags", "attributes", "status", "consent_source", "consent_at")} == {
        "id": contact.id, "phone": "+79031112233", "name": "Анна", "first_name": "Анна", "patronymic": None,
        "last_name": "Смирнова", "country": "RU", "latitude": 55.75,
        "tags": ["vip", "moscow"], "attributes": {"loyalty": "gold"}, "status": "opted_out",
        "consent_source": "import", "consent_at": "2024-03-01T09:30:00+00:00"}
    assert body["consent"] == {
        "source": "import", "consented_at": "2024-03-01T09:30:00+00:00", "import_id": upload.id, "row": 17,
        "file_name": "клиенты-март.csv", "file_sha256": "ab" * 32, "uploaded_by": "anna@example.com",
        "uploaded_at": datetime(2024, 3, 2, 8, 0, tzinfo=UTC).isoformat(), "merged_rows": []}
    [entry] = body["suppressions"]
    assert (entry["phone"], entry["reason"], entry["lifted_at"]) == ("+79031112233", "opt_out", None)


@pytest.mark.parametrize("contact_id", ["999", "abc", "99999999999999999999999"])
def test_the_api_answers_404_for_a_missing_contact(call, token_of, contact_id):
    response = call(f"/contacts/{contact_id}", token_of("admin"))
    assert assert_problem(response, 404)["detail"] == NOTHING_HERE


def test_the_api_csv_is_for_marketers_and_admins(call, token_of):
    add_contact("+79031112233", "Иван")
    for role in ("marketer", "admin"):
        response = call("/contacts.csv", token_of(role), buffered=True)
        assert response.status_code == 200
        assert [record["phone"] for record in read_csv(page_of(response))[1]] == ["+79031112233"]
    response = call("/contacts.csv", token_of("reviewer"))
    assert assert_problem(response, 403)["detail"] == FORBIDDEN


@pytest.mark.parametrize("path", ["/contacts", "/contacts/1", "/contacts.csv"])
def test_the_api_needs_a_token(call, path):
    assert_problem(call(path), 401)
    assert_problem(call(path, "vst_made-up"), 401)
