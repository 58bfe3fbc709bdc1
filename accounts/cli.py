"""`flask users …`: manage accounts from the shell."""

from __future__ import annotations

import getpass
import secrets
import sys

import click
from flask import current_app
from sqlalchemy import select

from accounts import users
from accounts.events import set_actor_label
from accounts.models import Role, User
from cli_errors import CommandGroup
from extensions import db


@click.group("users", cls=CommandGroup, help="Manage user accounts.")
def group() -> None:
    set_actor_label(f"cli:{getpass.getuser()}")

ROLE_CHOICE = click.Choice([role.value for role in Role])


def _existing(email: str) -> User:
    user = users.find_by_email(email)
    if user is None:
        raise click.ClickException(f"There is no account for {email}.")
    return user


@group.command("create")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, required=True, help="admin, marketer or reviewer.")
@click.option("--name", default="", help="Display name.")
@click.option("--language", type=click.Choice(["en", "ru"]), default=None, help="Interface language.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
def create(email: str, role: str, name: str, language: str | None, password_stdin: bool) -> None:
    """Create an account; a generated password is printed once."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    user = users.create_user(email, Role(role), password=password, actor=None, name=name, language=language)
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}.")
    if not password_stdin:
        click.echo(f"Password (shown only now): {password}")


@group.command("bootstrap")
@click.option("--email", envvar="ADMIN_EMAIL", default="admin@example.com", show_default=True)
def bootstrap(email: str) -> None:
    """Create the first administrator on an empty installation and print its credentials once."""
    created = users.ensure_first_admin(email)
    if created is None:
        return
    db.session.commit()
    user, password = created
    url = current_app.config["PUBLIC_URL"]
    click.echo("=" * 64)
    click.echo(f" First administrator created. Sign in at {url}/login")
    click.echo(f"   e-mail:   {user.email}")
    click.echo(f"   password: {password}")
    click.echo(" This password is shown only once; change it under Profile.")
    click.echo("=" * 64)


@group.command("list")
def list_users() -> None:
    """List accounts with their role and state."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        click.echo(f"{user.email}\t{user.role.value}\t{user.state}")


@group.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE_CHOICE)
def set_role(email: str, role: str) -> None:
    """Change an account's role."""
    users.change_role(_existing(email), Role(role), actor=None)
    db.session.commit()
    click.echo(f"{email} is now {role}.")


@group.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Stop an account from signing in and revoke its tokens."""
    users.deactivate(_existing(email), actor=None)
    db.session.commit()
    click.echo(f"{email} has been deactivated.")
