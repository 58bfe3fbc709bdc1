"""`flask campaigns sender …` (create, list, check, connect-webhook, ensure-sandbox, connect-sandbox-bots,
rotate-secrets) and `flask campaigns send-test`.

Secrets never travel as argument values (they would sit in the shell's history and in ``ps``): each
``--…-env`` option names an environment variable that holds the secret, or is ``-`` to read it from
standard input (one line per ``-``, in the order token, app secret, verify token).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

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

# How often connect-sandbox-bots --wait asks a sandbox that is still starting.
SANDBOX_POLL_SECONDS = 0.5


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
    # A bot has no number: its @username stands in that column.
    shown = sender.phone or (f"@{sender.bot_username}" if sender.bot_username else "-")
    return "\t".join([str(sender.id), sender.name, shown, sender.channel, sender.phone_number_id or "-",
                      sender.waba_id or "-", sender.base_url or "-", sender.api_version or "-", sender.tier,
                      str(sender.messages_per_second), sender.quality_rating or "-", checked,
                      sender.check_error_code or "-", secrets or "-"])


@sender_group.command("create")
@click.argument("name")
@click.argument("phone", required=False)
@click.option("--channel", required=True, type=click.Choice([c.value for c in SenderChannel]))
@click.option("--bot-username", default=None, help="A MAX or Telegram bot's username (`sender check` reads it).")
@click.option("--login", default=None, help="An SMS gateway account's login (--channel smsc).")
@click.option("--alpha-name", default=None, help="An SMS sender's approved alpha name, the name its SMS come from.")
@click.option("--phone-number-id", default="", help="The number's id at the provider (the sandbox: its default).")
@click.option("--waba-id", default="", help="The WhatsApp Business Account id (the sandbox: its default).")
@click.option("--base-url", default="", help="The provider's address (default: Graph API, or SANDBOX_URL).")
@click.option("--api-version", default="", help=f"Such as {senders.DEFAULT_API_VERSION} (the default).")
@click.option("--token-env", metavar="VAR",
              help="Environment variable holding the access token (a bot's token), or - for stdin.")
@click.option("--app-secret-env", metavar="VAR",
              help="Environment variable holding the app secret (a bot's webhook secret: made when not given), "
                   "or - for stdin.")
@click.option("--verify-token-env", metavar="VAR",
              help="Environment variable holding the webhook verify token, or - for stdin.")
@click.option("--tier", type=click.Choice(list(TIER_LIMITS)), default=None,
              help="WhatsApp messaging tier (new unique recipients per 24 h; default TIER_250); `sender check` "
                   "reads it. A bot has none.")
@click.option("--mps", "messages_per_second", type=int, default=None,
              help="Throughput, messages per second (default 80; a bot: its platform's 30, at most); "
                   "`sender check` reads a number's.")
def sender_create_command(name: str, phone: str | None, channel: str, bot_username: str | None,
                          login: str | None, alpha_name: str | None, phone_number_id: str, waba_id: str,
                          base_url: str, api_version: str, token_env: str | None,
                          app_secret_env: str | None, verify_token_env: str | None, tier: str | None,
                          messages_per_second: int | None) -> None:
    """Add the sender NAME with the number PHONE, the MAX or Telegram bot NAME (no PHONE: --channel max or
    telegram, the bot's token in --token-env), or the SMS account NAME (--channel smsc, --login, --alpha-name, the
    password in --token-env)."""
    secrets = {"access_token": _secret("--token-env", token_env),
               "app_secret": _secret("--app-secret-env", app_secret_env),
               "verify_token": _secret("--verify-token-env", verify_token_env)}
    values = {"name": name, "phone": phone, "channel": channel, "bot_username": bot_username, "login": login,
              "alpha_name": alpha_name,
              "phone_number_id": phone_number_id, "waba_id": waba_id, "base_url": base_url,
              "api_version": api_version, "tier": tier, "messages_per_second": messages_per_second, **secrets}
    # What was not given is left to the service's defaults (and a bot is refused only what it was given).
    sender = senders.add_sender({key: value for key, value in values.items() if value not in (None, "")}
                                | {"name": name, "channel": channel})
    db.session.commit()
    if senders.is_sms(sender):
        click.echo(f"Created the SMS sender “{sender.name}” (id {sender.id}, {sender.alpha_name}, "
                   f"{sender.messages_per_second} msg/s); `flask campaigns sender connect-webhook {sender.name}` "
                   f"says where its delivery reports go.")
        return
    if senders.is_bot(sender):
        click.echo(f"Created the bot “{sender.name}” (id {sender.id}, {sender.channel}, "
                   f"{sender.messages_per_second} msg/s); `flask campaigns sender check {sender.name}` reads its "
                   f"username, `flask campaigns sender connect-webhook {sender.name}` subscribes its webhook.")
        return
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
    if senders.is_bot(sender):
        click.echo(f"“{sender.name}”: the bot @{sender.bot_username} ({sender.verified_name or '-'}), "
                   f"{sender.messages_per_second} msg/s.")
        return
    click.echo(f"“{sender.name}”: quality {sender.quality_rating}, tier {sender.tier}, "
               f"{sender.messages_per_second} msg/s.")


@sender_group.command("connect-webhook")
@click.argument("name")
def connect_webhook_command(name: str) -> None:
    """Ask the platform of the MAX or Telegram bot NAME to post its updates to Vestnik's webhook receiver
    (WEBHOOK_RECEIVER_URL/webhooks/<channel>/<id>), or point the sandbox's SMSC account of the SMS sender NAME at
    /webhooks/sms/<id>?secret=… (SMSC.ru's is set in its account: the refusal says the URL); exit status 1 when it
    refuses."""
    result = senders.connect_webhook(_sender(name))
    db.session.commit()
    if not result.connected:
        raise click.ClickException(f"The webhook of “{name}” could not be connected ({result.code}): "
                                   f"{result.sentence}")
    click.echo(f"“{name}”: the platform posts its updates to {result.url.split('?', 1)[0]}.")


@sender_group.command("ensure-sandbox")
def ensure_sandbox_command() -> None:
    """Embedded mode: make sure the sandbox sender and the sandbox MAX and Telegram bots exist (`make run` calls
    this; it changes nothing twice), and point their callbacks at the webhook receiver.

    In production it does nothing (and says so), so that `make run` against real services still starts.
    """
    if current_app.config["VESTNIK_ENV"] == "production":
        click.echo("Production mode: no sandbox sender is created; add real senders with "
                   "`flask campaigns sender create`.")
        return
    sender, created = senders.ensure_sandbox_sender()
    bots = senders.ensure_sandbox_bots()
    sms, sms_created = senders.ensure_sandbox_sms()
    db.session.commit()
    click.echo(f"{'Created' if created else 'There is'} the sandbox sender “{sender.name}” ({sender.phone}, "
               f"{sender.base_url}).")
    for bot, made in bots:
        click.echo(f"{'Created' if made else 'There is'} the sandbox bot “{bot.name}” ({bot.channel}, "
                   f"@{bot.bot_username}, {bot.base_url}).")
    click.echo(f"{'Created' if sms_created else 'There is'} the sandbox SMS sender “{sms.name}” ({sms.alpha_name}, "
               f"{sms.base_url}).")
    # Every run, not only the first: the receiver's URL or the sender's secret may have changed since.
    click.echo(f"The sandbox posts its callbacks to {sandbox_callbacks.point(sender)}.")
    click.echo(f"The sandbox posts its SMS statuses to {sandbox_callbacks.point_sms(sms)}.")


@sender_group.command("connect-sandbox-bots")
@click.option("--wait", "wait_seconds", type=float, default=0.0, show_default=True,
              help="Seconds to wait for the sandbox to start answering (make run starts it beside this).")
def connect_sandbox_bots_command(wait_seconds: float) -> None:
    """Subscribe every bot on the sandbox provider (base URL SANDBOX_URL) to the webhook receiver, and point its SMS
    accounts' delivery reports there, as `make run` does once the sandbox answers (ensure-sandbox runs before the
    sandbox does); exit status 1 if the sandbox never answered or refused one."""
    bots = senders.sandbox_bots() + senders.sandbox_senders(senders.SMS_CHANNELS)
    if not bots:
        click.echo("There is no bot on the sandbox; `flask campaigns sender ensure-sandbox` adds its two.")
        return
    deadline = time.monotonic() + wait_seconds
    while not _answers(current_app.config["SANDBOX_URL"]) and time.monotonic() < deadline:
        time.sleep(SANDBOX_POLL_SECONDS)  # the sandbox process is still starting
    failed = 0
    for bot in bots:
        result = senders.connect_webhook(bot)
        db.session.commit()
        if result.connected:
            # Without the query: an SMS account's URL carries its secret, which has no place in a console's log.
            click.echo(f"The sandbox posts the updates of “{bot.name}” to {result.url.split('?', 1)[0]}.")
        else:
            failed += 1
            click.echo(f"Not connected: “{bot.name}” ({result.code}): {result.sentence}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


def _answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url`` (any status: the process is up)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_sandbox/config", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


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
