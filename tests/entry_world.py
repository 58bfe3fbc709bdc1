"""Bots, a WhatsApp number and entry points offering them, and bot starts fed through the feedback routing
as the webhook processing feeds a batch."""

from __future__ import annotations

from datetime import datetime
from itertools import count as counter

from campaigns import entry_points
from campaigns.entry_point_models import EntryPoint
from campaigns.entry_points import Changes
from campaigns.feedback import routing
from campaigns.feedback.routing import FeedbackContext
from campaigns.models import Sender
from channels.base import BotStarted, InboundMessage
from dbtypes import utcnow
from extensions import db

_ids = counter(1)


def a_whatsapp(name: str = "Магазин WhatsApp", phone: str = "+74951110000") -> Sender:
    sender = Sender(name=name, phone=phone, tier="TIER_UNLIMITED", channel="sandbox")
    db.session.add(sender)
    db.session.commit()
    return sender


def an_entry_point(*senders: Sender, name: str = "Плакат у кассы", keyword: str = "ПОДПИСКА",
                   expires_at: datetime | None = None) -> EntryPoint:
    entry_point = entry_points.create_entry_point(Changes(name=name, sender_ids=tuple(s.id for s in senders),
                                                          keyword=keyword, expires_at=expires_at))
    db.session.commit()
    return entry_point


def started(address: str = "1001", payload: str | None = None, *, event_id: str | None = None,
            at: datetime | None = None, name: str = "Аня", language: str | None = "ru") -> BotStarted:
    return BotStarted(address=address, at=at or utcnow(), event_id=event_id or f"upd.{next(_ids)}",
                      payload=payload, profile_name=name, user_id=address, language=language)


def whatsapp_text(phone: str, text: str, *, provider_id: str | None = None, name: str = "Иван") -> InboundMessage:
    return InboundMessage(provider_id=provider_id or f"wamid.entry{next(_ids)}", sender=phone.lstrip("+"),
                          at=utcnow(), text=text, profile_name=name)


def feed(sender: Sender, events: list) -> dict[str, int]:
    """Route one batch of ``sender``'s events and commit it, as the webhook processing does."""
    handled = routing.route(FeedbackContext(sender=db.session.get(Sender, sender.id), now=utcnow()), events)
    db.session.commit()
    return handled


def fresh(entry_point: EntryPoint) -> EntryPoint:
    db.session.expire_all()
    return db.session.get(EntryPoint, entry_point.id)
