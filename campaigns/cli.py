"""`flask campaigns …`: templates, campaigns, review and launch from the shell."""

from __future__ import annotations

import getpass

import click

from accounts.events import set_actor_label
from cli_errors import CommandGroup


@click.group("campaigns", cls=CommandGroup, help="Templates, campaigns, review and launch.")
def group() -> None:
    set_actor_label(f"cli:{getpass.getuser()}")


# Imported for their commands; they import ``group`` from here, so they must come after it.
from campaigns import campaign_cli, entry_point_cli, sender_cli, template_cli  # noqa: E402,F401
