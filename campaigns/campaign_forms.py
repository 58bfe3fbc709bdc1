"""Forms of the campaign wizard, the review and the rate card, and their mapping to a campaign spec.
Forms validate, never write."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from audience.segments import list_segments
from campaigns import campaign_specs, senders
from campaigns.campaign_specs import MAX_NAME
from campaigns.message_templates import STATUS_LABELS
from campaigns.models import Campaign
from campaigns.review import MAX_REASON, REJECTION_REASONS
from campaigns.template_approvals import status_for
from campaigns.variables import CONTACT_FIELDS

SOURCE_LABELS = {
    "field": _l("Contact field"),
    "attribute": _l("Contact attribute"),
    "constant": _l("The same text for everyone"),
}
DEFAULT_ZONE = "Europe/Moscow"


class VariableRowForm(Form):
    """Where one template variable takes its value from. A plain Form: the wizard carries the CSRF token."""

    name = HiddenField()
    source = SelectField(
        _l("Source"), choices=[SelectChoice(value, label) for value, label in SOURCE_LABELS.items()], default="field"
    )
    value = StringField(_l("Field, attribute or text"), validators=[Length(max=200)],
                        description=_l("Contact fields: %(fields)s.", fields=", ".join(CONTACT_FIELDS)))
    fallback = StringField(_l("Fallback"), validators=[Length(max=200)],
                           description=_l("Used when the contact has no value."))


class CampaignForm(FlaskForm):
    name = StringField(
        _l("Campaign name"), validators=[DataRequired(message=_l("Give the campaign a name.")), Length(max=MAX_NAME)]
    )
    sender = SelectField(_l("Sender"), coerce=int, validate_choice=False)
    template = SelectField(_l("Template"), coerce=int, validate_choice=False,
                           description=_l("After choosing another template, press “Update variables”."))
    segment = SelectField(_l("Segment"), coerce=int, validate_choice=False)
    variables = FieldList(FormField(VariableRowForm), min_entries=0, max_entries=60)
    send_at = StringField(_l("Send at"), validators=[Optional(), Length(max=40)],
                          description=_l("Leave empty to send as soon as the campaign is approved."),
                          render_kw={"type": "datetime-local"})
    send_at_zone = StringField(_l("in the time zone"), default=DEFAULT_ZONE, validators=[Length(max=64)])
    window_start = StringField(
        _l("Send window from"),
        validators=[Optional(), Length(max=5)],
        render_kw={"placeholder": "09:00"},
        description=_l("In each recipient's local time; empty: the compliance default."),
    )
    window_end = StringField(_l("until"), validators=[Optional(), Length(max=5)], render_kw={"placeholder": "21:00"})
    messages_per_second = IntegerField(_l("Messages per second"), default=campaign_specs.DEFAULT_RATE,
                                       validators=[Optional(), NumberRange(min=1, max=1000)])

    def fill_choices(self, campaign: Campaign | None = None) -> None:
        """The senders, the templates usable with the chosen sender (and the campaign's own), and segments.

        The chosen sender is the one posted, else the campaign's, else the first: a template is offered
        when it is approved (or pending) in that sender's business account, labelled with its status there.
        """
        all_senders = senders.list_senders()
        self.sender.choices = [SelectChoice(sender.id, f"{sender.name} ({sender.phone})") for sender in all_senders]
        wanted = self.sender.data or (campaign.sender_id if campaign else None)
        sender = next((s for s in all_senders if s.id == wanted), all_senders[0] if all_senders else None)
        usable = campaign_specs.usable_templates(keep=campaign.template_id if campaign else None, sender=sender)
        self.template.choices = [
            SelectChoice(t.id, f"{t.name} · {t.language} · v{t.version} · {STATUS_LABELS[status_for(t, sender)]}")
            for t in usable]
        self.segment.choices = [SelectChoice(segment.id, segment.name) for segment in list_segments()]

    def set_variable_rows(self, names: list[str], mapping: dict[str, dict[str, str]]) -> None:
        """One row per template variable, filled from ``mapping`` (what was posted or saved)."""
        while len(self.variables):
            self.variables.pop_entry()
        for name in names:
            self.variables.append_entry(
                {"name": name, **mapping.get(name, {"source": "field", "value": "", "fallback": ""})}
            )


def posted_variables(form: CampaignForm) -> dict[str, dict[str, str]]:
    """The variable rows as posted, by variable name."""
    return {row.form.name.data: {"source": row.form.source.data, "value": row.form.value.data or "",
                                 "fallback": row.form.fallback.data or ""}
            for row in form.variables if row.form.name.data}


def spec_from_form(form: CampaignForm) -> dict[str, Any]:
    """The campaign spec the wizard describes; ``campaign_specs.create_campaign`` checks it."""
    window = None
    if (form.window_start.data or "").strip() or (form.window_end.data or "").strip():
        window = {"start": (form.window_start.data or "").strip(), "end": (form.window_end.data or "").strip()}
    return {
        "name": form.name.data or "", "sender": form.sender.data, "template": form.template.data,
        "segment": form.segment.data, "variables": posted_variables(form), "send_at": _send_at(form),
        "send_window": window, "messages_per_second": form.messages_per_second.data or campaign_specs.DEFAULT_RATE,
    }


def _send_at(form: CampaignForm) -> str | None:
    text = (form.send_at.data or "").strip()
    if not text:
        return None
    try:
        zone = ZoneInfo((form.send_at_zone.data or DEFAULT_ZONE).strip())
        return datetime.fromisoformat(text).replace(tzinfo=zone).isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return text  # the service says, in a sentence, that it cannot read it


def form_data(campaign: Campaign, zone: str = DEFAULT_ZONE) -> dict[str, Any]:
    """What the wizard shows for a saved campaign."""
    window = campaign.send_window or {}
    local = campaign.send_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") if campaign.send_at else ""
    return {"name": campaign.name, "sender": campaign.sender_id, "template": campaign.template_id,
            "segment": campaign.segment_id, "send_at": local, "send_at_zone": zone,
            "window_start": window.get("start", ""), "window_end": window.get("end", ""),
            "messages_per_second": campaign.messages_per_second}


class ApproveForm(FlaskForm):
    note = TextAreaField(_l("Note for the author (optional)"), validators=[Optional(), Length(max=MAX_REASON)])
    # Shown only when the channel rule warns (campaigns/_channel_acknowledgement.html); ``review.approve`` decides.
    acknowledgement = TextAreaField(_l("Your acknowledgement of the channel warning"),
                                    validators=[Optional(), Length(max=MAX_REASON)])


class RejectForm(FlaskForm):
    reason_code = SelectField(
        _l("Reason"),
        choices=[SelectChoice("", "—"), *(SelectChoice(code, label) for code, label in REJECTION_REASONS.items())],
        default="",
    )
    reason = TextAreaField(_l("Explain (the author sees this)"), validators=[Optional(), Length(max=MAX_REASON)])


class ResumeForm(FlaskForm):
    """Resuming a paused campaign: the reason is required when the platform paused it (the control says)."""

    reason = TextAreaField(_l("Why it is safe to send again (kept in the audit log)"),
                           validators=[Optional(), Length(max=MAX_REASON)])


class RateCardForm(FlaskForm):
    free_per_month = IntegerField(_l("Free messages per month"), default=0, validators=[NumberRange(min=0)])
    prices = TextAreaField(
        _l("Prices (CSV)"),
        validators=[DataRequired()],
        render_kw={"rows": 14},
        description=_l(
            "One row per country: country,currency,marketing,utility,authentication; "
            "“other” prices every country not listed."
        ),
    )
