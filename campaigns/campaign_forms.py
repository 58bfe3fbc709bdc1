"""Forms of the campaign wizard, the review and the rate card, and their mapping to a campaign spec.
Forms validate, never write."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from audience.segments import list_segments
from campaigns import campaign_specs, senders
from campaigns.campaign_specs import MAX_NAME
from campaigns.cascade import DEFAULT_WAIT_SECONDS, MAX_STEPS, receipts
from campaigns.message_templates import STATUS_LABELS
from campaigns.models import Campaign
from campaigns.review import MAX_REASON, REJECTION_REASONS
from campaigns.step_rendering import needs_provider_template
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


WAIT_UNITS = {"minutes": (_l("minutes"), 60), "seconds": (_l("seconds"), 1)}


class CascadeStepForm(Form):
    """One step of a cascade in the wizard: its sender, and how long a sent message waits for a delivery before the
    next step is tried (only a step that reports deliveries and is not the last waits)."""

    sender = SelectField(_l("Sender"), coerce=int, validate_choice=False)
    wait = IntegerField(_l("Wait for a delivery"), default=DEFAULT_WAIT_SECONDS // 60,
                        validators=[Optional(), NumberRange(min=1, max=86400)])
    wait_unit = SelectField(_l("unit"), choices=[SelectChoice(key, label) for key, (label, _s) in WAIT_UNITS.items()],
                            default="minutes")


class CampaignForm(FlaskForm):
    name = StringField(
        _l("Campaign name"), validators=[DataRequired(message=_l("Give the campaign a name.")), Length(max=MAX_NAME)]
    )
    mode = RadioField(_l("Channels"), default="single",
                      choices=[SelectChoice("single", _l("One channel")), SelectChoice("cascade", _l("A cascade"))],
                      description=_l("A cascade tries each person on its senders in order, until one reaches them."))
    sender = SelectField(_l("Sender"), coerce=int, validate_choice=False)
    cascade = FieldList(FormField(CascadeStepForm), label=_l("Cascade"), min_entries=MAX_STEPS, max_entries=MAX_STEPS,
                        description=_l("Up to %(count)s senders, in the order they are tried; a step waits only when "
                                       "its channel reports deliveries (WhatsApp, SMS) and it is not the last.",
                                       count=MAX_STEPS))
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

        The chosen sender is the one posted (a cascade's first WhatsApp step), else the campaign's, else the first:
        a template is offered when it is approved (or pending) in that sender's business account, labelled with its
        status there.
        """
        all_senders = senders.list_senders()
        self.sender.choices = [SelectChoice(sender.id, senders.display_name(sender)) for sender in all_senders]
        for row in self.cascade:
            row.form.sender.choices = [SelectChoice(0, "—"), *self.sender.choices]
        wanted = self.sender.data or (campaign.sender_id if campaign else None)
        if self.mode.data == "cascade":
            # A cascade's templates are those its WhatsApp steps' accounts approved: the first such step decides.
            steps = [s for row in self.cascade for s in all_senders if s.id == row.form.sender.data]
            wanted = next((s.id for s in steps if needs_provider_template(s)), wanted)
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
    spec = {
        "name": form.name.data or "", "sender": form.sender.data, "template": form.template.data,
        "segment": form.segment.data, "variables": posted_variables(form), "send_at": _send_at(form),
        "send_window": window, "messages_per_second": form.messages_per_second.data or campaign_specs.DEFAULT_RATE,
        "cascade": [],
    }
    if form.mode.data == "cascade":
        del spec["sender"]  # the first step's
        spec["cascade"] = posted_cascade(form)
    return spec


def posted_cascade(form: CampaignForm) -> list[dict[str, Any]]:
    """The cascade's rows that name a sender, in order, with the wait in seconds where the step can wait."""
    chosen = [row.form for row in form.cascade if row.form.sender.data]
    steps = []
    for index, row in enumerate(chosen):
        sender = senders.find_sender(row.sender.data)
        waits = sender is not None and receipts(sender.channel) and index < len(chosen) - 1
        unit = WAIT_UNITS.get(row.wait_unit.data, WAIT_UNITS["minutes"])[1]
        steps.append({"sender": row.sender.data,
                      "wait_seconds": row.wait.data * unit if waits and row.wait.data else None})
    return steps


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
            "messages_per_second": campaign.messages_per_second,
            "mode": "cascade" if campaign.cascade else "single", "cascade": _cascade_rows(campaign)}


def _cascade_rows(campaign: Campaign) -> list[dict[str, Any]]:
    """The wizard's cascade rows of a saved campaign: its steps, then empty rows up to ``MAX_STEPS``."""
    rows = []
    for step in campaign.cascade or []:
        wait = step.get("wait_seconds")
        in_minutes = wait is None or wait % 60 == 0
        rows.append({"sender": step["sender_id"], "wait_unit": "minutes" if in_minutes else "seconds",
                     "wait": (wait // 60 if in_minutes else wait) if wait else DEFAULT_WAIT_SECONDS // 60})
    return rows + [{"sender": 0, "wait": DEFAULT_WAIT_SECONDS // 60, "wait_unit": "minutes"}] * (MAX_STEPS - len(rows))


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
            "One row per country: country,operator,currency,marketing,utility,authentication,sms (the price of one "
            "SMS part); “other” prices every country not listed; a row with an operator prices only that operator's "
            "SMS in its country."
        ),
    )
