"""Forms of the sender pages and of the test send, and their mapping to the services. Forms validate, never write.

Secrets are password fields that are never filled in again: left blank on an edit, the stored one stays.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from campaigns import rendering, senders
from campaigns.models import Sender, Template
from compliance.sending import TIER_LABELS, TIER_LIMITS

VARIABLE_PREFIX = "var-"


def _secret(label: Any, description: Any) -> PasswordField:
    return PasswordField(label, validators=[Optional(), Length(max=senders.MAX_SECRET)], description=description,
                         render_kw={"autocomplete": "new-password"})


class SenderForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=120)])
    phone = StringField(_l("Display number"), validators=[Length(max=40)],
                        description=_l("The number recipients see, with the country code: +7 495 123-45-67."))
    channel = SelectField(_l("Channel"), default="sandbox",
                          choices=[SelectChoice(c.value, label) for c, label in senders.CHANNEL_LABELS.items()])
    phone_number_id = StringField(_l("Phone number ID"), validators=[Length(max=64)],
                                  description=_l("The number's id at the provider; the sandbox fills in its own."))
    waba_id = StringField(_l("WhatsApp Business Account ID"), validators=[Length(max=64)],
                          description=_l("Templates are approved per business account."))
    base_url = StringField(_l("Base URL"), validators=[Length(max=500)],
                           description=_l("Empty: https://graph.facebook.com, or the local sandbox's address."))
    api_version = StringField(_l("API version"), validators=[Length(max=16)],
                              description=_l("Empty: %(version)s.", version=senders.DEFAULT_API_VERSION))
    access_token = _secret(_l("Access token"), _l("Stored encrypted; only its last four characters are shown again."))
    app_secret = _secret(_l("App secret"), _l("Signs the provider's webhooks; stored encrypted."))
    verify_token = _secret(_l("Webhook verify token"), _l("Answers the provider's webhook check; stored encrypted."))
    tier = SelectField(_l("Messaging tier"), default="TIER_250",
                       choices=[SelectChoice(tier, TIER_LABELS[tier]) for tier in TIER_LIMITS],
                       description=_l("“Check connection” reads it from the provider."))
    messages_per_second = IntegerField(_l("Messages per second"), default=80,
                                       validators=[Optional(), NumberRange(min=1, max=1000)])
    # A bot's own fields (the page shows them instead of the number's when the channel is MAX or Telegram).
    bot_username = StringField(_l("Bot username"), validators=[Length(max=80)],
                               description=_l("Its name in links (t.me/<username>, max.ru/<username>); empty: "
                                              "“Check connection” reads it."))
    bot_token = _secret(_l("Bot token"), _l("From @BotFather (Telegram) or business.max.ru (MAX); stored encrypted, "
                                            "only its last four characters are shown again."))

    # An SMS gateway account's own fields (its password is the access token).
    login = StringField(_l("Login"), validators=[Length(max=64)], description=_l("The gateway account's login."))
    alpha_name = StringField(_l("Sender name"), validators=[Length(max=11)],
                             description=_l("The alpha name approved for the account: at most 11 Latin letters and "
                                            "digits."))

    def for_channel(self, channel: str | None) -> SenderForm:
        """Show the fields of ``channel`` (a bot's or a number's); the choices stay within the same kind."""
        bot = senders.is_bot(channel or "")
        self.channel.choices = [SelectChoice(c.value, label) for c, label in senders.CHANNEL_LABELS.items()
                                if senders.is_bot(c.value) == bot]
        if bot and not self.is_submitted():
            self.channel.data = channel
            # A new bot's page offers the platform's rate, not a number's 80.
            if (self.messages_per_second.data or 0) > senders.BOT_RATES[channel]:
                self.messages_per_second.data = senders.BOT_RATES[channel]
        return self


def sender_form_data(sender: Sender) -> dict[str, Any]:
    """What the edit form shows: every setting but the secrets."""
    return {key: getattr(sender, key) for key in senders.FIELDS if key not in senders.SECRETS}


def sender_changes(form: SenderForm) -> dict[str, Any]:
    """The sender the form describes (a bot's fields for a bot); blank secrets are left out (kept on an edit)."""
    if senders.is_bot(form.channel.data or ""):
        data: dict[str, Any] = {key: (getattr(form, key).data or "") for key in ("name", "channel", "bot_username",
                                                                                  "base_url")}
        data["messages_per_second"] = form.messages_per_second.data  # None: the platform's rate
        if form.bot_token.data:
            data["access_token"] = form.bot_token.data
        return data
    if senders.is_sms(form.channel.data or ""):
        data = {key: (getattr(form, key).data or "") for key in ("name", "channel", "login", "alpha_name", "base_url")}
        data["messages_per_second"] = form.messages_per_second.data  # None: the gateway's default
        if form.access_token.data:
            data["access_token"] = form.access_token.data
        return data
    data = {key: (getattr(form, key).data or "") for key in senders.FIELDS
            if key not in senders.SECRETS and key not in ("messages_per_second", "bot_username", "login", "alpha_name")}
    data["messages_per_second"] = form.messages_per_second.data or 80
    data.update({key: getattr(form, key).data for key in senders.SECRETS if getattr(form, key).data})
    return data


def _sender_id(value: Any) -> int | None:
    """The chosen sender's id; None for anything else (the page then asks to choose one)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class TestSendForm(FlaskForm):
    """Send one template message to a number; one ``var-<name>`` field per variable rides along."""

    __test__ = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its own prefix: the template page has the status form's ``sender`` field too.
        kwargs.setdefault("prefix", "test")
        super().__init__(*args, **kwargs)

    sender = SelectField(_l("Sender"), coerce=_sender_id, validate_choice=False)
    to = StringField(_l("Send to"), validators=[Length(max=40)],
                     description=_l("Your own WhatsApp number, with the country code."))

    def fill(self, template: Template, sender_id: int | None = None) -> None:
        """The senders to choose from, and the given sender (else the first) chosen."""
        self.sender.choices = [SelectChoice(s.id, senders.display_name(s)) for s in senders.list_senders()]
        # Only the page offers a default: a post without a (readable) sender must not go out from the first one.
        if self.sender.data is None and self.sender.choices and not self.is_submitted():
            self.sender.data = sender_id or self.sender.choices[0].value
        self.variable_fields = [(name, (template.examples or {}).get(name, ""))
                                for name in rendering.variables(template)]


def posted_values(formdata) -> dict[str, str]:
    """The variable values posted as ``var-<variable>`` fields."""
    return {key[len(VARIABLE_PREFIX):]: value.strip() for key, value in formdata.items()
            if key.startswith(VARIABLE_PREFIX) and len(key) <= 80 and isinstance(value, str) and value.strip()}
