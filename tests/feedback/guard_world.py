"""Bodies of preference changes, block reports, template and quality updates from ``testdata/``, fitted to a
test's numbers and times, and the rows they act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from campaigns.feedback import jobs
from campaigns.feedback.models import Notification, NotificationKind
from campaigns.models import Campaign, Message, MessageStatus
from compliance.models import Suppression
from extensions import db
from tests.feedback.conftest import pending, post
from tests.feedback.payloads import load
from tests.test_materialise import add_contact

T = 1764658900  # the fixtures' time: 2025-12-02 07:01:40 UTC


def at(seconds: int = 0) -> datetime:
    return datetime.fromtimestamp(T + seconds, UTC)


def _value(document: dict[str, Any]) -> dict[str, Any]:
    return document["entry"][0]["changes"][0]["value"]


def preference(value: str, phone: str, seconds: int = 0, name: str = "Анна Смирнова") -> bytes:
    """``user_preferences_<value>`` for ``phone`` (E.164) at ``T + seconds``."""
    document = load(f"user_preferences_{value}")
    item = _value(document)
    item["contacts"] = [{"profile": {"name": name}, "wa_id": phone.lstrip("+")}]
    item["user_preferences"][0].update(wa_id=phone.lstrip("+"), timestamp=T + seconds)
    return json.dumps(document, ensure_ascii=False).encode()


def report(kind: str, *phones: str, seconds: int = 0) -> bytes:
    """One ``vestnik_block_reports`` body: a ``kind`` report ("block", "spam_report") for each of ``phones``."""
    document = load("vestnik_block_report")
    _value(document)["block_reports"] = [
        {"wa_id": phone.lstrip("+"), "kind": kind, "timestamp": T + seconds,
         "id": f"{kind}.106540352242922.{phone.lstrip('+')}.{T + seconds}"} for phone in phones]
    return json.dumps(document, ensure_ascii=False).encode()


def fixture(name: str, **value: Any) -> bytes:
    """``testdata/<name>.json`` with fields of its value replaced."""
    document = load(name)
    _value(document).update(value)
    return json.dumps(document, ensure_ascii=False).encode()


def apply(client, sender, *raws: bytes) -> dict:
    """Post each body signed to the sender's webhook, then let the job apply them (one batch)."""
    for raw in raws:
        response = post(client, sender, raw)
        assert response.status_code == 200, response.get_data(as_text=True)
    done = jobs.process_webhooks()
    assert pending() == 0 and done["isolated"] == 0, done
    return done


def suppressions(phone: str) -> list[Suppression]:
    db.session.rollback()
    return list(db.session.scalars(select(Suppression).where(Suppression.phone == phone).order_by(Suppression.id)))


def notifications(kind: NotificationKind | None = None) -> list[Notification]:
    db.session.rollback()
    query = select(Notification).order_by(Notification.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def campaign_now(campaign: Campaign | int) -> Campaign:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Campaign, getattr(campaign, "id", campaign))


def delivered(campaign: Campaign, count: int, *, sent: datetime | None = None) -> list[str]:
    """``count`` delivered messages of ``campaign``, each to a new contact, sent before the fixtures' time (the
    oldest first); their numbers, committed."""
    sent = sent or at(-3600)
    phones = []
    for index in range(count):
        contact = add_contact()
        moment = sent + timedelta(seconds=index)
        db.session.add(Message(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone, variables={},
                               status=MessageStatus.DELIVERED, idempotency_key=f"guard-{campaign.id}-{contact.id}",
                               provider_message_id=f"wamid.guard{campaign.id}x{contact.id}", sent_at=moment,
                               delivered_at=moment + timedelta(seconds=2)))
        phones.append(contact.phone)
    db.session.commit()
    return phones
