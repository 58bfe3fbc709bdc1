"""The audit log: what is recorded, that it commits with the change, that it cannot be rewritten,
and how admins browse it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from accounts import tokens, users
from accounts.models import ApiToken, Role
from compliance import audit
from compliance.audit import AuditEvent, AuditLogError
from extensions import db
from tests.helpers import PASSWORD, assert_problem, isolated_client, post_form, sign_in
from tests.records import audit_events as events

ADDRESS = "203.0.113.7"
FROM_ADDRESS = {"environ_base": {"REMOTE_ADDR": ADDRESS}}




def only_event(action: str) -> AuditEvent:
    found = events(action)
    assert len(found) == 1, f"{len(found)} events {action}"
    return found[0]


def who_what_where(event: AuditEvent) -> tuple:
    return event.actor_id, event.actor_label, event.object_type, event.object_id, event.client_address


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def post_from_address(browser, path: str, data: dict, page: str):
    return post_form(browser, path, data, page=page, **FROM_ADDRESS)


def record_events(count: int, action: str = "test.bulk") -> list[int]:
    """Append ``count`` events numbered 0… in their details; returns their ids, oldest first."""
    entries = [audit.record(action, details={"n": number}) for number in range(count)]
    db.session.commit()
    return [entry.id for entry in entries]


def bearer(user) -> dict:
    """Authorization headers with a new API token of ``user``."""
    _row, token = tokens.create_token(user, "audit export")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_signing_in_and_out_is_recorded(client, make_user):
    user = make_user(email="ann@example.com")
    post_from_address(client, "/login", {"email": "ann@example.com", "password": PASSWORD}, page="/login")
    login = only_event("user.login")
    assert who_what_where(login) == (user.id, "ann@example.com", "user", str(user.id), ADDRESS)
    assert login.details == {"address": ADDRESS}
    post_from_address(client, "/logout", {}, page="/")
    assert who_what_where(only_event("user.logout")) == (user.id, "ann@example.com", "user", str(user.id), ADDRESS)


def test_failed_and_throttled_sign_ins_are_recorded(app, client, make_user):
    user = make_user(email="ann@example.com")
    post_from_address(client, "/login", {"email": "ann@example.com", "password": "wrong"}, page="/login")
    post_from_address(client, "/login", {"email": "nobody@example.com", "password": "wrong"}, page="/login")
    known, unknown = events("user.login_failed")
    assert who_what_where(known) == (None, "anonymous", "user", str(user.id), ADDRESS)
    assert known.details == {"email": "ann@example.com", "address": ADDRESS}
    assert who_what_where(unknown) == (None, "anonymous", None, None, ADDRESS)
    assert unknown.details["email"] == "nobody@example.com"

    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] - 1):  # one failure was recorded above
        sign_in(client, "ann@example.com", "wrong")
    sign_in(client, "ann@example.com")
    throttled = only_event("user.login_throttled")
    assert (throttled.actor_label, throttled.details["email"]) == ("anonymous", "ann@example.com")
    assert events("user.login") == []


def test_role_changes_deactivation_and_reactivation_are_recorded(admin_browser, admin, make_user):
    person = make_user("marketer")
    by_admin = (admin.id, "boss@example.com", "user", str(person.id), ADDRESS)
    post_from_address(admin_browser, f"/users/{person.id}/role", {"role": "reviewer"}, page="/users")
    changed = only_event("user.role_changed")
    assert who_what_where(changed) == by_admin
    assert changed.details == {"before": "marketer", "after": "reviewer"}
    for action in ("deactivate", "reactivate"):
        post_from_address(admin_browser, f"/users/{person.id}/{action}", {}, page="/users")
        assert who_what_where(only_event(f"user.{action}d")) == by_admin


def test_invitations_and_their_acceptance_are_recorded(admin_browser, admin, client):
    page = post_from_address(
        admin_browser, "/users", {"email": "newbie@example.com", "role": "reviewer", "language": "ru"}, page="/users"
    ).get_data(as_text=True)
    invited = only_event("user.invited")
    newbie = users.find_by_email("newbie@example.com")
    assert who_what_where(invited) == (admin.id, "boss@example.com", "user", str(newbie.id), ADDRESS)
    assert invited.details == {"email": "newbie@example.com", "role": "reviewer"}

    path = re.search(r"/invitation/[\w-]+", page).group(0)
    post_form(client, path, {"password": "plenty of letters 42", "confirm": "plenty of letters 42"})
    accepted = only_event("user.invitation_accepted")
    assert (accepted.actor_id, accepted.object_id) == (newbie.id, str(newbie.id))


def test_token_creation_and_revocation_are_recorded_without_the_secret(client, make_user):
    user = make_user(email="ann@example.com")
    sign_in(client, user.email)
    page = post_from_address(client, "/tokens", {"name": "nightly export"}, page="/tokens").get_data(as_text=True)
    plaintext = re.search(r"vst_[\w-]+", page).group(0)
    created = only_event("api_token.created")
    [token_id] = db.session.scalars(select(ApiToken.id)).all()
    assert who_what_where(created) == (user.id, "ann@example.com", "api_token", str(token_id), ADDRESS)
    assert created.details == {"name": "nightly export", "prefix": plaintext[:10]}

    post_from_address(client, f"/tokens/{token_id}/revoke", {}, page="/tokens")
    revoked = only_event("api_token.revoked")
    assert who_what_where(revoked) == who_what_where(created)
    row = db.session.execute(text("SELECT * FROM audit_events")).all()
    assert not any(plaintext[10:] in str(value) for entry in row for value in entry)


def test_an_audit_entry_commits_only_with_its_change(make_user):
    person = make_user("marketer")
    before = event_count()
    users.change_role(person, Role.REVIEWER, actor=None)
    db.session.rollback()
    assert event_count() == before
    db.session.refresh(person)
    assert person.role is Role.MARKETER

    users.change_role(person, Role.REVIEWER, actor=None)
    db.session.commit()
    with db.engine.connect() as elsewhere:  # what another connection sees: both, together
        role = elsewhere.execute(text("SELECT role FROM users WHERE id = :id"), {"id": person.id}).scalar()
        actions = elsewhere.execute(text("SELECT action FROM audit_events WHERE object_id = :id"),
                                    {"id": str(person.id)}).scalars().all()
    assert role == "reviewer"
    assert "user.role_changed" in actions


def test_a_refused_change_leaves_no_audit_entry(admin_browser, admin):
    before = event_count()
    post_from_address(admin_browser, f"/users/{admin.id}/role", {"role": "marketer"}, page="/users")
    assert events("user.role_changed") == []
    assert event_count() == before


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_orm_refuses_to_change_an_audit_entry(app, change):
    [entry_id] = record_events(1)
    entry = db.session.get(AuditEvent, entry_id)
    if change == "update":
        entry.action = "test.rewritten"
    else:
        db.session.delete(entry)
    with pytest.raises(AuditLogError):
        db.session.flush()
    db.session.rollback()
    assert only_event("test.bulk").details == {"n": 0}


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'test.rewritten'", "DELETE FROM audit_events"]
)
def test_the_database_refuses_to_change_an_audit_entry(app, statement):
    record_events(2)
    with db.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
        connection.rollback()
    assert len(events("test.bulk")) == 2
    assert events("test.rewritten") == []


def test_admins_filter_the_audit_log(admin_browser, admin, make_user):
    ann = make_user(email="ann@example.com")
    users.change_role(ann, Role.REVIEWER, actor=admin)
    db.session.commit()
    sign_in(isolated_client(admin_browser.application), ann.email)

    def actions_shown(**filters) -> list[str]:
        response = admin_browser.get("/audit", query_string=filters)
        assert response.status_code == 200
        return re.findall(r'<td data-action="([\w.]+)">', response.get_data(as_text=True))

    assert actions_shown(action="user.role") == ["user.role_changed"]
    assert actions_shown(actor="ANN@") == ["user.login"]
    assert actions_shown(object_type="user", object_id=str(ann.id)) == [
        "user.login",
        "user.role_changed",
        "user.created",
    ]
    assert actions_shown(action="user.login", actor="boss") == ["user.login"]
    # Filters are plain text: LIKE wildcards typed into them match only themselves.
    for filters in ({"action": "user_"}, {"action": "%"}, {"actor": "a_n"}, {"actor": "%"}):
        assert actions_shown(**filters) == [], filters
    assert "Nothing matches these filters." in admin_browser.get("/audit?action=nothing").get_data(as_text=True)


def test_admins_page_through_the_audit_log_newest_first(admin_browser):
    ids = record_events(audit.PAGE_SIZE + 5)
    first = admin_browser.get("/audit?action=test.").get_data(as_text=True)
    assert len(re.findall(r'data-action="test\.bulk"', first)) == audit.PAGE_SIZE
    older = re.search(r'href="(/audit\?[^"]+)">Older entries', first).group(1).replace("&amp;", "&")
    assert f"before={ids[5]}" in older and "action=test." in older
    second = admin_browser.get(older).get_data(as_text=True)
    assert len(re.findall(r'data-action="test\.bulk"', second)) == 5
    assert "Older entries" not in second
    numbers = [int(n) for page in (first, second) for n in re.findall(r">n: (\d+)<", page)]
    assert numbers == list(reversed(range(audit.PAGE_SIZE + 5)))


def test_exactly_one_full_page_offers_no_older_entries(admin_browser):
    record_events(audit.PAGE_SIZE)
    page = admin_browser.get("/audit?action=test.").get_data(as_text=True)
    assert len(re.findall(r'data-action="test\.bulk"', page)) == audit.PAGE_SIZE
    assert "Older entries" not in page


def test_the_audit_api_pages_with_next_before(make_user, client):
    headers = bearer(make_user("admin"))
    ids = record_events(audit.PAGE_SIZE + 5)

    first = client.get("/api/v1/audit?action=test.bulk", headers=headers).json
    assert [event["id"] for event in first["events"]] == list(reversed(ids))[: audit.PAGE_SIZE]
    assert first["next_before"] == ids[5]
    assert first["events"][0]["details"] == {"n": audit.PAGE_SIZE + 4}
    assert set(first["events"][0]) == {
        "id", "occurred_at", "actor", "actor_id", "action", "object_type", "object_id", "details", "client_address"
    }
    second = client.get(f"/api/v1/audit?action=test.bulk&before={first['next_before']}", headers=headers).json
    assert [event["id"] for event in second["events"]] == list(reversed(ids[:5]))
    assert second["next_before"] is None


def test_marketers_cannot_read_the_audit_log(client, make_user):
    marketer = make_user("marketer")
    assert_problem(client.get("/api/v1/audit", headers=bearer(marketer)), 403)
    sign_in(client, marketer.email)
    assert client.get("/audit").status_code == 403
