"""A Cloud API sender with its webhook secrets, campaigns on it, and their message rows."""

from __future__ import annotations

from itertools import count as counter
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns import senders
from campaigns.feedback.models import WebhookEvent
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender
from extensions import db
from tests.feedback.payloads import APP_SECRET, VERIFY_TOKEN, signed
from tests.feedback.receiver_process import EdgeProcess
from tests.test_materialise import add_campaign, add_contact

_numbers = counter(1)


def add_sender(name: str = "Магазин", phone: str = "+74951234567", **fields: Any) -> Sender:
    """A committed WhatsApp Cloud API sender whose callbacks are signed with ``APP_SECRET``."""
    fields.setdefault("phone_number_id", "106540352242922")
    fields.setdefault("waba_id", "102290129340398")
    sender = senders.create_sender(name, phone, channel="whatsapp_cloud", access_token="EAAG-test-token",
                                   app_secret=fields.pop("app_secret", APP_SECRET),
                                   verify_token=fields.pop("verify_token", VERIFY_TOKEN), **fields)
    db.session.commit()
    return sender


@pytest.fixture
def cloud_sender(app) -> Sender:
    return add_sender()


def campaign_of(sender: Sender, status: CampaignStatus = CampaignStatus.SENDING) -> Campaign:
    return add_campaign(status=status, sender=sender)


def add_message(campaign: Campaign, status: MessageStatus = MessageStatus.SENT, *, phone: str | None = None,
                **fields: Any) -> Message:
    """One committed message row of ``campaign`` (a key and a wamid of its own unless given)."""
    number = next(_numbers)
    contact = add_contact(phone)
    fields.setdefault("idempotency_key", f"key-{campaign.id}-{number}")
    fields.setdefault("provider_message_id", f"wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI{number:08d}")
    message = Message(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone, variables={},
                      status=status, **fields)
    db.session.add(message)
    db.session.commit()
    return message


def stored() -> list[WebhookEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def pending() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.processed_at.is_(None)))


def fresh(message: Message) -> Message:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Message, message.id)


def url_of(sender: Sender | int) -> str:
    return f"/webhooks/whatsapp/{getattr(sender, 'id', sender)}"


def post(client, sender: Sender | int, raw: bytes, secret: str = APP_SECRET, headers: dict | None = None):
    """POST ``raw`` to the sender's webhook, signed with ``secret`` (or with exactly ``headers``)."""
    return client.post(url_of(sender), data=raw, headers=signed(raw, secret) if headers is None else headers)


@pytest.fixture
def start_receiver(app, database_url, redis_url, tmp_path):
    """Start ``python webhooks.py`` on the test's database and Redis (with ``settings`` as environment)."""
    started: list[EdgeProcess] = []

    def start(**settings: str) -> EdgeProcess:
        edge = EdgeProcess({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING",
                            "VESTNIK_INSTANCE_PATH": str(tmp_path / "instance"),
                            "SECRET_KEY": "receiver-test-secret-key-long-enough-for-production",
                            "VESTNIK_SECRETS_KEY": ", ".join(app.config["SECRETS_KEYS"]), **settings}).start()
        started.append(edge)
        return edge

    yield start
    for edge in started:
        edge.stop()
