"""`flask users …`: accounts from the shell, with plain error sentences and an audit trail."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from accounts import tokens, users
from accounts.models import Role, User
from compliance.audit import AuditEvent
from extensions import db
from tests.helpers import PASSWORD, isolated_client, sign_in

GENERATED = re.compile(r"^Password \(shown only now\): (\S+)$", re.MULTILINE)


def run(app, *args: str, input: str | None = None, env: dict | None = None):
    """Run ``flask users <args>`` and return click's result."""
    return app.test_cli_runner().invoke(args=["users", *args], input=input, env=env)


def fails_with(result, sentence: str) -> None:
    """The command printed ``Error: <sentence>`` and exited 1, without a traceback."""
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {sentence}\n"
    assert isinstance(result.exception, SystemExit)


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def role_of(email: str) -> Role:
    db.session.expire_all()
    return users.find_by_email(email).role


def can_sign_in(app, email: str, password: str = PASSWORD) -> bool:
    return sign_in(isolated_client(app), email, password).status_code == 302


def test_create_prints_a_generated_password_once(app):
    result = run(app, "create", "Ann@Example.com", "--role", "reviewer", "--name", "Ann")
    assert result.exit_code == 0
    assert result.output.startswith("Created reviewer ann@example.com.\n")
    [password] = GENERATED.findall(result.output)
    assert len(password) >= app.config["PASSWORD_MIN_LENGTH"]
    assert can_sign_in(app, "ann@example.com", password)
    assert role_of("ann@example.com") is Role.REVIEWER


def test_create_reads_the_password_from_stdin(app):
    result = run(app, "create", "ann@example.com", "--role", "marketer", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0
    assert result.output == "Created marketer ann@example.com.\n"
    assert can_sign_in(app, "ann@example.com")


def test_create_refuses_a_weak_password_from_stdin(app):
    result = run(app, "create", "ann@example.com", "--role", "marketer", "--password-stdin", input="short\n")
    fails_with(result, "The password must be at least 12 characters long.")
    assert user_count() == 0


@pytest.mark.parametrize(
    ("email", "sentence"),
    [
        ("not-an-address", "“not-an-address” is not a valid e-mail address."),
        ("BOSS@example.com", "There is already an account for boss@example.com."),
    ],
)
def test_create_says_why_it_cannot(app, make_user, email, sentence):
    make_user("admin", email="boss@example.com")
    fails_with(run(app, "create", email, "--role", "marketer"), sentence)
    assert user_count() == 1


def test_an_unknown_role_is_a_usage_error(app):
    result = run(app, "create", "ann@example.com", "--role", "owner")
    assert result.exit_code == 2 and "'owner' is not one of 'admin', 'marketer', 'reviewer'" in result.output
    assert user_count() == 0


def test_bootstrap_creates_the_first_admin_once(app):
    result = run(app, "bootstrap", env={"ADMIN_EMAIL": "root@example.com"})
    assert result.exit_code == 0
    assert "e-mail:   root@example.com" in result.output
    [password] = re.findall(r"password: (\S+)", result.output)
    assert "This password is shown only once" in result.output
    assert role_of("root@example.com") is Role.ADMIN
    assert can_sign_in(app, "root@example.com", password)

    again = run(app, "bootstrap", "--email", "other@example.com")
    assert again.exit_code == 0 and again.output == ""
    assert user_count() == 1


def test_bootstrap_does_nothing_when_accounts_exist(app, make_user):
    make_user("marketer")
    result = run(app, "bootstrap")
    assert result.exit_code == 0 and result.output == ""
    assert user_count() == 1


def test_set_role(app, make_user):
    make_user("admin", email="boss@example.com")
    make_user("marketer", email="ann@example.com")
    result = run(app, "set-role", "ANN@example.com", "reviewer")
    assert result.exit_code == 0 and result.output == "ANN@example.com is now reviewer.\n"
    assert role_of("ann@example.com") is Role.REVIEWER
    fails_with(run(app, "set-role", "nobody@example.com", "admin"), "There is no account for nobody@example.com.")
    fails_with(
        run(app, "set-role", "boss@example.com", "marketer"),
        "boss@example.com is the last active administrator; make someone else an administrator first.",
    )
    assert role_of("boss@example.com") is Role.ADMIN


def test_deactivate(app, make_user):
    make_user("admin", email="boss@example.com")
    ann = make_user("marketer", email="ann@example.com")
    _row, token = tokens.create_token(ann, "script")
    db.session.commit()
    result = run(app, "deactivate", "ann@example.com")
    assert result.exit_code == 0 and result.output == "ann@example.com has been deactivated.\n"
    assert not can_sign_in(app, "ann@example.com")
    assert isolated_client(app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    fails_with(
        run(app, "deactivate", "boss@example.com"),
        "boss@example.com is the last active administrator; make someone else an administrator first.",
    )
    assert can_sign_in(app, "boss@example.com")


def test_list_shows_every_account_with_its_role_and_state(app, make_user):
    boss = make_user("admin", email="boss@example.com")
    users.deactivate(make_user("reviewer", email="carl@example.com"), actor=None)
    users.invite_user("dora@example.com", Role.MARKETER, actor=boss)
    make_user("marketer", email="ann@example.com")
    db.session.commit()
    result = run(app, "list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "ann@example.com\tmarketer\tactive",
        "boss@example.com\tadmin\tactive",
        "carl@example.com\treviewer\tdeactivated",
        "dora@example.com\tmarketer\tinvited",
    ]


def test_changes_made_on_the_command_line_are_audited_as_the_cli(app, make_user):
    make_user("admin", email="boss@example.com")
    run(app, "create", "ann@example.com", "--role", "marketer")
    run(app, "set-role", "ann@example.com", "reviewer")
    run(app, "deactivate", "ann@example.com")
    ann = users.find_by_email("ann@example.com")
    entries = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == str(ann.id)).order_by(AuditEvent.id)
    ).all()
    assert [entry.action for entry in entries] == ["user.created", "user.role_changed", "user.deactivated"]
    for entry in entries:
        assert entry.actor_label.startswith("cli:") and len(entry.actor_label) > len("cli:")
        assert entry.actor_id is None and entry.client_address is None
    assert entries[1].details == {"before": "marketer", "after": "reviewer"}
