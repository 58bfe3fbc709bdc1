"""Forms of the compliance pages. They validate; they never write."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from compliance.channel_rule import CHANNEL_NAMES, MODE_LABELS
from compliance.lint import MAX_TEXT
from compliance.models import ASSIGNABLE_REASONS
from compliance.suppression import REASON_LABELS

LANGUAGE_CHOICES = [SelectChoice("ru", "Русский"), SelectChoice("en", "English")]


def reason_choices():
    """The reasons a person may give, as the UI names them."""
    return [SelectChoice(reason.value, REASON_LABELS[reason]) for reason in ASSIGNABLE_REASONS]


class SuppressForm(FlaskForm):
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=40)])
    reason = SelectField(_l("Reason"), choices=reason_choices, default="manual")
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)],
                         description=_l("Required for a manual suppression: say why."))


class LiftForm(FlaskForm):
    reason = TextAreaField(_l("Why is it lifted?"), validators=[
        DataRequired(message=_l("Write the reason for lifting the suppression.")), Length(max=2000)])


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
    # Its own id: the suppression page shows this form beside SuppressForm, whose field is also "reason".
    reason = SelectField(
        _l("Reason for rows without one"), choices=reason_choices, default="manual", id="import-reason"
    )


class LintForm(FlaskForm):
    text = TextAreaField(_l("Message text"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    language = SelectField(_l("Disclaimer language"), choices=LANGUAGE_CHOICES)


class KeywordsForm(FlaskForm):
    opt_out = TextAreaField(_l("Opt-out (STOP)"), description=_l("One word or short phrase per line."))
    opt_in = TextAreaField(_l("Opt-in (START)"))
    help = TextAreaField(_l("Help (HELP)"))


class SendingForm(FlaskForm):
    window = StringField(_l("Send window (recipient's local time)"), validators=[DataRequired(), Length(max=20)],
                         description=_l("For example 09:00-21:00."))
    country_windows = TextAreaField(
        _l("Send windows by country"),
        description=_l("One per line: a country code and a window, for example US 08:00-21:00."),
    )
    cap_per_day = StringField(_l("Marketing messages per person per day"), validators=[Length(max=6)],
                              description=_l("Empty for no cap."))
    cap_per_week = StringField(_l("Marketing messages per person per week"), validators=[Length(max=6)])


class JsonSectionForm(FlaskForm):
    content = TextAreaField(_l("Settings (JSON)"), validators=[DataRequired(), Length(max=200_000)])




class ChannelRulesForm(FlaskForm):
    restricted_channels = SelectMultipleField(
        _l("Channels whose access is restricted in Russia"),
        choices=[SelectChoice(channel, name) for channel, name in CHANNEL_NAMES.items()],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        description=_l("Shipped with WhatsApp and Telegram; change it when the list of restricted resources changes."),
    )
    marketing_mode = SelectField(_l("Marketing to recipients in Russia through these channels"),
                                 choices=[SelectChoice(mode.value, label) for mode, label in MODE_LABELS.items()])
    covered_by_41fz = BooleanField(
        _l("This workspace is an organisation covered by 41-FZ (a bank, a microfinance company, a state company "
           "or a telecom operator): no message of any kind to clients in Russia through WhatsApp or Telegram"))
