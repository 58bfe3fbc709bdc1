"""Sender pages on the campaigns blueprint (admins): the list, add and edit a sender (a WhatsApp number or a
MAX or Telegram bot), check its connection, connect a bot's webhook; and the test send from a template's or a
campaign's page (marketers and admins).

Secrets are never put back into a page: the forms show their last four characters beside a blank
field, and a blank field keeps what is stored.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.forms import EmptyForm
from accounts.models import Role
from accounts.roles import role_required
from campaigns import senders, test_sends
from campaigns.flashing import flash_refusal
from campaigns.models import Campaign, Sender, Template
from campaigns.sender_forms import SenderForm, TestSendForm, posted_values, sender_changes, sender_form_data
from campaigns.views import bp
from channels.base import ResultKind
from compliance.sending import TIER_LABELS
from domain_errors import DomainError
from extensions import db


def _actor():
    return current_user._get_current_object()


def _sender_or_404(sender_id: int) -> Sender:
    return db.session.get(Sender, sender_id) or abort(404)


@bp.get("/senders")
@role_required(Role.ADMIN)
def sender_list():
    return render_template("campaigns/sender_list.html", senders=senders.list_senders(), form=EmptyForm(),
                           check_error=senders.check_error_sentence, channel_labels=_channel_labels(),
                           bot_channels=senders.BOT_CHANNELS)


def _channel_labels() -> dict[str, str]:
    return {channel.value: label for channel, label in senders.CHANNEL_LABELS.items()}


def _sender_page(form: SenderForm, sender: Sender | None, errors=(), status: int = 200):
    channel = sender.channel if sender is not None else (form.channel.data or "")
    return render_template("campaigns/sender_form.html", form=form.for_channel(channel), sender=sender,
                           errors=list(errors), bot=senders.is_bot(channel), sms=senders.is_sms(channel),
                           check_form=EmptyForm(),
                           check_error=senders.check_error_sentence(sender) if sender else None,
                           channel_labels=_channel_labels(),
                           webhook_url=senders.webhook_url(sender) if sender and (senders.is_bot(sender)
                                                                                  or senders.is_sms(sender)) else None
                           ), status


@bp.get("/senders/new")
@role_required(Role.ADMIN)
def new_sender():
    # ?channel=max or telegram: a bot's form (its fields differ from a number's).
    channel = request.args.get("channel", "")
    form = SenderForm(formdata=None)
    if senders.is_bot(channel):
        form.channel.data = channel
    return _sender_page(form, None)


@bp.post("/senders/new")
@role_required(Role.ADMIN)
def create_sender():
    return _save_sender(None)


@bp.get("/senders/<int:sender_id>")
@role_required(Role.ADMIN)
def sender_detail(sender_id: int):
    sender = _sender_or_404(sender_id)
    return _sender_page(SenderForm(formdata=None, data=sender_form_data(sender)), sender)


@bp.post("/senders/<int:sender_id>")
@role_required(Role.ADMIN)
def save_sender(sender_id: int):
    return _save_sender(_sender_or_404(sender_id))


def _save_sender(sender: Sender | None):
    form = SenderForm()
    if not form.validate_on_submit():
        return _sender_page(form, sender, status=400)
    changes = sender_changes(form)
    try:
        if sender is None:
            sender = senders.add_sender(changes, actor=_actor())
        else:
            senders.update_sender(sender, changes, actor=_actor())
    except DomainError as error:
        db.session.rollback()
        return _sender_page(form, sender, error.errors, error.status)
    db.session.commit()
    if senders.is_bot(sender):
        flash(_("The bot “%(name)s” is saved; check its connection, then connect its webhook.", name=sender.name),
              "info")
    else:
        flash(_("The sender “%(name)s” is saved; check its connection to read its tier and quality.",
                name=sender.name), "info")
    return redirect(url_for("campaigns.sender_detail", sender_id=sender.id))


@bp.post("/senders/<int:sender_id>/check")
@role_required(Role.ADMIN)
def check_sender(sender_id: int):
    sender = _sender_or_404(sender_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        senders.check_connection(sender, actor=_actor())
    except DomainError as error:
        flash_refusal(error)
        return redirect(url_for("campaigns.sender_detail", sender_id=sender_id))
    db.session.commit()
    problem = senders.check_error_sentence(sender)
    if problem:
        flash(_("The connection check failed: %(reason)s", reason=problem), "error")
    elif senders.is_bot(sender):
        flash(_("Connected: the bot @%(username)s (%(name)s), %(rate)s messages per second.",
                username=sender.bot_username, name=sender.verified_name or "—", rate=sender.messages_per_second),
              "info")
    else:
        flash(_("Connected: quality %(quality)s, tier %(tier)s, %(rate)s messages per second.",
                quality=str(senders.QUALITY_LABELS.get(sender.quality_rating or "", sender.quality_rating or "—")),
                tier=str(TIER_LABELS.get(sender.tier, sender.tier)), rate=sender.messages_per_second), "info")
    return redirect(url_for("campaigns.sender_detail", sender_id=sender_id))


@bp.post("/senders/<int:sender_id>/webhook")
@role_required(Role.ADMIN)
def connect_webhook(sender_id: int):
    sender = _sender_or_404(sender_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = senders.connect_webhook(sender, actor=_actor())
    except DomainError as error:
        flash_refusal(error)
        return redirect(url_for("campaigns.sender_detail", sender_id=sender_id))
    db.session.commit()
    if result.connected and senders.is_sms(sender):
        flash(_("Status URL set: the gateway posts its delivery reports to %(url)s.",
                url=result.url.split("?", 1)[0]), "info")
    elif result.connected:
        flash(_("Webhook connected: the platform posts the bot's updates to %(url)s.", url=result.url), "info")
    else:
        flash(_("The webhook could not be connected: %(reason)s", reason=str(result.sentence)), "error")
    return redirect(url_for("campaigns.sender_detail", sender_id=sender_id))


# --- the test send ------------------------------------------------------------------------------------------

def _test_send(template: Template, back: str):
    form = TestSendForm()
    form.fill(template)
    if not form.validate_on_submit():
        if not form.errors or "csrf_token" in form.errors:
            abort(400)
        # A field the form refused (a number too long to be one) is said on the page, like the service's refusals.
        for name, messages in form.errors.items():
            for message in messages:
                flash(f"{form[name].label.text}: {message}", "error")
        return redirect(back)
    sender = db.session.get(Sender, form.sender.data) if form.sender.data else None
    if sender is None:
        flash(_("Choose a sender for the test message."), "error")
        return redirect(back)
    try:
        result = test_sends.send_test(sender, template, form.to.data or "", posted_values(request.form),
                                      actor=_actor())
    except DomainError as error:
        flash_refusal(error)
        return redirect(back)
    db.session.commit()
    flash(test_sends.result_sentence(result), "info" if result.kind is ResultKind.ACCEPTED else "error")
    return redirect(back)


@bp.post("/templates/<int:template_id>/test-send")
@role_required(Role.MARKETER)
def test_send_template(template_id: int):
    template = db.session.get(Template, template_id) or abort(404)
    return _test_send(template, url_for("campaigns.template_detail", template_id=template_id))


@bp.post("/campaigns/<int:campaign_id>/test-send")
@role_required(Role.MARKETER)
def test_send_campaign(campaign_id: int):
    campaign = db.session.get(Campaign, campaign_id) or abort(404)
    template = db.session.get(Template, campaign.template_id) or abort(404)
    return _test_send(template, url_for("campaigns.campaign", campaign_id=campaign_id))
