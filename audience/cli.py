"""`flask audience …`: import, export and segments from the shell."""

from __future__ import annotations

import getpass

import click

from accounts.events import set_actor_label
from cli_errors import CommandGroup


@click.group("audience", cls=CommandGroup, help="Contacts: import, export and segments.")
def group() -> None:
    set_actor_label(f"cli:{getpass.getuser()}")


# Imported for their commands; they import ``group`` from here, so they must come after it.
from audience import contact_cli, import_cli, segment_cli  # noqa: E402,F401
