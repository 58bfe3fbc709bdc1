"""JSON API of the inbox under /api/v1/conversations: the list, a thread, marking it read, replying, and the
decision on an unsure reply.

Marketers (and admins) list, read and reply; the decision is also a reviewer's (only a reviewer, or an admin,
may decide that a reply was not a refusal). A reply outside the 24-hour window, or to a number that may not
be messaged, is a 409 problem with the sentence; ``idempotency_key`` (optional, up to 50 letters, digits,
``-`` or ``_``) makes a repeated request return the first reply instead of sending another.
"""

from __future__ import annotations

import hashlib
import re

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from campaigns.api import bp
from campaigns.feedback import free_text, inbox
from domain_errors import DomainError
from extensions import db

_CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,50}$")


def _actor():
    return current_user._get_current_object()


def _thread_json(conversation) -> dict:
    line = inbox.entry(conversation)
    return {**inbox.entry_json(line),
            "messages": [inbox.item_json(item, line.sender.channel) for item in inbox.thread(conversation)]}


@bp.get("/conversations")
@role_required(Role.MARKETER)
def conversations_list():
    chosen = request.args.get("filter") or None
    if chosen is not None and chosen not in inbox.FILTERS:
        raise DomainError(_("Unknown filter: %(filter)s (use unread or unsure).", filter=chosen[:40]), field="filter")
    page = request.args.get("page", "1")
    if not (page.isascii() and page.isdigit() and 0 < len(page) < 6 and int(page) > 0):
        raise DomainError(_("The page must be a whole number from 1."), field="page")
    entries, more = inbox.list_conversations(chosen, int(page))
    return jsonify(conversations=[inbox.entry_json(line) for line in entries], page=int(page), more=more)


@bp.get("/conversations/<int:conversation_id>")
@role_required(Role.MARKETER, Role.REVIEWER)
def conversation_thread(conversation_id: int):
    return jsonify(_thread_json(inbox.get_conversation(conversation_id)))


@bp.post("/conversations/<int:conversation_id>/read")
@role_required(Role.MARKETER)
def conversation_read(conversation_id: int):
    conversation = inbox.get_conversation(conversation_id)
    inbox.mark_read(conversation)
    db.session.commit()
    return jsonify(_thread_json(conversation))


@bp.post("/conversations/<int:conversation_id>/reply")
@role_required(Role.MARKETER)
def conversation_reply(conversation_id: int):
    conversation = inbox.get_conversation(conversation_id)
    body = json_body()
    text, client_key = body.get("text"), body.get("idempotency_key")
    if not isinstance(text, str):
        raise DomainError(_("Give the reply's text."), field="text")
    if client_key is not None and not (isinstance(client_key, str) and _CLIENT_KEY.match(client_key)):
        raise DomainError(_("The idempotency key is up to 50 letters, digits, hyphens or underscores."),
                          field="idempotency_key")
    key = (f"reply-{hashlib.sha256(f'{current_user.id}:{client_key}'.encode()).hexdigest()[:32]}"
           if client_key else None)
    message, new = free_text.prepare_reply(conversation, text, actor=_actor(), key=key)
    result = None
    if new:
        db.session.commit()  # the row exists before the request leaves
        result = free_text.deliver(message, actor=_actor())
        db.session.commit()
    line = inbox.entry(conversation)
    item = next(item for item in inbox.thread(conversation) if item.message.id == message.id)
    return jsonify(message=inbox.item_json(item, line.sender.channel), sent_now=new,
                   sentence=free_text.result_sentence(message, result)), 201 if new else 200


@bp.post("/conversations/<int:conversation_id>/decision")
@role_required(Role.MARKETER, Role.REVIEWER)
def conversation_decision(conversation_id: int):
    conversation = inbox.get_conversation(conversation_id)
    body = json_body()
    refusal, note = body.get("refusal"), body.get("note", "")
    if not isinstance(refusal, bool):
        raise DomainError(_("Say whether the reply was a refusal: refusal is true or false."), field="refusal")
    if not isinstance(note, str) or len(note) > 2000:
        raise DomainError(_("The note is text of up to 2000 characters."), field="note")
    decided = inbox.decide(conversation, refusal, actor=_actor(), note=note)
    db.session.commit()
    return jsonify({**_thread_json(conversation), "decided_now": decided})
