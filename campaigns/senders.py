"""Senders: the numbers campaigns go out from, how their provider is reached, and checking it.

A sender has a channel (the local sandbox or the WhatsApp Cloud API), the provider's ids of its
number and business account, the base URL and API version to call, and secrets (access token, app
secret, webhook verify token) encrypted at rest (``campaigns.sender_secrets``) and never shown again.
``check_connection`` reads the number's quality, messaging tier and throughput from the provider and
stores them: the tier feeds the tier rule, the throughput caps a campaign's rate. A failed check is
stored as the channel's code and worded when shown. Functions add and flush; the caller commits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from campaigns import sender_secrets
from campaigns.models import Sender, SenderChannel
from campaigns.provider_calls import call_provider
from channels.base import ChannelError, SenderSettings
from channels.errors import call_sentence_for
from channels.sandbox import defaults as sandbox_defaults
from compliance import audit
from compliance.numbers import InvalidNumberError, to_e164
from compliance.sending import TIER_LIMITS
from dbtypes import utcnow
from domain_errors import DomainError, FieldErrors
from extensions import db

log = logging.getLogger(__name__)

CHANNEL_LABELS = {SenderChannel.SANDBOX: _l("Sandbox (local test provider)"),
                  SenderChannel.WHATSAPP_CLOUD: _l("WhatsApp Cloud API")}
QUALITY_LABELS = {"GREEN": _l("High (green)"), "YELLOW": _l("Medium (yellow)"), "RED": _l("Low (red)"),
                  "UNKNOWN": _l("Not rated yet")}
DEFAULT_API_VERSION = "v23.0"
CLOUD_BASE_URL = "https://graph.facebook.com"
# The embedded default's sender, on the sandbox provider's own number and account (channels.sandbox.defaults).
SANDBOX_NAME = "Sandbox"
SECRETS = ("access_token", "app_secret", "verify_token")
FIELDS = ("name", "phone", "channel", "phone_number_id", "waba_id", "base_url", "api_version", "tier",
          "messages_per_second", *SECRETS)
MAX_SECRET = 4000
_PROVIDER_ID = re.compile(r"^[0-9]{1,64}$")
_API_VERSION = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,2}$")
_BASE_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


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
        display_phone=sender.phone,
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
    if given("phone"):
        errors.field = "phone"
        try:
            clean["phone"] = to_e164(_text(values.get("phone")), "RU")
        except InvalidNumberError:
            errors.append(_("The sender's phone is not a valid number; write it with the country code, "
                            "such as +7 495 123-45-67."))
    raw_channel = values.get("channel") if given("channel") else sender.channel
    channel = _text(raw_channel) or SenderChannel.SANDBOX.value
    errors.field = "channel"
    if channel not in {item.value for item in SenderChannel} or not isinstance(raw_channel, str | None):
        errors.append(_("Channel: choose the sandbox or the WhatsApp Cloud API."))
    clean["channel"] = channel
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
        if not given(key):
            continue
        errors.field = key
        raw = values.get(key)
        if raw is not None and not isinstance(raw, str):
            # A number or a list is not an address left blank: refused, not replaced with the default.
            errors.append(sentence)
            continue
        value = _text(raw) or defaults.get(key, "")
        value = value.rstrip("/") if key == "base_url" else value
        if not value or len(value) > 500 or not rule.match(value):
            errors.append(sentence)
        clean[key] = value
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
    if sandbox and creating:
        secrets.setdefault("access_token", sandbox_defaults.TOKEN)
        secrets.setdefault("app_secret", sandbox_defaults.APP_SECRET)
    errors.field = "access_token"
    has_token = "access_token" in secrets or (sender is not None and sender.access_token_encrypted)
    if not sandbox and not has_token:
        errors.append(_("Access token: the WhatsApp Cloud API needs the system user's access token."))
    errors.field = None
    if not errors:
        name, phone = clean.get("name", ""), clean.get("phone", "")
        clash = select(Sender.id).where((Sender.name == name) | (Sender.phone == phone))
        if sender is not None:
            clash = clash.where(Sender.id != sender.id)
        if ("name" in clean or "phone" in clean) and db.session.scalar(clash.limit(1)):
            errors.append(_("A sender with this name or phone already exists."))
    if errors:
        raise SenderError(errors=errors)
    return clean, secrets


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
