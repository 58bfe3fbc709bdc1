"""`flask campaigns …`: campaigns from a JSON spec, the review, cancel, show, list, the sending's status,
pause and resume, the rate card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask_babel import gettext as _

from accounts.models import User
from accounts.users import find_by_email
from campaigns import campaign_specs, launch, pricing, review
from campaigns.cascade import receipts
from campaigns.cli import group
from campaigns.dispatch import control
from campaigns.dispatch.progress import MESSAGE_STATUS_LABELS, progress, worded
from campaigns.feedback import notices
from campaigns.lifecycle import STATUS_LABELS
from campaigns.models import Campaign, CampaignStatus, MessageStatus
from campaigns.senders import find_sender
from campaigns.serialisers import campaign_json
from extensions import db


def _campaign(campaign_id: int) -> Campaign:
    found = db.session.get(Campaign, campaign_id)
    if found is None:
        raise click.ClickException(f"There is no campaign {campaign_id}; `flask campaigns list` shows them.")
    return found


def _user(email: str | None) -> User | None:
    if email is None:
        return None
    user = find_by_email(email)
    if user is None or not user.active:
        raise click.ClickException(f"There is no active user {email}.")
    return user


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise click.ClickException(f"Cannot read {path}: {error.strerror or error}.") from None
    except ValueError as error:
        raise click.ClickException(f"{path} is not valid JSON ({error}).") from None


# --- campaigns ---------------------------------------------------------------------------------------------

_CASCADE_HELP = ("The senders to try in order, by name or id, separated by commas (\"MAX bot,Telegram bot,SMS\"); "
                 "an empty value sends on one sender. Replaces the file's cascade.")
_WAIT_HELP = ("Seconds each step that reports deliveries waits for one before the next is tried (default 600); "
              "with --cascade.")


def _with_cascade(spec: Any, cascade: str | None, wait: int | None) -> Any:
    """The spec with the cascade the options give (the file's as it is without ``--cascade``)."""
    if cascade is None:
        if wait is not None:
            raise click.UsageError("--wait goes with --cascade.")
        return spec
    if not isinstance(spec, dict):
        return spec  # the spec's own error says what is wrong
    names = [name.strip() for name in cascade.split(",") if name.strip()]
    spec = {**spec, "cascade": [{"sender": name, "wait_seconds": wait} for name in names]}
    if wait is not None and names:
        # The last step and a bot never wait (the cascade says so when given one); the option means every other.
        found = [find_sender(name) for name in names]
        spec["cascade"] = [{"sender": name, "wait_seconds": wait if index < len(names) - 1 and sender is not None
                            and receipts(sender.channel) else None}
                           for index, (name, sender) in enumerate(zip(names, found, strict=True))]
    return spec


@group.command("create")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False), help="The campaign spec as JSON.")
@click.option("--as", "email", help="The author (an existing user's email).")
@click.option("--cascade", default=None, metavar="SENDERS", help=_CASCADE_HELP)
@click.option("--wait", type=click.IntRange(min=1), default=None, metavar="SECONDS", help=_WAIT_HELP)
def create_command(path: str, email: str | None, cascade: str | None, wait: int | None) -> None:
    """Create a draft campaign from a JSON spec."""
    author = _user(email)
    campaign = campaign_specs.create_campaign(_with_cascade(_read_json(path), cascade, wait), author)
    db.session.commit()
    click.echo(f"Created campaign “{campaign.name}” (id {campaign.id}), a draft.")


@group.command("update")
@click.argument("campaign_id", type=int)
@click.option("--file", "path", type=click.Path(dir_okay=False), help="The fields to change, as JSON.")
@click.option("--as", "email", help="The editor (an existing user's email).")
@click.option("--cascade", default=None, metavar="SENDERS", help=_CASCADE_HELP)
@click.option("--wait", type=click.IntRange(min=1), default=None, metavar="SECONDS", help=_WAIT_HELP)
def update_command(campaign_id: int, path: str | None, email: str | None, cascade: str | None,
                   wait: int | None) -> None:
    """Change a campaign; a content change voids its review or approval."""
    if path is None and cascade is None:
        raise click.UsageError("Give --file, --cascade or both.")
    campaign = _campaign(campaign_id)
    editor = _user(email)
    spec = _read_json(path) if path is not None else {}
    campaign_specs.update_campaign(campaign, _with_cascade(spec, cascade, wait), editor)
    db.session.commit()
    click.echo(f"Campaign {campaign.id} saved; it is “{STATUS_LABELS[campaign.status]}”.")


@group.command("submit")
@click.argument("campaign_id", type=int)
@click.option("--as", "email", help="Who submits (an existing user's email).")
def submit_command(campaign_id: int, email: str | None) -> None:
    """Run the preflight and submit the draft for review."""
    campaign = _campaign(campaign_id)
    actor = _user(email)
    report = review.submit(campaign, actor)
    db.session.commit()
    estimate = report["estimate"]
    click.echo(f"Campaign {campaign.id} is in review: {report['audience']['eligible']} recipients, "
               f"estimated {estimate['total']} {estimate['currency']}.")
    for warning in report["warnings"]:
        click.echo(f"Warning: {warning}")


@group.command("approve")
@click.argument("campaign_id", type=int)
@click.option("--as", "email", required=True, help="The reviewer (an existing user's email).")
@click.option("--note", default="", help="A note for the author.")
@click.option("--acknowledgement", default=None,
              help="Needed when the channel rule warns (a restricted channel to recipients in Russia): "
                   "a sentence saying you have read the warning and why the campaign may go out anyway.")
def approve_command(campaign_id: int, email: str, note: str, acknowledgement: str | None) -> None:
    """Approve a campaign in review; it is scheduled to launch at its send time."""
    campaign = _campaign(campaign_id)
    reviewer = _user(email)
    review.approve(campaign, reviewer, note=note, acknowledgement=acknowledgement)
    db.session.commit()
    when = campaign.send_at.isoformat() if campaign.send_at else "now"
    click.echo(f"Campaign {campaign.id} approved and scheduled for {when}.")


@group.command("reject")
@click.argument("campaign_id", type=int)
@click.option("--as", "email", required=True, help="The reviewer (an existing user's email).")
@click.option("--reason", default="", help="Why, in words the author understands.")
@click.option("--code", type=click.Choice(list(review.REJECTION_REASONS)), help="A common reason.")
def reject_command(campaign_id: int, email: str, reason: str, code: str | None) -> None:
    """Reject a campaign in review, with a reason the author sees."""
    campaign = _campaign(campaign_id)
    reviewer = _user(email)
    review.reject(campaign, reviewer, code, reason)
    db.session.commit()
    click.echo(f"Campaign {campaign.id} rejected.")


@group.command("revise")
@click.argument("campaign_id", type=int)
def revise_command(campaign_id: int) -> None:
    """Take a rejected campaign back to draft."""
    campaign = _campaign(campaign_id)
    review.revise(campaign)
    db.session.commit()
    click.echo(f"Campaign {campaign.id} is a draft again.")


@group.command("schedule")
@click.argument("campaign_id", type=int)
def schedule_command(campaign_id: int) -> None:
    """Schedule an approved campaign to launch at its send time (approving does it already)."""
    campaign = _campaign(campaign_id)
    launch.schedule_launch(campaign)
    db.session.commit()
    click.echo(
        f"Campaign {campaign.id} is scheduled to launch "
        f"{'at ' + campaign.send_at.isoformat() if campaign.send_at else 'now'}."
    )


@group.command("cancel")
@click.argument("campaign_id", type=int)
@click.option("--reason", default="", help="Why it is cancelled.")
def cancel_command(campaign_id: int, reason: str) -> None:
    """Cancel a campaign (and its scheduled launch)."""
    campaign = _campaign(campaign_id)
    campaign_specs.cancel_campaign(campaign, reason=reason)
    db.session.commit()
    click.echo(f"Campaign {campaign.id} cancelled.")


@group.command("show")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def show_command(campaign_id: int, as_json: bool) -> None:
    """Show a campaign: status, schedule, preflight and estimate."""
    data = campaign_json(_campaign(campaign_id), full=True)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['id']}\t{data['name']}\t{data['status']}")
    click.echo(f"send at: {data['send_at'] or 'when approved'}; window: {data['send_window'] or 'default'}; "
               f"{data['messages_per_second']} msg/s")
    for step in data["cascade"] or []:
        wait = f"waits {step['wait_seconds']} s" if step["wait_seconds"] else "no wait"
        click.echo(f"step {step['step'] + 1}: {step['sender']} ({step['channel']}), {wait}")
    if data["preflight"]:
        audience = data["preflight"]["audience"]
        click.echo(f"recipients: {audience['eligible']} of {audience['total']}; excluded: "
                   + ", ".join(f"{reason} {count}" for reason, count in audience["excluded"].items() if count))
    if data["estimate"]:
        click.echo(f"estimate: {data['estimate']['total']} {data['estimate']['currency']}")
        for step in data["estimate"].get("steps") or []:
            cost = "not priced" if step["cost_minor"] is None else f"{step['cost_minor']} minor units"
            click.echo(f"  step {step['step'] + 1} ({step['channel']}): {step['first_tried']} tried first, {cost}")
    for item in data["reviews"]:
        click.echo(f"review: {item['decision']} by user {item['reviewer_id']} {item['reason']}".rstrip())


@group.command("list")
@click.option("--status", type=click.Choice([status.value for status in CampaignStatus]), help="Only this status.")
def list_command(status: str | None) -> None:
    """List campaigns, newest first: id, status, send time, name."""
    for campaign in campaign_specs.list_campaigns(CampaignStatus(status) if status else None):
        when = campaign.send_at.isoformat() if campaign.send_at else "-"
        click.echo(f"{campaign.id}\t{campaign.status.value}\t{when}\t{campaign.name}")


@group.command("status")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON (status, counts, rate, ETA, failures).")
def status_command(campaign_id: int, as_json: bool) -> None:
    """Show where a campaign's sending stands: rows by state, the rate, the ETA, failures by reason."""
    campaign = _campaign(campaign_id)
    state = progress(campaign)
    if as_json:
        click.echo(json.dumps(state, ensure_ascii=False, indent=2))
        return
    text = worded(state)
    click.echo(f"{campaign.id}\t{campaign.name}\t{STATUS_LABELS[campaign.status]}")
    if campaign.status is CampaignStatus.PAUSED:
        click.echo(notices.pause_label(campaign))
        if notices.is_automatic(campaign):
            click.echo(notices.pause_sentence(campaign))
    click.echo(f"{text['sent']}; {text['done']}")
    click.echo(f"{_('Current rate')}: {text['rate']}; {_('Time left')}: {text['eta']}")
    width = max(len(str(label)) for label in MESSAGE_STATUS_LABELS.values())
    for key, count in text["counts"].items():
        click.echo(f"  {MESSAGE_STATUS_LABELS[MessageStatus(key)]!s:<{width}}  {count:>10}")
    if text["failures"]:
        click.echo(f"{_('Not sent, by reason')}:")
    for item in text["failures"]:
        click.echo(f"  {item['count']:>10}  {item['sentence']}")


@group.command("pause")
@click.argument("campaign_id", type=int)
@click.option("--as", "email", help="Who pauses it (an existing user's email: a reviewer or its author).")
def pause_command(campaign_id: int, email: str | None) -> None:
    """Pause a sending campaign; messages already on their way still arrive."""
    campaign = _campaign(campaign_id)
    control.pause(campaign, _user(email))
    db.session.commit()
    click.echo(f"Campaign {campaign.id} paused.")


@group.command("resume")
@click.argument("campaign_id", type=int)
@click.option("--as", "email", help="Who resumes it (an existing user's email: a reviewer or its author).")
@click.option("--reason", default="", help="Why it is safe to send again: required when the platform paused it.")
def resume_command(campaign_id: int, email: str | None, reason: str) -> None:
    """Resume a paused campaign; its batches are queued for the workers. A campaign the platform paused (the
    circuit breaker, the number's quality, the template) needs a reviewer (or the operator) and a reason."""
    campaign = _campaign(campaign_id)
    control.resume(campaign, _user(email), reason)
    db.session.commit()
    click.echo(f"Campaign {campaign.id} is sending again.")


# --- the rate card ----------------------------------------------------------------------------------------------

@group.group("rate-card")
def rate_card_group() -> None:
    """The price per delivered message by country and category."""


@rate_card_group.command("show")
def rate_card_show_command() -> None:
    """Print the card in force as CSV (and its free allowance)."""
    card = pricing.current_rate_card()
    click.echo(card.to_csv(), nl=False)
    click.echo(f"# free per month: {card.free_per_month}; {'edited by an admin' if card.customised else 'as shipped'}")


@rate_card_group.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--free", "free_per_month", type=int, default=0, show_default=True, help="Messages free per month.")
def rate_card_load_command(path: str, free_per_month: int) -> None:
    """Replace the card with the CSV file PATH (country,currency,marketing,utility,authentication)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise click.ClickException(f"Cannot read {path}: {error.strerror or error}.") from None
    card = pricing.save_rate_card(pricing.RateCard.from_csv(text, free_per_month))
    db.session.commit()
    click.echo(f"Rate card saved: {len(card.prices)} rows in {card.currency}.")


@rate_card_group.command("reset")
def rate_card_reset_command() -> None:
    """Go back to the shipped card."""
    pricing.reset_rate_card()
    db.session.commit()
    click.echo("The shipped rate card is in force again.")
