"""What a batch of inbound messages does: the conversations and their threads, the service window, the
campaign message each reply answers, and what compliance makes of the reply.

Set-wise for the batch: one INSERT of the conversations that are new (per sender and number), one INSERT of
the messages that are new (a provider id already stored is a re-post and does nothing: every effect below
follows only from rows this batch inserted, so the same body twice, or in any order, changes nothing the
second time), one UPDATE of the conversations (unread count, the window's ``last_inbound_at`` = the latest
message whatever the order, the profile name, the contact), one of the campaign messages replied to. Only
``compliance.replies.handle_reply`` runs per message, in the order they were written, because each may change
what the number's suppression is.

A reply answers the campaign message named by its ``context.id``, else the latest one this sender sent to the
number. An opt-out adds that campaign to ``context.touched_campaigns`` (the circuit breaker checks them after
the batch). The one confirmation compliance asks for becomes an outbound message keyed
``confirm-<inbound provider id>``, sent after the commit by a job (``reply_jobs``) as free text. A reply
compliance is unsure about holds the number (compliance suppresses it) and flags the conversation with a
notification until a person decides (``inbox.decide``).

A bot's inbound messages (a MAX or Telegram sender) come from a bot address, not a number. The conversation
is keyed by that address (in ``Conversation.phone``, unique per bot as a number is per WhatsApp sender), the
address leads to its contact (``audience.addresses``), and compliance gets every key of the person — the
address key, the contact's number, their other addresses — so an opt-out in a bot stops WhatsApp too. An
address the bot does not know yet (the person wrote first) is linked with consent source ``inbound``: it opens
the dialog, it is not consent to marketing. The confirmation goes back through the same bot (bots have no
service window).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Integer, bindparam, case, func, or_, select, update

from audience import addresses
from audience.models import Contact, ContactAddress
from campaigns.feedback import free_text
from campaigns.feedback.models import Conversation, ConversationMessage, Direction, Notification, NotificationKind
from campaigns.models import SENT_STATUSES, Campaign, Message, sent_by
from channels.base import InboundMessage
from compliance.keywords import Intent, classify_button
from compliance.numbers import InvalidNumberError, from_provider
from compliance.policy import current_policy
from compliance.replies import handle_reply
from compliance.suppression import display_key
from dbtypes import UTCDateTime, conflict_insert
from extensions import after_commit, db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

# Provider timestamps are whole seconds and our send times are not: a reply stamped a moment "before" the
# message it answers still answers it.
CLOCK_SLACK = timedelta(seconds=60)
# Intents that change whether the number may be messaged: an older one arriving late must not undo a newer one.
DECISIVE = (Intent.OPT_OUT.value, Intent.OPT_IN.value, Intent.UNSURE.value)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
# The longest bot address an address row and a conversation hold (an id longer than that is no user of ours).
_ADDRESS_LENGTH = ContactAddress.__table__.c.address.type.length
INBOUND_SOURCE = addresses.INBOUND_SOURCE  # an address opened by the person's own first message


@dataclass
class _Reply:
    event: InboundMessage
    phone: str
    conversation_id: int = 0
    row_id: int = 0
    message_id: int | None = None  # the campaign message it answers
    campaign_id: int | None = None
    keys: tuple[str, ...] = ()  # a bot's: the person's address key first, then their number and other addresses


def handle(context: FeedbackContext, events: Sequence[InboundMessage]) -> None:
    """Apply a batch of inbound messages of ``context.sender``; flushes only, the processing commits."""
    bot = context.sender.channel in free_text.BOT_CHANNELS
    replies = _readable_bot(context, events) if bot else _readable(events)
    if not replies:
        return
    sender_id = context.sender.id
    contacts = _bot_contacts(sender_id, replies) if bot else _contacts({reply.phone for reply in replies})
    conversations = _upsert_conversations(sender_id, replies, contacts, context.now)
    for reply in replies:
        reply.conversation_id = conversations[reply.phone]
    _link_campaign_messages(sender_id, replies, Message.address if bot else Message.phone)
    new = _insert_messages(replies)
    if not new:
        return
    new.sort(key=lambda reply: (reply.event.at, reply.event.provider_id))
    outcomes = _apply_replies(new, contacts, context)
    _update_conversations(new, contacts, outcomes)
    _mark_replied(new)
    _notify_unsure(sender_id, [reply for reply in new if outcomes[reply.row_id] is Intent.UNSURE])
    log.info("event=replies_applied sender_id=%s inbound=%d new=%d %s", sender_id, len(replies), len(new),
             " ".join(f"{intent}={count}" for intent, count in sorted(_count(outcomes.values()).items())))


def _count(intents) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for intent in intents:
        counts[intent.value] += 1
    return counts


def _insert(table: Any) -> Any:
    return conflict_insert(table, db.session.get_bind().dialect.name)


def _readable(events: Sequence[InboundMessage]) -> list[_Reply]:
    """The batch's messages once each (by provider id), with the sender's number in E.164."""
    seen: dict[str, _Reply] = {}
    for event in events:
        if event.provider_id in seen:
            continue
        try:
            phone = from_provider(event.sender)
        except InvalidNumberError:
            log.warning("event=reply_unreadable_sender provider_id=%s sender=%r", event.provider_id, event.sender)
            continue
        seen[event.provider_id] = _Reply(event, phone)
    return list(seen.values())


def _readable_bot(context: FeedbackContext, events: Sequence[InboundMessage]) -> list[_Reply]:
    """A bot's messages once each (by provider id), each from a bot address; an address the bot does not know
    yet is linked (a new messenger-only contact), with consent source ``inbound`` and the message as evidence."""
    seen: dict[str, _Reply] = {}
    for event in sorted(events, key=lambda event: (event.at, event.provider_id)):
        address = str(event.sender or "").strip()
        if event.provider_id in seen:
            continue
        if not address or len(address) > _ADDRESS_LENGTH:
            log.warning("event=reply_unreadable_sender provider_id=%s sender=%r", event.provider_id, event.sender)
            continue
        seen[event.provider_id] = _Reply(event, address)
    wanted = {reply.phone for reply in seen.values()}
    known = set(db.session.scalars(select(ContactAddress.address).where(
        ContactAddress.sender_id == context.sender.id, ContactAddress.address.in_(wanted))))
    for reply in seen.values():  # oldest first: the person's first message is the evidence
        if reply.phone not in known:
            event = reply.event
            addresses.link_address(sender_id=context.sender.id, channel=context.sender.channel, address=reply.phone,
                                   at=event.at, consent_source=INBOUND_SOURCE, event_id=event.provider_id,
                                   user_id=event.user_id or reply.phone, profile_name=event.profile_name)
            known.add(reply.phone)
    return list(seen.values())


def _bot_contacts(sender_id: int, replies: list[_Reply]) -> dict[str, tuple[int, str | None]]:
    """Per bot address of the batch: its contact and language; and each reply's keys of the person (set-wise:
    the batch's addresses, their contacts, and those contacts' other addresses)."""
    rows = db.session.execute(
        select(ContactAddress.address, ContactAddress.address_key, ContactAddress.contact_id)
        .where(ContactAddress.sender_id == sender_id, ContactAddress.address.in_({reply.phone for reply in replies}))
    ).all()
    contact_ids = {contact_id for _address, _key, contact_id in rows}
    people = {contact_id: (phone, language) for contact_id, phone, language in db.session.execute(
        select(Contact.id, Contact.phone, Contact.language).where(Contact.id.in_(contact_ids)))}
    other_keys: dict[int, list[str]] = defaultdict(list)
    for contact_id, key in db.session.execute(
            select(ContactAddress.contact_id, ContactAddress.address_key)
            .where(ContactAddress.contact_id.in_(contact_ids)).order_by(ContactAddress.id)):
        other_keys[contact_id].append(key)
    found: dict[str, tuple[int, str | None]] = {}
    keys: dict[str, tuple[str, ...]] = {}
    for address, key, contact_id in rows:
        phone, language = people.get(contact_id, (None, None))
        found[address] = (contact_id, language)
        keys[address] = tuple(dict.fromkeys([key, *([phone] if phone else []), *other_keys[contact_id]]))
    for reply in replies:
        reply.keys = keys.get(reply.phone, ())
    return found


def _contacts(phones: set[str]) -> dict[str, tuple[int, str | None]]:
    rows = db.session.execute(select(Contact.phone, Contact.id, Contact.language).where(Contact.phone.in_(phones)))
    return {phone: (contact_id, language) for phone, contact_id, language in rows}


def _upsert_conversations(sender_id: int, replies: list[_Reply], contacts: dict[str, tuple[int, str | None]],
                          now: datetime) -> dict[str, int]:
    """The conversation id of every number of the batch, inserting the ones that are new (concurrent batches
    of one number insert it once: the other finds it)."""
    first: dict[str, datetime] = {}
    for reply in replies:
        first[reply.phone] = min(first.get(reply.phone, reply.event.at), reply.event.at)
    phones = sorted(first)
    rows = [{"sender_id": sender_id, "phone": phone, "contact_id": contacts.get(phone, (None, None))[0],
             "profile_name": "", "last_message_at": first[phone], "unread": 0, "needs_decision": False,
             "created_at": now} for phone in phones]
    db.session.execute(_insert(Conversation).values(rows)
                       .on_conflict_do_nothing(index_elements=["sender_id", "phone"]))
    found = db.session.execute(select(Conversation.phone, Conversation.id)
                               .where(Conversation.sender_id == sender_id, Conversation.phone.in_(phones)))
    return dict(found.all())


def _link_campaign_messages(sender_id: int, replies: list[_Reply], recipient=Message.phone) -> None:
    """The campaign message each reply answers: the one its ``context.id`` names, else the latest this sender
    sent to the number (a bot: to the address, ``recipient`` = ``Message.address``) up to the reply."""
    context_ids = {reply.event.context_id for reply in replies if reply.event.context_id}
    by_provider_id = {}
    if context_ids:
        by_provider_id = {provider_id: (message_id, campaign_id) for provider_id, message_id, campaign_id in
                          db.session.execute(select(Message.provider_message_id, Message.id, Message.campaign_id)
                                             .where(Message.provider_message_id.in_(context_ids)))}
    sent: dict[str, list[tuple[datetime, int, int]]] = defaultdict(list)
    unlinked = {reply.phone for reply in replies if reply.event.context_id not in by_provider_id}
    if unlinked:
        rows = db.session.execute(
            select(recipient, Message.sent_at, Message.id, Message.campaign_id)
            .join(Campaign, Campaign.id == Message.campaign_id)
            .where(sent_by() == sender_id, recipient.in_(unlinked), Message.sent_at.is_not(None),
                   Message.status.in_(SENT_STATUSES)))
        for phone, sent_at, message_id, campaign_id in rows:
            sent[phone].append((sent_at, message_id, campaign_id))
    for reply in replies:
        if reply.event.context_id in by_provider_id:
            reply.message_id, reply.campaign_id = by_provider_id[reply.event.context_id]
            continue
        before = [item for item in sent.get(reply.phone, ()) if item[0] <= reply.event.at + CLOCK_SLACK]
        if before:
            _sent_at, reply.message_id, reply.campaign_id = max(before)


def _insert_messages(replies: list[_Reply]) -> list[_Reply]:
    """Insert the batch's messages; the ones that were not stored before (with their row ids)."""
    rows = [{"conversation_id": reply.conversation_id, "direction": Direction.INBOUND,
             "provider_message_id": reply.event.provider_id, "kind": (reply.event.kind or "text")[:32],
             "text": reply.event.text or "", "button_payload": (reply.event.button_payload or "")[:256] or None,
             "message_id": reply.message_id, "campaign_id": reply.campaign_id, "at": reply.event.at}
            for reply in sorted(replies, key=lambda reply: (reply.conversation_id, reply.event.provider_id))]
    inserted = db.session.execute(
        _insert(ConversationMessage).values(rows)
        .on_conflict_do_nothing(index_elements=["conversation_id", "provider_message_id"])
        .returning(ConversationMessage.id, ConversationMessage.conversation_id,
                   ConversationMessage.provider_message_id))
    ids = {(conversation_id, provider_id): row_id for row_id, conversation_id, provider_id in inserted}
    new = []
    for reply in replies:
        row_id = ids.get((reply.conversation_id, reply.event.provider_id))
        if row_id is not None:
            reply.row_id = row_id
            new.append(reply)
    return new


def _language(reply: _Reply, contacts: dict[str, tuple[int, str | None]]) -> str:
    """The language to confirm in: the contact's, else the alphabet the person wrote in, else Russian."""
    language = (contacts.get(reply.phone, (None, None))[1] or "").lower()[:2]
    if language in ("ru", "en"):
        return language
    text = reply.event.text or ""
    if _CYRILLIC.search(text):
        return "ru"
    return "en" if _LATIN.search(text) else "ru"


def _latest_decisive(conversation_ids: set[int], new_ids: set[int]) -> dict[int, datetime]:
    """Per conversation, the time of its newest stored reply that changed whether the number may be messaged."""
    rows = db.session.execute(
        select(ConversationMessage.conversation_id, func.max(ConversationMessage.at))
        .where(ConversationMessage.conversation_id.in_(conversation_ids),
               ConversationMessage.direction == Direction.INBOUND, ConversationMessage.intent.in_(DECISIVE),
               ConversationMessage.id.not_in(new_ids))
        .group_by(ConversationMessage.conversation_id))
    return dict(rows.all())


def _apply_replies(new: list[_Reply], contacts: dict[str, tuple[int, str | None]],
                   context: FeedbackContext) -> dict[int, Intent]:
    """``handle_reply`` for each new message, oldest first: its intent stored, its confirmation queued, an
    opt-out's campaign touched. A reply older than a decisive one already applied (they came out of order) is
    classified but does not undo the newer one."""
    latest = _latest_decisive({reply.conversation_id for reply in new}, {reply.row_id for reply in new})
    keywords = current_policy().keywords  # read once for the batch
    outcomes: dict[int, Intent] = {}
    confirmations = []
    for reply in new:
        event = reply.event
        superseded = latest.get(reply.conversation_id)
        if superseded is not None and superseded > event.at:
            outcomes[reply.row_id] = classify_button(event.text or "", event.button_payload, keywords)
            continue
        if reply.keys:  # a bot's person: every key of theirs
            outcome = handle_reply(reply.keys[0], event.text or "", event.at, event.provider_id,
                                   language=_language(reply, contacts), keywords=keywords,
                                   button_payload=event.button_payload, person_keys=reply.keys)
        else:
            outcome = handle_reply(reply.phone, event.text or "", event.at, event.provider_id,
                                   language=_language(reply, contacts), keywords=keywords,
                                   button_payload=event.button_payload)
        outcomes[reply.row_id] = outcome.intent
        if outcome.intent.value in DECISIVE:
            latest[reply.conversation_id] = max(latest.get(reply.conversation_id, event.at), event.at)
        if outcome.intent is Intent.OPT_OUT and reply.campaign_id is not None:
            context.touched_campaigns.add(reply.campaign_id)
        if outcome.confirmation:
            confirmations.append({
                "conversation_id": reply.conversation_id, "direction": Direction.OUTBOUND,
                "idempotency_key": free_text.confirmation_key(event.provider_id), "kind": "text",
                "text": outcome.confirmation, "status": free_text.OutboundStatus.QUEUED.value, "at": context.now})
    table = ConversationMessage.__table__
    db.session.execute(update(table).where(table.c.id == bindparam("row")).values(intent=bindparam("intent")),
                       [{"row": row_id, "intent": intent.value} for row_id, intent in outcomes.items()])
    if confirmations:
        queued = db.session.scalars(_insert(ConversationMessage).values(confirmations)
                                    .on_conflict_do_nothing(index_elements=["idempotency_key"])
                                    .returning(ConversationMessage.id)).all()
        if queued:
            from campaigns.feedback import reply_jobs  # the jobs import this module's package

            after_commit(lambda ids=tuple(queued): reply_jobs.enqueue_sends(ids))
    return outcomes


def _update_conversations(new: list[_Reply], contacts: dict[str, tuple[int, str | None]],
                          outcomes: dict[int, Intent]) -> None:
    """One UPDATE for the batch: unread count, the window (the newest message wins, whatever the order), the
    profile name and the contact, the flag of a reply waiting for a decision."""
    by_conversation: dict[int, list[_Reply]] = defaultdict(list)
    for reply in new:
        by_conversation[reply.conversation_id].append(reply)
    params = []
    # In id order, as every batch locks them: two batches touching the same conversations wait, never deadlock.
    for conversation_id, replies in sorted(by_conversation.items()):
        newest = max(replies, key=lambda reply: reply.event.at)
        named = [reply for reply in replies if reply.event.profile_name]
        user_ids = [reply for reply in replies if reply.event.user_id]
        params.append({
            "cid": conversation_id, "n": len(replies), "at": newest.event.at,
            "name": max(named, key=lambda reply: reply.event.at).event.profile_name[:200] if named else None,
            "uid": max(user_ids, key=lambda reply: reply.event.at).event.user_id[:64] if user_ids else None,
            "contact": contacts.get(newest.phone, (None, None))[0],
            "unsure": any(outcomes[reply.row_id] is Intent.UNSURE for reply in replies),
        })
    table = Conversation.__table__
    at = bindparam("at", type_=UTCDateTime())
    db.session.execute(
        update(table).where(table.c.id == bindparam("cid")).values(
            unread=table.c.unread + bindparam("n", type_=Integer()),
            last_inbound_at=case((or_(table.c.last_inbound_at.is_(None), table.c.last_inbound_at < at), at),
                                 else_=table.c.last_inbound_at),
            last_message_at=case((table.c.last_message_at < at, at), else_=table.c.last_message_at),
            profile_name=func.coalesce(bindparam("name"), table.c.profile_name),
            provider_user_id=func.coalesce(bindparam("uid"), table.c.provider_user_id),
            contact_id=func.coalesce(bindparam("contact"), table.c.contact_id),
            needs_decision=or_(table.c.needs_decision, bindparam("unsure", type_=Boolean())),
        ),
        params,
    )


def _mark_replied(new: list[_Reply]) -> None:
    """``Message.replied_at``: the first reply to each campaign message, whatever order the replies came in."""
    first: dict[int, datetime] = {}
    for reply in new:
        if reply.message_id is not None:
            first[reply.message_id] = min(first.get(reply.message_id, reply.event.at), reply.event.at)
    if not first:
        return
    table = Message.__table__
    at = bindparam("at", type_=UTCDateTime())
    db.session.execute(
        update(table).where(table.c.id == bindparam("mid"),
                            or_(table.c.replied_at.is_(None), table.c.replied_at > at))
        .values(replied_at=at),
        [{"mid": message_id, "at": moment} for message_id, moment in first.items()])


def _notify_unsure(sender_id: int, unsure: list[_Reply]) -> None:
    """One open notification per conversation with a reply waiting for a decision (a second unsure reply
    joins the one already open)."""
    if not unsure:
        return
    open_for = set(db.session.scalars(
        select(Notification.conversation_id)
        .where(Notification.kind == NotificationKind.UNSURE_REPLY, Notification.resolved_at.is_(None),
               Notification.conversation_id.in_({reply.conversation_id for reply in unsure}))))
    latest: dict[int, _Reply] = {}
    for reply in unsure:
        if reply.conversation_id not in open_for:
            latest[reply.conversation_id] = reply
    for conversation_id, reply in latest.items():
        shown = display_key(reply.keys[0]) if reply.keys else reply.phone
        params: dict[str, Any] = {"phone": shown, "name": (reply.event.profile_name or "")[:200],
                                  "text": (reply.event.text or "")[:200]}
        db.session.add(Notification(kind=NotificationKind.UNSURE_REPLY, sender_id=sender_id,
                                    conversation_id=conversation_id, campaign_id=reply.campaign_id, params=params))
    db.session.flush()

