"""Senders: the numbers and bots campaigns go out from, how their provider is reached, and checking it.

A WhatsApp sender has a channel (the local sandbox or the WhatsApp Cloud API), the provider's ids of its
number and business account, the base URL and API version to call, and secrets (access token, app
secret, webhook verify token) encrypted at rest (``campaigns.sender_secrets``) and never shown again.
``check_connection`` reads the number's quality, messaging tier and throughput from the provider and
stores them: the tier feeds the tier rule, the throughput caps a campaign's rate. A failed check is
stored as the channel's code and worded when shown. Functions add and flush; the caller commits.

A bot (channel ``max`` or ``telegram``) has no number, business account or tier: a name, its username
(deep links), the base URL (the platform's, or the sandbox's), its token (``access_token``) and the
webhook secret we generate (``app_secret``: the platform echoes it on every update), and a rate no higher
than the platform allows. ``check_connection`` reads its username and name; ``connect_webhook`` asks the
platform to post its updates to ``<WEBHOOK_RECEIVER_URL>/webhooks/<channel>/<sender id>``.

An SMS sender (channel ``smsc``) is a gateway account: a name, the account's login and password
(``access_token``), the approved alpha name its messages come from (at most 11 Latin letters and digits, as
operators register them), the base URL (SMSC's, or the sandbox's) and a rate. The gateway signs no callback,
so its status URL carries the sender's webhook secret: ``/webhooks/sms/<sender id>?secret=<app_secret>``, set in
the gateway's account (``webhook_url``). ``check_connection`` reads the account's balance.
"""

from __future__ import annotations

import json
import logging
import re
import secrets as secret_numbers
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from campaigns import sender_secrets
from campaigns.models import Sender, SenderChannel
from campaigns.provider_calls import call_provider
from channels import max as max_channel
from channels import telegram as telegram_channel
from channels.base import ChannelError, SenderSettings
from channels.errors import call_sentence_for
from channels.sandbox import defaults as sandbox_defaults
from channels.sms import gateway as sms_gateway
from channels.sms import smsc as smsc_channel
from compliance import audit
from compliance.numbers import InvalidNumberError, to_e164
from compliance.sending import TIER_LIMITS
from dbtypes import utcnow
from domain_errors import DomainError, FieldErrors
from extensions import db

log = logging.getLogger(__name__)

CHANNEL_LABELS = {SenderChannel.SANDBOX: _l("Sandbox (local test provider)"),
                  SenderChannel.WHATSAPP_CLOUD: _l("WhatsApp Cloud API"),
                  SenderChannel.MAX: _l("MAX bot"), SenderChannel.TELEGRAM: _l("Telegram bot"),
                  SenderChannel.SMSC: _l("SMS (SMSC.ru)")}
QUALITY_LABELS = {"GREEN": _l("High (green)"), "YELLOW": _l("Medium (yellow)"), "RED": _l("Low (red)"),
                  "UNKNOWN": _l("Not rated yet")}
DEFAULT_API_VERSION = "v23.0"
CLOUD_BASE_URL = "https://graph.facebook.com"
# The embedded default's sender, on the sandbox provider's own number and account (channels.sandbox.defaults).
SANDBOX_NAME = "Sandbox"
SANDBOX_MAX_NAME = "Sandbox MAX bot"
SANDBOX_TELEGRAM_NAME = "Sandbox Telegram bot"
SANDBOX_SMS_NAME = "Sandbox SMS"
SECRETS = ("access_token", "app_secret", "verify_token")
FIELDS = ("name", "phone", "channel", "phone_number_id", "waba_id", "base_url", "api_version", "tier",
          "messages_per_second", "bot_username", "login", "alpha_name", *SECRETS)
# Bots: what the platform is reached at by default, and the most messages a second it takes from one bot (each
# channel's Capabilities.messages_per_second).
BOT_CHANNELS = (SenderChannel.MAX.value, SenderChannel.TELEGRAM.value)
BOT_BASE_URLS = {SenderChannel.MAX.value: max_channel.BASE_URL, SenderChannel.TELEGRAM.value: telegram_channel.BASE_URL}
BOT_RATES = {SenderChannel.MAX.value: max_channel.MaxBot.capabilities.messages_per_second,
             SenderChannel.TELEGRAM.value: telegram_channel.TelegramBot.capabilities.messages_per_second}
# What a bot is given; the WhatsApp settings (number, its ids, API version, tier, verify token) it has none of.
BOT_FIELDS = ("name", "channel", "bot_username", "base_url", "messages_per_second", "access_token", "app_secret")
# SMS gateways: what the gateway is reached at by default, and a sender's default and highest rate.
SMS_CHANNELS = (SenderChannel.SMSC.value,)
SMS_BASE_URLS = {SenderChannel.SMSC.value: smsc_channel.BASE_URL}
SMS_DEFAULT_RATE = smsc_channel.SmscGateway.capabilities.messages_per_second
SMS_MAX_RATE = 200
# Seconds to wait for the sandbox's control API (it answers at once or is not running).
SANDBOX_CONTROL_TIMEOUT = 2.0
_LOGIN = re.compile(r"^[^\s]{1,64}$")
WHATSAPP_ONLY = ("phone", "phone_number_id", "waba_id", "api_version", "tier", "verify_token")
_WHATSAPP_ONLY_LABELS = {"phone": _l("Display number"), "phone_number_id": _l("Phone number ID"),
                         "waba_id": _l("WhatsApp Business Account ID"), "api_version": _l("API version"),
                         "tier": _l("Messaging tier"), "verify_token": _l("Webhook verify token")}
MAX_SECRET = 4000
_PROVIDER_ID = re.compile(r"^[0-9]{1,64}$")
_API_VERSION = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,2}$")
_BASE_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
# Telegram: 5 to 32 characters ending in "bot" (@BotFather's rule); MAX: the name in max.ru/<name>.
_BOT_USERNAMES = {SenderChannel.TELEGRAM.value: re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]$"),
                  SenderChannel.MAX.value: re.compile(r"^[A-Za-z0-9_]{3,64}$")}
# What both MAX (``secret`` of POST /subscriptions) and Telegram (``secret_token`` of setWebhook) accept.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{5,256}$")


class SenderError(DomainError):
    """A sender cannot be saved or checked as asked; ``errors`` are sentences for the admin."""


# --- reading -----------------------------------------------------------------------------------------------

def list_senders() -> list[Sender]:
    """Every sender, by name."""
    return list(db.session.scalars(select(Sender).order_by(Sender.name, Sender.id)))


def find_sender(name_or_id: str | int) -> Sender | None:
    """The sender with this id, name or phone."""
    if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
        return db.session.get(Sender, name_or_id)
    if not isinstance(name_or_id, str):
        return None
    text = name_or_id.strip()
    found = db.session.scalar(select(Sender).where((Sender.name == text) | (Sender.phone == text)))
    return found or (
        db.session.get(Sender, int(text)) if text.isascii() and text.isdigit() and len(text) < 18 else None
    )


def is_bot(sender_or_channel: Sender | str) -> bool:
    """Whether the sender (or a channel's name) is a MAX or Telegram bot rather than a WhatsApp number."""
    channel = sender_or_channel if isinstance(sender_or_channel, str) else sender_or_channel.channel
    return channel in BOT_CHANNELS


def is_sms(sender_or_channel: Sender | str) -> bool:
    """Whether the sender (or a channel's name) is an SMS gateway account."""
    channel = sender_or_channel if isinstance(sender_or_channel, str) else sender_or_channel.channel
    return channel in SMS_CHANNELS


def display_name(sender: Sender) -> str:
    """How a sender is named in lists and choices: its name and number, or its name and @username for a bot."""
    if sender.phone:
        return f"{sender.name} ({sender.phone})"
    if is_sms(sender):
        return f"{sender.name} (SMS: {sender.alpha_name})" if sender.alpha_name else sender.name
    return f"{sender.name} (@{sender.bot_username})" if sender.bot_username else sender.name


def account_of(sender: Sender) -> tuple[str, str]:
    """The business account the sender belongs to: its WABA id at its provider's base URL."""
    return sender.waba_id, sender.base_url


def settings_for(sender: Sender) -> SenderSettings:
    """How the channel reaches the sender's provider, secrets decrypted (in memory only)."""
    token = sender_secrets.decrypt(sender.access_token_encrypted, sender.name)
    app_secret = sender_secrets.decrypt(sender.app_secret_encrypted, sender.name)
    if sender.channel == SenderChannel.SANDBOX.value:
        # A sandbox sender saved before secrets existed talks to the sandbox with its public defaults.
        token, app_secret = token or sandbox_defaults.TOKEN, app_secret or sandbox_defaults.APP_SECRET
    return SenderSettings(
        channel=sender.channel, base_url=sender.base_url, api_version=sender.api_version,
        phone_number_id=sender.phone_number_id, account_id=sender.waba_id, access_token=token,
        app_secret=app_secret, verify_token=sender_secrets.decrypt(sender.verify_token_encrypted, sender.name),
        display_phone=sender.phone or "", bot_username=sender.bot_username, login=sender.login or "",
        alpha_name=sender.alpha_name or "",
    )


def check_error_sentence(sender: Sender) -> str | None:
    """Why the last connection check failed, in the reader's language (None when it did not fail)."""
    if not sender.check_error_code:
        return None
    return str(call_sentence_for(sender.channel, sender.check_error_code))


# --- writing -----------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _checked(values: dict[str, Any], sender: Sender | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The sender's columns and its new secrets from ``values`` (only the given ones when editing);
    ``SenderError`` lists every mistake, each naming its field."""
    errors = FieldErrors()
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        errors.append(_("Unknown sender field: %(names)s.", names=", ".join(map(str, unknown))))
    creating = sender is None

    def given(key: str) -> bool:
        return creating or key in values

    clean: dict[str, Any] = {}
    if given("name"):
        errors.field = "name"
        name = _text(values.get("name"))
        if not name or len(name) > 120:
            errors.append(_("Give the sender a name of at most 120 characters."))
        clean["name"] = name
    raw_channel = values.get("channel") if given("channel") else sender.channel
    channel = _text(raw_channel) or SenderChannel.SANDBOX.value
    errors.field = "channel"
    if channel not in {item.value for item in SenderChannel} or not isinstance(raw_channel, str | None):
        errors.append(_("Channel: choose the sandbox, the WhatsApp Cloud API, a MAX bot or a Telegram bot."))
    elif sender is not None and channel != sender.channel and (is_bot(channel) or is_bot(sender) or is_sms(channel)
                                                               or is_sms(sender)):
        # A bot's token, username and addresses belong to its platform: another channel is another sender.
        errors.append(_("Channel: a bot cannot move to another channel, nor a number become a bot; add a new "
                        "sender instead."))
    clean["channel"] = channel
    checker = _checked_bot if is_bot(channel) else _checked_sms if is_sms(channel) else _checked_number
    secrets = checker(values, sender, channel, clean, errors)
    errors.field = None
    if not errors:
        _check_clashes(clean, sender, errors)
    if errors:
        raise SenderError(errors=errors)
    return clean, secrets


def _checked_secrets(values: Mapping[str, Any], errors: FieldErrors) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for key in SECRETS:
        errors.field = key
        raw = values.get(key)
        if raw is not None and not isinstance(raw, str):
            errors.append(_("Secrets must be given as text."))
            continue
        raw = (raw or "").strip()
        if len(raw) > MAX_SECRET or any(char.isspace() for char in raw):
            errors.append(_("A token or secret is one line of at most 4,000 characters without spaces."))
        elif raw:
            secrets[key] = raw
    return secrets


def _checked_setting(values: Mapping[str, Any], key: str, rule: re.Pattern, sentence: Any, default: str,
                     errors: FieldErrors) -> str:
    errors.field = key
    raw = values.get(key)
    if raw is not None and not isinstance(raw, str):
        # A number or a list is not an address left blank: refused, not replaced with the default.
        errors.append(sentence)
        return ""
    value = _text(raw) or default
    value = value.rstrip("/") if key == "base_url" else value
    if not value or len(value) > 500 or not rule.match(value):
        errors.append(sentence)
    return value


def _checked_number(values: Mapping[str, Any], sender: Sender | None, channel: str, clean: dict[str, Any],
                    errors: FieldErrors) -> dict[str, str]:
    """A WhatsApp number's columns into ``clean``; its secrets returned."""
    creating = sender is None

    def given(key: str) -> bool:
        return creating or key in values

    if given("phone"):
        errors.field = "phone"
        try:
            clean["phone"] = to_e164(_text(values.get("phone")), "RU")
        except InvalidNumberError:
            errors.append(_("The sender's phone is not a valid number; write it with the country code, "
                            "such as +7 495 123-45-67."))
    errors.field = "bot_username"
    if _text(values.get("bot_username")):
        errors.append(_("Bot username: only a MAX or Telegram bot has one; leave it empty for a WhatsApp number."))
    _refuse_sms_fields(values, errors)
    sandbox = channel == SenderChannel.SANDBOX.value
    # A sandbox sender needs nothing but a name and a phone: the sandbox's defaults fill the rest.
    defaults = {"phone_number_id": sandbox_defaults.PHONE_NUMBER_ID, "waba_id": sandbox_defaults.WABA_ID,
                "base_url": current_app.config["SANDBOX_URL"], "api_version": DEFAULT_API_VERSION} if sandbox else {
                "base_url": CLOUD_BASE_URL, "api_version": DEFAULT_API_VERSION}
    for key, rule, sentence in (
        ("phone_number_id", _PROVIDER_ID, _("Phone number ID: the digits of the number's id at the provider "
                                             "(WhatsApp Manager → API setup).")),
        ("waba_id", _PROVIDER_ID, _("WhatsApp Business Account ID: the digits of the account's id at the provider.")),
        ("base_url", _BASE_URL, _("Base URL: an address starting with http:// or https://, such as "
                                  "https://graph.facebook.com.")),
        ("api_version", _API_VERSION, _("API version: write it as v followed by numbers, such as v23.0.")),
    ):
        if given(key):
            clean[key] = _checked_setting(values, key, rule, sentence, defaults.get(key, ""), errors)
    if given("tier"):
        errors.field = "tier"
        tier = values.get("tier") or "TIER_250"
        if not isinstance(tier, str) or tier not in TIER_LIMITS:
            errors.append(_("The messaging tier must be one of %(tiers)s.", tiers=", ".join(TIER_LIMITS)))
        clean["tier"] = tier
    if given("messages_per_second"):
        errors.field = "messages_per_second"
        rate = values.get("messages_per_second", 80)
        rate = 80 if rate is None else rate
        if not _positive_int(rate) or rate > 1000:
            errors.append(_("The sender's throughput must be a whole number of messages per second from 1 to 1,000."))
        clean["messages_per_second"] = rate
    secrets = _checked_secrets(values, errors)
    if sandbox and creating:
        secrets.setdefault("access_token", sandbox_defaults.TOKEN)
        secrets.setdefault("app_secret", sandbox_defaults.APP_SECRET)
    errors.field = "access_token"
    has_token = "access_token" in secrets or (sender is not None and sender.access_token_encrypted)
    if not sandbox and not has_token:
        errors.append(_("Access token: the WhatsApp Cloud API needs the system user's access token."))
    return secrets


def _checked_bot(values: Mapping[str, Any], sender: Sender | None, channel: str, clean: dict[str, Any],
                 errors: FieldErrors) -> dict[str, str]:
    """A bot's columns into ``clean`` (refusing every WhatsApp setting given); its secrets returned."""
    creating = sender is None
    platform = str(CHANNEL_LABELS[SenderChannel(channel)])
    for key in WHATSAPP_ONLY:
        raw = values.get(key)
        if raw is not None and raw != "":
            errors.field = key
            errors.append(_("%(setting)s: a bot has no WhatsApp number, business account, messaging tier or "
                            "template approvals; leave it empty.", setting=_WHATSAPP_ONLY_LABELS[key]))
    _refuse_sms_fields(values, errors)
    if creating:
        clean["phone"] = None
    if creating or "bot_username" in values:
        errors.field = "bot_username"
        raw = values.get("bot_username")
        username = _text(raw).removeprefix("@")
        sentence = (_("Bot username: 5 to 32 Latin letters, digits and underscores ending in “bot”, as @BotFather "
                      "gave it (such as shop_bot); empty: “Check connection” reads it.")
                    if channel == SenderChannel.TELEGRAM.value else
                    _("Bot username: 3 to 64 Latin letters, digits and underscores, as in the bot's link "
                      "max.ru/<username>; empty: “Check connection” reads it."))
        if (raw is not None and not isinstance(raw, str)) or (username and not _BOT_USERNAMES[channel].match(username)):
            errors.append(sentence)
        clean["bot_username"] = username
    if creating or "base_url" in values:
        clean["base_url"] = _checked_setting(
            values, "base_url", _BASE_URL,
            _("Base URL: an address starting with http:// or https://, such as %(url)s.", url=BOT_BASE_URLS[channel]),
            BOT_BASE_URLS[channel], errors)
    ceiling = BOT_RATES[channel]
    if creating or "messages_per_second" in values:
        errors.field = "messages_per_second"
        rate = values.get("messages_per_second")
        rate = ceiling if rate is None else rate
        if not _positive_int(rate) or rate > ceiling:
            errors.append(_("A %(platform)s sends at most %(limit)s messages per second: give a whole number from 1 "
                            "to %(limit)s.", platform=platform, limit=ceiling))
        clean["messages_per_second"] = rate
    if creating:
        # Neither platform tracks a tier; the column keeps its default and no rule reads it for a bot.
        clean["tier"] = "TIER_250"
    secrets = _checked_webhook_secret(values, errors, creating, _l(
        "Webhook secret: 5 to 256 Latin letters, digits, dashes and underscores (MAX and Telegram take no other); "
        "empty: Vestnik makes one."))
    errors.field = "access_token"
    has_token = "access_token" in secrets or (sender is not None and sender.access_token_encrypted)
    if not has_token:
        errors.append(_("Bot token: a MAX bot needs the token from business.max.ru (Chat bots → Integration).")
                      if channel == SenderChannel.MAX.value else
                      _("Bot token: a Telegram bot needs the token @BotFather gave for it."))
    return secrets


def _checked_webhook_secret(values: Mapping[str, Any], errors: FieldErrors, creating: bool, refusal: Any
                            ) -> dict[str, str]:
    """The secrets given (``_checked_secrets``), the webhook secret checked against what the platforms accept
    (``refusal`` when it is not) and made for a new sender that was given none."""
    secrets = _checked_secrets(values, errors)
    errors.field = "app_secret"
    if "app_secret" in secrets and not _WEBHOOK_SECRET.match(secrets["app_secret"]):
        errors.append(refusal)
    if creating:
        secrets.setdefault("app_secret", new_webhook_secret())
    return secrets


def _refuse_sms_fields(values: Mapping[str, Any], errors: FieldErrors) -> None:
    for key in ("login", "alpha_name"):
        if _text(values.get(key)):
            errors.field = key
            errors.append(_("Login and sender name: only an SMS sender has them; leave them empty."))


def _checked_sms(values: Mapping[str, Any], sender: Sender | None, channel: str, clean: dict[str, Any],
                 errors: FieldErrors) -> dict[str, str]:
    """An SMS gateway account's columns into ``clean`` (refusing every WhatsApp and bot setting given); its
    secrets returned."""
    creating = sender is None
    for key in (*WHATSAPP_ONLY, "bot_username"):
        raw = values.get(key)
        if raw is not None and raw != "":
            errors.field = key
            errors.append(_("%(setting)s: an SMS sender has no WhatsApp number, business account, messaging tier or "
                            "bot; leave it empty.", setting=_WHATSAPP_ONLY_LABELS.get(key, _("Bot username"))))
    if creating:
        clean["phone"], clean["tier"], clean["bot_username"] = None, "TIER_250", ""
    if creating or "login" in values:
        errors.field = "login"
        raw = values.get("login")
        login = _text(raw)
        if not isinstance(raw, str) or not _LOGIN.match(login):
            errors.append(_("Login: the gateway account's login, one word of at most 64 characters."))
        clean["login"] = login
    if creating or "alpha_name" in values:
        errors.field = "alpha_name"
        raw = values.get("alpha_name")
        name = _text(raw)
        if not isinstance(raw, str) or not sms_gateway.is_alpha_name(name):
            errors.append(_("Sender name: the alpha name approved for the account, at most 11 Latin letters, digits, "
                            "spaces, dots, dashes or underscores with at least one letter (such as Shop24)."))
        clean["alpha_name"] = name
    if creating or "base_url" in values:
        clean["base_url"] = _checked_setting(
            values, "base_url", _BASE_URL,
            _("Base URL: an address starting with http:// or https://, such as %(url)s.", url=SMS_BASE_URLS[channel]),
            SMS_BASE_URLS[channel], errors)
    if creating or "messages_per_second" in values:
        errors.field = "messages_per_second"
        rate = values.get("messages_per_second")
        rate = SMS_DEFAULT_RATE if rate is None else rate
        if not _positive_int(rate) or rate > SMS_MAX_RATE:
            errors.append(_("An SMS sender's rate is a whole number of messages per second from 1 to %(limit)s.",
                            limit=SMS_MAX_RATE))
        clean["messages_per_second"] = rate
    secrets = _checked_webhook_secret(values, errors, creating, _l(
        "Webhook secret: 5 to 256 Latin letters, digits, dashes and underscores; empty: Vestnik makes one."))
    errors.field = "access_token"
    if "access_token" not in secrets and not (sender is not None and sender.access_token_encrypted):
        errors.append(_("Password: the gateway account's password (or its API password)."))
    return secrets


def _check_clashes(clean: Mapping[str, Any], sender: Sender | None, errors: FieldErrors) -> None:
    others = select(Sender.id).where(Sender.id != sender.id) if sender is not None else select(Sender.id)
    # A bot has no phone (None): only a given name or number can clash.
    taken = [Sender.name == clean["name"]] if clean.get("name") else []
    taken += [Sender.phone == clean["phone"]] if clean.get("phone") else []
    if taken and db.session.scalar(others.where(or_(*taken)).limit(1)):
        errors.append(_("A sender with this name or phone already exists."))
    username, channel = clean.get("bot_username"), clean.get("channel")
    same_bot = others.where(Sender.channel == channel, Sender.bot_username == username)
    if username and db.session.scalar(same_bot.limit(1)):
        errors.field = "bot_username"
        errors.append(_("Bot username: another sender is already this bot; one bot is one sender."))
        errors.field = None


def new_webhook_secret() -> str:
    """A fresh webhook secret for a bot: 43 URL-safe characters, which both MAX and Telegram accept."""
    return secret_numbers.token_urlsafe(32)


def _store_secrets(sender: Sender, secrets: Mapping[str, str]) -> None:
    for key, value in secrets.items():
        setattr(sender, f"{key}_encrypted", sender_secrets.encrypt(value))
        setattr(sender, f"{key}_last4", sender_secrets.last_four(value))


def _flush() -> None:
    try:
        db.session.flush()
    except IntegrityError:
        raise SenderError([_("A sender with this name or phone already exists.")], status=409) from None


def _audited(clean: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    # Which secrets changed, never their values nor any part of them.
    return {**clean, **({"secrets_changed": sorted(secrets)} if secrets else {})}


def create_sender(name: str, phone: str, *, actor: Any = None, **fields: Any) -> Sender:
    """Add a sender; ``fields`` are the other ``FIELDS`` (a sandbox sender needs none of them).

    ``SenderError`` says what is wrong, each sentence naming its field.
    """
    return add_sender({"name": name, "phone": phone, **fields}, actor=actor)


def add_sender(values: Mapping[str, Any], actor: Any = None) -> Sender:
    """Add the sender ``values`` describe (``FIELDS``; any other key is refused by name), as ``create_sender``."""
    if not isinstance(values, Mapping):
        raise SenderError([_("The sender must be given as a set of named fields.")])
    clean, secrets = _checked(dict(values), None)
    sender = Sender(**clean)
    _store_secrets(sender, secrets)
    db.session.add(sender)
    _flush()
    audit.record("sender.created", actor=actor, target=sender, details=_audited(clean, secrets))
    return sender


def update_sender(sender: Sender, changes: Mapping[str, Any], actor: Any = None) -> Sender:
    """Change what ``changes`` gives; a secret given empty (or None) is kept as it is."""
    if not isinstance(changes, Mapping):
        raise SenderError([_("The sender must be given as a set of named fields.")])
    clean, secrets = _checked(dict(changes), sender)
    changed = {key: value for key, value in clean.items() if getattr(sender, key) != value}
    if not changed and not secrets:
        return sender
    for key, value in changed.items():
        setattr(sender, key, value)
    _store_secrets(sender, secrets)
    sender.updated_at = utcnow()
    _flush()
    audit.record("sender.updated", actor=actor, target=sender, details=_audited(changed, secrets))
    return sender


def check_connection(sender: Sender, actor: Any = None) -> Sender:
    """Read the number's quality rating, messaging tier and throughput from the provider and store them.

    A provider's refusal or a network failure is stored as the channel's code (worded by
    ``check_error_sentence``), not raised: the check itself worked and the admin reads why.
    """
    try:
        info = call_provider(settings_for(sender), lambda channel: channel.number_info())
    except ChannelError as error:
        code = error.code or "unknown"
    else:
        code = None
    sender.checked_at = utcnow()
    if code is not None:
        sender.check_error_code, sender.check_error_params = code, {}
        log.info("event=sender_check_failed sender=%s code=%s", sender.id, code)
        details = {"ok": False, "code": code}
    elif is_sms(sender):
        # A gateway account has no quality or tier: its balance proves the login; the rate stays the admin's.
        sender.check_error_code = sender.check_error_params = None
        sender.verified_name = (info.verified_name or "")[:200]
        details = {"ok": True, "balance": sender.verified_name}
    elif is_bot(sender):
        # A bot has no quality or tier: its username (deep links) and name; the rate stays the admin's, capped
        # at what the platform says it takes.
        sender.check_error_code = sender.check_error_params = None
        sender.bot_username = (info.display_phone_number or "").removeprefix("@")[:64] or sender.bot_username
        sender.verified_name = (info.verified_name or "")[:200]
        if _positive_int(info.messages_per_second):
            sender.messages_per_second = min(sender.messages_per_second, info.messages_per_second)
        details = {"ok": True, "bot_username": sender.bot_username, "name": sender.verified_name,
                   "messages_per_second": sender.messages_per_second}
    else:
        sender.check_error_code = sender.check_error_params = None
        sender.quality_rating, sender.provider_tier = info.quality, info.tier
        sender.verified_name = (info.verified_name or "")[:200]
        if info.tier in TIER_LIMITS:
            sender.tier = info.tier
        if _positive_int(info.messages_per_second):
            sender.messages_per_second = min(info.messages_per_second, 1000)
        details = {"ok": True, "quality": info.quality, "tier": sender.tier, "provider_tier": info.tier,
                   "messages_per_second": sender.messages_per_second}
    db.session.flush()
    audit.record("sender.checked", actor=actor, target=sender, details=details)
    return sender


@dataclass(frozen=True)
class WebhookConnection:
    """What ``connect_webhook`` did: the URL asked for, and why the platform refused it (None: connected)."""

    url: str
    code: str | None = None
    sentence: Any = None

    @property
    def connected(self) -> bool:
        return self.code is None


def webhook_url(sender: Sender) -> str:
    """Where the bot's platform posts its updates: the receiver's address (``WEBHOOK_RECEIVER_URL``, as for the
    sandbox's WhatsApp callbacks) with ``/webhooks/<channel>/<sender id>``; an SMS gateway posts its statuses to
    ``/webhooks/sms/<sender id>?secret=<the sender's webhook secret>`` (it signs nothing)."""
    if is_sms(sender):
        secret = sender_secrets.decrypt(sender.app_secret_encrypted, sender.name)
        return (f"{current_app.config['WEBHOOK_RECEIVER_URL'].rstrip('/')}/webhooks/sms/{sender.id}"
                f"?{sms_gateway.SECRET_PARAMETER}={secret}")
    return f"{current_app.config['WEBHOOK_RECEIVER_URL'].rstrip('/')}/webhooks/{sender.channel}/{sender.id}"


def connect_webhook(sender: Sender, actor: Any = None) -> WebhookConnection:
    """Ask the bot's platform to post its updates to ``webhook_url(sender)`` with the bot's webhook secret (MAX
    ``POST /subscriptions``, Telegram ``setWebhook``); audited either way.

    An SMS sender's gateway account gets ``webhook_url(sender)`` as its status URL: the sandbox's through its control
    API, SMSC.ru's in its account's settings by the admin (SMSC has no call for it; the sentence says where, and
    the URL to give it).

    A platform's refusal or a network failure is returned worded, not raised (the attempt is recorded); a sender
    that is no bot or SMS gateway, or a real platform asked to post to an address it cannot reach, is a
    ``SenderError``.
    """
    if is_sms(sender):
        return _connect_sms_callbacks(sender, actor)
    if not is_bot(sender):
        raise SenderError([_("Only a MAX or Telegram bot's webhook is connected from Vestnik; a WhatsApp number's "
                             "callback URL is set in the Meta app's dashboard.")], status=409)
    settings = settings_for(sender)
    if not settings.app_secret:
        # A bot saved without one (by a script that cleared it): subscribe with a fresh secret, kept from now on.
        _store_secrets(sender, {"app_secret": new_webhook_secret()})
        settings = settings_for(sender)
    url = webhook_url(sender)
    if sender.base_url == BOT_BASE_URLS[sender.channel] and not url.startswith("https://"):
        raise SenderError([_("%(platform)s posts updates only to an https:// address it can reach; set "
                             "WEBHOOK_RECEIVER_URL to the webhook receiver's public address (now %(url)s).",
                             platform=str(CHANNEL_LABELS[SenderChannel(sender.channel)]), url=url)], status=409)
    try:
        call_provider(settings, lambda channel: channel.subscribe_webhook(url, settings.app_secret))
    except ChannelError as error:
        result = WebhookConnection(url, error.code or "unknown", error.sentence)
        log.info("event=sender_webhook_failed sender=%s code=%s", sender.id, result.code)
    else:
        result = WebhookConnection(url)
        log.info("event=sender_webhook_connected sender=%s url=%s", sender.id, url)
    db.session.flush()
    audit.record("sender.webhook_connected", actor=actor, target=sender,
                 details={"ok": result.connected, "url": url, **({"code": result.code} if result.code else {})})
    return result


def point_sandbox_sms(sender: Sender) -> None:
    """Have the sandbox's SMSC account of ``sender`` (at its ``base_url``) post its statuses to
    ``webhook_url(sender)``; raises ``OSError`` when the sandbox cannot be reached or refuses."""
    settings = settings_for(sender)
    fields = {"login": settings.login, "password": settings.access_token, "callback_url": webhook_url(sender)}
    request = urllib.request.Request(f"{sender.base_url.rstrip('/')}/_sandbox/sms/accounts",
                                     data=json.dumps(fields).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=SANDBOX_CONTROL_TIMEOUT):
        pass


def _connect_sms_callbacks(sender: Sender, actor: Any) -> WebhookConnection:
    """``connect_webhook`` of an SMS sender (see there); audited with the URL without its secret."""
    url = webhook_url(sender)
    shown = url.split("?", 1)[0]
    if sender.base_url.rstrip("/") == current_app.config["SANDBOX_URL"].rstrip("/"):
        try:
            point_sandbox_sms(sender)
        except OSError as error:
            log.info("event=sender_webhook_failed sender=%s code=connection detail=%r", sender.id, str(error))
            result = WebhookConnection(url, "connection", call_sentence_for(sender.channel, "connection"))
        else:
            log.info("event=sender_webhook_connected sender=%s url=%s", sender.id, shown)
            result = WebhookConnection(url)
    else:
        result = WebhookConnection(url, "webhook_not_by_api", _l(
            "SMSC.ru takes the status URL in its account, not through its API: in the personal account's settings "
            "set the address for statuses (HTTP POST) to %(url)s", url=url))
    audit.record("sender.webhook_connected", actor=actor, target=sender,
                 details={"ok": result.connected, "url": shown, **({"code": result.code} if result.code else {})})
    return result


def ensure_sandbox_sender(actor: Any = None) -> tuple[Sender, bool]:
    """The embedded default's sandbox sender, created if missing; ``(sender, created)``.

    Idempotent: a sender already named “Sandbox” (or holding its number) is left as it is.
    """
    existing = db.session.scalar(
        select(Sender).where((Sender.name == SANDBOX_NAME) | (Sender.phone == sandbox_defaults.PHONE)))
    if existing is not None:
        return existing, False
    return create_sender(SANDBOX_NAME, sandbox_defaults.PHONE, channel=SenderChannel.SANDBOX.value, tier="TIER_1K",
                         actor=actor), True


def _sandbox_bots() -> dict[str, dict[str, str]]:
    """The embedded default's bots on the sandbox provider: its public token, username and webhook secret for
    each (channels.sandbox.defaults), by sender name."""
    return {
        SANDBOX_MAX_NAME: {"channel": SenderChannel.MAX.value, "access_token": sandbox_defaults.MAX_TOKEN,
                           "bot_username": sandbox_defaults.MAX_BOT_USERNAME,
                           "app_secret": sandbox_defaults.MAX_WEBHOOK_SECRET},
        SANDBOX_TELEGRAM_NAME: {"channel": SenderChannel.TELEGRAM.value,
                                "access_token": sandbox_defaults.TELEGRAM_TOKEN,
                                "bot_username": sandbox_defaults.TELEGRAM_USERNAME,
                                "app_secret": sandbox_defaults.TELEGRAM_SECRET},
    }


def ensure_sandbox_bots(actor: Any = None) -> list[tuple[Sender, bool]]:
    """The embedded default's sandbox MAX and Telegram bots, each created if missing; ``[(sender, created)]``.

    Idempotent: a bot already named so, or a sender that is already the sandbox's bot (its username on its
    channel), is left as it is.
    """
    found = []
    for name, values in _sandbox_bots().items():
        existing = db.session.scalar(select(Sender).where(
            (Sender.name == name)
            | ((Sender.channel == values["channel"]) & (Sender.bot_username == values["bot_username"])
               & (Sender.base_url == current_app.config["SANDBOX_URL"]))).limit(1))
        if existing is not None:
            found.append((existing, False))
            continue
        found.append((add_sender({"name": name, "base_url": current_app.config["SANDBOX_URL"], **values},
                                 actor=actor), True))
    return found


def ensure_sandbox_sms(actor: Any = None) -> tuple[Sender, bool]:
    """The embedded default's SMS sender on the sandbox's SMSC account, created if missing; ``(sender, created)``.
    Idempotent: a sender already named so is left as it is."""
    existing = db.session.scalar(select(Sender).where(Sender.name == SANDBOX_SMS_NAME).limit(1))
    if existing is not None:
        return existing, False
    return add_sender({"name": SANDBOX_SMS_NAME, "channel": SenderChannel.SMSC.value,
                       "base_url": current_app.config["SANDBOX_URL"], "login": sandbox_defaults.SMS_LOGIN,
                       "access_token": sandbox_defaults.SMS_PASSWORD, "alpha_name": sandbox_defaults.SMS_ALPHA_NAME},
                      actor=actor), True


def sandbox_bots() -> list[Sender]:
    """The bots on the sandbox provider (their base URL is ``SANDBOX_URL``), by name."""
    return sandbox_senders(BOT_CHANNELS)


def sandbox_senders(channels: tuple[str, ...]) -> list[Sender]:
    """The senders on ``channels`` whose provider is the sandbox (their base URL is ``SANDBOX_URL``), by name."""
    return list(db.session.scalars(select(Sender).where(
        Sender.channel.in_(channels), Sender.base_url == current_app.config["SANDBOX_URL"].rstrip("/"))
        .order_by(Sender.name, Sender.id)))


def rotate_secrets() -> tuple[int, list[tuple[Sender, str]]]:
    """Re-encrypt every stored secret with the first key of ``VESTNIK_SECRETS_KEY``.

    A sender with a secret no key in force opens is left as it is and the rotation goes on with the others;
    returns how many secrets were re-encrypted and each sender that could not be, with the sentence why.
    """
    rotated, failed = 0, []
    for sender in list_senders():
        stored = {key: getattr(sender, f"{key}_encrypted") for key in SECRETS}
        try:
            # All of one sender's secrets, or none: a sender is never left half on the new key.
            fresh = {key: sender_secrets.rotate(value, sender.name) for key, value in stored.items() if value}
        except sender_secrets.SecretError as error:
            log.warning("event=secret_rotation_failed sender=%s", sender.id)
            failed.append((sender, str(error)))
            continue
        for key, value in fresh.items():
            setattr(sender, f"{key}_encrypted", value)
        rotated += len(fresh)
    db.session.flush()
    return rotated, failed
