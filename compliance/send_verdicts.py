"""Send-time verdicts: may this message go to this recipient now, and if not, why and until when.

Pure functions over facts the campaign layer gathers in bulk (``RecipientFacts``) and one
``SendContext`` per batch. Everything that depends only on the batch and a kind of recipient (the
window for a set of time zones, the sentence for a suppression reason, a cap reached at a count) is
worked out once per call and the resulting ``Decision`` is shared by every recipient of that kind, so a
batch costs a few attribute reads per recipient.

Rules, in the order they are checked; the first one that does not pass decides:

``suppressed``    an active suppression (opt-out, block, spam report, manual) → BLOCK. Checked before
                  consent because an opt-out usually withdraws consent too, and "opted out" tells the
                  marketer more than "no consent".
``consent``       no recorded consent → BLOCK.
``frequency_cap`` a capped category and the recipient already at the daily or weekly cap → BLOCK, not
                  DEFER: a campaign goes out at one moment, and holding a message for up to a week
                  would deliver a stale offer; the recipient is counted as excluded instead.
``send_window``   a windowed category outside the recipient's local window in any candidate zone →
                  DEFER until the earliest moment inside it in all of them; BLOCK when the zone is
                  unknown or the candidate zones share no moment inside it within a week.
``tier``          WhatsApp's cap on new unique recipients per rolling 24 hours: recipients who would go
                  out now take one unit of headroom each, in order; when it runs out → DEFER.
                  Recipients already contacted in the last 24 hours are already counted, so they take
                  none, and deferred or blocked recipients take none because nothing is sent to them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property, partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from compliance.sending import CATEGORIES, SendingRules, SendWindow
from compliance.verdict import Outcome, Verdict

RULES = ("suppressed", "consent", "frequency_cap", "send_window", "tier")
# How far ahead a deferred message may be scheduled; beyond that the zones are taken to share no window.
SEARCH_DAYS = 7

# Most serious first: the one a recipient's reason names when several suppressions are active.
SUPPRESSION_REASONS = {
    "spam_report": _l("The recipient reported spam."),
    "block": _l("The recipient blocked the business."),
    "opt_out": _l("The recipient opted out."),
    "manual": _l("The recipient was suppressed manually."),
    "unsure_reply": _l("The recipient's reply may be a refusal and awaits a decision."),
}


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    """What the send-time rules need to know about one recipient, gathered in bulk beforehand.

    ``time_zones`` holds one IANA name when the place is known and every candidate when it is not (a
    Russian mobile number without a city spans eleven); empty means unknown. ``sent_today`` and
    ``sent_this_week`` count marketing messages in the last 24 hours and 7 days.
    """

    phone: str
    country: str = ""
    time_zones: tuple[str, ...] = ()
    has_consent: bool = False
    suppressed: tuple[str, ...] = ()
    sent_today: int = 0
    sent_this_week: int = 0
    contacted_last_24h: bool = False


@dataclass(frozen=True)
class SendContext:
    """The batch-wide inputs: when, which message category, the rules, and the tier headroom left.

    ``tier_headroom`` is how many new unique recipients the sender may still message in the rolling
    24 hours (``None`` = unlimited).
    """

    now: datetime
    category: str = "marketing"
    rules: SendingRules = field(default_factory=SendingRules)
    tier_headroom: int | None = None

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:
            raise ValueError("SendContext.now must be timezone-aware.")
        if self.category not in CATEGORIES:
            raise ValueError(f"Unknown message category {self.category!r}; expected one of {', '.join(CATEGORIES)}.")
        if self.tier_headroom is not None and self.tier_headroom < 0:
            raise ValueError("SendContext.tier_headroom cannot be negative.")
        object.__setattr__(self, "now", self.now.astimezone(UTC))


@dataclass(frozen=True, slots=True, eq=False)
class Decision:
    """A recipient's final outcome, the verdicts that did not pass, and when a deferred one may go.

    ``until`` is set for a send-window deferral; a tier deferral has none, since capacity frees up as
    the sender's rolling 24 hours move on, which the dispatcher's rate limiter tracks.

    Compared by identity: ``evaluate`` hands the same instance to every recipient with the same
    decision, which is what makes large batches cheap to judge and to count.
    """

    outcome: Outcome
    verdicts: tuple[Verdict, ...] = ()
    until: datetime | None = None


PASSED = Decision(Outcome.PASS)


def evaluate(recipients: Sequence[RecipientFacts], context: SendContext) -> list[Decision]:
    """One ``Decision`` per recipient, in order (tier headroom is taken in that order)."""
    decide = _Batch(context).decide
    return [decide(facts) for facts in recipients]


def evaluate_counted(groups: Sequence[tuple[RecipientFacts, int]], context: SendContext) -> list[
        list[tuple[Decision, int]]]:
    """``evaluate`` for recipients given as (facts, how many recipients share them): per group, each
    decision its recipients get and how many get it, as ``evaluate`` would decide ``count`` copies of
    the facts in a row. A group that would go out takes what tier headroom is left, in the order of
    the groups, and the rest of it is deferred; so a million recipients cost one decision per group.
    """
    decide = _Batch(context).decide_counted
    return [decide(facts, count) for facts, count in groups]


@dataclass(frozen=True)
class PreflightReport:
    """How a batch would fare: eligible (pass or warn), deferred and excluded, by rule."""

    total: int
    eligible: int
    deferred: int
    excluded: dict[str, int]
    deferred_by: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "total": self.total,
            "eligible": self.eligible,
            "deferred": self.deferred,
            "excluded": dict(self.excluded),
            "deferred_by": dict(self.deferred_by),
        }


def preflight(recipients: Sequence[RecipientFacts], context: SendContext) -> PreflightReport:
    """Judge ``recipients`` and count them; an excluded one counts under its first blocking rule."""
    eligible = 0
    excluded: Counter[str] = Counter()
    deferred: Counter[str] = Counter()
    # Decisions are shared instances, so this tallies a handful of distinct ones, not every recipient.
    for decision, count in Counter(evaluate(recipients, context)).items():
        if decision.outcome is Outcome.BLOCK:
            excluded[_first_rule(decision, Outcome.BLOCK)] += count
        elif decision.outcome is Outcome.DEFER:
            deferred[_first_rule(decision, Outcome.DEFER)] += count
        else:
            eligible += count
    return PreflightReport(
        total=len(recipients),
        eligible=eligible,
        deferred=deferred.total(),
        excluded={rule: excluded[rule] for rule in RULES if rule in excluded},
        deferred_by={rule: deferred[rule] for rule in RULES if rule in deferred},
    )


def _first_rule(decision: Decision, outcome: Outcome) -> str:
    return next(verdict.rule for verdict in decision.verdicts if verdict.outcome is outcome)


class _Memo(dict):
    """A dict that builds a missing value once from its key."""

    def __init__(self, build: Callable[[Any], Any]):
        super().__init__()
        self._build = build

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self._build(key)
        return value


class _Batch:
    """The rules bound to one context, with the decisions already made in this call."""

    def __init__(self, context: SendContext):
        rules = context.rules
        capped = context.category in rules.capped_categories
        self.now = context.now
        self.rules = rules
        self.cap_per_day = rules.cap_per_day if capped else None
        self.cap_per_week = rules.cap_per_week if capped else None
        self.windowed = context.category in rules.windowed_categories
        self.headroom = context.tier_headroom
        self.suppressed = _Memo(self._suppressed)
        self.capped_day = _Memo(partial(self._capped, "day"))
        self.capped_week = _Memo(partial(self._capped, "week"))
        self.windows = _Memo(self._window)
        self.openings = _Memo(lambda key: _next_opening(self.now, *key))

    def decide(self, facts: RecipientFacts) -> Decision:
        """The decision for one recipient; takes a unit of tier headroom when it would go out now."""
        decision = self._before_tier(facts)
        if decision is not None:
            return decision
        if self.headroom is not None and not facts.contacted_last_24h:
            if not self.headroom:
                return self.tier_full
            self.headroom -= 1
        return PASSED

    def decide_counted(self, facts: RecipientFacts, count: int) -> list[tuple[Decision, int]]:
        """The decisions for ``count`` recipients with these facts, and how many get each; those who
        would go out take tier headroom while it lasts, one unit each, as ``decide`` takes it."""
        decision = self._before_tier(facts)
        if decision is not None:
            return [(decision, count)]
        if self.headroom is None or facts.contacted_last_24h:
            return [(PASSED, count)]
        taken = min(count, self.headroom)
        self.headroom -= taken
        return [(given, n) for given, n in ((PASSED, taken), (self.tier_full, count - taken)) if n]

    def _before_tier(self, facts: RecipientFacts) -> Decision | None:
        """The decision of the first rule before the tier that does not pass, if any."""
        if facts.suppressed:
            return self.suppressed[facts.suppressed]
        if not facts.has_consent:
            return self.no_consent
        if self.cap_per_day is not None and facts.sent_today >= self.cap_per_day:
            return self.capped_day[facts.sent_today]
        if self.cap_per_week is not None and facts.sent_this_week >= self.cap_per_week:
            return self.capped_week[facts.sent_this_week]
        if self.windowed:
            return self.windows[facts.country, facts.time_zones]
        return None

    @cached_property
    def no_consent(self) -> Decision:
        return _blocked("consent", _("The recipient has not given consent to receive messages."))

    @cached_property
    def tier_full(self) -> Decision:
        reason = _(
            "The WhatsApp messaging limit for new recipients in 24 hours is used up; "
            "the message waits until it frees up."
        )
        return Decision(Outcome.DEFER, (Verdict("tier", Outcome.DEFER, reason),))

    def _suppressed(self, reasons: tuple[str, ...]) -> Decision:
        named = next((sentence for reason, sentence in SUPPRESSION_REASONS.items() if reason in reasons), None)
        reason = str(named) if named is not None else _("The recipient is on the suppression list.")
        return _blocked("suppressed", reason, {"reasons": list(reasons)})

    def _capped(self, period: str, sent: int) -> Decision:
        if period == "day":
            limit = self.cap_per_day
            reason = _(
                "The recipient has reached the limit of marketing messages for 24 hours "
                "(%(sent)s sent, limit %(limit)s).",
                sent=sent,
                limit=limit,
            )
        else:
            limit = self.cap_per_week
            reason = _(
                "The recipient has reached the limit of marketing messages for 7 days "
                "(%(sent)s sent, limit %(limit)s).",
                sent=sent,
                limit=limit,
            )
        return _blocked("frequency_cap", reason, {"period": period, "sent": sent, "limit": limit})

    def _window(self, key: tuple[str, tuple[str, ...]]) -> Decision | None:
        country, names = key
        window = self.rules.window_for(country)
        if not _known_zones(names):
            return _blocked(
                "send_window",
                _(
                    "The recipient's time zone is unknown, so the send window cannot be checked; "
                    "add the recipient's city."
                ),
            )
        opening = self.openings[names, window]
        if opening == self.now:
            return None
        if opening is None:
            return _blocked("send_window", _(
                "The recipient's possible time zones share no hour inside the send window; add the recipient's city."),
                {"time_zones": list(names)})
        start, end = window.as_dict().values()
        reason = _(
            "It is outside the send window (%(start)s–%(end)s) in the recipient's local time; "
            "the message waits until the window opens.",
            start=start,
            end=end,
        )
        # The instant goes into details as ISO 8601 so that Verdict.as_dict stays JSON-ready;
        # Decision.until carries it as a datetime for programs.
        details = {"until": opening.isoformat(), "start": start, "end": end}
        return Decision(Outcome.DEFER, (Verdict("send_window", Outcome.DEFER, reason, details),), opening)


def _blocked(rule: str, reason: str, details: dict[str, Any] | None = None) -> Decision:
    return Decision(Outcome.BLOCK, (Verdict(rule, Outcome.BLOCK, reason, details or {}),))


@cache
def _zone(name: str) -> ZoneInfo:
    # ZoneInfo keeps only eight zones strongly and rereads the others from disk once they are
    # collected; the eleven Russian zones alone would thrash it.
    return ZoneInfo(name)


def _known_zones(names: tuple[str, ...]) -> bool:
    # A name zoneinfo does not know (phonenumbers says "Etc/Unknown") is as good as no name: a window
    # cannot be checked against it. A malformed name raises ValueError; a region such as "America",
    # which is a folder of the database, raises IsADirectoryError.
    try:
        return bool(names) and all(_zone(name) for name in names)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False


def _next_opening(now: datetime, names: tuple[str, ...], window: SendWindow) -> datetime | None:
    """The earliest instant at or after ``now`` inside ``window`` in every zone, within SEARCH_DAYS."""
    zones = [_zone(name) for name in names]
    if _inside(now, zones, window):
        return now
    # Where several windows overlap, the overlap begins where one of them begins, so the window starts
    # are the only candidates. A start that falls in a spring-forward gap converts to the instant after
    # the gap by the old offset, late by the gap's length at worst: late is safe for quiet hours.
    horizon = now + timedelta(days=SEARCH_DAYS)
    starts: set[datetime] = set()
    for zone in zones:
        today = now.astimezone(zone).date()
        starts.update(
            datetime.combine(today + timedelta(days=day), window.start, zone).astimezone(UTC)
            for day in range(SEARCH_DAYS + 2)
        )
    return next((start for start in sorted(starts) if now < start <= horizon and _inside(start, zones, window)), None)


def _inside(moment: datetime, zones: list[ZoneInfo], window: SendWindow) -> bool:
    return all(window.contains(moment.astimezone(zone).time()) for zone in zones)
