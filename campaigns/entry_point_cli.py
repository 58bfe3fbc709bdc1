"""`flask campaigns entry-point …` (list, create) and `flask campaigns entry-token`: minting a personal token
for a known contact, printed with its bots' deep links."""

from __future__ import annotations

import json

import click

from campaigns import entry_points
from campaigns.campaign_specs import parse_send_at
from campaigns.cli import group
from campaigns.entry_point_api import entry_point_json, token_json
from campaigns.entry_points import Changes
from extensions import db


def _entry_point(reference: str):
    found = entry_points.find_entry_point(reference)
    if found is None:
        raise click.ClickException(f"There is no entry point “{reference}”; `flask campaigns entry-point list` "
                                   "shows them.")
    return found


def _moment(value: str | None, option: str):
    if not value:
        return None
    try:
        return parse_send_at(value)
    except ValueError:
        raise click.ClickException(f"{option}: give an ISO 8601 time, such as 2026-12-31T23:59:00+03:00.") from None


@group.group("entry-point")
def entry_point_group() -> None:
    """Entry points: subscribe pages, deep links and QR codes."""


@entry_point_group.command("list")
def list_command() -> None:
    """One line per current entry point: id, code, name, visits, starts, opt-ins, page URL."""
    for entry_point in entry_points.list_entry_points():
        data = entry_point_json(entry_point)
        click.echo("\t".join(str(value) for value in (data["id"], data["code"], data["name"], data["visits"],
                                                      data["starts"], data["opt_ins"], data["page_url"])))


@entry_point_group.command("create")
@click.option("--name", required=True)
@click.option("--sender", "senders", type=int, multiple=True, required=True, help="A sender id it offers (repeat).")
@click.option("--keyword", default=entry_points.DEFAULT_KEYWORD, show_default=True)
@click.option("--source-label", default="")
@click.option("--expires-at", default=None, help="ISO 8601; naive means UTC.")
def create_command(name: str, senders: tuple[int, ...], keyword: str, source_label: str,
                   expires_at: str | None) -> None:
    """Create an entry point and print it as JSON (its code, page URL and links)."""
    entry_point = entry_points.create_entry_point(
        Changes(name=name, sender_ids=senders, keyword=keyword, source_label=source_label,
                expires_at=_moment(expires_at, "--expires-at")))
    db.session.commit()
    click.echo(json.dumps(entry_point_json(entry_point), ensure_ascii=False, indent=2))


@group.command("entry-token")
@click.option("--entry-point", "reference", required=True, help="The entry point's code or id.")
@click.option("--contact", required=True, help="The contact's phone number or id.")
@click.option("--expires-at", default=None, help="ISO 8601; naive means UTC. Never later than the entry point's.")
def entry_token_command(reference: str, contact: str, expires_at: str | None) -> None:
    """Mint a personal token for a known contact (for an order e-mail or an SMS); prints it and its deep links."""
    entry_point = _entry_point(reference)
    token = entry_points.mint_for(entry_point, contact, expires_at=_moment(expires_at, "--expires-at"))
    db.session.commit()
    click.echo(json.dumps(token_json(token, entry_point), ensure_ascii=False, indent=2))
