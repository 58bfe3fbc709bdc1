"""The inbox pages on the campaigns blueprint: the conversations, one conversation's thread with the reply box,
and the decision on a reply compliance was unsure about.

Marketers (and admins) use the inbox: they read the threads (opening one marks it read) and reply. A reviewer
may open a conversation to decide on an unsure reply (the notification leads there) but neither replies nor
marks it read; only a reviewer (or an admin) may decide that a reply was not a refusal, anyone of them that it
was one.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.models import Role
from accounts.roles import role_required
from campaigns.feedback import free_text, inbox
from campaigns.feedback.inbox_forms import DecisionForm, ReplyForm
from campaigns.feedback.models import Conversation
from campaigns.flashing import flash_refusal
from campaigns.models import Template, TemplateStatus
from campaigns.views import bp
from domain_errors import DomainError
from extensions import db

# Templates offered when the window is closed: the newest approved ones.
OFFERED_TEMPLATES = 10


def _actor():
    return current_user._get_current_object()


def _conversation_or_404(conversation_id: int) -> Conversation:
    return db.session.get(Conversation, conversation_id) or abort(404)


@bp.app_context_processor
def _inbox_globals() -> dict:
    # The navigation's count of conversations with unread messages, asked only where the link is shown.
    return {"inbox_unread": inbox.unread_count}


@bp.get("/inbox")
@role_required(Role.MARKETER)
def inbox_list():
    chosen = request.args.get("filter")
    chosen = chosen if chosen in inbox.FILTERS else None
    page = request.args.get("page", "1")
    page = int(page) if page.isascii() and page.isdigit() and 0 < len(page) < 6 else 1
    entries, more = inbox.list_conversations(chosen, page)
    return render_template("campaigns/inbox_list.html", entries=entries, more=more, page=page, chosen=chosen,
                           counts=inbox.counts(), direction_in=free_text.Direction.INBOUND)


@bp.get("/inbox/<int:conversation_id>")
@role_required(Role.MARKETER, Role.REVIEWER)
def conversation(conversation_id: int):
    found = _conversation_or_404(conversation_id)
    if current_user.has_role(Role.MARKETER) and inbox.mark_read(found):
        db.session.commit()
    form = ReplyForm(formdata=None, data={"key": free_text.new_reply_key()})
    return _conversation_page(found, form)


def _conversation_page(found: Conversation, form: ReplyForm, status: int = 200):
    line = inbox.entry(found)
    can_reply = current_user.has_role(Role.MARKETER)
    refusal = free_text.refusal(found, line.sender)
    offered = []
    if can_reply and not line.window.open:
        offered = list(db.session.scalars(
            select(Template).where(Template.is_current.is_(True), Template.status == TemplateStatus.APPROVED,
                                   Template.archived_at.is_(None))
            .order_by(Template.updated_at.desc(), Template.id.desc()).limit(OFFERED_TEMPLATES)))
    held = inbox.held_reply(found) if found.needs_decision else None
    return render_template(
        "campaigns/conversation.html", line=line, conversation=found, items=inbox.thread(found), form=form,
        can_reply=can_reply, refusal=refusal, window_text=free_text.window_sentence(line.window), offered=offered,
        held=held, decision_form=DecisionForm(formdata=None),
        can_release=current_user.has_role(Role.REVIEWER), status_sentence=free_text.status_sentence,
        channel=line.sender.channel,
    ), status


@bp.post("/inbox/<int:conversation_id>/reply")
@role_required(Role.MARKETER)
def reply_conversation(conversation_id: int):
    found = _conversation_or_404(conversation_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _conversation_page(found, form, 400)
    try:
        message, new = free_text.prepare_reply(found, form.text.data or "", actor=_actor(), key=form.key.data or None)
    except DomainError as error:
        flash_refusal(error)
        return _conversation_page(found, form, error.status)
    if not new:
        flash(_("This reply was sent already; it is not sent twice."), "info")
        return redirect(url_for("campaigns.conversation", conversation_id=found.id))
    db.session.commit()  # the row exists before the request leaves: a status that overtakes the answer finds it
    result = free_text.deliver(message, actor=_actor())
    db.session.commit()
    sentence = free_text.result_sentence(message, result)
    flash(sentence, "info" if message.status not in ("failed", "unknown") else "error")
    return redirect(url_for("campaigns.conversation", conversation_id=found.id))


@bp.post("/inbox/<int:conversation_id>/decision")
@role_required(Role.MARKETER, Role.REVIEWER)
def decide_conversation(conversation_id: int):
    found = _conversation_or_404(conversation_id)
    form = DecisionForm()
    decision = request.form.get("decision")
    if not form.validate_on_submit() or decision not in ("refusal", "not_refusal"):
        abort(400)
    try:
        decided = inbox.decide(found, decision == "refusal", actor=_actor(), note=form.note.data or "")
    except DomainError as error:
        flash_refusal(error)
        return redirect(url_for("campaigns.conversation", conversation_id=found.id))
    db.session.commit()
    if not decided:
        flash(_("The reply had been decided on the suppression list already; the conversation is no longer "
                "flagged."), "info")
    elif decision == "refusal":
        flash(_("The number is opted out: nothing more is sent to it."), "info")
    else:
        flash(_("The reply is not a refusal: messages to the number may resume."), "info")
    return redirect(url_for("campaigns.conversation", conversation_id=found.id))
