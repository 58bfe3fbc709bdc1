"""User administration: invitations, roles, deactivation, and the administrator who must remain."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import jobs, users
from accounts.models import Role, User
from compliance.audit import AuditEvent
from dbtypes import utcnow
from extensions import db
from tests.helpers import isolated_client, post_form, sign_in

INVITEE = "newbie@example.com"
GOOD_PASSWORD = "plenty of letters 42"
NO_LONGER_VALID = "This invitation link is no longer valid"
LAST_ADMIN = "is the last active administrator; make someone else an administrator first."


def invite(browser, email: str = INVITEE, role: str = "marketer"):
    return post_form(browser, "/users", {"email": email, "name": "New Person", "role": role, "language": "en"})


def invitation_path(page: str) -> str:
    match = re.search(r"http://localhost(/invitation/[\w-]+)", page)
    assert match, "no invitation link on the page"
    return match.group(1)


def choose_password(browser, path: str, password: str, confirm: str | None = None):
    return post_form(browser, path, {"password": password, "confirm": password if confirm is None else confirm})


def admin_action(browser, user: User, action: str, **data):
    """Post one of the row forms of /users and return the page it redirects to."""
    response = post_form(browser, f"/users/{user.id}/{action}", data, page="/users")
    assert response.status_code == 302 and response.headers["Location"] == "/users"
    return browser.get("/users").get_data(as_text=True)


def reloaded(user: User) -> User:
    db.session.refresh(user)
    return user


def test_an_invitation_is_shown_once_and_lets_the_invitee_choose_a_password(admin_browser, client):
    response = invite(admin_browser)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"{INVITEE} has been invited. Send them the link below; it is shown only once." in page
    path = invitation_path(page)
    token = path.rsplit("/", 1)[1]
    assert token not in admin_browser.get("/users").get_data(as_text=True)
    invited = users.find_by_email(INVITEE)
    assert invited.is_invited and invited.invitation_hash == hashlib.sha256(token.encode()).hexdigest()

    assert f"Choose a password for {INVITEE}" in client.get(path).get_data(as_text=True)
    for password, confirm, sentence in [
        ("short", None, "The password must be at least 12 characters long."),
        ("my name is newbie, ok", None, "The password must not contain your e-mail address."),
        (GOOD_PASSWORD, "something else entirely", "The passwords differ."),
    ]:
        response = choose_password(client, path, password, confirm)
        assert response.status_code == 200 and sentence in response.get_data(as_text=True)
    assert reloaded(invited).password_hash is None

    response = choose_password(client, path, GOOD_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert f"{INVITEE} · Marketer" in client.get("/").get_data(as_text=True)
    assert reloaded(invited).is_active and not invited.is_invited

    for method in (client.get, isolated_client(client.application).get):
        response = method(path)
        assert response.status_code == 404 and NO_LONGER_VALID in response.get_data(as_text=True)
    assert sign_in(isolated_client(client.application), INVITEE, GOOD_PASSWORD).status_code == 302


def test_an_expired_invitation_does_not_work(admin, client):
    invited, token = users.invite_user(INVITEE, Role.MARKETER, actor=admin)
    invited.invitation_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    path = f"/invitation/{token}"
    assert client.get(path).status_code == 404
    response = post_form(client, path, {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}, page="/login")
    assert response.status_code == 404
    assert reloaded(invited).password_hash is None


def test_an_unknown_invitation_link_is_not_valid(client):
    response = client.get("/invitation/made-up-token")
    assert response.status_code == 404 and NO_LONGER_VALID in response.get_data(as_text=True)


def test_the_expiry_job_voids_only_expired_invitations(admin, client):
    late, _late_token = users.invite_user("late@example.com", Role.MARKETER, actor=admin)
    timely, timely_token = users.invite_user("timely@example.com", Role.REVIEWER, actor=admin)
    late.invitation_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert jobs.expire_invitations() == 1
    db.session.rollback()  # the job committed: nothing of it is undone
    assert reloaded(late).invitation_hash is None
    assert reloaded(timely).invitation_hash is not None
    assert client.get(f"/invitation/{timely_token}").status_code == 200
    assert jobs.expire_invitations() == 0
    voided = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.invitation_expired")).all()
    assert [(event.object_type, event.object_id) for event in voided] == [("user", str(late.id))]


def test_someone_whose_invitation_expired_can_be_invited_again(admin_browser, admin, client):
    stale, old_token = users.invite_user(INVITEE, Role.MARKETER, actor=admin)
    stale.invitation_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    jobs.expire_invitations()
    assert "invitation expired" in admin_browser.get("/users").get_data(as_text=True)

    page = invite(admin_browser, role="reviewer").get_data(as_text=True)
    path = invitation_path(page)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == INVITEE)) == 1
    assert client.get(f"/invitation/{old_token}").status_code == 404
    assert choose_password(client, path, GOOD_PASSWORD).status_code == 302
    assert reloaded(stale).role is Role.REVIEWER and reloaded(stale).state == "active"


def test_a_pending_invitation_is_replaced_by_a_new_link(admin_browser, admin, client):
    _user, first_token = users.invite_user(INVITEE, Role.MARKETER, actor=admin)
    db.session.commit()
    path = invitation_path(invite(admin_browser).get_data(as_text=True))
    assert client.get(f"/invitation/{first_token}").status_code == 404
    assert client.get(path).status_code == 200


def test_admins_change_roles(admin_browser, make_user):
    person = make_user("marketer")
    page = admin_action(admin_browser, person, "role", role="reviewer")
    assert "Saved." in page
    assert reloaded(person).role is Role.REVIEWER
    admin_action(admin_browser, person, "role", role="admin")
    assert reloaded(person).role is Role.ADMIN


def test_an_unknown_role_is_refused(admin_browser, make_user):
    person = make_user("marketer")
    response = post_form(admin_browser, f"/users/{person.id}/role", {"role": "owner"}, page="/users")
    assert response.status_code == 400
    assert reloaded(person).role is Role.MARKETER


def test_admins_deactivate_and_reactivate(admin_browser, make_user, app):
    person = make_user("marketer")
    admin_action(admin_browser, person, "deactivate")
    assert not reloaded(person).active
    assert sign_in(isolated_client(app), person.email).status_code == 401
    assert "Reactivate" in admin_browser.get("/users").get_data(as_text=True)

    admin_action(admin_browser, person, "reactivate")
    assert reloaded(person).active
    assert sign_in(isolated_client(app), person.email).status_code == 302


def test_actions_on_an_unknown_user_are_404(admin_browser):
    for action in ("role", "deactivate", "reactivate"):
        assert post_form(admin_browser, f"/users/999/{action}", {"role": "admin"}, page="/users").status_code == 404


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(admin_browser, admin):
    for action, data in (("role", {"role": "marketer"}), ("deactivate", {})):
        page = admin_action(admin_browser, admin, action, **data)
        assert f"boss@example.com {LAST_ADMIN}" in page
        assert reloaded(admin).role is Role.ADMIN and admin.active
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["user.role_changed", "user.deactivated"]))) == 0


def test_with_a_second_admin_the_first_may_step_down(admin_browser, admin, make_user):
    make_user("admin")
    admin_action(admin_browser, admin, "role", role="reviewer")
    assert reloaded(admin).role is Role.REVIEWER


@pytest.mark.parametrize("absent", ["invited", "deactivated"])
def test_an_admin_who_cannot_sign_in_does_not_count_as_the_remaining_one(admin_browser, admin, make_user, absent):
    if absent == "invited":
        users.invite_user("second@example.com", Role.ADMIN, actor=admin)
    else:
        users.deactivate(make_user("admin"), actor=None)
    db.session.commit()
    for action, data in (("role", {"role": "marketer"}), ("deactivate", {})):
        assert LAST_ADMIN in admin_action(admin_browser, admin, action, **data)
    assert reloaded(admin).role is Role.ADMIN and admin.active


def test_an_invited_admin_can_be_demoted_while_a_real_one_remains(admin_browser, admin):
    invited, _token = users.invite_user("second@example.com", Role.ADMIN, actor=admin)
    db.session.commit()
    admin_action(admin_browser, invited, "role", role="marketer")
    assert reloaded(invited).role is Role.MARKETER


@pytest.mark.parametrize(
    ("email", "sentence"),
    [
        ("boss@example.com", "There is already an account for boss@example.com."),
        ("BOSS@Example.COM", "There is already an account for boss@example.com."),
        ("not-an-address", "“not-an-address” is not a valid e-mail address."),
    ],
)
def test_an_invitation_that_cannot_be_made_says_why(admin_browser, email, sentence):
    response = invite(admin_browser, email)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and sentence in page
    assert "/invitation/" not in page
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def last_sign_in_cell(browser, email: str) -> str:
    """The "Last sign-in" cell of ``email``'s row on /users, as the administrator sees it."""
    page = browser.get("/users").get_data(as_text=True)
    row = re.search(rf"<tr>\s*<td>{re.escape(email)}</td>(.*?)</tr>", page, re.S)
    assert row, f"no row for {email} on /users"
    return re.findall(r"<td>(.*?)</td>", row.group(1), re.S)[3].strip()


def test_last_sign_in_is_set_when_an_invitation_is_accepted_and_again_at_the_next_sign_in(admin_browser, client):
    path = invitation_path(invite(admin_browser).get_data(as_text=True))
    assert last_sign_in_cell(admin_browser, INVITEE) == "—"

    assert choose_password(client, path, GOOD_PASSWORD).status_code == 302
    accepted_at = reloaded(users.find_by_email(INVITEE)).last_login_at
    assert accepted_at is not None and utcnow() - accepted_at < timedelta(minutes=1)
    assert last_sign_in_cell(admin_browser, INVITEE) not in ("", "—")

    invitee = users.find_by_email(INVITEE)
    invitee.last_login_at = None  # so that only the next sign-in can fill it
    db.session.commit()
    assert last_sign_in_cell(admin_browser, INVITEE) == "—"
    assert sign_in(isolated_client(client.application), INVITEE, GOOD_PASSWORD).status_code == 302
    assert reloaded(invitee).last_login_at is not None
    assert last_sign_in_cell(admin_browser, INVITEE) not in ("", "—")
