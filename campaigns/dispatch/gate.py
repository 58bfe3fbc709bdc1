"""The re-check at send time: one sub-chunk of claimed rows, judged in bulk right before the requests leave.

Everything happens in one transaction that serialises per phone across campaigns, so that two batches
(of two campaigns) judging the same number cannot both see "nothing sent today" and both send. On
PostgreSQL the transaction first takes a transaction-scoped advisory lock per phone, in sorted order (no
two gates can deadlock); on SQLite its first statement is a write, which takes the database's one write
lock before anything is read. Under that lock it reads the campaign's status (paused or cancelled: the
rows are given back and the batch stops), the rows' facts (``campaigns.recipient_facts``), judges them
(``compliance.send_verdicts``) and reserves the tier's headroom in Redis; then it moves each row:

- blocked → ``skipped`` with the reason's code, lease cleared; so is a row the channel rule blocks
  (``channel_rule``: block mode or 41-FZ, read from the policy for every sub-chunk, so an admin's switch
  to block mid-campaign wins); on a cascade step with a next one, a row skipped because this channel is closed
  to the person (``cascade.FALLBACK_SKIPS``) falls back to the next (``fallbacks``);
- deferred (send window) → ``deferred`` until the window opens in the recipient's zone, lease cleared;
- over the tier → ``deferred`` until headroom frees, lease cleared;
- passed → ``sending``, ``sent_at`` = now, ``attempts`` + 1: from now on caps and tiers count it.

A statement per outcome (and per shared decision), never per row. The batch commits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, text, update

from audience.status import ContactStatus, status_of
from campaigns.cascade import FALLBACK_SKIPS
from campaigns.channel_reach import family_of
from campaigns.dispatch import bot_checks
from campaigns.dispatch.claims import DUE_STATUSES, Claimed
from campaigns.dispatch.fallbacks import fall_back
from campaigns.dispatch.ratelimit import TierReservations
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender, sent_by, sent_since
from campaigns.recipient_facts import message_facts
from compliance.channel_rule import country_of, judge
from compliance.policy import current_policy
from compliance.send_verdicts import RecipientFacts, SendContext, evaluate
from compliance.sending import SendingRules
from compliance.verdict import Outcome
from dbtypes import one_of, utcnow
from extensions import db

# The first key of the two-key advisory locks: phone locks of dispatch, apart from anyone else's.
LOCK_NAMESPACE = 0x7665
# When the tier says "full" without saying when headroom frees, look again after this long.
TIER_RETRY_SECONDS = 60.0
# The rule of a blocking verdict → the row's ``error_code`` (the preflight's exclusion keys).
SKIP_CODES = {"consent": "no_consent", "frequency_cap": "frequency_cap", "send_window": "time_zone"}

_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:namespace, h) FROM "
    "(SELECT DISTINCT hashtext(p) AS h FROM unnest(CAST(:phones AS text[])) AS p) AS s ORDER BY h"
)


@dataclass(frozen=True)
class Plan:
    """What the gate needs to know about the batch, read once per batch."""

    campaign_id: int
    sender_id: int
    category: str
    rules: SendingRules
    tier_limit: int | None
    owner: str
    lease_seconds: float
    bot: bool = False  # a MAX or Telegram bot: its rows go to addresses (``bot_checks``), and it has no tier
    falls_back: bool = False  # a cascade step with a next one: a row the channel cannot take tries the next


@dataclass
class Gated:
    """The gate's verdict on a sub-chunk: the rows now ``sending`` (in claim order) and their ``sent_at``;
    ``stopped`` is the campaign's status when it no longer sends (the rows were given back)."""

    sending: list[Claimed]
    sent_at: datetime
    stopped: str = ""
    counts: Counter[str] = field(default_factory=Counter)


def check(plan: Plan, rows: list[Claimed], tiers: TierReservations) -> Gated:
    """Judge ``rows`` (claimed by ``plan.owner``) at send time and move them; flushes, the caller commits."""
    now = utcnow()
    ids = [row.id for row in rows]
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_LOCKS, {"namespace": LOCK_NAMESPACE, "phones": _lock_keys(plan, rows)})
    # On SQLite this write comes first and takes the write lock; everywhere it keeps the lease fresh.
    _move(ids, plan.owner, lease_until=now + timedelta(seconds=plan.lease_seconds))
    status = db.session.scalar(select(Campaign.status).where(Campaign.id == plan.campaign_id))
    if status is not CampaignStatus.SENDING:
        _move(ids, plan.owner, lease_owner=None, lease_until=None)
        return Gated([], now, stopped=status.value if status else "missing", counts=Counter(released=len(ids)))
    facts = message_facts(ids, plan.sender_id, plan.category, now, plan.rules, campaign_id=plan.campaign_id)
    closed: dict[str, list[int]] = {}
    if plan.bot:
        facts, closed = bot_checks.recheck(plan.sender_id, rows, facts, now)
    judged = [row for row in rows if row.id in facts]
    decisions = evaluate([facts[row.id] for row in judged], SendContext(now=now, category=plan.category,
                                                                      rules=plan.rules))
    counts: Counter[str] = Counter()
    skipped: dict[str, list[int]] = defaultdict(list)
    deferred: dict[datetime, list[int]] = defaultdict(list)
    passed: list[Claimed] = []
    # A row whose contact is gone has no consent to send on.
    skipped["no_consent"] = [row.id for row in rows if row.id not in facts and row.id not in _ids_of(closed)]
    skipped.update(closed)
    channel_blocked = channel_rule_blocks(plan, [facts[row.id] for row in judged])
    for row, decision, blocked in zip(judged, decisions, channel_blocked, strict=True):
        if decision.outcome is Outcome.BLOCK:
            skipped[_skip_code(decision, facts[row.id])].append(row.id)
        elif blocked:
            skipped["channel_rule"].append(row.id)
        elif decision.outcome is Outcome.DEFER:
            deferred[decision.until or now + timedelta(seconds=TIER_RETRY_SECONDS)].append(row.id)
        else:
            passed.append(row)
    going, waiting, frees_in = _within_tier(plan, passed, tiers, now)
    if waiting:
        deferred[now + timedelta(seconds=frees_in or TIER_RETRY_SECONDS)].extend(waiting)
    for code, skipped_ids in skipped.items():
        counts["skipped"] += _move(skipped_ids, plan.owner, status=MessageStatus.SKIPPED, error_code=code,
                                   lease_owner=None, lease_until=None)
        if plan.falls_back and code in FALLBACK_SKIPS:
            counts["fallen_back"] += fall_back(plan.campaign_id, skipped_ids, MessageStatus.SKIPPED, now)
    for until, deferred_ids in deferred.items():
        counts["deferred"] += _move(deferred_ids, plan.owner, status=MessageStatus.DEFERRED, not_before=until,
                                    lease_owner=None, lease_until=None)
    moved = set(_to_sending(going, plan.owner, now))
    sending = [row for row in going if row.id in moved]
    counts["gated"] += len(sending)
    return Gated(sending, now, counts=counts)


def channel_rule_blocks(plan: Plan, recipients: list[RecipientFacts]) -> list[bool]:
    """Per recipient, whether the channel rule blocks it now (block mode, or a workspace under 41-FZ).

    The rule is read from the policy in force for every sub-chunk (one small query), not once per batch,
    so an admin who switches to block while a campaign sends stops it at the next sub-chunk. A warning
    is not checked here: the reviewer acknowledged it when approving.
    """
    if not recipients:
        return []
    rules = current_policy().channels
    channel = family_of(db.session.scalar(select(Sender.channel).where(Sender.id == plan.sender_id)) or "")
    verdicts: dict[str, bool] = {}  # by country: a sub-chunk holds a handful of them
    blocked = []
    for facts in recipients:
        country = country_of(facts.phone, facts.country)
        if country not in verdicts:
            verdicts[country] = judge(channel, country, plan.category, rules).outcome is Outcome.BLOCK
        blocked.append(verdicts[country])
    return blocked


def _within_tier(plan: Plan, passed: list[Claimed], tiers: TierReservations, now: datetime
                 ) -> tuple[list[Claimed], list[int], float | None]:
    """The rows the sender's messaging tier lets go now, the ids it defers, and when headroom frees. A bot has no
    tier (WhatsApp's limit on unique recipients): all go."""
    if plan.bot:
        return passed, [], None
    granted = tiers.reserve(plan.sender_id, [row.phone for row in passed], plan.tier_limit,
                            lambda: _tier_seed(plan.sender_id, now))
    going = [row for row in passed if row.phone in granted.phones]
    return going, [row.id for row in passed if row.phone not in granted.phones], granted.frees_in


def _lock_keys(plan: Plan, rows: list[Claimed]) -> list[str]:
    """The per-person locks, sorted: numbers, and a bot's addresses for people without one."""
    if plan.bot:
        return sorted({bot_checks.lock_key(plan.sender_id, row) for row in rows})
    return sorted({row.phone for row in rows})


def _ids_of(by_code: dict[str, list[int]]) -> set[int]:
    return {row_id for ids in by_code.values() for row_id in ids}


def _skip_code(decision: Any, facts: RecipientFacts) -> str:
    rule = next(verdict.rule for verdict in decision.verdicts if verdict.outcome is Outcome.BLOCK)
    if rule == "suppressed":
        return "blocked" if status_of(facts.suppressed) is ContactStatus.BLOCKED else "opted_out"
    return SKIP_CODES.get(rule, rule)


def _held(ids: Iterable[int], owner: str, statuses: tuple[MessageStatus, ...] = DUE_STATUSES) -> Any:
    # Only rows still ours and as we left them: a cancel may have skipped them, a lost lease given them to
    # another batch.
    return and_(one_of(Message.id, ids, db.session.get_bind().dialect.name), Message.lease_owner == owner,
                Message.status.in_(statuses))


def _move(ids: list[int], owner: str, statuses: tuple[MessageStatus, ...] = DUE_STATUSES, **values: Any) -> int:
    if not ids:
        return 0
    return db.session.execute(
        update(Message).where(_held(ids, owner, statuses)).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount


def _to_sending(rows: list[Claimed], owner: str, now: datetime) -> list[int]:
    if not rows:
        return []
    return list(db.session.scalars(
        update(Message).where(_held((row.id for row in rows), owner))
        .values(status=MessageStatus.SENDING, sent_at=now, attempts=Message.attempts + 1, not_before=None)
        .returning(Message.id).execution_options(synchronize_session=False)
    ))


def put_back(ids: list[int], owner: str, not_before: datetime | None = None) -> int:
    """Undo the gate for rows ``owner`` moved to ``sending`` whose requests never left: ``queued`` again as they
    were (attempt uncounted, no send time, lease cleared), due at ``not_before``. Returns how many; flushes."""
    return _move(ids, owner, (MessageStatus.SENDING,), status=MessageStatus.QUEUED, sent_at=None,
                 attempts=Message.attempts - 1, lease_owner=None, lease_until=None, not_before=not_before)


def _tier_seed(sender_id: int, now: datetime) -> list[tuple[str, datetime]]:
    """The phones the sender reached in the last 24 h, each with its latest send (for a Redis that forgot)."""
    return [(phone, at) for phone, at in db.session.execute(
        select(Message.phone, func.max(Message.sent_at))
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(sent_by() == sender_id, sent_since(now - timedelta(hours=24)))
        .group_by(Message.phone)
    )]
