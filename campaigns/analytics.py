"""What campaigns achieved: a campaign's funnel, its sends and deliveries over time, its actual cost beside the
estimate, the dashboard's rates per day across campaigns and every sender's tier use in the rolling 24 h.

One shape for the campaign page, the home page and the API (``docs/analytics.md`` names every key). Every
figure is a set-wise ``GROUP BY`` over the message rows, so a campaign of a million rows costs a few scans,
never a loop of single-row queries; both databases run the same statements (``_EpochSeconds`` is the one
piece they spell differently).

Attribution of opt-outs and blocks: a suppression of a number counts for the message that number last got
before the suppression began — sent at or before it, with no other message sent to the number between them,
whatever the campaign. So a person who opts out after the second of two campaigns counts for the second only,
and a number suppressed before the campaign reached it counts for none (it was skipped or excluded instead).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, ColumnElement, and_, case, distinct, exists, func, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from campaigns import pricing
from campaigns.dispatch.progress import ACCEPTED, reason_sentence
from campaigns.models import Campaign, Message, MessageStatus, Sender, sent_by, sent_since
from compliance.models import Suppression, SuppressionReason
from compliance.sending import TIER_LIMITS
from dbtypes import utcnow
from extensions import db

# Buckets of the timeline, in seconds, and the longest span each is chosen for (``bucket_for``).
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
_MINUTE_SPAN = timedelta(hours=3)  # at most 180 points a minute apart
_HOUR_SPAN = timedelta(days=4)  # at most 96 points an hour apart

# Besides an opt-out, the suppressions that count as the recipient's refusal of the campaign ("blocked"): a
# team's manual suppression or a hold on an unsure reply is nobody's answer to the message.
BLOCK_REASONS = (SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT)

# The funnel's lines in the order the page shows them; each line's rate is of the line it names.
FUNNEL_LINES = (
    ("audience", None), ("excluded", "audience"), ("recipients", "audience"), ("skipped", "recipients"),
    ("sent", "recipients"), ("delivered", "sent"), ("read", "delivered"), ("replied", "delivered"),
    ("failed", "recipients"), ("deferred", "recipients"), ("in_flight", "recipients"),
    ("opted_out", "delivered"), ("blocked", "delivered"),
)
FUNNEL_LABELS = {
    "audience": _l("Segment at launch"),
    "excluded": _l("Excluded at launch"),
    "recipients": _l("Recipients"),
    "skipped": _l("Skipped at send time"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "read": _l("Read"),
    "replied": _l("Replied"),
    "failed": _l("Failed"),
    "deferred": _l("Waiting for the send window or the tier"),
    "in_flight": _l("Not sent yet"),
    "opted_out": _l("Opted out after it"),
    "blocked": _l("Blocked or reported spam after it"),
}
# What each line's rate is a share of, in words ("of the recipients").
BASE_LABELS = {
    "audience": _l("of the segment"),
    "recipients": _l("of the recipients"),
    "sent": _l("of those sent"),
    "delivered": _l("of those delivered"),
}
SERIES_LABELS = {
    "sent": _l("Sent"), "delivered": _l("Delivered"), "read": _l("Read"),
    "delivery_rate": _l("Delivery rate"), "read_rate": _l("Read rate"), "reply_rate": _l("Reply rate"),
    "opt_out_rate": _l("Opt-out rate"), "block_rate": _l("Block rate"),
}


class _EpochSeconds(FunctionElement):
    """Whole seconds since 1970 (UTC) of a timestamp column: the one bucketing arithmetic both databases do."""

    type = BigInteger()
    inherit_cache = True


@compiles(_EpochSeconds)
def _epoch_sqlite(element, compiler, **kw) -> str:
    # SQLite keeps a timestamp as UTC text ("2026-12-02 17:10:38.123456"); strftime reads it.
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(_EpochSeconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def _bucket(column: ColumnElement[Any], seconds: int) -> ColumnElement[int]:
    # Integer division in both databases (``//``), so a bucket is the epoch second it starts at. The width is
    # written into the text, not bound: PostgreSQL matches a GROUP BY to its SELECT by the text.
    width = literal_column(str(int(seconds)), BigInteger())
    return (_EpochSeconds(column) // width) * width


def _went_out() -> ColumnElement[bool]:
    """Rows the provider accepted: sent, delivered, read, and failed after it took them (a failed status on a
    row it had given an id; our own ``unknown_outcome`` verdict has none)."""
    return or_(Message.status.in_(ACCEPTED),
               and_(Message.status == MessageStatus.FAILED, Message.provider_message_id.is_not(None)))


def _delivered() -> ColumnElement[bool]:
    return Message.status.in_((MessageStatus.DELIVERED, MessageStatus.READ))


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def rate(count: int, base: int) -> float | None:
    """``count`` as a share of ``base`` (0–1, four decimals), None when there is no base to share."""
    return round(count / base, 4) if base else None


# --- the funnel --------------------------------------------------------------------------------------------------

def funnel(campaign: Campaign) -> dict[str, Any]:
    """The campaign's funnel: every line of ``FUNNEL_LINES`` as ``{"count", "rate", "of"}`` (``rate`` a share of
    the line ``of`` names, None when that line is 0), and the breakdowns: ``excluded.by_reason`` (the launch's
    exclusions), ``skipped.by_reason`` (the send-time re-checks, a cancel) and ``failed.by_code`` (with our
    sentence and the provider's own words), each item with its count and rate of its line's base."""
    figures = db.session.execute(
        select(
            func.count(),
            _count(Message.status == MessageStatus.SKIPPED),
            _count(_went_out()),
            _count(_delivered()),
            _count(Message.status == MessageStatus.READ),
            _count(Message.replied_at.is_not(None)),
            _count(Message.status == MessageStatus.FAILED),
            _count(Message.status == MessageStatus.DEFERRED),
            _count(Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNKNOWN))),
        ).where(Message.campaign_id == campaign.id)
    ).one()
    (recipients, skipped, sent, delivered, read, replied, failed, deferred, in_flight) = (int(v) for v in figures)
    launch_exclusions = {reason: int(count) for reason, count in (campaign.exclusions or {}).items()}
    excluded = sum(launch_exclusions.values())
    refusals = _refusals(Message.campaign_id == campaign.id, grouped_by=None).get(None, {})
    counts = {"audience": recipients + excluded, "excluded": excluded, "recipients": recipients, "skipped": skipped,
              "sent": sent, "delivered": delivered, "read": read, "replied": replied, "failed": failed,
              "deferred": deferred, "in_flight": in_flight, "opted_out": refusals.get("opted_out", 0),
              "blocked": refusals.get("blocked", 0)}
    lines = {key: {"count": counts[key], "rate": rate(counts[key], counts[base]) if base else None, "of": base}
             for key, base in FUNNEL_LINES}
    lines["excluded"]["by_reason"] = [
        {"reason": reason, "count": count, "rate": rate(count, counts["audience"])}
        for reason, count in sorted(launch_exclusions.items(), key=lambda item: (-item[1], item[0])) if count
    ]
    channel = db.session.get(Sender, campaign.sender_id).channel
    skipped_by, failed_by = _by_code(campaign)
    lines["skipped"]["by_reason"] = [
        {"reason": code, "sentence": str(reason_sentence(channel, code)), "count": count,
         "rate": rate(count, recipients)} for code, count, _words in skipped_by
    ]
    lines["failed"]["by_code"] = [
        {"code": code, "sentence": str(reason_sentence(channel, code)), "provider_words": words or None,
         "count": count, "rate": rate(count, recipients)} for code, count, words in failed_by
    ]
    return lines


def _by_code(campaign: Campaign) -> tuple[list[tuple[str | None, int, str | None]], ...]:
    """The skipped and the failed rows by code, most frequent first; for a failure, one of the provider's own
    wordings of that code (they differ only in details such as the number)."""
    rows = db.session.execute(
        select(Message.status, Message.error_code, func.count(), func.max(Message.error_message))
        .where(Message.campaign_id == campaign.id,
               Message.status.in_((MessageStatus.SKIPPED, MessageStatus.FAILED)))
        .group_by(Message.status, Message.error_code)
    ).all()

    def of(status: MessageStatus) -> list[tuple[str | None, int, str | None]]:
        found = [(code, int(count), words) for state, code, count, words in rows if state is status]
        return sorted(found, key=lambda item: (-item[1], item[0] or ""))

    return of(MessageStatus.SKIPPED), of(MessageStatus.FAILED)


def _refusals(scope: ColumnElement[bool], grouped_by: ColumnElement[Any] | None) -> dict[Any, dict[str, int]]:
    """The messages in ``scope`` that went out and that a suppression is attributed to (see the module's
    docstring), counted as ``opted_out`` and ``blocked``, per value of ``grouped_by`` (one group keyed None
    without it)."""
    later = aliased(Message)
    in_between = exists().where(later.phone == Message.phone, later.sent_at > Message.sent_at,
                                later.sent_at <= Suppression.created_at)
    # The kinds are written into the text, not bound, for the GROUP BY to match (see ``_bucket``).
    kind = case((Suppression.reason == literal_column(f"'{SuppressionReason.OPT_OUT.value}'"),
                 literal_column("'opted_out'")),
                else_=literal_column("'blocked'"))
    groups = [kind] if grouped_by is None else [kind, grouped_by]
    query = (
        select(func.count(distinct(Message.id)), *groups)
        .select_from(Message)
        .join(Suppression, and_(Suppression.phone == Message.phone, Suppression.created_at >= Message.sent_at))
        .where(scope, _went_out(), Suppression.reason.in_((SuppressionReason.OPT_OUT, *BLOCK_REASONS)), ~in_between)
        .group_by(*groups)
    )
    found: dict[Any, dict[str, int]] = {}
    for count, what, *group in db.session.execute(query):
        found.setdefault(int(group[0]) if group else None, {})[what] = int(count)
    return found


# --- the timeline ------------------------------------------------------------------------------------------------

def bucket_for(first: datetime | None, last: datetime | None) -> str:
    """The bucket that shows a span from ``first`` to ``last`` in a readable number of points: minutes up to
    three hours, hours up to four days, days beyond."""
    if first is None or last is None or last - first <= _MINUTE_SPAN:
        return "minute"
    return "hour" if last - first <= _HOUR_SPAN else "day"


def timeline(campaign: Campaign, bucket: str | None = None) -> dict[str, Any]:
    """Sends, deliveries and reads of the campaign per ``bucket`` ("minute", "hour" or "day"; None: chosen from
    the campaign's span by ``bucket_for``). ``points`` run from the first bucket anything happened in to the last,
    empty buckets included as zeros, each ``{"at": ISO start (UTC), "t": epoch seconds, "sent", "delivered",
    "read"}``. ``bucket`` and ``seconds`` name the bucket chosen."""
    mine = and_(Message.campaign_id == campaign.id, _went_out())
    chosen = bucket
    if chosen not in BUCKETS:
        first, last = db.session.execute(
            select(func.min(Message.sent_at),
                   func.max(func.coalesce(Message.read_at, Message.delivered_at, Message.sent_at))).where(mine)
        ).one()
        chosen = bucket_for(first, last)
    seconds = BUCKETS[chosen]
    # One scan for the three series: the rows grouped by their three buckets at once (a row's delivery and read
    # fall in few buckets after its send, so the groups stay few), summed per series here. A delivery or read
    # time is only ever set on a delivered or read row (statuses move forward only).
    columns = {"sent": Message.sent_at, "delivered": Message.delivered_at, "read": Message.read_at}
    buckets = [_bucket(column, seconds) for column in columns.values()]
    series: dict[str, dict[int, int]] = {name: {} for name in columns}
    for *starts, count in db.session.execute(select(*buckets, func.count()).where(mine).group_by(*buckets)):
        for name, start in zip(columns, starts, strict=True):
            if start is not None:
                series[name][int(start)] = series[name].get(int(start), 0) + int(count)
    starts = [start for values in series.values() for start in values]
    points = []
    if starts:
        for start in range(min(starts), max(starts) + seconds, seconds):
            points.append({"at": datetime.fromtimestamp(start, UTC).isoformat(), "t": start,
                           **{name: values.get(start, 0) for name, values in series.items()}})
    return {"bucket": chosen, "seconds": seconds, "points": points}


# --- the cost ----------------------------------------------------------------------------------------------------

def cost(campaign: Campaign) -> dict[str, Any]:
    """What the campaign actually cost beside what its estimate said, in minor units of each one's currency.

    ``actual_minor`` sums ``cost_minor`` of the billable messages (priced by the rate card when their delivery
    came in, in its currency); ``unpriced`` counts billable messages no status priced yet. ``estimate_minor`` is
    the estimate's total (None without one); ``difference_minor`` is actual minus estimate, when both are in
    the same currency."""
    billable, priced, actual = db.session.execute(
        select(_count(Message.billable.is_(True)),
               _count(and_(Message.billable.is_(True), Message.cost_minor.is_not(None))),
               func.coalesce(func.sum(case((Message.billable.is_(True), Message.cost_minor), else_=0)), 0))
        .where(Message.campaign_id == campaign.id)
    ).one()
    card = pricing.current_rate_card()
    estimate = campaign.estimate or {}
    estimate_minor = estimate.get("total_minor")
    estimate_currency = estimate.get("currency")
    same = estimate_minor is not None and estimate_currency == card.currency
    return {
        "currency": card.currency,
        "actual_minor": int(actual),
        "actual": str(Decimal(int(actual)).scaleb(-card.exponent)),
        "billable": int(billable),
        "unpriced": int(billable) - int(priced),
        "estimate_currency": estimate_currency,
        "estimate_minor": estimate_minor,
        "estimate": estimate.get("total"),
        "estimated_messages": estimate.get("messages"),
        "difference_minor": int(actual) - estimate_minor if same else None,
    }


# --- the dashboard -----------------------------------------------------------------------------------------------

def daily(days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """The last ``days`` UTC days up to ``now``'s, oldest first, across every campaign: each day's messages that
    went out (``sent``, by send time) and what became of them — ``delivered``, ``read``, ``replied``,
    ``opted_out``, ``blocked`` — with the rates: delivery of those sent, the others of those delivered."""
    now = now or utcnow()
    first_day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    end = first_day + timedelta(days=days)
    scope = and_(Message.sent_at >= first_day, Message.sent_at < end)
    day = _bucket(Message.sent_at, BUCKETS["day"])
    figures = {int(start): row for start, *row in db.session.execute(
        select(day, func.count(), _count(_delivered()), _count(Message.status == MessageStatus.READ),
               _count(Message.replied_at.is_not(None)))
        .where(scope, _went_out()).group_by(day))}
    refusals = _refusals(scope, grouped_by=day)
    series = []
    for index in range(days):
        start = first_day + timedelta(days=index)
        key = int(start.timestamp())
        sent, delivered, read, replied = (int(value) for value in figures.get(key, (0, 0, 0, 0)))
        opted_out = refusals.get(key, {}).get("opted_out", 0)
        blocked = refusals.get(key, {}).get("blocked", 0)
        series.append({
            "date": start.date().isoformat(), "t": key, "sent": sent, "delivered": delivered, "read": read,
            "replied": replied, "opted_out": opted_out, "blocked": blocked,
            "delivery_rate": rate(delivered, sent), "read_rate": rate(read, delivered),
            "reply_rate": rate(replied, delivered), "opt_out_rate": rate(opted_out, delivered),
            "block_rate": rate(blocked, delivered),
        })
    return series


def tier_use(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every sender's unique recipients in the rolling 24 h before ``now`` beside its tier's limit — what the
    tier counts (``models.sent_since``, as the dispatch gate and the preflight do): ``used``, ``limit`` (None:
    unlimited), ``headroom`` and ``share`` (used of the limit)."""
    now = now or utcnow()
    used = dict(db.session.execute(
        select(sent_by(), func.count(distinct(Message.phone)))
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(sent_since(now - timedelta(hours=24)))
        .group_by(sent_by())
    ).all())
    found = []
    for sender in db.session.scalars(select(Sender).order_by(Sender.name)):
        count = int(used.get(sender.id, 0))
        limit = TIER_LIMITS.get(sender.tier)
        found.append({"sender_id": sender.id, "name": sender.name, "phone": sender.phone, "tier": sender.tier,
                      "used": count, "limit": limit, "headroom": None if limit is None else max(limit - count, 0),
                      "share": rate(count, limit) if limit else None})
    return found
