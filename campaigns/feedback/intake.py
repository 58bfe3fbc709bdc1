"""Webhook intake: accept a provider's callback, store it durably, wake the workers.

Every edge that receives callbacks (the Flask view ``webhook_views``, the fast receiver process) does the same
three steps, in this order, and answers 200 only after the commit between the second and the third:

1. ``accept(sender_id, headers, body, family)`` checks the body against the sender (size, that the address's
   family — ``whatsapp``, ``max``, ``telegram`` — is the sender's, signature or secret on the raw bytes, that
   its channel can parse it) and returns an :class:`Accepted`, or raises :class:`IntakeRefusal` with the HTTP
   status to answer (413 too large, 404 unknown sender or another channel's address, 403 bad or missing
   signature, 400 malformed);
2. ``store(accepted)`` inserts the bodies into ``webhook_events`` in one statement; a body stored before (Meta
   re-posts an unanswered callback unchanged) is ignored by its (sender, digest). A bot's update is known by
   the ids of its events instead (Telegram's ``update_id``, MAX's update type, user and time), so a redelivery
   is dropped even if its bytes differ. The edge commits: from then on the event is durable, whatever happens
   to the process, the worker or Redis;
3. ``wake()`` enqueues ``process_webhooks`` once the transaction commits (a fixed job id: a burst of callbacks
   queues one job, not one per callback). A wake-up that Redis loses costs latency only: the sweep applies the
   bodies still pending.

Verifying needs the sender's app secret, stored encrypted: each process keeps every sender's channel (with its
keys decrypted) for ``WEBHOOK_KEY_CACHE_SECONDS``, so a burst decrypts once, not per request. A signature that
fails against kept keys older than a second is checked once more against freshly read ones, so a secret an
admin just changed is honoured at once. That a sender does not exist is kept for a second at most.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError

from campaigns import sender_secrets, senders
from campaigns.feedback import jobs
from campaigns.feedback.models import WebhookEvent
from campaigns.models import Sender
from channels.base import Channel, Event, WebhookError
from channels.registry import channel_for
from dbtypes import conflict_insert, utcnow
from domain_errors import DomainError
from extensions import after_commit, db

log = logging.getLogger(__name__)

# The provider family a sender's channel posts as (the ``channel`` column of a stored body, and the first part of
# its webhook address: /webhooks/<family>/<sender id>); a bot's channel is its own family.
FAMILIES = {"sandbox": "whatsapp", "whatsapp_cloud": "whatsapp", "max": "max", "telegram": "telegram",
            "smsc": "sms"}
# Families whose updates carry ids of their own: a body is stored once per set of event ids, not per bytes.
EVENT_KEYED = frozenset({"max", "telegram"})
# A refusal because the sender does not exist is kept no longer than this (a sender just created must work).
UNKNOWN_SENDER_SECONDS = 1.0
# Kept keys older than this are read again when a signature fails against them (a secret just changed).
RELOAD_AFTER_SECONDS = 1.0
# Past this many kept entries, the expired ones are dropped (random sender ids must not fill the memory).
CACHE_PRUNE_SIZE = 1024
_CACHE_KEY = "vestnik.webhook_keys"
_lock = threading.Lock()
# The kind of problem each refusal is (web/problems.py).
_KINDS = {400: "bad-request", 403: "forbidden", 404: "not-found", 413: "too-large"}


class IntakeRefusal(DomainError):
    """A callback the intake does not take: ``status`` is the HTTP answer, ``reason`` what is wrong (a sentence,
    also logged). Nothing was stored."""

    def __init__(self, status: int, reason: Any) -> None:
        super().__init__(reason, status=status)
        self.reason = reason
        self.kind = _KINDS.get(status)


@dataclass(frozen=True)
class Accepted:
    """A verified, parseable callback body of one sender, ready to store."""

    sender_id: int
    channel: str  # the provider family (whatsapp)
    digest: str  # SHA-256 of the body, hex: a re-post of the same body has the same digest
    body: bytes
    events: tuple[Event, ...] = field(repr=False)  # what the body says, parsed (for counting; workers parse again)
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class _Kept:
    channel: Channel | None  # None: there is no such sender
    loaded: float  # time.monotonic() when read


def _kept() -> dict[int, _Kept]:
    return current_app.extensions.setdefault(_CACHE_KEY, {})


def _load(sender_id: int) -> _Kept:
    sender = db.session.get(Sender, sender_id)
    if sender is None:
        return _Kept(None, time.monotonic())
    try:
        settings = senders.settings_for(sender)
    except sender_secrets.SecretError:
        log.error("event=webhook_secret_unreadable sender_id=%s", sender_id)
        raise IntakeRefusal(503, _l("The sender's app secret cannot be read on this server; the callback is "
                                    "refused until it can be checked.")) from None
    return _Kept(channel_for(settings, None), time.monotonic())  # type: ignore[arg-type]  # no HTTP: verify, parse


def _channel(sender_id: int, *, fresh: bool = False) -> _Kept:
    """The sender's channel with its keys, as kept in this process (read again when stale or ``fresh``)."""
    ttl = current_app.config["WEBHOOK_KEY_CACHE_SECONDS"]
    kept = _kept()
    entry = kept.get(sender_id)
    now = time.monotonic()
    if entry is not None and not fresh:
        lifetime = ttl if entry.channel is not None else min(ttl, UNKNOWN_SENDER_SECONDS)
        if now - entry.loaded < lifetime:
            return entry
    entry = _load(sender_id)
    with _lock:
        if len(kept) >= CACHE_PRUNE_SIZE:
            for key in [key for key, old in kept.items()
                        if now - old.loaded >= (ttl if old.channel is not None else UNKNOWN_SENDER_SECONDS)]:
                kept.pop(key, None)
        kept[sender_id] = entry
    return entry


def forget(sender_id: int | None = None) -> None:
    """Drop the kept keys of one sender (or of all): the next callback reads them again."""
    with _lock:
        if sender_id is None:
            _kept().clear()
        else:
            _kept().pop(sender_id, None)


def _refuse(sender_id: int, status: int, reason: Any, detail: str = "") -> IntakeRefusal:
    log.warning("event=webhook_refused sender_id=%s status=%d reason=%r%s", sender_id, status, str(reason),
                f" detail={detail!r}" if detail else "")
    return IntakeRefusal(status, reason)


def _family(channel: Channel) -> str:
    return FAMILIES.get(channel.name, channel.name)


def _ours(sender_id: int, entry: _Kept, family: str) -> Channel:
    """The sender's channel if the address's family is its own; 404 for no sender, or another channel's address
    (a bot's updates posted at /webhooks/whatsapp/…, a WhatsApp number's at /webhooks/max/…)."""
    if entry.channel is None or _family(entry.channel) != family:
        raise _refuse(sender_id, 404, _l("No sender has this webhook address."))
    return entry.channel


def _event_key(event: Event) -> str | None:
    """What identifies an event at its provider, where it says (bots' updates and messages)."""
    return getattr(event, "event_id", None) or getattr(event, "provider_id", None)


def _digest(family: str, body: bytes, events: Sequence[Event]) -> str:
    """The body's key in ``webhook_events``: its SHA-256, or for a bot's update the SHA-256 of its events' ids (a
    redelivered update is the same update whatever its bytes; an update without events keeps its bytes' key)."""
    keys = [_event_key(event) for event in events]
    if family in EVENT_KEYED and keys and all(keys):
        return hashlib.sha256(f"{family}:events:{'|'.join(sorted(keys))}".encode()).hexdigest()
    return hashlib.sha256(body).hexdigest()


def accept(sender_id: int, headers: Mapping[str, str], body: bytes, family: str = "whatsapp",
           query: Mapping[str, str] | None = None) -> Accepted:
    """Check one callback posted to ``/webhooks/<family>/<sender_id>``: size, then the sender and that ``family``
    is its channel's, then the signature (WhatsApp), the echoed secret (bots) of the raw ``body`` (``headers`` in
    any case) or the secret of the URL's ``query`` (SMS gateways, which sign nothing), then that the sender's
    channel can parse it. Returns what to store; raises :class:`IntakeRefusal` (413, 404, 403, 400; 503 when the
    sender's secret cannot be decrypted), logged."""
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if len(body) > limit:
        raise _refuse(sender_id, 413, _l("The body is larger than %(limit)s bytes.", limit=limit))
    entry = _channel(sender_id)
    channel = _ours(sender_id, entry, family)
    query = query if query is not None else {}
    if not channel.verify_callback(headers, body, query):
        if time.monotonic() - entry.loaded < RELOAD_AFTER_SECONDS:
            raise _refuse(sender_id, 403, _l("The signature is missing or does not match the body."))
        channel = _ours(sender_id, _channel(sender_id, fresh=True), family)
        if not channel.verify_callback(headers, body, query):
            raise _refuse(sender_id, 403, _l("The signature is missing or does not match the body."))
    try:
        events = channel.parse_webhook(body)
    except WebhookError as error:
        raise _refuse(sender_id, 400, _l("The body is not a callback this address can read."), str(error)) from None
    return Accepted(sender_id=sender_id, channel=family, digest=_digest(family, body, events), body=body,
                    events=tuple(events))


def store(accepted: Sequence[Accepted]) -> int:
    """Insert the bodies into ``webhook_events`` in one statement, ignoring any already stored (same sender and
    digest); returns how many are new. The caller commits — the acknowledgement comes after that commit."""
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for item in accepted:
        rows.setdefault((item.sender_id, item.digest), {
            "channel": item.channel, "sender_id": item.sender_id, "digest": item.digest, "body": item.body,
            "received_at": item.received_at, "processed_at": None, "attempts": 0, "error": None,
        })
    if not rows:
        return 0
    table = WebhookEvent.__table__
    # One statement with the rows as parameters (SQLAlchemy's "insertmanyvalues": a cached statement, the rows
    # sent in multi-row batches): a statement built with .values(rows) is compiled again for every commit, which
    # cost ~400 µs a body against ~50 on SQLite (~180 on PostgreSQL) measured at 500 bodies a commit.
    statement = (conflict_insert(table, db.session.get_bind().dialect.name)
                 .on_conflict_do_nothing(index_elements=["sender_id", "digest"]).returning(table.c.id))
    return len(db.session.execute(statement, list(rows.values())).all())


def handshake(sender_id: int, params: Mapping[str, str], family: str = "whatsapp") -> str:
    """The answer to the provider's subscription check of sender ``sender_id`` (its ``hub.challenge`` when
    ``hub.mode`` is subscribe and ``hub.verify_token`` is the sender's); :class:`IntakeRefusal` 404 (no such
    sender at this family's address) or 403."""
    entry = _channel(sender_id)
    answer = _ours(sender_id, entry, family).handshake(params)
    if answer is None and time.monotonic() - entry.loaded >= RELOAD_AFTER_SECONDS:
        fresh = _channel(sender_id, fresh=True).channel  # the verify token may have just been changed
        answer = fresh.handshake(params) if fresh is not None and _family(fresh) == family else None
    if answer is None:
        raise _refuse(sender_id, 403, _l("The verify token does not match this sender's."))
    return answer


def wake_now() -> None:
    """Enqueue ``process_webhooks`` now (for bodies already committed); Redis being away is logged, not raised."""
    try:
        jobs.enqueue_process_webhooks()
    except DuplicateJobError:
        pass  # another request's wake-up queued it at the same moment: the job is waiting, as this one wanted
    except (RedisError, NoSuchJobError, InvalidJobOperation, ValueError) as error:
        # The bodies are committed: the sweep applies them; a lost wake-up costs latency, never an event. (A job
        # that ended between RQ's steps, under concurrent wake-ups, is NoSuchJobError, InvalidJobOperation, or
        # RQ 3's plain ValueError "Execution … not found in Redis".)
        # Never raised: the commit has happened, the 200 is due.
        log.warning("event=webhook_wake_failed error=%r", error)


def wake() -> None:
    """Have a worker apply the stored bodies once the current transaction commits (``process_webhooks``, one job
    however many callbacks ask). Redis being away is logged, not raised: the sweep applies the bodies later."""
    after_commit(wake_now)
