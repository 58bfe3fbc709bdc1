"""Where a campaign's sending stands: its message rows by state, the current rate, the ETA, the
failures by reason — one shape for the campaign page, ``flask campaigns status`` and the API.

Everything comes from one ``GROUP BY`` over the campaign's rows (``ix_messages_campaign_status``
serves it), so asking every second while a million rows go out costs one index scan, and the answer
is what the database says, whichever workers are sending.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from flask_babel import format_decimal, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from campaigns.dispatch.completion import OPEN_STATUSES
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender
from channels.errors import sentence_for
from dbtypes import utcnow
from extensions import db

# The rate is what went out in this many seconds before now.
RATE_WINDOW = timedelta(seconds=60)

# The nine row states, in the order a row lives through them (``campaigns.dispatch``): the keys of ``counts``.
COUNT_KEYS = tuple(status.value for status in (
    MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED,
    MessageStatus.READ, MessageStatus.FAILED, MessageStatus.UNKNOWN, MessageStatus.SKIPPED,
))
# Rows the provider accepted: what "sent" means to the marketer.
ACCEPTED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
# Rows whose error code is why they will never arrive (a queued row's code is only its last retry's).
GIVEN_UP = (MessageStatus.FAILED, MessageStatus.SKIPPED)

MESSAGE_STATUS_LABELS = {
    MessageStatus.QUEUED: _l("Queued"),
    MessageStatus.DEFERRED: _l("Waiting for the send window or the tier"),
    MessageStatus.SENDING: _l("Being sent"),
    MessageStatus.SENT: _l("Sent"),
    MessageStatus.DELIVERED: _l("Delivered"),
    MessageStatus.READ: _l("Read"),
    MessageStatus.FAILED: _l("Failed"),
    MessageStatus.UNKNOWN: _l("Sent or not, not known yet"),
    MessageStatus.SKIPPED: _l("Skipped"),
}

# The codes dispatch itself gives a row it will not send (the provider's codes are worded by
# ``channels.errors``): the send-time re-checks, a cancel, and an outcome no status settled.
REASON_SENTENCES = {
    "opted_out": _l("The recipient opted out before the message went out."),
    "blocked": _l("The number was blocked before the message went out."),
    "no_consent": _l("The recipient's consent was missing at send time."),
    "frequency_cap": _l("The recipient had already had as many messages as the frequency cap allows."),
    "time_zone": _l("The recipient's time zone is unknown or has no send window in common with the campaign."),
    "channel_rule": _l("The channel rule blocked it at send time: the recipient is in Russia, where this "
                       "channel may not be used for it (38-FZ art. 5 part 10.7, or 41-FZ)."),
    "cancelled": _l("The campaign was cancelled before the message went out."),
    "bot_stopped": _l("The recipient stopped the bot before the message went out."),
    "no_address": _l("The recipient had no open address on the bot any more when the message was due."),
    "unknown_outcome": _l("Whether the message went out could not be told, and no status from the provider "
                          "settled it in time."),
}
NO_REASON = _l("No reason was recorded.")


def progress(campaign: Campaign) -> dict[str, Any]:
    """The campaign's sending as it stands now.

    ``counts`` has every row state (``COUNT_KEYS``); ``total`` is their sum and ``done`` the rows
    nobody will send any more (all but queued, deferred and sending). ``rate`` is messages a second
    over the last minute, by ``sent_at`` (over the time since the launch when that is shorter);
    ``eta_seconds`` is when the rows left will have gone at that rate — never before the last
    deferred row is due — 0 when none is left, None when it cannot be told (not sending, nothing
    went out in the last minute). ``failures`` are the failed and skipped rows by code, most
    frequent first, each with its sentence in the reader's language.
    """
    now = utcnow()
    since = now - RATE_WINDOW
    rows = db.session.execute(
        select(
            Message.status,
            Message.error_code,
            func.count(),
            func.coalesce(func.sum(case((Message.sent_at >= since, 1), else_=0)), 0),
            func.max(Message.not_before),
        )
        .where(Message.campaign_id == campaign.id)
        .group_by(Message.status, Message.error_code)
    ).all()

    counts = dict.fromkeys(COUNT_KEYS, 0)
    reasons: dict[str | None, int] = {}
    recent = 0
    due_last: datetime | None = None
    for status, code, count, sent_recently, not_before in rows:
        counts[status.value] += count
        recent += sent_recently
        if status in GIVEN_UP:
            reasons[code] = reasons.get(code, 0) + count
        if status in OPEN_STATUSES and not_before is not None and (due_last is None or not_before > due_last):
            due_last = not_before

    total = sum(counts.values())
    left = sum(counts[status.value] for status in OPEN_STATUSES)
    rate = recent / _window_seconds(campaign, now)
    return {
        "status": campaign.status.value,
        "counts": counts,
        "total": total,
        "done": total - left,
        "rate": round(rate, 2),
        "eta_seconds": _eta(campaign, left, rate, due_last, now),
        "failures": _failures(campaign, reasons),
        "launched_at": campaign.launched_at.isoformat() if campaign.launched_at else None,
    }


def _window_seconds(campaign: Campaign, now: datetime) -> float:
    # A campaign launched 10 s ago has sent for 10 s, not 60: dividing by the minute would show a sixth
    # of its real rate until its first minute is over.
    window = RATE_WINDOW.total_seconds()
    if campaign.launched_at is not None:
        window = min(window, (now - campaign.launched_at).total_seconds())
    return max(window, 1.0)


def _eta(campaign: Campaign, left: int, rate: float, due_last: datetime | None, now: datetime) -> int | None:
    if left == 0:
        return 0
    if campaign.status is not CampaignStatus.SENDING or rate <= 0:
        return None
    seconds = left / rate
    if due_last is not None:  # a row waiting for its window cannot go before it opens, whatever the rate
        seconds = max(seconds, (due_last - now).total_seconds())
    return math.ceil(seconds)


def _failures(campaign: Campaign, reasons: dict[str | None, int]) -> list[dict[str, Any]]:
    if not reasons:
        return []
    channel = db.session.get(Sender, campaign.sender_id).channel
    found = [{"code": code, "sentence": str(reason_sentence(channel, code)), "count": count}
             for code, count in reasons.items()]
    return sorted(found, key=lambda item: (-item["count"], item["code"] or ""))


def reason_sentence(channel: str, code: str | None) -> Any:
    """Why a row failed or was skipped, in words: dispatch's own reasons, else the provider's code as the
    channel's table words it."""
    if not code:
        return NO_REASON
    return REASON_SENTENCES.get(code) or sentence_for(channel, code)


def worded(state: dict[str, Any]) -> dict[str, Any]:
    """A ``progress`` answer's figures as a reader reads them, in the current language: numbers grouped,
    the rate per second, the ETA as a duration."""
    counts = state["counts"]
    sent = sum(counts[status.value] for status in ACCEPTED)
    eta = state["eta_seconds"]
    return {
        "done": _("%(done)s of %(total)s done", done=format_decimal(state["done"]),
                  total=format_decimal(state["total"])),
        "sent": _("%(sent)s of %(total)s sent", sent=format_decimal(sent), total=format_decimal(state["total"])),
        "rate": _("%(rate)s messages a second", rate=format_decimal(state["rate"], format="#,##0.#")),
        "eta": _("Not known yet") if eta is None else (
            _("Nothing left to send") if eta == 0 else
            _("About %(duration)s", duration=format_timedelta(timedelta(seconds=eta), threshold=1.0))),
        "counts": {key: format_decimal(count) for key, count in counts.items()},
        "failures": [{"sentence": item["sentence"], "count": format_decimal(item["count"])}
                     for item in state["failures"]],
    }
