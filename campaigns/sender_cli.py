"""`flask campaigns sender …` (create, list, check, ensure-sandbox, rotate-secrets) and
`flask campaigns send-test`.

Secrets never travel as argument values (they would sit in the shell's history and in ``ps``): each
``--…-env`` option names an environment variable that holds the secret, or is ``-`` to read it from
standard input (one line per ``-``, in the order token, app secret, verify token).
"""

from __future__ import annotations

import json
import os
import sys

import click
from flask import current_app

from campaigns import message_templates as templates
from campaigns import sandbox_callbacks, senders, test_sends
from campaigns.cli import group
from campaigns.models import Sender, SenderChannel
from channels.base import ResultKind, SendResult
from compliance.sending import TIER_LIMITS
from domain_errors import DomainError
from extensions import db


@group.group("sender")
def sender_group() -> None:
    """Sender numbers and how their provider is reached."""


def _secret(option: str, variable: str | None) -> str | None:
    if variable is None:
        return None
    if variable == "-":
        line = sys.stdin.readline()
        if not line.strip():
            raise click.ClickException(f"{option} -: standard input has no line left to read the secret from.")
        return line.strip()
    value = os.environ.get(variable)
    if not value:
        raise click.ClickException(f"{option}: the environment variable {variable} is not set or is empty.")
    return value


def _sender(name: str) -> Sender:
    found = senders.find_sender(name)
    if found is None:
        raise click.ClickException(f"There is no sender “{name}”; `flask campaigns sender list` shows them.")
    return found


def _line(sender: Sender) -> str:
    secrets = ",".join(f"{key}=…{getattr(sender, key + '_last4')}" for key in senders.SECRETS
                       if getattr(sender, f"{key}_encrypted"))
    checked = f"{sender.checked_at:%Y-%m-%d %H:%M}" if sender.checked_at else "-"
    return "\t".join([str(sender.id), sender.name, sender.phone, sender.channel, sender.phone_number_id or "-",
                      sender.waba_id or "-", sender.base_url or "-", sender.api_version or "-", sender.tier,
                      str(sender.messages_per_second), sender.quality_rating or "-", checked,
                      sender.check_error_code or "-", secrets or "-"])


@sender_group.command("create")
@click.argument("name")
@click.argument("phone")
@click.option("--channel", required=True, type=click.Choice([c.value for c in SenderChannel]))
@click.option("--phone-number-id", default="", help="The number's id at the provider (the sandbox: its default).")
@click.option("--waba-id", default="", help="The WhatsApp Business Account id (the sandbox: its default).")
@click.option("--base-url", default="", help="The provider's address (default: Graph API, or SANDBOX_URL).")
@click.option("--api-version", default="", help=f"Such as {senders.DEFAULT_API_VERSION} (the default).")
@click.option("--token-env", metavar="VAR", help="Environment variable holding the access token, or - for stdin.")
@click.option("--app-secret-env", metavar="VAR", help="Environment variable holding the app secret, or - for stdin.")
@click.option("--verify-token-env", metavar="VAR",
              help="Environment variable holding the webhook verify token, or - for stdin.")
@click.option("--tier", type=click.Choice(list(TIER_LIMITS)), default="TIER_250", show_default=True,
              help="WhatsApp messaging tier (new unique recipients per 24 h); `sender check` reads it.")
@click.option("--mps", "messages_per_second", type=int, default=80, show_default=True,
              help="Throughput, messages per second; `sender check` reads it.")
def sender_create_command(name: str, phone: str, channel: str, phone_number_id: str, waba_id: str, base_url: str,
                          api_version: str, token_env: str | None, app_secret_env: str | None,
                          verify_token_env: str | None, tier: str, messages_per_second: int) -> None:
    """Add the sender NAME with the number PHONE."""
    secrets = {"access_token": _secret("--token-env", token_env),
               "app_secret": _secret("--app-secret-env", app_secret_env),
               "verify_token": _secret("--verify-token-env", verify_token_env)}
    sender = senders.create_sender(
        name, phone, channel=channel, phone_number_id=phone_number_id, waba_id=waba_id, base_url=base_url,
        api_version=api_version, tier=tier, messages_per_second=messages_per_second,
        **{key: value for key, value in secrets.items() if value is not None})
    db.session.commit()
    click.echo(f"Created sender “{sender.name}” (id {sender.id}, {sender.phone}, {sender.channel}, "
               f"{sender.tier}, {sender.messages_per_second} msg/s); `flask campaigns sender check "
               f"{sender.name}` reads its tier and quality.")


@sender_group.command("list")
def sender_list_command() -> None:
    """List the senders: id, name, phone, channel, phone number id, WABA id, base URL, API version, tier,
    throughput, quality, last check (UTC), its error code, and the last four characters of each secret."""
    for sender in senders.list_senders():
        click.echo(_line(sender))


@sender_group.command("check")
@click.argument("name")
def sender_check_command(name: str) -> None:
    """Read the quality, messaging tier and throughput of the sender NAME from its provider."""
    sender = senders.check_connection(_sender(name))
    db.session.commit()
    problem = senders.check_error_sentence(sender)
    if problem:
        raise click.ClickException(f"The connection check of “{sender.name}” failed ({sender.check_error_code}): "
                                   f"{problem}")
    click.echo(f"“{sender.name}”: quality {sender.quality_rating}, tier {sender.tier}, "
               f"{sender.messages_per_second} msg/s.")


@sender_group.command("ensure-sandbox")
def ensure_sandbox_command() -> None:
    """Embedded mode: make sure the sandbox sender exists (`make run` calls this; it changes nothing twice).

    In production it does nothing (and says so), so that `make run` against real services still starts.
    """
    if current_app.config["VESTNIK_ENV"] == "production":
        click.echo("Production mode: no sandbox sender is created; add real senders with "
                   "`flask campaigns sender create`.")
        return
    sender, created = senders.ensure_sandbox_sender()
    db.session.commit()
    click.echo(f"{'Created' if created else 'There is'} the sandbox sender “{sender.name}” ({sender.phone}, "
               f"{sender.base_url}).")
    # Every run, not only the first: the receiver's URL or the sender's secret may have changed since.
    click.echo(f"The sandbox posts its callbacks to {sandbox_callbacks.point(sender)}.")


@sender_group.command("rotate-secrets")
def rotate_secrets_command() -> None:
    """Re-encrypt every stored secret with the first key of VESTNIK_SECRETS_KEY (after adding a new key).

    A sender whose secrets no key opens is skipped and reported; the others are rotated; exit status 1 if any
    sender was skipped.
    """
    count, failed = senders.rotate_secrets()
    db.session.commit()
    for _sender, sentence in failed:
        click.echo(sentence, err=True)
    if failed:
        click.echo(f"Re-encrypted {count} secrets with the first key; {len(failed)} sender(s) could not be: "
                   "keep the older keys until their secrets are entered again.", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"Re-encrypted {count} secrets with the first key; the older keys can now be removed.")


class _Refused(Exception):
    """The test send was refused before anything was sent: the kind of refusal and its sentence."""

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(sentence)
        self.code, self.sentence = code, sentence


def _values(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise _Refused("invalid_variable", f"--var {pair}: write it as NAME=VALUE, such as --var 1=Анна.")
        values[name.strip().strip("{}")] = value
    return values


def _send_test(sender_name: str, template_name: str, language: str | None, to: str,
               pairs: tuple[str, ...]) -> SendResult:
    """The test send the options ask for; ``_Refused`` for anything refused before sending."""
    sender = senders.find_sender(sender_name)
    if sender is None:
        raise _Refused("unknown_sender", f"There is no sender “{sender_name}”; `flask campaigns sender list` "
                                         "shows them.")
    template = templates.find_template(template_name, language)
    if template is None:
        raise _Refused("unknown_template",
                       f"There is no template “{template_name}”{f' in {language}' if language else ''} (a name in "
                       "several languages needs --language); `flask campaigns template list` shows them.")
    try:
        return test_sends.send_test(sender, template, to, _values(pairs), language=language)
    except DomainError as error:  # an invalid number, a missing variable, a secret no key opens
        db.session.rollback()
        raise _Refused(getattr(error, "code", None) or "refused", "\n".join(error.errors)) from None


@group.command("send-test")
@click.option("--sender", "sender_name", required=True, help="The sender's name (or id, or phone).")
@click.option("--template", "template_name", required=True, help="The template's name (or id).")
@click.option("--language", default=None, help="The template's language, when its name exists in several.")
@click.option("--to", "to", required=True, help="The number to send to, with the country code.")
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE",
              help="A variable's value (repeatable); the template's example fills the others.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON (a refusal before sending too: status failed, code its kind).")
def send_test_command(sender_name: str, template_name: str, language: str | None, to: str, pairs: tuple[str, ...],
                      as_json: bool) -> None:
    """Send one template message to one number; exit status 0 only when the provider accepted it."""
    try:
        result = _send_test(sender_name, template_name, language, to, pairs)
    except _Refused as refused:
        if not as_json:
            raise click.ClickException(refused.sentence) from None
        click.echo(json.dumps({"status": ResultKind.FAILED.value, "provider_id": None, "code": refused.code,
                               "retry_after": None, "sentence": refused.sentence}, ensure_ascii=False))
        raise click.exceptions.Exit(1) from None
    db.session.commit()
    if as_json:
        click.echo(json.dumps(test_sends.result_json(result), ensure_ascii=False))
    elif result.kind is ResultKind.ACCEPTED:
        click.echo(test_sends.result_sentence(result))
    else:
        click.echo(test_sends.result_sentence(result), err=True)
    if result.kind is not ResultKind.ACCEPTED:
        raise click.exceptions.Exit(1)
