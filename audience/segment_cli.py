"""`flask audience segment …`: count, list, show, create and update segments from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from audience import segments
from audience.cli import group
from audience.models import Segment
from audience.serialisers import segment_json
from extensions import db


@group.group("segment")
def segment_group() -> None:
    """Saved segments: count, list, show, create, update."""


def _segment(name: str) -> Segment:
    found = segments.find_segment(name)
    if found is None:
        raise click.ClickException(f"There is no segment named “{name}”; `flask audience segment list` shows them.")
    return found


def _count(segment: Segment) -> int:
    return segments.count(segment.definition)


def _definition(text: str) -> Any:
    """JSON given inline, or ``@path`` to a file holding it."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise click.ClickException(
                f"Cannot read {text[1:]}: {getattr(error, 'strerror', None) or error}."
            ) from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise click.ClickException(
            f"The definition is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from None


@segment_group.command("count")
@click.argument("name")
def count_command(name: str) -> None:
    """Print how many contacts the segment NAME (or id) matches now."""
    click.echo(_count(_segment(name)))


@segment_group.command("list")
def list_command() -> None:
    """List the segments: id, name, last change (UTC) and description."""
    for segment in segments.list_segments():
        click.echo(f"{segment.id}\t{segment.name}\t{segment.updated_at:%Y-%m-%d %H:%M}\t{segment.description}")


@segment_group.command("show")
@click.argument("name")
def show_command(name: str) -> None:
    """Print the segment NAME (or id) as JSON: its definition and its live count."""
    click.echo(json.dumps(segment_json(_segment(name), counted=True), ensure_ascii=False, indent=2))


@segment_group.command("create")
@click.argument("name")
@click.option("--definition", "definition_text", required=True, help="The definition as JSON, or @file with the JSON.")
@click.option("--description", default="", help="What the segment is for.")
def create_command(name: str, definition_text: str, description: str) -> None:
    """Save a new segment NAME."""
    segment = segments.create_segment(name, _definition(definition_text), description)
    matched = segments.count(segment.definition)
    db.session.commit()
    click.echo(f"Created segment “{segment.name}” (id {segment.id}); it matches {matched} contacts now.")


@segment_group.command("update")
@click.argument("name")
@click.option("--definition", "definition_text", default=None,
              help="The new definition as JSON, or @file with the JSON.")
@click.option("--rename", default=None, help="A new name.")
@click.option("--description", default=None, help="A new description.")
@click.option("--yes", is_flag=True, help="Return the campaigns it affects to draft without asking.")
def update_command(name: str, definition_text: str | None, rename: str | None, description: str | None,
                   yes: bool) -> None:
    """Change the segment NAME (or id). A new definition returns the campaigns in review, approved or
    scheduled on it to draft; they are listed and you are asked first (unless --yes)."""
    segment = _segment(name)
    definition = _definition(definition_text) if definition_text is not None else None
    affected = segments.uses_if_redefined(segment, definition)
    if affected:
        click.echo("Saving this definition returns these campaigns to draft (each needs a new review):")
        for use in affected:
            click.echo(f"  {use.id}\t{use.name}\t{use.status}")
        if not yes:
            click.confirm("Save the change?", abort=True)
    segments.update_segment(segment, name=rename, definition=definition, description=description,
                            confirmed=[use.key for use in affected])
    matched = segments.count(segment.definition)
    db.session.commit()
    click.echo(f"Updated segment “{segment.name}” (id {segment.id}); it matches {matched} contacts now.")
