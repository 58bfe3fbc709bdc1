"""RQ entry points of the conversations' outbound messages: sending one (the automatic confirmation of a
reply, queued by ``replies``), and the sweep that finds what Redis or a dead worker left behind.

A message is sent by a job that claims its ``queued`` row (compare-and-set to ``sending``) and commits
before the request, then records the answer and commits again: two jobs for one row send it once, and a
status webhook that overtakes the answer finds the row. The job id is fixed per row, so asking again while
it waits or runs never doubles it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from rq import get_current_job
from rq.job import Job

from campaigns.feedback import free_text
from campaigns.feedback.models import ConversationMessage
from channels.base import ResultKind
from dbtypes import utcnow
from extensions import db, redis_queues

log = logging.getLogger(__name__)

# Replies are the webhooks' consequence and wait behind no import or chore.
REPLY_QUEUE = "webhooks"
# RQ tries a send whose provider asked to wait again after 10 s, 1 min and 5 min; the sweep picks a row up
# after that while its window is open.
SEND_RETRIES = 3
# A queued row older than this lost its job (Redis was flushed, the enqueue after the commit failed).
QUEUED_STALE = timedelta(minutes=2)
# A row still sending after this lost its worker mid-request.
SENDING_STALE = timedelta(minutes=10)


class SendLaterError(RuntimeError):
    """The provider asked us to try the message again later: raised so that RQ's retry takes it."""


def send_job_id(message_id: int) -> str:
    """The one job id an outbound conversation message ever has."""
    return f"send-conversation-message-{message_id}"


def send_conversation_message(message_id: int) -> dict:
    """Send the queued outbound conversation message ``message_id`` once: claim, commit, send, record, commit.
    A row that is not queued any more (sent, taken by another job) is left alone. Raises after recording a
    transient answer (the row queued again), so that RQ retries it."""
    job = get_current_job()
    job_id = job.id if job else None
    try:
        row = free_text.claim(message_id)
        db.session.commit()
        if row is None:
            current = db.session.get(ConversationMessage, message_id)
            status = current.status if current is not None else "missing"
            log.info("event=conversation_send_skipped message_id=%s status=%s code=%s job_id=%s", message_id, status,
                     getattr(current, "error_code", None) or "-", job_id)
            return {"sent": False, "status": status}
        result = free_text.deliver(row, audited=False)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("event=conversation_send_error message_id=%s job_id=%s", message_id, job_id)
        raise
    log.info("event=conversation_sent message_id=%s key=%s result=%s code=%s status=%s job_id=%s", message_id,
             row.idempotency_key, result.kind.value, result.code or "-", row.status, job_id)
    if result.kind is ResultKind.RETRY and row.status == free_text.OutboundStatus.QUEUED.value:
        raise SendLaterError(f"the provider asked to send conversation message {message_id} later ({result.code})")
    return {"sent": result.kind is ResultKind.ACCEPTED, "status": row.status, "code": result.code}


def enqueue_send(message_id: int) -> Job:
    """Queue the send of one outbound conversation message (once: the job id is fixed)."""
    return redis_queues.enqueue(REPLY_QUEUE, send_conversation_message, message_id, job_id=send_job_id(message_id),
                                timeout=timedelta(minutes=2), retries=SEND_RETRIES)


def enqueue_sends(message_ids: Iterable[int]) -> None:
    """Queue the sends of these messages (after the commit that wrote them)."""
    for message_id in message_ids:
        enqueue_send(message_id)


def sweep_conversation_messages() -> dict:
    """Queue again the outbound rows whose job was lost, and settle the ones whose worker died mid-request
    (``free_text.requeue_or_give_up``). Commits; returns the counts."""
    job = get_current_job()
    job_id = job.id if job else None
    try:
        queued, sending = free_text.stalled(utcnow(), QUEUED_STALE, SENDING_STALE)
        again, unknown = free_text.requeue_or_give_up(sending)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("event=conversation_sweep_error job_id=%s", job_id)
        raise
    enqueue_sends([*queued, *again])
    log.info("event=conversation_sweep queued=%d requeued=%d unknown=%d job_id=%s", len(queued), len(again), unknown,
             job_id)
    return {"queued": len(queued), "requeued": len(again), "unknown": unknown}


def enqueue_sweep_conversation_messages() -> Job:
    """Queue the periodic sweep (``periodic.py``); one at a time."""
    return redis_queues.enqueue(REPLY_QUEUE, sweep_conversation_messages, job_id="sweep_conversation_messages",
                                timeout=timedelta(minutes=5))
