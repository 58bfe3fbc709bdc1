"""Bot senders, contacts with addresses on them and bot campaigns, built from rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from itertools import count as counter

from audience import addresses
from audience.models import Contact, ContactAddress
from campaigns import sender_secrets
from campaigns.models import Sender
from channels.sandbox import defaults as sandbox_defaults
from dbtypes import utcnow
from extensions import db

_ids = counter(5_000_001)
_names = counter(1)


def a_bot(name: str = "Бот MAX", channel: str = "max", username: str = "shop_bot") -> Sender:
    """A committed bot sender on ``channel`` with no connection details (for what needs only the row)."""
    bot = Sender(name=name, phone=None, channel=channel, bot_username=username)
    db.session.add(bot)
    db.session.commit()
    return bot


def add_bot(channel: str = "max", base_url: str = "http://127.0.0.1:9", *, token: str | None = None,
            messages_per_second: int = 30) -> Sender:
    """A committed bot sender on ``channel`` (no number), with the sandbox's token for that channel by default."""
    name = f"{channel.title()} bot {next(_names)}"
    token = token or (sandbox_defaults.MAX_TOKEN if channel == "max" else sandbox_defaults.TELEGRAM_TOKEN)
    sender = Sender(name=name, phone=None, channel=channel, base_url=base_url, bot_username="shop_bot",
                    tier="TIER_250", messages_per_second=messages_per_second,
                    access_token_encrypted=sender_secrets.encrypt(token), access_token_last4=token[-4:])
    db.session.add(sender)
    db.session.commit()
    return sender


def start_bot(bot: Sender, contact: Contact | None = None, *, address: str | None = None,
              days_ago: float = 1) -> ContactAddress:
    """The person started ``bot`` (their address is active): linked to ``contact``, else a new messenger-only
    contact. Committed."""
    address = address or str(next(_ids))
    row, _new = addresses.link_address(
        sender_id=bot.id, channel=bot.channel, address=address, at=utcnow() - timedelta(days=days_ago),
        consent_source="qr:shop", event_id=f"start-{address}", user_id=address,
        contact_id=contact.id if contact is not None else None)
    db.session.commit()
    return row


def messenger_only(bot: Sender, **fields) -> tuple[Contact, ContactAddress]:
    """A person who came in through ``bot`` and never gave a number, tagged into the default segments."""
    row = start_bot(bot)
    contact = db.session.get(Contact, row.contact_id)
    for name, value in {"country": "RU", "tags": "|promo|", **fields}.items():
        setattr(contact, name, value)
    db.session.commit()
    return contact, row
