"""`flask campaigns template …`: create, list, show, submit and set the provider's status from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from campaigns import message_templates as templates
from campaigns import senders, template_approvals
from campaigns.cli import group
from campaigns.models import Sender, Template, TemplateCategory, TemplateStatus
from campaigns.serialisers import template_json
from extensions import db


@group.group("template")
def template_group() -> None:
    """WhatsApp message templates: create, list, show, submit, set-status."""


def _template(name: str, language: str | None) -> Template:
    found = templates.find_template(name, language)
    if found is None:
        raise click.ClickException(
            f"There is no template “{name}”{f' in {language}' if language else ''} (a name in several languages "
            "needs --language); `flask campaigns template list` shows them.")
    return found


def _spec(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"Cannot read {path}: {getattr(error, 'strerror', None) or error}.") from None
    except ValueError as error:
        raise click.ClickException(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path} must hold one JSON object: name, language, category, header, body, footer, "
                                   "buttons, examples, tags.")
    return data


def _line(template: Template) -> str:
    return (f"{template.id}\t{template.name}\t{template.language}\tv{template.version}\t{template.category.value}\t"
            f"{template.status.value}\t{template.updated_at:%Y-%m-%d %H:%M}\t{','.join(templates.tags_of(template))}")


language_option = click.option(
    "--language", default=None, help="The template's language, when its name exists in several."
)


@template_group.command("create")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False), help="The template as a JSON object.")
def create_command(path: str) -> None:
    """Save a new template (a draft) from a JSON spec."""
    template = templates.create_template(_spec(path))
    db.session.commit()
    click.echo(f"Created template “{template.name}” ({template.language}, id {template.id}) as a draft.")


@template_group.command("list")
@click.option("--search", default="", help="Words in the name or the body.")
@click.option("--status", type=click.Choice([s.value for s in TemplateStatus]), default=None)
@click.option("--category", type=click.Choice([c.value for c in TemplateCategory]), default=None)
@click.option("--language", default=None)
@click.option("--tag", default=None)
@click.option("--archived", is_flag=True, help="List the archived templates instead.")
@click.option("--sort", type=click.Choice(templates.SORTS), default="name", show_default=True)
def list_command(search: str, status: str | None, category: str | None, language: str | None, tag: str | None,
                 archived: bool, sort: str) -> None:
    """List the current templates: id, name, language, version, category, status, last change (UTC), tags."""
    offset: int | None = 0
    while offset is not None:
        page = templates.list_templates(search=search, status=status, category=category, language=language, tag=tag,
                                        archived=archived, sort=sort, offset=offset)
        for template in page.templates:
            click.echo(_line(template))
        offset = page.next_offset


@template_group.command("show")
@click.argument("name")
@language_option
def show_command(name: str, language: str | None) -> None:
    """Print the template NAME (or id) as JSON, with its versions."""
    click.echo(json.dumps(template_json(_template(name, language), with_versions=True), ensure_ascii=False, indent=2))


def _sender(name: str | None) -> Sender | None:
    if name is None:
        return None
    found = senders.find_sender(name)
    if found is None:
        raise click.ClickException(f"There is no sender “{name}”; `flask campaigns sender list` shows them.")
    return found


sender_option = click.option("--sender", "sender_name", default=None,
                             help="Only this sender's business account (default: every sender's).")


@template_group.command("submit")
@click.argument("name")
@language_option
@sender_option
def submit_command(name: str, language: str | None, sender_name: str | None) -> None:
    """Submit the template NAME (or id) to the provider of every sender's business account."""
    template = _template(name, language)
    outcome = template_approvals.submit(template, sender=_sender(sender_name))
    db.session.commit()
    for approval in outcome.approvals:
        reason = template_approvals.reason_text(approval.reason)
        click.echo(f"Submitted “{template.name}” ({template.language}) to account {approval.account_id}: "
                   f"{approval.status.value}{f': {reason}' if reason else '.'}")
    for account, sentence in outcome.failures:
        click.echo(f"Account {account.account_id} ({account.sender.name}) refused: {sentence}", err=True)


@template_group.command("set-status")
@click.argument("name")
@click.argument("status", type=click.Choice([s.value for s in templates.ADMIN_STATUSES]))
@click.option("--reason", default="", help="Why (required to reject, pause or disable).")
@language_option
@sender_option
def set_status_command(name: str, status: str, reason: str, language: str | None, sender_name: str | None) -> None:
    """Record the provider's STATUS for the template NAME (or id), in one sender's account or in every sender's."""
    template = _template(name, language)
    sender = _sender(sender_name)
    template_approvals.set_status(template, status, reason, sender=sender)
    db.session.commit()
    where = f"for the sender “{sender.name}”" if sender else "for every sender"
    click.echo(f"Template “{template.name}” ({template.language}, version {template.version}) is now {status} {where}.")
