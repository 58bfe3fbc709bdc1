"""Analytics worded for pages: the campaign page's funnel, timeline and cost and the home page's dashboard —
``campaigns.analytics``'s figures in the reader's language.

Charts are drawn by uPlot (``static/vendor/uplot``) from a ``<script type="application/json">`` block that
``static/js/charts.js`` reads: the CSP allows no inline script, and a JSON block is data, never run. Every
figure a chart draws is also on the page as text, in a table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision
from flask_babel import format_currency, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from campaigns import analytics, bot_preflight, preflight, step_analytics, step_rendering
from campaigns.cascade import is_cascade
from campaigns.models import Campaign
from compliance.channel_rule import CHANNEL_NAMES
from compliance.sending import TIER_LABELS

# How a bucket's start is written in the timeline's table (UTC).
_BUCKET_FORMATS = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}
BUCKET_CAPTIONS = {"minute": _l("The figures minute by minute (UTC)"), "hour": _l("The figures hour by hour (UTC)"),
                   "day": _l("The figures day by day (UTC)")}
# The funnel lines shown indented: parts of the line above them, not a step of the funnel.
_INDENTED = {"excluded", "skipped", "failed", "deferred", "in_flight", "opted_out", "blocked"}


def percent(share: float | None) -> str:
    """A share (0–1) as a percentage in the reader's language, "—" when there is none."""
    return "—" if share is None else format_percent(share, format="#,##0.#%")


def money(minor: int | None, currency: str | None) -> str:
    """An amount in minor units of ``currency`` as the reader writes money, "—" when unknown."""
    if minor is None or not currency:
        return "—"
    return format_currency(Decimal(minor).scaleb(-get_currency_precision(currency)), currency)


def _line(key: str, line: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "label": str(analytics.FUNNEL_LABELS[key]), "count": format_decimal(line["count"]),
            "rate": percent(line["rate"]) if line["of"] else "",
            "of": str(analytics.BASE_LABELS[line["of"]]) if line["of"] else "", "indented": key in _INDENTED,
            "details": []}


def worded_funnel(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The funnel's lines in order, each worded (label, count, rate and what it is a rate of), with the
    breakdowns of the excluded, skipped and failed lines as details under them."""
    lines = {key: _line(key, figures[key]) for key, _base in analytics.FUNNEL_LINES}
    labels = {**preflight.EXCLUSION_LABELS, **bot_preflight.EXCLUSION_LABELS}
    lines["excluded"]["details"] = [
        {"label": str(labels.get(item["reason"], item["reason"])),
         "count": format_decimal(item["count"]), "rate": percent(item["rate"]), "words": ""}
        for item in figures["excluded"]["by_reason"]]
    lines["skipped"]["details"] = [
        {"label": item["sentence"], "count": format_decimal(item["count"]), "rate": percent(item["rate"]),
         "words": ""} for item in figures["skipped"]["by_reason"]]
    lines["failed"]["details"] = [
        {"label": item["sentence"], "count": format_decimal(item["count"]), "rate": percent(item["rate"]),
         "code": item["code"] or "", "words": item["provider_words"] or ""} for item in figures["failed"]["by_code"]]
    return list(lines.values())


def _chart(kind: str, x: list[int], series: dict[str, list[Any]]) -> dict[str, Any]:
    """What ``static/js/charts.js`` draws: ``kind`` "count" or "rate" (shares, shown as percentages), the x
    values in epoch seconds and each series with its label in the reader's language."""
    return {"kind": kind, "x": x,
            "series": [{"key": key, "label": str(analytics.SERIES_LABELS[key]), "values": values}
                       for key, values in series.items()]}


def worded_timeline(figures: dict[str, Any]) -> dict[str, Any]:
    """The timeline as a chart and as table rows (the bucket's start in UTC and its counts, worded)."""
    points = figures["points"]
    form = _BUCKET_FORMATS[figures["bucket"]]
    return {
        "bucket": figures["bucket"],
        "caption": str(BUCKET_CAPTIONS[figures["bucket"]]),
        "chart": _chart("count", [point["t"] for point in points],
                        {name: [point[name] for point in points] for name in ("sent", "delivered", "read")}),
        "rows": [{"at": datetime.fromtimestamp(point["t"], UTC).strftime(form),
                  **{name: format_decimal(point[name]) for name in ("sent", "delivered", "read")}}
                 for point in points if point["sent"] or point["delivered"] or point["read"]],
    }


def worded_cost(figures: dict[str, Any]) -> dict[str, Any]:
    """The actual cost and the estimate as money, their difference, and the billable messages not priced yet."""
    difference = figures["difference_minor"]
    return {
        "actual": money(figures["actual_minor"], figures["currency"]),
        "estimate": money(figures["estimate_minor"], figures["estimate_currency"]),
        "difference": "" if difference is None else
        (("+" if difference > 0 else "") + money(difference, figures["currency"])),
        "billable": format_decimal(figures["billable"]),
        "unpriced": format_decimal(figures["unpriced"]) if figures["unpriced"] else "",
    }


def campaign_analytics(campaign: Campaign) -> dict[str, Any] | None:
    """The campaign page's analytics section, worded; None before the campaign has any message row."""
    figures = analytics.funnel(campaign)
    if not figures["recipients"]["count"] and not figures["excluded"]["count"]:
        return None
    cost = analytics.cost(campaign)
    return {"funnel": worded_funnel(figures), "timeline": worded_timeline(analytics.timeline(campaign)),
            "cost": worded_cost(cost), "cascade": worded_cascade(campaign, cost["currency"])}


def worded_cascade(campaign: Campaign, currency: str) -> dict[str, Any] | None:
    """A cascade's figures per channel, worded for the page (None for a campaign on one sender)."""
    if not is_cascade(campaign):
        return None
    figures = step_analytics.figures(campaign)
    savings = figures["sms_savings_minor"]
    return {"steps": [{**step, "channel_name": CHANNEL_NAMES.get(step["channel"], step["channel"]),
                       **{key: format_decimal(step[key]) for key in ("tried", "reached", "failed", "fallen_back")},
                       "cost": money(step["cost_minor"], currency)} for step in figures["steps"]],
            "delivered_twice": format_decimal(figures["delivered_twice"]),
            "sms_savings": "" if savings is None else money(savings, currency)}


def worded_estimate_steps(campaign: Campaign) -> list[dict[str, Any]] | None:
    """The stored estimate's steps of a cascade (who is tried first where, at what cost), worded for the pages;
    None for a campaign on one sender or before its preflight."""
    estimate = campaign.estimate or {}
    if not is_cascade(campaign) or not estimate.get("steps"):
        return None
    names = {step["sender_id"]: step["sender"] for step in step_rendering.cascade_json(campaign) or []}
    return [{**step, "number": step["step"] + 1, "sender": names.get(step["sender_id"], "—"),
             "channel_name": CHANNEL_NAMES.get(step["channel"], step["channel"]),
             "first_tried": format_decimal(step["first_tried"]), "unpriced": step["cost_minor"] is None,
             "cost": money(step["cost_minor"], estimate.get("currency"))} for step in estimate["steps"]]


def dashboard(days: int = 30) -> dict[str, Any]:
    """The home page's dashboard: the daily series as two charts (sends; the rates) and a table, and every
    sender's tier use in the rolling 24 h."""
    series = analytics.daily(days)
    rates = ("delivery_rate", "read_rate", "reply_rate", "opt_out_rate", "block_rate")
    x = [day["t"] for day in series]
    return {
        "days": days,
        "sends_chart": _chart("count", x, {"sent": [day["sent"] for day in series]}),
        "rates_chart": _chart("rate", x, {name: [day[name] for day in series] for name in rates}),
        "rows": [{"date": day["date"], "sent": format_decimal(day["sent"]),
                  **{name: percent(day[name]) for name in rates}} for day in reversed(series) if day["sent"]],
        "rate_labels": {name: str(analytics.SERIES_LABELS[name]) for name in rates},
        "tiers": [{**sender, "tier_label": str(TIER_LABELS.get(sender["tier"], sender["tier"])),
                   "used_text": format_decimal(sender["used"]),
                   "limit_text": _("no limit") if sender["limit"] is None else format_decimal(sender["limit"]),
                   "share_text": percent(sender["share"])} for sender in analytics.tier_use()],
    }
