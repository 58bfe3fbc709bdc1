"""The entry point form and its mapping to ``entry_points.Changes``. Forms validate, never write."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeLocalField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from campaigns import entry_points
from campaigns.entry_links import MESSENGER_LABELS, messenger_of
from campaigns.entry_point_models import EntryPoint
from campaigns.entry_points import BOT_CHANNELS, WHATSAPP_CHANNELS, Changes
from campaigns.models import Campaign, Sender
from extensions import db

CAMPAIGN_CHOICES = 200  # the newest campaigns offered in the list


def _optional_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EntryPointForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=entry_points.NAME_LIMIT)],
                       description=_l("For your team, and the page's title when the business has no name here."))
    senders = CheckboxList(_l("Offered channels"), coerce=int, validate_choice=False,
                           description=_l("The bots (with their usernames) and WhatsApp numbers the page offers."))
    keyword = StringField(_l("Keyword (WhatsApp)"), default=entry_points.DEFAULT_KEYWORD, validators=[Length(max=32)],
                          description=_l("A person's first message is “<keyword> <code>”; the wa.me link types it."))
    campaign = SelectField(_l("Campaign"), coerce=_optional_id, validate_choice=False,
                           description=_l("Optional: the campaign this entry point belongs to."))
    source_label = StringField(_l("Source label"), validators=[Length(max=entry_points.LABEL_LIMIT)],
                               description=_l("Optional: where it is shown — “poster at the till”, “order e-mail”."))
    expires_at = DateTimeLocalField(_l("Expires (UTC)"), validators=[Optional()], format="%Y-%m-%dT%H:%M",
                                    description=_l("Optional: after this its links and QR codes take nobody in."))

    def fill(self) -> None:
        """The senders and campaigns to choose from."""
        offered = [sender for sender in db.session.scalars(select(Sender).order_by(Sender.name))
                   if sender.channel in BOT_CHANNELS + WHATSAPP_CHANNELS]
        self.senders.choices = [SelectChoice(sender.id, _sender_label(sender)) for sender in offered]
        campaigns = db.session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id.desc())
                                       .limit(CAMPAIGN_CHOICES)).all()
        self.campaign.choices = [SelectChoice("", "—")] + [SelectChoice(cid, name) for cid, name in campaigns]


def _sender_label(sender: Sender) -> str:
    messenger = str(MESSENGER_LABELS.get(messenger_of(sender) or "", sender.channel))
    where = f"@{sender.bot_username.lstrip('@')}" if sender.channel in BOT_CHANNELS else (sender.phone or "")
    return f"{sender.name} ({messenger}, {where})"


def form_data(entry_point: EntryPoint, sender_ids: list[int]) -> dict[str, Any]:
    """What the edit form shows."""
    expires = entry_point.expires_at.astimezone(UTC).replace(tzinfo=None) if entry_point.expires_at else None
    return {"name": entry_point.name, "senders": sender_ids, "keyword": entry_point.keyword,
            "campaign": entry_point.campaign_id, "source_label": entry_point.source_label, "expires_at": expires}


def changes_of(form: EntryPointForm) -> Changes:
    """The entry point the form describes (an expiry typed as UTC)."""
    expires = form.expires_at.data.replace(tzinfo=UTC) if form.expires_at.data else None
    return Changes(name=form.name.data or "", sender_ids=tuple(form.senders.data or ()),
                   keyword=form.keyword.data or "", campaign_id=form.campaign.data,
                   source_label=form.source_label.data or "", expires_at=expires)
