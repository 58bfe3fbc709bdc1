"""`flask audience export`: every contact as CSV, to standard output or atomically to a file; `flask audience tag`:
tags added and removed in bulk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from audience import contact_edits
from audience.cli import group
from audience.contacts import export_lines
from extensions import db

# As the download: Excel reads UTF-8 only with a byte-order mark.
ENCODING = "utf-8-sig"


@group.command("export")
@click.option("-o", "--output", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write (default: standard output).")
def export_command(output: str) -> None:
    """Write every contact as CSV.

    A file is written under a temporary name and renamed when complete, so nobody ever reads half
    an export; it is readable by its owner only, as it holds personal data.
    """
    if output == "-":
        with click.open_file("-", "w", encoding=ENCODING) as stream:
            for line in export_lines():
                stream.write(line)
        return
    target = Path(output)
    try:
        # Closed by the `with handle` below; opened here so a missing folder is its own sentence.
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w", encoding=ENCODING, newline="", dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp",
            delete=False,
        )
    except OSError as error:
        raise click.ClickException(f"Cannot write to {target.parent}: {error.strerror}.") from None
    rows = -1  # the header is not a contact
    try:
        with handle:
            for line in export_lines():
                handle.write(line)
                rows += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        os.unlink(handle.name)
        raise
    click.echo(f"Exported {rows} contacts to {target}.", err=True)


@group.command("tag")
@click.option("--add", "add", multiple=True, metavar="TAG", help="A tag to add (repeat for more).")
@click.option("--remove", "remove", multiple=True, metavar="TAG", help="A tag to remove (repeat for more).")
@click.option("--segment", default=None, help="Every contact of this saved segment (name or id).")
@click.option("--contact", "contact_ids", multiple=True, type=int, metavar="ID", help="A contact's id (repeat).")
def tag_command(add: tuple[str, ...], remove: tuple[str, ...], segment: str | None,
                contact_ids: tuple[int, ...]) -> None:
    """Add and remove tags for the contacts given or a whole segment, set-wise; audited. Prints how many contacts
    each tag changed."""
    condition, found = contact_edits.selection(contact_ids, segment)
    counts = contact_edits.retag(condition, add, remove, segment=found)
    db.session.commit()
    for key, count in counts.items():
        click.echo(f"{key}\t{count}")
