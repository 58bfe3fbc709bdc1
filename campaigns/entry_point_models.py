"""Entry-point tables: the public ways in (a subscribe page, its QR codes and deep links), the bots and numbers
each offers, the personal tokens minted for known contacts, and every start that came through them.

An entry point's ``code`` is its public name (``/subscribe/<code>``, a bot's start payload, the WhatsApp
``<keyword> <code>`` message); a personal token links one known contact. The counters are incremented by
``UPDATE … SET n = n + 1`` (``campaigns.entry_points``), never read and written back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dbtypes import BigId, UTCDateTime, utcnow
from extensions import db


class EntryPoint(db.Model):
    """A named way in with a public code, the channels it offers, and what came through it."""

    __tablename__ = "entry_points"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-case letters and digits without look-alikes: typed by hand in a WhatsApp message, read off a poster.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    # The first word of the WhatsApp message "<keyword> <code>" (matched case-insensitively).
    keyword: Mapped[str] = mapped_column(String(32), default="")
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    source_label: Mapped[str] = mapped_column(String(100), default="")  # "poster in the shop", "order e-mail"
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    visits: Mapped[int] = mapped_column(Integer, default=0)  # views of the public page (no bots, no HEAD)
    starts: Mapped[int] = mapped_column(Integer, default=0)  # bot starts and WhatsApp keyword messages
    opt_ins: Mapped[int] = mapped_column(Integer, default=0)  # starts that created or reopened an address


class EntryPointSender(db.Model):
    """One sender an entry point offers: a bot (its deep link) or a WhatsApp number (its wa.me link)."""

    __tablename__ = "entry_point_senders"

    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id", ondelete="CASCADE"), primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # the order of the page's buttons


class EntryToken(db.Model):
    """A personal token: a bot start with it links the address to this one contact (an order e-mail, an SMS).
    Any number of starts may use it, all for the same contact, until it expires."""

    __tablename__ = "entry_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EntryStart(db.Model):
    """One start through an entry point, once per provider event: a redelivered update is not a second start.
    ``opted_in``: the start created or reopened the address (a new WhatsApp contact)."""

    __tablename__ = "entry_starts"
    __table_args__ = (UniqueConstraint("sender_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("entry_tokens.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(64))  # the bot address, or the WhatsApp number
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    opted_in: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
