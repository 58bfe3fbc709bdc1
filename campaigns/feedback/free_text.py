"""Free text in a conversation: the service window, sending a reply through the sender's channel, and what
the provider says of it afterwards.

A channel with a service window (WhatsApp: ``Capabilities.service_window_hours`` = 24) takes free text
(``MessageKind.TEXT``) only that long after the person's last message, which the platform records as
``Conversation.last_inbound_at``. Outside it only an approved template may go, so a reply is refused here
before any request, with a sentence the inbox shows (and the page offers a template instead). Nothing goes
to a number that blocked or reported us, nor to one held for a person's decision on an unsure reply.

Every outbound message is a ``ConversationMessage`` with our key (``reply-…`` for a person's reply,
``confirm-<inbound id>`` for the automatic confirmation): the key travels with the message
(``biz_opaque_callback_data``), so an idempotent channel never delivers it twice and the statuses that come
back find it. Sending is two steps with a commit between them, as the edges (the inbox's views and API, the
confirmation job) do it: the row is written ``sending`` (or claimed from ``queued``) and committed, then
:func:`deliver` makes the request and records the answer — so a status webhook that overtakes the answer
finds the row, and a process that dies mid-request leaves a row the sweep can see.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update

from audience import addresses
from audience.models import AddressChannel, AddressStatus, Contact
from campaigns import senders
from campaigns.feedback.models import Conversation, ConversationMessage, Direction
from campaigns.models import Sender
from campaigns.provider_calls import call_provider
from channels.base import (
    ChannelError,
    DeliveryStatus,
    MessageKind,
    Outbound,
    ResultKind,
    SendResult,
    StatusEvent,
)
from channels.errors import sentence_for
from channels.registry import CHANNELS
from compliance import audit, suppression
from compliance.models import SuppressionReason
from dbtypes import UTCDateTime, utcnow
from domain_errors import DomainError
from extensions import db

# The free text one message may carry (the Cloud API's limit of a text body).
MAX_TEXT = 4096
KEY_LIMIT = 64  # ConversationMessage.idempotency_key
REPLY_KEY = re.compile(r"^reply-[0-9a-f]{32}$")
# Numbers nothing is sent to, whoever asks: they blocked or reported us, or a person has yet to decide
# whether their reply was a refusal ("when in doubt, do not send").
NEVER_SEND = (SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT, SuppressionReason.UNSURE_REPLY)
# Senders that are messenger bots: their conversation's ``phone`` holds the bot address the person writes from
# (unique per bot as a number is per WhatsApp sender), and the person is keyed by the address key.
BOT_CHANNELS = frozenset(channel.value for channel in AddressChannel)


class OutboundStatus(str, enum.Enum):
    """Where an outbound conversation message stands (stored as its value in ``ConversationMessage.status``)."""

    QUEUED = "queued"  # waiting for its job (the automatic confirmation)
    SENDING = "sending"  # the request is on its way
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    # The request may have gone and no answer came (a timeout on a channel without idempotent sends): it is
    # not sent again; a status carrying its key settles it.
    UNKNOWN = "unknown"


STATUS_LABELS = {
    OutboundStatus.QUEUED: _l("waiting to be sent"),
    OutboundStatus.SENDING: _l("sending"),
    OutboundStatus.SENT: _l("sent"),
    OutboundStatus.DELIVERED: _l("delivered"),
    OutboundStatus.READ: _l("read"),
    OutboundStatus.FAILED: _l("not sent"),
    OutboundStatus.UNKNOWN: _l("outcome unknown"),
}
# Our own codes for a message that never reached the provider (the provider's codes are worded by the channel).
WINDOW_CLOSED = "window_closed"
NOT_SENDABLE = "not_sendable"
OWN_CODES = {
    WINDOW_CLOSED: _l("The 24-hour window closed before the message could be sent, so it was not sent."),
    NOT_SENDABLE: _l("The number may not be messaged now (it blocked us, reported spam or waits for a decision), "
                     "so the message was not sent."),
}


class FreeTextError(DomainError):
    """Free text cannot be sent as asked (the window is closed, the number may not be messaged, no text)."""

    status = 409


@dataclass(frozen=True)
class Window:
    """The service window of a conversation: whether free text may go now, and until when."""

    open: bool
    hours: int | None  # the channel's window; None: the channel has none (free text any time)
    closes_at: datetime | None  # when it closes (closed: when it closed); None without a window or a message


def window_of(conversation: Conversation, sender: Sender, now: datetime | None = None) -> Window:
    """The conversation's service window on its sender's channel, at ``now``: open only while the person's
    last message is less than the channel's ``service_window_hours`` old."""
    hours = CHANNELS[sender.channel].capabilities.service_window_hours
    if hours is None:
        return Window(True, None, None)
    if conversation.last_inbound_at is None:
        return Window(False, hours, None)
    closes_at = conversation.last_inbound_at + timedelta(hours=hours)
    return Window((now or utcnow()) < closes_at, hours, closes_at)


def window_sentence(window: Window) -> str:
    """The window in the marketer's words, for the inbox."""
    if window.hours is None:
        return _("This channel sends free text at any time.")
    if window.closes_at is None:
        return _("This person has not written to this number yet, so only an approved template can be sent.")
    if window.open:
        return _("The window is open until %(at)s UTC: free text can be sent.",
                 at=window.closes_at.strftime("%Y-%m-%d %H:%M"))
    return _("More than %(hours)s hours have passed since the person last wrote (the window closed at %(at)s UTC), "
             "so only an approved template can be sent.", hours=window.hours,
             at=window.closes_at.strftime("%Y-%m-%d %H:%M"))


def held_reasons(phone: str) -> list[SuppressionReason]:
    """The open suppressions of ``phone`` that forbid any message to it."""
    return [entry.reason for entry in suppression.open_entries(phone) if entry.reason in NEVER_SEND]


@dataclass(frozen=True)
class Person:
    """Who a conversation is with, as the suppression list keys them: the number (WhatsApp), or for a bot the
    address key first, then the contact's number and other address keys; ``closed`` when the bot may not write
    to the address (stopped, unreachable, unknown)."""

    keys: tuple[str, ...]
    closed: bool = False


def person_of(conversation: Conversation, sender: Sender | None = None) -> Person:
    """The person of ``conversation`` (see ``Person``)."""
    sender = sender or db.session.get(Sender, conversation.sender_id)
    if sender.channel not in BOT_CHANNELS:
        return Person((conversation.phone,))
    row = addresses.find_address(sender.id, conversation.phone)
    if row is None:
        return Person((), closed=True)
    contact = db.session.get(Contact, row.contact_id)
    keys = [row.address_key, *(addresses.person_keys(contact) if contact else [])]
    return Person(tuple(dict.fromkeys(keys)), closed=row.status is not AddressStatus.ACTIVE)


def held_reasons_of(conversation: Conversation, sender: Sender | None = None) -> list[SuppressionReason]:
    """The open suppressions of the conversation's person (every key of theirs) that forbid any message."""
    return [reason for key in person_of(conversation, sender).keys for reason in held_reasons(key)]


def refusal(conversation: Conversation, sender: Sender, now: datetime | None = None) -> str | None:
    """Why free text cannot go to the conversation now (a sentence), or None when it can."""
    capabilities = CHANNELS[sender.channel].capabilities
    if MessageKind.TEXT not in capabilities.kinds:
        return _("The sender's channel cannot send free text; send an approved template instead.")
    person = person_of(conversation, sender)
    if person.closed:
        return _("This person stopped the bot (or the chat no longer exists), so the bot cannot write to them.")
    held = [reason for key in person.keys for reason in held_reasons(key)]
    if conversation.needs_decision or SuppressionReason.UNSURE_REPLY in held:
        return _("A reply of this person may be a refusal: decide on it first. Until then nothing is sent to them.")
    if held:
        return _("This person blocked the number or reported it as spam, so nothing is sent to them.")
    window = window_of(conversation, sender, now)
    if not window.open:
        return window_sentence(window)
    return None


def new_reply_key() -> str:
    """A fresh key for a person's reply (the form carries it, so a second submission sends nothing more)."""
    return f"reply-{uuid.uuid4().hex}"


def confirmation_key(inbound_provider_id: str) -> str:
    """The key of the confirmation of one inbound message: ``confirm-<its provider id>``, or of its SHA-256
    when that would not fit the column (real wamids are around 60 characters)."""
    key = f"confirm-{inbound_provider_id}"
    if len(key) <= KEY_LIMIT:
        return key
    return "confirm-" + hashlib.sha256(inbound_provider_id.encode()).hexdigest()[:KEY_LIMIT - 8]


# --- a person's reply ------------------------------------------------------------------------------------

def prepare_reply(conversation: Conversation, text: str, *, actor: Any, key: str | None = None,
                  now: datetime | None = None) -> tuple[ConversationMessage, bool]:
    """The reply ``text`` from ``actor`` as a ``sending`` row of the conversation, and whether it is new: a key
    already used returns its row (a form posted twice sends once). Raises ``FreeTextError`` with the sentence
    when it cannot go (no text, too long, window closed, the number held). Flushes; the edge commits, then
    calls :func:`deliver`."""
    key = key or new_reply_key()
    if not REPLY_KEY.match(key):
        raise FreeTextError(_("The reply's key is not one this page made; reload the page and write it again."),
                            field="key", status=400)
    existing = db.session.scalar(select(ConversationMessage).where(ConversationMessage.idempotency_key == key))
    if existing is not None:
        if existing.conversation_id != conversation.id:
            raise FreeTextError(_("The reply's key belongs to another conversation."), field="key", status=400)
        return existing, False
    text = (text or "").strip()
    if not text:
        raise FreeTextError(_("Write the reply first."), field="text", status=400)
    if len(text) > MAX_TEXT:
        raise FreeTextError(_("The reply has %(count)s characters; at most %(limit)s fit in one message.",
                              count=len(text), limit=MAX_TEXT), field="text", status=400)
    sender = db.session.get(Sender, conversation.sender_id)
    now = now or utcnow()
    if (why := refusal(conversation, sender, now)) is not None:
        raise FreeTextError(why)
    message = ConversationMessage(conversation_id=conversation.id, direction=Direction.OUTBOUND, idempotency_key=key,
                                  kind="text", text=text, status=OutboundStatus.SENDING.value,
                                  sent_by_id=getattr(actor, "id", None), at=now)
    db.session.add(message)
    conversation.last_message_at = max(conversation.last_message_at or now, now)
    db.session.flush()
    return message, True


def deliver(message: ConversationMessage, *, actor: Any = None, audited: bool = True) -> SendResult:
    """Send the ``sending`` row ``message`` as free text through its conversation's sender and record the answer
    on it (status, provider id, code); a person's reply (``audited``) goes to the audit log with the outcome.
    The channel's own refusals are results, never raised. Flushes; the caller commits."""
    conversation = db.session.get(Conversation, message.conversation_id)
    sender = db.session.get(Sender, conversation.sender_id)
    outbound = Outbound(key=message.idempotency_key, to=conversation.phone, text=message.text)
    try:
        [result] = call_provider(senders.settings_for(sender), lambda channel: channel.send([outbound]))
    except ChannelError as error:
        # No answer in time: the request may have been accepted.
        result = SendResult(outbound.key, ResultKind.RETRY, code=error.code,
                            sentence=sentence_for(sender.channel, error.code), uncertain=True)
    record_result(message, result, idempotent=CHANNELS[sender.channel].capabilities.idempotent_sends,
                  retry=not audited)
    if audited:
        audit.record("conversation.replied", actor=actor, target=conversation,
                     details={"phone": conversation.phone, "sender": sender.name, "result": result.kind.value,
                              "code": result.code or "", "key": message.idempotency_key})
    return result


def record_result(message: ConversationMessage, result: SendResult, *, idempotent: bool, retry: bool) -> str:
    """Write the provider's answer on the row if it is still ``sending`` (a status webhook may have moved it on
    already: it is not moved back); returns the status it now has. Accepted → ``sent``; a transient answer →
    ``queued`` again when ``retry`` (a job tries again with the same key: on a channel without idempotent sends
    only if the request surely did not go); else an answer that may hide an acceptance → ``unknown`` (a person
    who sent it again would send it twice), any other → ``failed`` with the provider's code."""
    if result.kind is ResultKind.ACCEPTED:
        status, code = OutboundStatus.SENT, None
    elif result.kind is ResultKind.RETRY and retry and (idempotent or not result.uncertain):
        status, code = OutboundStatus.QUEUED, result.code
    elif result.kind is ResultKind.RETRY and result.uncertain:
        status, code = OutboundStatus.UNKNOWN, result.code
    else:
        status, code = OutboundStatus.FAILED, result.code
    values: dict[str, Any] = {"status": status.value, "error_code": code}
    if result.provider_id:
        values["provider_message_id"] = result.provider_id
    changed = db.session.execute(
        update(ConversationMessage)
        .where(ConversationMessage.id == message.id, ConversationMessage.status == OutboundStatus.SENDING.value)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    if not changed and result.provider_id:  # a status came first; the provider id is still worth keeping
        db.session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == message.id, ConversationMessage.provider_message_id.is_(None))
            .values(provider_message_id=result.provider_id).execution_options(synchronize_session=False))
    db.session.refresh(message)
    return message.status


def result_sentence(message: ConversationMessage, result: SendResult | None = None) -> str:
    """What the marketer reads about their reply after sending it."""
    if result is None or message.status in (OutboundStatus.SENT.value, OutboundStatus.DELIVERED.value,
                                            OutboundStatus.READ.value):
        if message.status in (OutboundStatus.FAILED.value, OutboundStatus.UNKNOWN.value):
            return status_sentence(message)
        return _("The reply was sent.")
    if result.kind is ResultKind.RETRY and message.status == OutboundStatus.UNKNOWN.value:
        return _("The provider did not answer in time; the reply may have been sent. Its status will tell, so do "
                 "not send it again yet.")
    if result.kind is ResultKind.RETRY:
        return _("The provider could not take the reply now: %(sentence)s Send it again in a moment.",
                 sentence=str(result.sentence))
    return _("The provider refused the reply: %(sentence)s", sentence=str(result.sentence))


def status_sentence(message: ConversationMessage, channel: str | None = None) -> str:
    """Why an outbound message failed (or what is unknown about it), in the marketer's words; '' otherwise."""
    if message.status not in (OutboundStatus.FAILED.value, OutboundStatus.UNKNOWN.value):
        return ""
    if message.error_code in OWN_CODES:
        return str(OWN_CODES[message.error_code])
    if channel is None:
        conversation = db.session.get(Conversation, message.conversation_id)
        channel = db.session.get(Sender, conversation.sender_id).channel
    return str(sentence_for(channel, message.error_code))


# --- statuses of what we sent ----------------------------------------------------------------------------

# The statuses a row may be in for each provider status to move it: forward only, whatever the order.
_FROM = {
    DeliveryStatus.SENT: (OutboundStatus.SENDING, OutboundStatus.UNKNOWN, OutboundStatus.QUEUED),
    DeliveryStatus.DELIVERED: (OutboundStatus.SENDING, OutboundStatus.UNKNOWN, OutboundStatus.QUEUED,
                               OutboundStatus.SENT),
    DeliveryStatus.READ: (OutboundStatus.SENDING, OutboundStatus.UNKNOWN, OutboundStatus.QUEUED, OutboundStatus.SENT,
                          OutboundStatus.DELIVERED),
    DeliveryStatus.FAILED: (OutboundStatus.SENDING, OutboundStatus.UNKNOWN, OutboundStatus.QUEUED,
                            OutboundStatus.SENT),
}
# Our keys of outbound conversation messages; a status with another key (a campaign message's) is not ours.
KEY_PREFIXES = ("reply-", "confirm-")


def is_conversation_key(key: str | None) -> bool:
    """Whether a status's key is one of an outbound conversation message."""
    return bool(key) and key.startswith(KEY_PREFIXES)


def apply_statuses(events: Sequence[StatusEvent]) -> int:
    """Move outbound conversation messages forward by the statuses the provider sent for their keys (sent →
    delivered → read; failed with the provider's code, from a row not yet delivered), in any order and any
    number of times: one UPDATE per status kind. Statuses of other keys are left alone. Returns how many rows
    moved; flushes only."""
    table = ConversationMessage.__table__
    moved = 0
    for status, sources in _FROM.items():
        params = [{"k": event.key, "s": status.value, "p": event.provider_id, "c": event.error_code}
                  for event in events if event.status is status and is_conversation_key(event.key)]
        if not params:
            continue
        values: dict[str, Any] = {"status": bindparam("s"), "provider_message_id": bindparam("p")}
        if status is DeliveryStatus.FAILED:
            values["error_code"] = bindparam("c")
        else:
            values["error_code"] = None
        statement = (update(table)
                     .where(table.c.idempotency_key == bindparam("k"),
                            table.c.status.in_([source.value for source in sources]))
                     .values(**values))
        result = db.session.execute(statement, params)
        moved += max(result.rowcount, 0)
    return moved


# --- what the sweep looks for ----------------------------------------------------------------------------

def stalled(now: datetime, queued_for: timedelta, sending_for: timedelta, limit: int = 500
            ) -> tuple[list[int], list[ConversationMessage]]:
    """Outbound rows left behind: ``queued`` ones older than ``queued_for`` (their job was lost) by id, and
    ``sending`` ones older than ``sending_for`` (their process died mid-request)."""
    queued = list(db.session.scalars(
        select(ConversationMessage.id)
        .where(ConversationMessage.status == OutboundStatus.QUEUED.value,
               ConversationMessage.at < _at(now - queued_for))
        .order_by(ConversationMessage.id).limit(limit)))
    sending = list(db.session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.status == OutboundStatus.SENDING.value,
               ConversationMessage.at < _at(now - sending_for))
        .order_by(ConversationMessage.id).limit(limit)))
    return queued, sending


def _at(moment: datetime):
    return bindparam(None, moment, type_=UTCDateTime())


def requeue_or_give_up(rows: Sequence[ConversationMessage]) -> tuple[list[int], int]:
    """Rows whose request may or may not have left: on an idempotent channel they are ``queued`` again (the
    same key cannot deliver twice), else ``unknown`` (never sent again; a status settles them). Returns the ids
    queued again and how many became unknown."""
    again, unknown = [], 0
    for row in rows:
        conversation = db.session.get(Conversation, row.conversation_id)
        sender = db.session.get(Sender, conversation.sender_id)
        idempotent = CHANNELS[sender.channel].capabilities.idempotent_sends
        status = OutboundStatus.QUEUED if idempotent else OutboundStatus.UNKNOWN
        changed = db.session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == row.id, ConversationMessage.status == OutboundStatus.SENDING.value)
            .values(status=status.value, error_code=None if idempotent else "timeout")
            .execution_options(synchronize_session=False)).rowcount
        if changed and idempotent:
            again.append(row.id)
        elif changed:
            unknown += 1
    return again, unknown


def claim(message_id: int, now: datetime | None = None) -> ConversationMessage | None:
    """Take a ``queued`` outbound row for sending (compare-and-set to ``sending``), or None when it is not
    queued any more (sent already, taken by another job). A row whose window closed meanwhile, or whose number
    may no longer be messaged, is failed instead (and None returned). Flushes; the job commits."""
    row = db.session.get(ConversationMessage, message_id)
    if row is None or row.status != OutboundStatus.QUEUED.value:
        return None
    conversation = db.session.get(Conversation, row.conversation_id)
    sender = db.session.get(Sender, conversation.sender_id)
    status, code = OutboundStatus.SENDING, None
    person = person_of(conversation, sender)
    if person.closed or any(held_reasons(key) for key in person.keys):
        status, code = OutboundStatus.FAILED, NOT_SENDABLE
    elif not window_of(conversation, sender, now).open:
        status, code = OutboundStatus.FAILED, WINDOW_CLOSED
    changed = db.session.execute(
        update(ConversationMessage)
        .where(ConversationMessage.id == message_id, ConversationMessage.status == OutboundStatus.QUEUED.value)
        .values(status=status.value, error_code=code).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(row)
    return row if changed and status is OutboundStatus.SENDING else None

