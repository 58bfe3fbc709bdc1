"""`flask compliance …`: the suppression list, reply intents and the content linter from the shell."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import click
from flask import current_app

from accounts.events import set_actor_label
from cli_errors import CommandGroup
from compliance import suppression
from compliance.keywords import classify_reply
from compliance.lint import MAX_TEXT
from compliance.models import ASSIGNABLE_REASONS, SuppressionReason
from compliance.numbers import to_e164
from compliance.policy import current_policy
from compliance.suppression_files import export_lines, import_csv
from extensions import db

REASON_CHOICE = click.Choice([reason.value for reason in ASSIGNABLE_REASONS])


@click.group("compliance", cls=CommandGroup, help="Suppression list, reply intents and content checks.")
def group() -> None:
    set_actor_label(f"cli:{getpass.getuser()}")


def _phone(raw: str) -> str:
    return to_e164(raw, current_app.config["DEFAULT_REGION"])


@group.command("suppress")
@click.argument("phone")
@click.option("--reason", type=REASON_CHOICE, required=True, help="opt_out, block, spam_report or manual.")
@click.option("--note", default="", help="Why (required for manual).")
def suppress_command(phone: str, reason: str, note: str) -> None:
    """Stop all messages to PHONE."""
    phone = _phone(phone)
    entry, created = suppression.suppress(phone, SuppressionReason(reason), source="cli", note=note)
    db.session.commit()
    click.echo(
        f"Suppressed {phone} ({reason})."
        if created
        else f"{phone} was already suppressed ({reason}) since {entry.created_at:%Y-%m-%d %H:%M} UTC."
    )


@group.command("unsuppress")
@click.argument("phone")
@click.option("--reason", "reason_text", required=True, help="Why the suppression is lifted (kept in the history).")
def unsuppress_command(phone: str, reason_text: str) -> None:
    """Lift every suppression of PHONE."""
    phone = _phone(phone)
    lifted = suppression.lift(phone, reason_text=reason_text, actor=None)
    db.session.commit()
    click.echo(f"Lifted {', '.join(entry.reason.value for entry in lifted)} for {phone}.")


@group.command("import-suppressions")
@click.argument("source", type=click.File("rb"))
@click.option(
    "--reason", type=REASON_CHOICE, default="manual", show_default=True, help="For rows without a reason column."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def import_command(source, reason: str, as_json: bool) -> None:
    """Suppress every number in a CSV file (a phone column, optional reason and note)."""
    result = import_csv(source.read(), filename=getattr(source, "name", "-"), actor=None,
                        default_reason=SuppressionReason(reason), default_region=current_app.config["DEFAULT_REGION"])
    db.session.commit()
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"Read {result.read} rows: {result.added} suppressed, {result.already} already suppressed, "
        f"{len(result.rejected)} rejected."
    )
    for row, reason_text in result.rejected:
        click.echo(f"  row {row}: {reason_text}")


@group.command("export-suppressions")
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8-sig"),
    default="-",
    help="File to write (default: standard output).",
)
@click.option("--history", is_flag=True, help="Include lifted entries.")
def export_command(output: TextIO, history: bool) -> None:
    """Write the suppression list as CSV."""
    for line in export_lines(include_lifted=history):
        output.write(line)


def _each_json_line(stream: TextIO, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Answer each JSON object of ``stream`` with one output line; bad lines get an error object."""
    failures = 0
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str) or len(item["text"]) > MAX_TEXT:
                raise ValueError
        except ValueError:
            failures += 1
            item = {
                "line": number,
                "error": f'Each line must be a JSON object with a "text" string of at most {MAX_TEXT} characters.',
            }
        else:
            item = handle(item)
        click.echo(json.dumps(item, ensure_ascii=False))
    if failures:
        click.echo(f"{failures} line(s) could not be read.", err=True)
        sys.exit(1)


@group.command("intent")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option(
    "--jsonl", is_flag=True, help='One JSON object with "text" per line in; the same object with "intent" out.'
)
def intent_command(source: TextIO, jsonl: bool) -> None:
    """Classify a reply (opt_out, opt_in, help or none)."""
    keywords = current_policy().keywords
    if jsonl:
        _each_json_line(source, lambda item: {**item, "intent": classify_reply(item["text"], keywords).value})
    else:
        click.echo(classify_reply(source.read(), keywords).value)


@group.command("lint")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option(
    "--language", type=click.Choice(["ru", "en"]), default="ru", show_default=True, help="Language of the disclaimer."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--jsonl", is_flag=True, help='One JSON object with "text" (and "language") per line in, one report per line out.'
)
def lint_command(source: TextIO, language: str, as_json: bool, jsonl: bool) -> None:
    """Check a message text: restricted platforms, profile links, spam-likeness."""
    policy = current_policy()
    if jsonl:
        def one(item: dict[str, Any]) -> dict[str, Any]:
            data = policy.lint(item["text"], item.get("language") or language).as_dict()
            return {**item, **{key: data[key] for key in ("tagged", "mentions", "links", "verdicts")}}

        _each_json_line(source, one)
        return
    text = source.read()
    if len(text) > MAX_TEXT:
        raise click.ClickException(f"The text is longer than {MAX_TEXT} characters.")
    result = policy.lint(text, language)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(result.tagged)
    click.echo("")
    for verdict in result.verdicts:
        click.echo(f"{verdict.outcome.value.upper():5}  {verdict.rule}: {verdict.reason}")
    for signal in result.spam.signals:
        click.echo(f"       +{signal.weight:g} {signal.name}: {signal.explanation}")
