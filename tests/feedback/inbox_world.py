"""Rows and events for the inbox tests: a sender with a campaign message that went out to a contact, the
inbound messages a provider would report, and applying them as the webhook processing does."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count as counter

from audience.models import Contact
from campaigns.feedback import replies
from campaigns.feedback.models import Conversation, ConversationMessage, Direction
from campaigns.feedback.routing import FeedbackContext
from campaigns.models import Message, MessageStatus, Sender
from channels.base import InboundMessage
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import add_contact
from tests.test_materialise import add_campaign, add_template

_ids = counter(1)


def sent(contact: Contact, sender: Sender, *, hours_ago: float = 1, provider_id: str | None = None) -> Message:
    """A campaign message of ``sender`` delivered to ``contact`` ``hours_ago``, with its provider id."""
    campaign = add_campaign(sender=sender, template=add_template())
    number = next(_ids)
    message = Message(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone, variables={},
                      idempotency_key=f"{campaign.id}-{contact.id}-{number}", status=MessageStatus.DELIVERED,
                      sent_at=utcnow() - timedelta(hours=hours_ago),
                      provider_message_id=provider_id or f"wamid.sent{number}")
    db.session.add(message)
    db.session.commit()
    return message


def inbound(phone: str, text: str = "Когда привезут заказ?", *, at: datetime | None = None,
            provider_id: str | None = None, context_id: str | None = None, name: str = "",
            payload: str | None = None) -> InboundMessage:
    """A message from ``phone`` (E.164) as the Cloud API channel parses it (the wa_id is the digits)."""
    return InboundMessage(provider_id=provider_id or f"wamid.in{next(_ids)}", sender=phone.lstrip("+"),
                          at=at or utcnow(), text=text, button_payload=payload, context_id=context_id,
                          profile_name=name, kind="button" if payload is not None else "text")


def apply(sender: Sender, events: list[InboundMessage], now: datetime | None = None) -> FeedbackContext:
    """Handle one batch of ``events`` of ``sender`` and commit it, as the processing of a batch does."""
    context = FeedbackContext(sender=db.session.get(Sender, sender.id), now=now or utcnow())
    replies.handle(context, events)
    db.session.commit()
    return context


def conversation_of(sender: Sender, phone: str) -> Conversation | None:
    db.session.expire_all()
    return db.session.query(Conversation).filter_by(sender_id=sender.id, phone=phone).one_or_none()


def thread_of(conversation: Conversation, direction: Direction | None = None) -> list[ConversationMessage]:
    query = db.session.query(ConversationMessage).filter_by(conversation_id=conversation.id)
    if direction is not None:
        query = query.filter_by(direction=direction)
    return query.order_by(ConversationMessage.at, ConversationMessage.id).all()


def a_contact(**fields) -> Contact:
    return add_contact(**fields)
