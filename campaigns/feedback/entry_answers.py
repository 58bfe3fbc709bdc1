"""The polite answer to a start through a link we do not know or that expired: free text back through the
same sender, on the path the reply confirmations take.

The answer is an outbound ``ConversationMessage`` of the person's conversation with the sender (a bot's
conversation is keyed by the address the bot writes to), ``queued`` with the key
``confirm-entry-<event id>``, and sent after the commit by ``reply_jobs`` as free text — so a redelivered update
queues nothing more, and a lost job is found by the sweep like any confirmation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from campaigns.feedback import free_text
from campaigns.feedback.models import Conversation, ConversationMessage, Direction
from dbtypes import conflict_insert
from extensions import after_commit, db

log = logging.getLogger(__name__)

ADDRESS_LIMIT = 16  # Conversation.phone: a bot's conversation is keyed by the address it writes to
LANGUAGES = ("ru", "en")


@dataclass(frozen=True)
class Answer:
    """Why one start gets an answer: ``unknown`` or ``expired``; where, in which language, for which event."""

    address: str
    event_id: str
    reason: str  # "unknown" | "expired"
    language: str | None
    at: datetime
    profile_name: str = ""


def answer_key(event_id: str) -> str:
    """The key of the answer to one start (``confirm-``: statuses that come back find it)."""
    return free_text.confirmation_key(f"entry-{event_id}")


def wording(reason: str, language: str | None) -> str:
    """The answer's text in ``language`` (ru or en; anything else: Russian)."""
    language = (language or "").lower()[:2]
    with force_locale(language if language in LANGUAGES else "ru"):
        if reason == "expired":
            return _("Sorry, this link has expired, so we have not subscribed you. Ask us for a new link or "
                     "scan the QR code on our current poster.")
        return _("Sorry, we do not recognise this link, so we have not subscribed you. Please open the link or "
                 "scan the QR code again, or ask us for a new one.")


def queue_answers(sender_id: int, answers: Sequence[Answer], now: datetime) -> list[int]:
    """Queue one answer per start (once per event, however often it is redelivered): the conversations that
    are new, then the answers; their sends are enqueued after the commit. Returns the new rows' ids.
    Flushes only."""
    usable = [answer for answer in answers if 0 < len(answer.address) <= ADDRESS_LIMIT]
    for answer in answers:
        if answer not in usable:
            log.warning("event=entry_answer_unaddressable sender_id=%s address=%r", sender_id, answer.address)
    if not usable:
        return []
    dialect = db.session.get_bind().dialect.name
    first: dict[str, Answer] = {}
    for answer in usable:
        first.setdefault(answer.address, answer)
    db.session.execute(conflict_insert(Conversation, dialect).values([
        {"sender_id": sender_id, "phone": address, "contact_id": None, "profile_name": answer.profile_name[:200],
         "last_message_at": answer.at, "unread": 0, "needs_decision": False, "created_at": now}
        for address, answer in sorted(first.items())]).on_conflict_do_nothing(index_elements=["sender_id", "phone"]))
    conversations = dict(db.session.execute(
        select(Conversation.phone, Conversation.id)
        .where(Conversation.sender_id == sender_id, Conversation.phone.in_(list(first)))).all())
    rows = [{"conversation_id": conversations[answer.address], "direction": Direction.OUTBOUND,
             "idempotency_key": answer_key(answer.event_id), "kind": "text",
             "text": wording(answer.reason, answer.language), "status": free_text.OutboundStatus.QUEUED.value,
             "at": now} for answer in usable]
    queued = list(db.session.scalars(conflict_insert(ConversationMessage, dialect).values(rows)
                                     .on_conflict_do_nothing(index_elements=["idempotency_key"])
                                     .returning(ConversationMessage.id)))
    if queued:
        from campaigns.feedback import reply_jobs  # the jobs import this module's package

        after_commit(lambda ids=tuple(queued): reply_jobs.enqueue_sends(ids))
    log.info("event=entry_answers_queued sender_id=%s answers=%d new=%d", sender_id, len(usable), len(queued))
    return queued
