"""Tables of the feedback loop: stored webhook bodies, conversations with their messages, notifications."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from dbtypes import BigId, UTCDateTime, utcnow, value_enum
from extensions import db


class WebhookEvent(db.Model):
    """One callback body exactly as the provider posted it, committed before we answer 200.

    This row is where an acknowledged event is durable: the receiver commits it, then answers; a worker
    (woken through Redis, or found by the sweep when Redis lost the wake-up) parses and applies it and
    sets ``processed_at`` in the same transaction as its effects. Meta re-posts an unanswered body
    unchanged, so (sender, digest) is unique and a retry of a stored body is acknowledged and dropped.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("sender_id", "digest"),
        # The workers' queue: the bodies not yet applied, oldest first.
        Index("ix_webhook_events_pending", "id", postgresql_where=text("processed_at IS NULL"),
              sqlite_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))  # whatsapp, max, telegram, sms
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id", ondelete="SET NULL"))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the body, hex
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed applications so far and the last error (for the operator); after the limit it is left alone.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Conversation(db.Model):
    """A customer's thread with one of our numbers, across campaigns: the inbox's unit."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("sender_id", "phone"),
        Index("ix_conversations_inbox", "unread", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id", ondelete="CASCADE"))
    # The customer: a number (E.164) on WhatsApp, the bot address (``ContactAddress.address``) on a bot.
    phone: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    profile_name: Mapped[str] = mapped_column(String(200), default="")
    provider_user_id: Mapped[str | None] = mapped_column(String(64))  # the business-scoped user id
    # The customer's last message: free text may go to them for 24 hours after it (the service window).
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unread: Mapped[int] = mapped_column(Integer, default=0)
    # A reply the classifier could not call: the number is held (suppressed) until a person decides.
    needs_decision: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Direction(str, enum.Enum):
    INBOUND = "in"
    OUTBOUND = "out"


class ConversationMessage(db.Model):
    """A message of a conversation: one a customer sent us, or free text we sent back."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        # A provider re-posts an inbound message; its id makes the second one a no-op.
        UniqueConstraint("conversation_id", "provider_message_id"),
        Index("ix_conversation_messages_thread", "conversation_id", "at"),
        # The sweep's look for outbound messages left queued or sending (a lost job, a dead worker): few rows of
        # a table that holds every message of every thread.
        Index("ix_conversation_messages_pending", "id", postgresql_where=text("status IN ('queued', 'sending')"),
              sqlite_where=text("status IN ('queued', 'sending')")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(value_enum(Direction, length=8))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    # Outbound only: our message key, so a confirmation or a reply goes out once however often it is retried.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="text")  # text, button, image, … as the provider names it
    text: Mapped[str] = mapped_column(Text, default="")
    button_payload: Mapped[str | None] = mapped_column(String(256))
    # The campaign message this answers (``context.id``, else the latest one sent to the number).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    intent: Mapped[str | None] = mapped_column(String(16))  # inbound: opt_out, opt_in, help, unsure, none
    status: Mapped[str | None] = mapped_column(String(16))  # outbound: sending, sent, delivered, read, failed
    error_code: Mapped[str | None] = mapped_column(String(32))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # None: automatic
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # the provider's time for inbound


class NotificationKind(str, enum.Enum):
    CIRCUIT_BREAKER = "circuit_breaker"  # a campaign's complaint rate passed the threshold: paused
    QUALITY_RED = "quality_red"  # the number's quality dropped to RED: its campaigns paused
    QUALITY_CHANGE = "quality_change"  # the number's quality or tier changed
    TEMPLATE_PAUSED = "template_paused"  # the provider paused or disabled a template: its campaigns paused
    UNSURE_REPLY = "unsure_reply"  # a reply may be a refusal: the number is held until someone decides


class Notification(db.Model):
    """Something reviewers must see at once (the badge and the list); ``params`` fill its sentence."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(value_enum(NotificationKind, length=32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Settled: the campaign was resumed, the reply decided; an unresolved one keeps the badge lit.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class NotificationRead(db.Model):
    """Who has seen which notification (the badge counts the unseen)."""

    __tablename__ = "notification_reads"
    __table_args__ = (PrimaryKeyConstraint("notification_id", "user_id"),)

    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
