"""The inbox: conversations per contact across campaigns, unread first, each thread with the campaign message
every reply answers, and the decision on a reply compliance was unsure about.

The same functions serve the pages, the JSON API and the CLI; they read, or add and flush (the edge commits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update

from accounts.models import Role, User
from audience.models import Contact
from campaigns.feedback import free_text
from campaigns.feedback.models import Conversation, ConversationMessage, Direction, Notification, NotificationKind
from campaigns.models import Campaign, Message, Sender, Template
from compliance.keywords import Intent
from compliance.models import SuppressionError, SuppressionReason
from compliance.replies import decide_unsure
from dbtypes import utcnow
from domain_errors import DomainError
from extensions import db

PAGE_SIZE = 50
FILTERS = ("unread", "unsure")
# What compliance made of an inbound message (``ConversationMessage.intent``).
INTENT_LABELS = {
    Intent.OPT_OUT: _l("Opted out by this reply"),
    Intent.OPT_IN: _l("Subscribed again by this reply"),
    Intent.HELP: _l("Asked for help: the rules of the messages were sent"),
    Intent.UNSURE: _l("May be a refusal: the number is held until someone decides"),
    Intent.NONE: _l("An ordinary reply"),
}
# The kinds of message a person may send, as the provider names them.
KIND_LABELS = {
    "text": _l("text"), "button": _l("button reply"), "interactive": _l("interactive reply"), "image": _l("image"),
    "audio": _l("voice or audio"), "video": _l("video"), "document": _l("document"), "sticker": _l("sticker"),
    "location": _l("location"), "contacts": _l("contact card"), "reaction": _l("reaction"),
    "unsupported": _l("unsupported message"),
}


class InboxError(DomainError):
    """An inbox step cannot be taken as asked (no such conversation, nothing to decide)."""


@dataclass(frozen=True)
class Entry:
    """One line of the inbox."""

    conversation: Conversation
    sender: Sender
    contact_name: str | None
    last_text: str
    last_direction: Direction | None
    window: free_text.Window

    @property
    def name(self) -> str:
        """Who the person is: the contact's name, else their WhatsApp profile name, else the number."""
        return self.contact_name or self.conversation.profile_name or self.conversation.phone


@dataclass(frozen=True)
class ThreadItem:
    """One message of a thread, with the campaign message it answers (inbound) or who sent it (outbound)."""

    message: ConversationMessage
    campaign_id: int | None
    campaign_name: str | None
    template_name: str | None
    template_id: int | None
    author: str | None  # outbound: the person who wrote it; None for the automatic confirmation


def get_conversation(conversation_id: int) -> Conversation:
    """The conversation, or ``InboxError`` (404)."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None:
        raise InboxError(_("There is no conversation with this id."), status=404)
    return conversation


def _last_message():
    """The newest message of each conversation: its text and direction (a correlated subquery per column)."""
    def newest(column):
        return (select(column).where(ConversationMessage.conversation_id == Conversation.id)
                .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc()).limit(1)
                .correlate(Conversation).scalar_subquery())

    return newest(ConversationMessage.text), newest(ConversationMessage.direction)


def list_conversations(filter: str | None = None, page: int = 1, size: int = PAGE_SIZE,
                       now: datetime | None = None) -> tuple[list[Entry], bool]:
    """One page of the inbox — conversations with unread messages first, then the newest — and whether there
    is a next page. ``filter``: ``unread`` or ``unsure`` (a reply waiting for a decision)."""
    now = now or utcnow()
    text, direction = _last_message()
    query = (select(Conversation, Sender, Contact.name, text, direction)
             .join(Sender, Sender.id == Conversation.sender_id)
             .outerjoin(Contact, Contact.id == Conversation.contact_id))
    if filter == "unread":
        query = query.where(Conversation.unread > 0)
    elif filter == "unsure":
        query = query.where(Conversation.needs_decision.is_(True))
    query = query.order_by(case((Conversation.unread > 0, 0), else_=1), Conversation.last_message_at.desc(),
                           Conversation.id.desc())
    page = max(page, 1)
    rows = db.session.execute(query.offset((page - 1) * size).limit(size + 1)).all()
    entries = [Entry(conversation, sender, name, last or "", Direction(way) if way else None,
                     free_text.window_of(conversation, sender, now))
               for conversation, sender, name, last, way in rows[:size]]
    return entries, len(rows) > size


def counts() -> dict[str, int]:
    """How many conversations have unread messages, and how many a reply waiting for a decision."""
    unread, unsure = db.session.execute(
        select(func.count().filter(Conversation.unread > 0), func.count().filter(Conversation.needs_decision.is_(True)))
    ).one()
    return {"unread": unread or 0, "unsure": unsure or 0}


def unread_count() -> int:
    """Conversations with unread messages (the navigation's count)."""
    return db.session.scalar(select(func.count()).where(Conversation.unread > 0)) or 0


def entry(conversation: Conversation, now: datetime | None = None) -> Entry:
    """The inbox line of one conversation."""
    sender = db.session.get(Sender, conversation.sender_id)
    contact = db.session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    last = db.session.execute(
        select(ConversationMessage.text, ConversationMessage.direction)
        .where(ConversationMessage.conversation_id == conversation.id)
        .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc()).limit(1)).first()
    return Entry(conversation, sender, contact.name if contact else None, last[0] if last else "",
                 last[1] if last else None, free_text.window_of(conversation, sender, now))


def thread(conversation: Conversation) -> list[ThreadItem]:
    """The conversation's messages, oldest first, each inbound one with the campaign message it answers."""
    rows = db.session.execute(
        select(ConversationMessage, Campaign.id, Campaign.name, Template.name, Template.id, User.name, User.email)
        .outerjoin(Message, Message.id == ConversationMessage.message_id)
        .outerjoin(Campaign, Campaign.id == func.coalesce(ConversationMessage.campaign_id, Message.campaign_id))
        .outerjoin(Template, Template.id == Campaign.template_id)
        .outerjoin(User, User.id == ConversationMessage.sent_by_id)
        .where(ConversationMessage.conversation_id == conversation.id)
        .order_by(ConversationMessage.at, ConversationMessage.id))
    return [ThreadItem(message, campaign_id, campaign_name, template_name, template_id,
                       (user_name or user_email) if (user_name or user_email) else None)
            for message, campaign_id, campaign_name, template_name, template_id, user_name, user_email in rows]


def mark_read(conversation: Conversation) -> bool:
    """The conversation's messages are read (opened by a marketer); True if some were unread."""
    changed = db.session.execute(
        update(Conversation).where(Conversation.id == conversation.id, Conversation.unread > 0)
        .values(unread=0).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(conversation)
    return bool(changed)


def decide(conversation: Conversation, refusal: bool, *, actor: Any, note: str = "") -> bool:
    """A person's decision on the conversation's unsure reply: ``refusal`` opts the number out, otherwise
    messages may resume — a reviewer's call (admins hold every role); ``compliance.replies.decide_unsure``
    applies and audits it. Every conversation of the number stops being flagged and their open notifications
    are resolved by ``actor``. Returns False when the hold had been decided elsewhere already (the suppression
    list): only the flags are cleared then. ``InboxError``: 403 when the actor may not decide so, 409 when
    nothing waits for a decision (someone else decided first)."""
    if not refusal and actor is not None and not actor.has_role(Role.REVIEWER):
        raise InboxError(_("Only a reviewer can decide that a reply was not a refusal."), status=403)
    if not conversation.needs_decision:
        raise InboxError(_("No reply in this conversation waits for a decision."), status=409)
    person = free_text.person_of(conversation)
    held = SuppressionReason.UNSURE_REPLY in free_text.held_reasons_of(conversation)
    if held:
        try:
            # A bot's person is keyed by the address key (first), then the number and their other addresses.
            decide_unsure(person.keys[0], refusal, actor=actor, note=note, person_keys=person.keys)
        except SuppressionError as error:  # another person's decision won the race
            raise InboxError(*error.args, status=409) from None
    # A number is the person on every WhatsApp sender; a bot address is only this bot's.
    resolve(conversation.phone, actor, sender_id=None if conversation.phone.startswith("+") else conversation.sender_id)
    db.session.refresh(conversation)
    return held


def resolve(phone: str, actor: Any, sender_id: int | None = None) -> int:
    """Clear the flag of every conversation of ``phone`` (of the bot ``sender_id`` only, where ``phone`` is a bot
    address, which another bot may use for somebody else) and resolve their open unsure-reply notifications by
    ``actor``; returns how many notifications were open."""
    query = select(Conversation.id).where(Conversation.phone == phone)
    if sender_id is not None:
        query = query.where(Conversation.sender_id == sender_id)
    ids = list(db.session.scalars(query))
    if not ids:
        return 0
    db.session.execute(update(Conversation).where(Conversation.id.in_(ids)).values(needs_decision=False)
                       .execution_options(synchronize_session=False))
    return db.session.execute(
        update(Notification)
        .where(Notification.conversation_id.in_(ids), Notification.kind == NotificationKind.UNSURE_REPLY,
               Notification.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolved_by_id=getattr(actor, "id", None))
        .execution_options(synchronize_session=False)).rowcount


def held_reply(conversation: Conversation) -> ConversationMessage | None:
    """The newest inbound message compliance was unsure about (what the person decides on)."""
    return db.session.scalar(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation.id,
               ConversationMessage.direction == Direction.INBOUND, ConversationMessage.intent == "unsure")
        .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc()).limit(1))


# --- as JSON (the API and the CLI) -----------------------------------------------------------------------

def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def entry_json(line: Entry) -> dict[str, Any]:
    """One conversation as the API lists it."""
    conversation = line.conversation
    return {"id": conversation.id, "sender_id": conversation.sender_id, "sender": line.sender.name,
            "phone": conversation.phone, "contact_id": conversation.contact_id, "name": line.name,
            "profile_name": conversation.profile_name, "unread": conversation.unread,
            "needs_decision": conversation.needs_decision, "last_message": line.last_text,
            "last_direction": line.last_direction.value if line.last_direction else None,
            "last_inbound_at": _time(conversation.last_inbound_at),
            "last_message_at": _time(conversation.last_message_at),
            "window": {"open": line.window.open, "hours": line.window.hours, "closes_at": _time(line.window.closes_at),
                       "sentence": free_text.window_sentence(line.window)}}


def item_json(item: ThreadItem, channel: str) -> dict[str, Any]:
    """One message of a thread as JSON, with the campaign message it answers and a failure's sentence."""
    message = item.message
    data = {"id": message.id, "direction": message.direction.value, "at": _time(message.at), "kind": message.kind,
            "text": message.text, "provider_message_id": message.provider_message_id}
    if message.direction is Direction.INBOUND:
        data.update(button_payload=message.button_payload, intent=message.intent,
                    answers={"message_id": message.message_id, "campaign_id": item.campaign_id,
                             "campaign": item.campaign_name, "template": item.template_name}
                    if item.campaign_id else None)
    else:
        data.update(key=message.idempotency_key, status=message.status, error_code=message.error_code,
                    sentence=free_text.status_sentence(message, channel) or None, sent_by_id=message.sent_by_id,
                    automatic=message.sent_by_id is None and (message.idempotency_key or "").startswith("confirm-"))
    return data
