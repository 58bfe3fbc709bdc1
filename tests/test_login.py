"""Signing in and out, the slow-down of repeated failures, and the ways a session ends."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode, urlsplit

import pytest

from accounts import throttle, users
from accounts.models import Role
from extensions import db
from tests.helpers import PASSWORD, csrf_token, isolated_client, post_form, sign_in, signed_in_client

WRONG = "Wrong e-mail address or password."
NEW_PASSWORD = "a brand new passphrase"


def signed_in(client) -> bool:
    """True when the client's session opens the home page; False when it is sent to sign in."""
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def sign_in_from(client, email: str, address: str, password: str = PASSWORD):
    return post_form(client, "/login", {"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def flashed(response) -> list[str]:
    return re.findall(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', response.get_data(as_text=True))


def fail_times(client, email: str, times: int) -> None:
    for _ in range(times):
        assert sign_in(client, email, "not the password").status_code == 401


def change_password(client, current: str, new: str):
    return post_form(
        client, "/profile/password", {"current": current, "password": new, "confirm": new}, page="/profile"
    )


def test_sign_in_and_sign_out(client, make_user):
    user = make_user(email="ann@example.com")
    assert not signed_in(client)

    response = sign_in(client, "ann@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "ann@example.com" in client.get("/").get_data(as_text=True)

    response = post_form(client, "/logout", {}, page="/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You have signed out." in client.get("/login").get_data(as_text=True)
    assert not signed_in(client)
    db.session.refresh(user)
    assert user.last_login_at is not None


def test_sign_out_needs_a_post_with_the_csrf_token(client, make_user):
    sign_in(client, make_user().email)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert signed_in(client)


def test_e_mail_addresses_match_in_any_letter_case(client, make_user):
    make_user(email="ann@example.com")
    assert sign_in(client, "  Ann@EXAMPLE.com ").status_code == 302
    assert signed_in(client)


def test_wrong_password_and_unknown_e_mail_get_the_same_answer(client, make_user):
    make_user(email="ann@example.com")
    wrong_password = sign_in(client, "ann@example.com", "not the password")
    unknown_email = sign_in(client, "nobody@example.com")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert flashed(response) == [WRONG]
    assert not signed_in(client)


def test_a_deactivated_account_is_told_so_only_with_the_right_password(client, make_user):
    user = make_user(email="ann@example.com")
    make_user("admin")
    users.deactivate(user, actor=None)
    db.session.commit()
    assert flashed(sign_in(client, user.email, "not the password")) == [WRONG]
    response = sign_in(client, user.email)
    assert response.status_code == 401
    assert flashed(response) == ["This account has been deactivated. Ask an administrator."]
    assert not signed_in(client)


def test_a_post_without_csrf_token_is_refused(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired or was sent from another site." in response.get_data(as_text=True)
    assert not signed_in(client)


def test_a_post_with_a_forged_csrf_token_is_refused(client, make_user):
    user = make_user()
    client.get("/login")  # this browser has a CSRF token of its own; it sends another one's
    token = csrf_token(isolated_client(client.application).get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 400
    assert not signed_in(client)


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/tokens", "/tokens"),
        ("/audit?action=user.&actor=ann", "/audit?action=user.&actor=ann"),
        ("//evil.com", "/"),
        ("//evil.com/login", "/"),
        ("https://evil.com", "/"),
        ("https://evil.com/", "/"),
        ("http:/evil.com", "/"),
        ("evil.com", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_next_is_followed_only_to_our_own_pages(client, make_user, target, lands_on):
    user = make_user("admin")
    response = post_form(client, "/login?" + urlencode({"next": target}), {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on


@pytest.mark.parametrize("target", ["/\\evil.com", "/\t/evil.com", "/%5Cevil.com"])
def test_next_never_becomes_a_link_to_another_host(client, make_user, target):
    user = make_user()
    response = post_form(client, "/login?" + urlencode({"next": target}), {"email": user.email, "password": PASSWORD})
    location = response.headers["Location"]
    # Browsers read "\" as "/" and drop tabs, so either would turn "/\evil.com" into "//evil.com".
    assert location.startswith("/") and not re.match(r"/[/\\\s]", location)
    assert urlsplit(location).netloc == ""


def test_a_page_asked_for_before_signing_in_is_opened_after_it(client, make_user):
    user = make_user()
    response = client.get("/tokens")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url == "/login?next=/tokens"
    response = post_form(client, login_url, {"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/tokens"


def test_repeated_failures_are_refused_even_with_the_right_password(app, client, make_user):
    victim = make_user(email="victim@example.com")
    bystander = make_user(email="bystander@example.com")
    fail_times(client, victim.email, app.config["LOGIN_FREE_ATTEMPTS"])

    response = sign_in(client, victim.email)
    assert response.status_code == 429
    [message] = flashed(response)
    assert re.fullmatch(r"Too many failed sign-in attempts\. Try again in [1-9]\d* seconds\.", message)
    assert not signed_in(client)

    # The count belongs to the e-mail address: someone else, elsewhere, signs in as usual.
    other = isolated_client(app)
    assert sign_in_from(other, bystander.email, "198.51.100.20").status_code == 302
    assert signed_in(other)


def test_the_slow_down_counts_an_address_however_it_is_typed(app, client, make_user):
    victim = make_user(email="victim@example.com")
    fail_times(client, victim.email, app.config["LOGIN_FREE_ATTEMPTS"])
    for spelling in ("VICTIM@example.com", " victim@example.com", "victim@example.com  "):
        assert sign_in_from(client, spelling, "198.51.100.30").status_code == 429, spelling


def test_the_wait_doubles_with_each_further_failure_up_to_the_cap(app):
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    app.config["LOGIN_MAX_DELAY_SECONDS"] = 60
    start = 1_000_000.0
    waits = []
    for _ in range(free + 8):
        throttle.record_failure("ann@example.com", "192.0.2.1", now=start)
        waits.append(throttle.seconds_until_allowed("ann@example.com", "192.0.2.1", now=start))
    assert waits == [0] * (free - 1) + [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_the_wait_is_counted_from_the_last_failure(app):
    start = 1_000_000.0
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 3):  # a wait of 2 ** 3 seconds
        throttle.record_failure("bob@example.com", "192.0.2.2", now=start)
    assert throttle.seconds_until_allowed("bob@example.com", "192.0.2.2", now=start + 7.5) == 1
    assert throttle.seconds_until_allowed("bob@example.com", "192.0.2.2", now=start + 8) == 0
    throttle.record_failure("bob@example.com", "192.0.2.2", now=start + 8)
    assert throttle.seconds_until_allowed("bob@example.com", "192.0.2.2", now=start + 8) == 16


def test_after_the_wait_the_right_password_works_and_the_count_starts_over(app, client, make_user):
    user = make_user(email="ann@example.com")
    address = "127.0.0.1"
    long_ago = time.time() - 60  # failures whose 4-second wait is long over
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 2):
        throttle.record_failure(user.email, address, now=long_ago)
    assert throttle.seconds_until_allowed(user.email, address, now=long_ago) == 4
    assert throttle.seconds_until_allowed(user.email, address) == 0

    assert sign_in(client, user.email).status_code == 302
    assert signed_in(client)
    # A success forgets the e-mail's failures: the next failure starts from the free attempts again.
    throttle.record_failure(user.email, "192.0.2.9")
    assert throttle.seconds_until_allowed(user.email, "192.0.2.9") == 0


def test_one_address_trying_many_accounts_is_slowed_down_too(app):
    address = "203.0.113.5"
    now = 2_000_000.0
    allowance = app.config["LOGIN_FREE_ATTEMPTS"] * throttle.ADDRESS_ALLOWANCE_FACTOR
    for number in range(allowance):
        throttle.record_failure(f"guess{number}@example.com", address, now=now)
    assert throttle.seconds_until_allowed("fresh@example.com", address, now=now) == 1
    assert throttle.seconds_until_allowed("fresh@example.com", "203.0.113.6", now=now) == 0


def test_deactivation_ends_an_open_session(client, make_user):
    make_user("admin")
    user = make_user()
    sign_in(client, user.email)
    assert signed_in(client)
    users.deactivate(user, actor=None)
    db.session.commit()
    response = client.get("/tokens")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/tokens"


def test_a_role_change_ends_open_sessions(client, make_user):
    user = make_user("marketer")
    sign_in(client, user.email)
    users.change_role(user, Role.REVIEWER, actor=None)
    db.session.commit()
    assert not signed_in(client)
    sign_in(client, user.email)
    assert "Compliance reviewer" in client.get("/").get_data(as_text=True)


def test_a_role_change_voids_the_keep_me_signed_in_cookie(app, client, make_user):
    user = make_user("marketer")
    post_form(client, "/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    remembered = client.get_cookie("remember_token")
    assert remembered is not None

    def browser_with_only_the_remember_cookie():
        browser = isolated_client(app)
        browser.set_cookie("remember_token", remembered.value)
        return browser

    assert signed_in(browser_with_only_the_remember_cookie())
    users.change_role(user, Role.REVIEWER, actor=None)
    db.session.commit()
    assert not signed_in(browser_with_only_the_remember_cookie())


@pytest.fixture
def two_sessions(app, client, make_user):
    """A user signed in twice: in ``client`` and in the browser returned ("elsewhere")."""
    user = make_user(email="ann@example.com")
    sign_in(client, user.email)
    return user, signed_in_client(app, user.email)


def test_changing_the_password_keeps_this_session_and_ends_the_others(client, two_sessions):
    user, elsewhere = two_sessions
    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert signed_in(client)
    assert not signed_in(elsewhere)

    assert sign_in(elsewhere, user.email).status_code == 401
    assert sign_in(elsewhere, user.email, NEW_PASSWORD).status_code == 302


def test_a_wrong_current_password_changes_nothing(app, client, two_sessions):
    user, elsewhere = two_sessions
    response = change_password(client, "not the password", NEW_PASSWORD)
    assert response.status_code == 400
    assert "The current password is wrong." in response.get_data(as_text=True)
    assert signed_in(elsewhere)
    assert sign_in(isolated_client(app), user.email).status_code == 302


def test_an_invited_user_without_a_password_cannot_sign_in(client, make_user):
    admin = make_user("admin")
    invited, _token = users.invite_user("newbie@example.com", Role.MARKETER, actor=admin)
    db.session.commit()
    for password in (PASSWORD, "anything at all"):
        response = sign_in(client, invited.email, password)
        assert response.status_code == 401
        assert flashed(response) == [WRONG]
    assert not signed_in(client)
