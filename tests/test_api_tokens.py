"""Personal API tokens: shown once, stored as SHA-256, the only credential the JSON API accepts."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from accounts import tokens, users
from accounts.models import ApiToken, User
from dbtypes import utcnow
from extensions import db
from tests.helpers import assert_problem, isolated_client, post_form, sign_in, signed_in_client

TOKEN = re.compile(r"vst_[A-Za-z0-9_-]{43}")


@pytest.fixture
def owner(make_user):
    return make_user("marketer", email="ann@example.com")


@pytest.fixture
def token(client, owner):
    """The plaintext of a token ``owner`` made on the tokens page (``client`` is signed in as them)."""
    sign_in(client, owner.email)
    return create_token(client).group(0)


def create_token(browser, name: str = "reporting script", **fields) -> re.Match:
    response = post_form(browser, "/tokens", {"name": name, **fields})
    assert response.status_code == 200
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, "the new token is not on the page"
    return match


def token_of(user: User) -> str:
    """A token made through the service for ``user`` (with its own commit)."""
    _row, plaintext = tokens.create_token(user, "script")
    db.session.commit()
    return plaintext


def api(client, path: str, token: str | None = None, scheme: str = "Bearer"):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return client.get(f"/api/v1{path}", headers=headers)


def the_row(plaintext: str) -> ApiToken:
    db.session.expire_all()
    return db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(plaintext.encode()).hexdigest())
    )


def assert_unauthorized(response) -> None:
    assert_problem(response, 401, detail="Send a valid API token as “Authorization: Bearer …”.")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="vestnik"'


def test_the_plaintext_is_shown_once_and_only_its_hash_is_stored(client, token):
    later_page = client.get("/tokens").get_data(as_text=True)
    assert token not in later_page
    assert token[:10] + "…" in later_page and "reporting script" in later_page

    row = the_row(token)
    assert row is not None and row.prefix == token[:10]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = db.session.execute(text("SELECT * FROM api_tokens")).all()
    assert len(stored) == 1
    assert not any(token in str(value) or token[10:] in str(value) for value in stored[0])


def test_a_token_opens_the_api_as_its_owner(client, owner, token):
    response = api(isolated_client(client.application), "/me", token)
    assert response.status_code == 200
    assert response.json["email"] == "ann@example.com"
    assert response.json["role"] == "marketer" and response.json["id"] == owner.id
    assert "password_hash" not in response.json and "session_nonce" not in response.json


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer vst_made-up", "Bearer not-even-our-format", "Basic {token}", "Token {token}", "{token}"],
)
def test_requests_without_a_valid_bearer_token_are_401_problems(client, token, authorization):
    headers = {"Authorization": authorization.format(token=token)} if authorization else {}
    assert_unauthorized(isolated_client(client.application).get("/api/v1/me", headers=headers))


def test_a_browser_session_alone_does_not_open_the_api(client, token):
    assert client.get("/tokens").status_code == 200  # signed in to the pages
    assert_unauthorized(api(client, "/me"))


def test_a_token_does_not_open_the_pages(client, token):
    response = isolated_client(client.application).get("/tokens", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_revoked_token_stops_working(client, token):
    row = the_row(token)
    response = post_form(client, f"/tokens/{row.id}/revoke", {}, page="/tokens")
    assert response.status_code == 302
    assert "The token “reporting script” has been revoked." in client.get("/tokens").get_data(as_text=True)
    assert the_row(token).revoked_at is not None
    assert_unauthorized(api(client, "/me", token))


def test_nobody_revokes_someone_elses_token(app, token, make_user):
    intruder = signed_in_client(app, make_user().email)
    response = post_form(intruder, f"/tokens/{the_row(token).id}/revoke", {}, page="/tokens")
    assert response.status_code == 404
    assert api(intruder, "/me", token).status_code == 200


def test_an_expired_token_stops_working(client, owner, token):
    match = create_token(client, "short-lived", expires_in_days="30")
    row = the_row(match.group(0))
    assert timedelta(days=29, hours=23) < row.expires_at - utcnow() <= timedelta(days=30)
    assert tokens.user_for_token(match.group(0), now=row.expires_at - timedelta(seconds=1)) == owner
    assert tokens.user_for_token(match.group(0), now=row.expires_at) is None

    the_row(token).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_unauthorized(api(client, "/me", token))


def test_deactivating_the_owner_stops_their_tokens_for_good(client, owner, token, make_user):
    make_user("admin")
    users.deactivate(owner, actor=None)
    db.session.commit()
    assert_unauthorized(api(client, "/me", token))
    assert the_row(token).revoked_at is not None

    users.reactivate(owner, actor=None)
    db.session.commit()
    assert_unauthorized(api(client, "/me", token))


def test_an_inactive_owners_unrevoked_token_is_refused(client, owner, token):
    owner.active = False
    db.session.commit()
    assert the_row(token).revoked_at is None
    assert_unauthorized(api(client, "/me", token))


@pytest.mark.parametrize("path", ["/users", "/audit"])
def test_a_marketers_token_is_forbidden_admin_endpoints(client, token, path):
    assert_problem(api(client, path, token), 403, detail="Your role does not allow this.")


def test_an_admins_token_reads_users_and_the_audit_log(client, make_user):
    admin_token = token_of(make_user("admin", email="boss@example.com"))
    make_user("marketer", email="ann@example.com")
    response = api(client, "/users", admin_token)
    assert response.status_code == 200
    assert [person["email"] for person in response.json["users"]] == ["ann@example.com", "boss@example.com"]
    response = api(client, "/audit", admin_token)
    assert response.status_code == 200
    assert "api_token.created" in [event["action"] for event in response.json["events"]]


def test_use_is_recorded_in_last_used_at_at_most_once_a_minute(client, owner, token):
    assert the_row(token).last_used_at is None
    before = utcnow()
    assert api(client, "/me", token).status_code == 200
    first_use = the_row(token).last_used_at
    assert first_use is not None and before <= first_use <= utcnow()

    for seconds, recorded in ((30, first_use), (120, first_use + timedelta(seconds=120))):
        assert tokens.user_for_token(token, now=first_use + timedelta(seconds=seconds)) == owner
        db.session.commit()
        assert the_row(token).last_used_at == recorded  # written at most once a minute


def test_unknown_paths_and_methods_are_problems(client, token):
    for path in ("/nope", "/me/extra"):
        body = assert_problem(api(client, path, token), 404)
        assert body == {"type": "/problems/not-found", "title": "Not found", "status": 404,
                        "detail": "There is nothing at this address."}
    response = client.post("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 405, detail="This action is not available here.")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}


def test_a_token_needs_a_name(client, token):
    page = post_form(client, "/tokens", {"name": "  "}).get_data(as_text=True)
    assert "This field is required." in page and not TOKEN.search(page)
    assert db.session.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 1
