"""Campaign pages on the campaigns blueprint: the list, the wizard (new and edit), the campaign page,
the reviewers' queue and review page, and the admin's rate card.

Everybody signed in may look at campaigns; marketers (and admins) create, edit, submit and cancel;
reviewers (and admins) approve and reject, never their own campaigns; reviewers and the campaign's
author pause and resume it while it sends (``campaigns.dispatch.control``).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from accounts.forms import EmptyForm
from accounts.models import Role
from accounts.roles import role_required
from audience.models import Segment
from campaigns import (
    bot_preflight,
    bot_rendering,
    campaign_specs,
    channel_reach,
    preflight,
    pricing,
    review,
    sms_preflight,
    sms_rendering,
    step_rendering,
)
from campaigns.analytics_text import campaign_analytics, worded_estimate_steps
from campaigns.campaign_forms import (
    ApproveForm,
    CampaignForm,
    RateCardForm,
    RejectForm,
    ResumeForm,
    form_data,
    posted_variables,
    spec_from_form,
)
from campaigns.cascade import is_cascade
from campaigns.dispatch import control
from campaigns.dispatch.progress import progress, worded
from campaigns.feedback import notices
from campaigns.flashing import commit_or_flash
from campaigns.lifecycle import EDITABLE, STATUS_LABELS, TransitionError, can
from campaigns.models import Campaign, CampaignStatus, Sender, Template
from campaigns.sender_forms import TestSendForm
from campaigns.views import bp
from compliance.audit import AuditEvent
from compliance.verdict import OUTCOME_LABELS
from domain_errors import DomainError
from extensions import db

SAMPLE_SIZE = 5


def _campaign_or_404(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404)


def _actor():
    return current_user._get_current_object()


def send_time(campaign: Campaign) -> str:
    """When the campaign goes (or went) out, in UTC, as its status makes it true."""
    def at(moment) -> str:
        return moment.strftime("%Y-%m-%d %H:%M")
    if campaign.launched_at is not None:
        return _("Launched %(time)s", time=at(campaign.launched_at))
    if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.FAILED):
        return _("Not sent")
    if campaign.status is CampaignStatus.SCHEDULED:
        return at(campaign.send_at) if campaign.send_at else _("Launching now")
    return at(campaign.send_at) if campaign.send_at else _("When approved")


def _labels() -> dict[str, Any]:
    return {"status_labels": {status.value: label for status, label in STATUS_LABELS.items()}, "send_time": send_time,
            "exclusion_labels": {**preflight.EXCLUSION_LABELS, **bot_preflight.EXCLUSION_LABELS},
            "deferral_labels": preflight.DEFERRAL_LABELS,
            "field_labels": review.FIELD_LABELS, "reason_labels": review.REJECTION_REASONS,
            "outcome_labels": {outcome.value: label for outcome, label in OUTCOME_LABELS.items()}}


# --- the list and the wizard ------------------------------------------------------------------------------------

@bp.get("/campaigns")
@role_required()
def campaign_list():
    status = request.args.get("status", "")
    chosen = CampaignStatus(status) if status in {item.value for item in CampaignStatus} else None
    counts = dict(db.session.execute(select(Campaign.status, func.count()).group_by(Campaign.status)).all())
    return render_template(
        "campaigns/campaign_list.html",
        campaigns=campaign_specs.list_campaigns(chosen),
        chosen=chosen,
        counts={status.value: count for status, count in counts.items()},
        can_edit=current_user.has_role(Role.MARKETER),
        **_labels(),
    )


def _wizard(form: CampaignForm, campaign: Campaign | None, errors=(), status: int = 200, cascade_errors=()):
    return render_template(
        "campaigns/campaign_form.html",
        form=form,
        campaign=campaign,
        errors=list(errors),
        cascade_errors=list(cascade_errors),
        action=url_for("campaigns.save_campaign", campaign_id=campaign.id)
        if campaign
        else url_for("campaigns.create_campaign"),
        **_labels(),
    ), status


def _rows_for(form: CampaignForm, template_id: int | None, mapping: dict[str, dict[str, str]]) -> None:
    template = db.session.get(Template, template_id) if template_id else None
    form.set_variable_rows(campaign_specs.template_variables(template) if template else [], mapping)


@bp.get("/campaigns/new")
@role_required(Role.MARKETER)
def new_campaign():
    form = CampaignForm(formdata=None)
    form.fill_choices()
    if form.template.choices:
        form.template.data = form.template.choices[0].value
    _rows_for(form, form.template.data, {})
    return _wizard(form, None)


@bp.get("/campaigns/<int:campaign_id>/edit")
@role_required(Role.MARKETER)
def edit_campaign(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = CampaignForm(formdata=None, data=form_data(campaign))
    form.fill_choices(campaign)
    _rows_for(form, campaign.template_id, campaign.variables or {})
    return _wizard(form, campaign)


@bp.post("/campaigns/new")
@role_required(Role.MARKETER)
def create_campaign():
    return _submit_wizard(None)


@bp.post("/campaigns/<int:campaign_id>/edit")
@role_required(Role.MARKETER)
def save_campaign(campaign_id: int):
    return _submit_wizard(_campaign_or_404(campaign_id))


def _submit_wizard(campaign: Campaign | None):
    form = CampaignForm()
    form.fill_choices(campaign)
    if request.form.get("action") == "variables":  # another template chosen: show its variables
        _rows_for(form, form.template.data, posted_variables(form))
        return _wizard(form, campaign)
    if not form.validate_on_submit():
        return _wizard(form, campaign, status=400)
    try:
        if campaign is None:
            campaign = campaign_specs.create_campaign(spec_from_form(form), _actor())
        else:
            campaign_specs.update_campaign(campaign, spec_from_form(form), _actor())
    except DomainError as error:
        db.session.rollback()
        # The cascade's sentences go beside the cascade, the others above the form.
        beside = [str(sentence) for field, sentence in error.field_errors if field == "cascade"]
        above = [str(sentence) for field, sentence in error.field_errors if field != "cascade"]
        return _wizard(form, campaign, above, error.status, beside)
    db.session.commit()
    flash(_("The campaign “%(name)s” is saved.", name=campaign.name), "info")
    return redirect(url_for("campaigns.campaign", campaign_id=campaign.id))


# --- the campaign page ------------------------------------------------------------------------------------------------

def _context(campaign: Campaign) -> dict[str, Any]:
    """What the campaign page and the review page both show."""
    trail = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "campaign", AuditEvent.object_id == str(campaign.id))
        .order_by(AuditEvent.id)
    )
    state = progress(campaign)
    return {
        "campaign": campaign,
        "sender": db.session.get(Sender, campaign.sender_id),
        "template": db.session.get(Template, campaign.template_id),
        "segment": db.session.get(Segment, campaign.segment_id),
        "report": preflight.readable(campaign.preflight),
        "estimate": campaign.estimate,
        "cascade_steps": worded_estimate_steps(campaign),
        "reviews": review.reviews_of(campaign),
        "changes": review.changes_since_last_review(campaign),
        "trail": list(trail),
        "progress": state,
        "progress_text": worded(state),
        "form": EmptyForm(),
        "reason_label": review.reason_label,
        **_labels(),
    }


@bp.get("/campaigns/<int:campaign_id>")
@role_required()
def campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    is_marketer = current_user.has_role(Role.MARKETER)
    test_form = TestSendForm(formdata=None)
    template = db.session.get(Template, found.template_id)
    test_form.fill(template, found.sender_id)
    return render_template("campaigns/campaign_detail.html", **_context(found), analytics=campaign_analytics(found),
                           can_test_send=is_marketer, test_form=test_form,
                           test_action=url_for("campaigns.test_send_campaign", campaign_id=found.id),
                           can_edit=is_marketer and found.status in EDITABLE,
                           can_submit=is_marketer and can(found, CampaignStatus.IN_REVIEW),
                           can_revise=is_marketer and found.status is CampaignStatus.REJECTED,
                           can_cancel=is_marketer and can(found, CampaignStatus.CANCELLED),
                           can_review=found.status is CampaignStatus.IN_REVIEW and current_user.has_role(Role.REVIEWER),
                           can_pause=found.status is CampaignStatus.SENDING and control.may_control(found, _actor()),
                           can_resume=found.status is CampaignStatus.PAUSED and control.may_resume(found, _actor()),
                           **_pause(found))


def _pause(campaign: Campaign) -> dict[str, Any]:
    """Why a paused campaign is paused, and what resuming it asks for."""
    if campaign.status is not CampaignStatus.PAUSED:
        return {"paused": False}
    if campaign.pause_reason is None:  # dispatch's own pause for a provider's refusal: the history says why
        return {"paused": False, "automatic_pause": False, "resume_form": ResumeForm(formdata=None)}
    automatic = notices.is_automatic(campaign)
    return {"paused": True, "automatic_pause": automatic, "pause_label": notices.pause_label(campaign),
            "pause_sentence": notices.pause_sentence(campaign),
            "reviewer_only": control.reviewer_only(campaign) if automatic else None,
            "resume_form": ResumeForm(formdata=None)}


@bp.get("/campaigns/<int:campaign_id>/progress")
@role_required()
def campaign_progress(campaign_id: int):
    """The progress section's figures, for the page to poll (static/campaign_progress.js): the API's
    answer, and the same figures worded in the reader's language."""
    state = progress(_campaign_or_404(campaign_id))
    return jsonify({**state, "text": worded(state)})


def _step(campaign: Campaign, action, success: str, target: str = "campaigns.campaign"):
    """Run one lifecycle step from a button; flash its outcome and go back to the page."""
    commit_or_flash(action, success)
    return redirect(url_for(target, campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/submit")
@role_required(Role.MARKETER)
def submit_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _step(found, lambda: review.submit(found, _actor()), _("The campaign is submitted for review."))


@bp.post("/campaigns/<int:campaign_id>/revise")
@role_required(Role.MARKETER)
def revise_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _step(found, lambda: review.revise(found, _actor()), _("The campaign is a draft again."))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@role_required(Role.MARKETER)
def cancel_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _step(found, lambda: campaign_specs.cancel_campaign(found, _actor()), _("The campaign is cancelled."))


@bp.post("/campaigns/<int:campaign_id>/pause")
@role_required()
def pause_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _step(found, lambda: control.pause(found, _actor()),
                 _("The campaign is paused; messages already on their way still arrive."))


@bp.post("/campaigns/<int:campaign_id>/resume")
@role_required()
def resume_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    form = ResumeForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        for errors in form.errors.values():
            for sentence in errors:
                flash(sentence, "error")
        return redirect(url_for("campaigns.campaign", campaign_id=found.id))
    return _step(found, lambda: control.resume(found, _actor(), form.reason.data or ""),
                 _("The campaign is sending again."))


# --- the review -------------------------------------------------------------------------------------------------


@bp.get("/reviews")
@role_required(Role.REVIEWER)
def review_queue():
    return render_template("campaigns/review_queue.html", campaigns=review.review_queue(), **_labels())


def _bot_renderings(found: Campaign) -> list[dict]:
    """Each bot channel's rendering of the campaign's template, its own channel first (none for a WhatsApp one)."""
    sender, template = db.session.get(Sender, found.sender_id), db.session.get(Template, found.template_id)
    if sender is None or template is None or not bot_rendering.is_bot(sender.channel):
        return []
    return bot_rendering.for_review(template, sender.channel)


def _review_page(found: Campaign, approve_form: ApproveForm | None = None, reject_form: RejectForm | None = None,
                 status: int = 200):
    return render_template("campaigns/review_page.html", **{**_context(found), "form": EmptyForm()},
                           samples=preflight.sample_messages(found, SAMPLE_SIZE),
                           bot_renderings=[] if is_cascade(found) else _bot_renderings(found),
                           step_renderings=step_rendering.renderings(found) if is_cascade(found) else [],
                           approve_form=approve_form or ApproveForm(formdata=None),
                           reject_form=reject_form or RejectForm(formdata=None),
                           refusal=review.may_review(found, _actor()),
                           channel_report=channel_reach.campaign_reach(found),
                           sms_warnings=sms_preflight.law_warnings(found), sms_message=_sms_message(found)), status


def _sms_message(campaign: Campaign) -> dict[str, Any] | None:
    """The SMS text of a campaign on one SMS sender with its parts (a cascade's is among its steps' renderings)."""
    sender = db.session.get(Sender, campaign.sender_id)
    template = db.session.get(Template, campaign.template_id)
    if is_cascade(campaign) or sender is None or template is None or not sms_rendering.is_sms_channel(sender.channel):
        return None
    return sms_rendering.preview_for(template).as_dict()


@bp.get("/reviews/<int:campaign_id>")
@role_required(Role.REVIEWER)
def review_page(campaign_id: int):
    return _review_page(_campaign_or_404(campaign_id))


@bp.post("/reviews/<int:campaign_id>/approve")
@role_required(Role.REVIEWER)
def approve_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _review_page(found, approve_form=form, status=400)
    return _step(found, lambda: review.approve(found, _actor(), note=form.note.data or "",
                                               acknowledgement=form.acknowledgement.data),
                 _("The campaign is approved and scheduled."))


@bp.post("/reviews/<int:campaign_id>/reject")
@role_required(Role.REVIEWER)
def reject_campaign(campaign_id: int):
    found = _campaign_or_404(campaign_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _review_page(found, reject_form=form, status=400)
    try:
        review.reject(found, _actor(), form.reason_code.data, form.reason.data or "")
    except review.ReviewError as error:
        db.session.rollback()
        form.reason.errors = list(form.reason.errors) + error.errors
        return _review_page(found, reject_form=form, status=400)
    except TransitionError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("campaigns.review_page", campaign_id=found.id))
    db.session.commit()
    flash(_("The campaign is rejected; the author sees your reason."), "info")
    return redirect(url_for("campaigns.campaign", campaign_id=found.id))


# --- the rate card ----------------------------------------------------------------------------------------------------

def _rate_card_page(form: RateCardForm, errors=(), status: int = 200):
    return render_template("campaigns/campaign_rate_card.html", form=form, errors=list(errors),
                           card=pricing.current_rate_card(), reset_form=EmptyForm()), status


@bp.get("/campaigns/rate-card")
@role_required(Role.ADMIN)
def rate_card():
    card = pricing.current_rate_card()
    return _rate_card_page(
        RateCardForm(formdata=None, data={"free_per_month": card.free_per_month, "prices": card.to_csv()})
    )


@bp.post("/campaigns/rate-card")
@role_required(Role.ADMIN)
def save_rate_card():
    form = RateCardForm()
    if not form.validate_on_submit():
        return _rate_card_page(form, status=400)
    try:
        pricing.save_rate_card(pricing.RateCard.from_csv(form.prices.data, form.free_per_month.data or 0), _actor())
    except pricing.RateCardError as error:
        db.session.rollback()
        return _rate_card_page(form, error.errors, 400)
    db.session.commit()
    flash(_("The rate card is saved; new estimates use it."), "info")
    return redirect(url_for("campaigns.rate_card"))


@bp.post("/campaigns/rate-card/reset")
@role_required(Role.ADMIN)
def reset_rate_card():
    if not EmptyForm().validate_on_submit():
        abort(400)
    pricing.reset_rate_card(_actor())
    db.session.commit()
    flash(_("The shipped rate card is in force again."), "info")
    return redirect(url_for("campaigns.rate_card"))
