"""How `flask …` commands answer a refusal: its sentences, one a line, and exit status 1, never a traceback."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from domain_errors import DomainError
from extensions import db


class CommandGroup(AppGroup):
    """A command group whose commands (and subgroups' commands) may raise ``DomainError``.

    The one place the CLI maps a refusal: what the command wrote so far is rolled back and the
    sentences are printed as a ``click.ClickException``.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DomainError as error:
            db.session.rollback()
            raise click.ClickException("\n".join(error.errors)) from None
