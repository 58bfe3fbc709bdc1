"""Recovery of rows whose batch died: expired leases, and ``unknown`` rows no status settled in time.

A row is ``sending`` from the moment it passed the re-checks at send time until its result is written; its
lease says until when the batch that holds it is alive. A lease that runs out while the row is ``sending``
means the worker died with the request possibly gone. What to do then depends on the sender's channel:

- idempotent (``Capabilities.idempotent_sends``: a repeated key is the same message) → ``queued`` again,
  ``sent_at`` cleared: the next batch sends it with the same key, and the provider delivers it at most once;
- any other (the real Cloud API) → ``unknown``, ``sent_at`` kept (it may have gone then, so caps and tiers
  go on counting it): sending it again could deliver it twice, so only a status for its key
  (``campaigns.dispatch.settle``) or the timeout (``fail_unsettled``) decides it.

A row of a campaign that is no longer sending or paused (cancelled, failed) is never sent again, whatever the
channel: it becomes ``unknown`` too. A ``queued`` row with an expired lease needs nothing: the claim condition
already treats it as unclaimed. Each kind is one set-based UPDATE; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender, sent_by
from channels.registry import CHANNELS
from dbtypes import utcnow
from extensions import db

UNKNOWN_OUTCOME = "unknown_outcome"

# Only these campaigns may send a recovered row again; any other status sends nothing more.
_STILL_SENDING = (CampaignStatus.SENDING, CampaignStatus.PAUSED)


def idempotent_channels() -> list[str]:
    """The channel names on which a repeated message key cannot deliver twice."""
    return sorted(name for name, kind in CHANNELS.items() if kind.capabilities.idempotent_sends)


def recover_expired_leases(now: datetime | None = None) -> dict[str, int]:
    """Recover the ``sending`` rows whose lease ran out (their worker died): ``queued`` again on an idempotent
    channel, ``unknown`` on any other. Returns ``{"requeued": n, "unknown": m}``; flushes only.

    A ``sending`` row without a lease counts as expired too: nobody holds it, so nothing else would ever move it.
    """
    now = now or utcnow()
    expired = (Message.status == MessageStatus.SENDING,
               or_(Message.lease_until.is_(None), Message.lease_until < now))
    # Idempotent by the channel of the row's own sender (a cascade's step), not only its campaign's first.
    resendable = (
        select(Message.id)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .join(Sender, Sender.id == sent_by())
        .where(*expired, Campaign.status.in_(_STILL_SENDING), Sender.channel.in_(idempotent_channels()))
    )
    requeued = db.session.execute(
        update(Message)
        .where(*expired, Message.id.in_(resendable))
        .values(status=MessageStatus.QUEUED, lease_owner=None, lease_until=None, sent_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    # What is left expired is on a channel that is not idempotent, or of a campaign that sends no more.
    unknown = db.session.execute(
        update(Message)
        .where(*expired)
        .values(status=MessageStatus.UNKNOWN, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return {"requeued": requeued, "unknown": unknown}


def fail_unsettled(now: datetime | None = None) -> int:
    """Fail the ``unknown`` rows that no status settled within ``DISPATCH_UNKNOWN_SECONDS`` of their send
    time (``error_code`` ``unknown_outcome``): counted as failed-unknown, never as sent. Returns how many;
    flushes only. A later status for the key still settles such a row (``settle``)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=current_app.config["DISPATCH_UNKNOWN_SECONDS"])
    return db.session.execute(
        update(Message)
        # A row without a send time never should be unknown; its launch time stands in, so it cannot stay forever.
        .where(Message.status == MessageStatus.UNKNOWN,
               or_(Message.sent_at < cutoff, Message.sent_at.is_(None) & (Message.created_at < cutoff)))
        .values(status=MessageStatus.FAILED, error_code=UNKNOWN_OUTCOME, failed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
