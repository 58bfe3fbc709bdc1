"""Cascades: a campaign's ordered channels, tried per recipient until one reaches them ("каскадная рассылка").

``Campaign.cascade`` is ``[{"sender_id": …, "wait_seconds": …}, …]``, two to ``MAX_STEPS`` senders in order; the
first step's sender is ``Campaign.sender_id``. At launch each recipient gets one row on the first step whose
channel can take them (an active address on the bot, a number for WhatsApp or SMS, and everything the guard
checks); a row falls back to the next step only after a **definite** failure (``FALLBACK_MEANINGS``, or the gate
found the channel closed to them: ``FALLBACK_SKIPS``) or when no delivery status came within its step's
``wait_seconds`` of the send. A bot reports no deliveries (``Capabilities.delivery_receipts``): an accepted
message is the person reached, so a bot step has no wait and falls back on failures only; nor has the last step,
which has nothing to fall back to.

Rows are unique per (campaign, contact, step), and ``Message.fallback_at`` is set once, so no channel ever gets a
person twice. A first channel's delivery that arrives after its fallback fired is counted as "delivered twice"
(``delivered_twice``): the figure to tune the wait by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, distinct, func, or_, select

from campaigns.models import Campaign, Message, MessageStatus, Sender
from channels.base import FailureMeaning
from channels.registry import CHANNELS
from domain_errors import DomainError
from extensions import db

MIN_STEPS, MAX_STEPS = 2, 4
DEFAULT_WAIT_SECONDS = 600  # ten minutes: most messenger and SMS deliveries report within a minute
MIN_WAIT_SECONDS, MAX_WAIT_SECONDS = 60, 86400
# A failure that says this channel cannot reach the person: try the next one. An opt-out, a template or sender
# problem, or a message refused for its content is not: the next channel would be the same mistake again.
FALLBACK_MEANINGS = (FailureMeaning.NOT_ON_CHANNEL, FailureMeaning.INVALID_RECIPIENT, FailureMeaning.STOPPED,
                     FailureMeaning.UNREACHABLE)
# The gate's skips that close this channel to the person but not the next: a stopped or vanished bot address,
# and the channel rule (the channel is not lawful for them, e.g. WhatsApp in Russia).
FALLBACK_SKIPS = ("bot_stopped", "no_address", "channel_rule")
# A row that reached its person: delivered or read; on a channel without delivery receipts, accepted too.
DELIVERED_STATUSES = (MessageStatus.DELIVERED, MessageStatus.READ)
ACCEPTED_STATUSES = (MessageStatus.SENT, *DELIVERED_STATUSES)


class CascadeError(DomainError):
    """The cascade cannot be saved as given; ``errors`` are sentences for the marketer."""


@dataclass(frozen=True)
class Step:
    """One channel of a cascade: its place, its sender, and how long a sent message may go without a delivery
    status before the next step is tried (None: it never times out)."""

    index: int
    sender_id: int
    wait_seconds: int | None


def receipts(channel: str) -> bool:
    """Whether the provider of ``channel`` reports deliveries (a bot does not: accepted is reached)."""
    kind = CHANNELS.get(channel)
    return kind is not None and kind.capabilities.delivery_receipts


def is_cascade(campaign: Campaign) -> bool:
    """Whether the campaign tries several channels in turn."""
    return bool(campaign.cascade)


def steps(campaign: Campaign) -> list[Step]:
    """The campaign's steps in order; a campaign on one sender is one step without a wait."""
    if not campaign.cascade:
        return [Step(0, campaign.sender_id, None)]
    return [Step(index, int(step["sender_id"]), step.get("wait_seconds"))
            for index, step in enumerate(campaign.cascade)]


def step_sender_id(campaign: Campaign, step: int) -> int:
    """The sender of the campaign's step ``step``."""
    return steps(campaign)[step].sender_id


def step_sender(campaign: Campaign, step: int) -> Sender:
    """The ``Sender`` of the campaign's step ``step``."""
    return db.session.get(Sender, step_sender_id(campaign, step))


# --- the marketer's cascade --------------------------------------------------------------------------------

def parse_cascade(value: Any, find_sender: Callable[[Any], Sender | None]) -> list[dict[str, Any]] | None:
    """The cascade as stored from what a form, the API or the CLI gave: a list of senders (ids or names), or of
    ``{"sender": …, "wait_seconds": …}`` / ``{"sender_id": …}``; None or an empty list for no cascade. Raises
    ``CascadeError`` with every sentence that applies."""
    if value in (None, "", []):
        return None
    if not isinstance(value, list):
        raise CascadeError(_l("A cascade is a list of senders, in the order they are tried."))
    if not MIN_STEPS <= len(value) <= MAX_STEPS:
        raise CascadeError(_l("A cascade has %(low)s to %(high)s channels; this one has %(count)s.",
                              low=MIN_STEPS, high=MAX_STEPS, count=len(value)))
    errors: list[str] = []
    parsed: list[dict[str, Any]] = []
    for position, item in enumerate(value, start=1):
        spec = item if isinstance(item, dict) else {"sender": item}
        sender = find_sender(spec.get("sender", spec.get("sender_id")))
        if sender is None:
            errors.append(_l("Step %(step)s of the cascade names no sender that exists.", step=position))
            continue
        if any(step["sender_id"] == sender.id for step in parsed):
            errors.append(_l("“%(name)s” is in the cascade twice; each channel is tried once.", name=sender.name))
            continue
        wait = _wait(spec, sender, position, position == len(value), errors)
        parsed.append({"sender_id": sender.id, "wait_seconds": wait})
    if errors:
        raise CascadeError(*errors, field="cascade")
    return parsed


def _wait(spec: dict[str, Any], sender: Sender, position: int, last: bool, errors: list[str]) -> int | None:
    """A step's wait for a delivery: none for the last step or a bot (both would wait for nothing)."""
    given = spec.get("wait_seconds")
    if last or not receipts(sender.channel):
        if given not in (None, ""):
            errors.append(_l("Step %(step)s (“%(name)s”) cannot wait for a delivery: %(why)s", step=position,
                             name=sender.name, why=_l("it is the last channel.") if last else
                             _l("a bot reports no deliveries, so the next channel is tried only when it fails.")))
        return None
    if given in (None, ""):
        return DEFAULT_WAIT_SECONDS
    try:
        wait = int(given)
    except (TypeError, ValueError):
        wait = None
    if wait is None or not MIN_WAIT_SECONDS <= wait <= MAX_WAIT_SECONDS:
        errors.append(_l("Step %(step)s waits between %(low)s and %(high)s seconds for a delivery.", step=position,
                         low=MIN_WAIT_SECONDS, high=MAX_WAIT_SECONDS))
        return None
    return wait


# --- what the cascade did ------------------------------------------------------------------------------------

def reached(campaign: Campaign) -> ColumnElement[bool]:
    """SQL true for a row of the campaign that reached its person: delivered (or read), or accepted on a step whose
    channel has no delivery receipts (a bot)."""
    silent = []
    for step in steps(campaign):
        sender = db.session.get(Sender, step.sender_id)
        if sender is not None and not receipts(sender.channel):
            silent.append(step.index)
    condition = Message.status.in_(DELIVERED_STATUSES)
    if silent:
        condition = or_(condition, and_(Message.step.in_(silent), Message.status.in_(ACCEPTED_STATUSES)))
    return condition


def reached_by_step(campaign: Campaign) -> dict[int, int]:
    """The people each step reached (``reached``), by step; every step is there, 0 where it reached nobody."""
    found = dict(db.session.execute(
        select(Message.step, func.count(distinct(Message.contact_id)))
        .where(Message.campaign_id == campaign.id, reached(campaign)).group_by(Message.step)).all())
    return {step.index: int(found.get(step.index, 0)) for step in steps(campaign)}


def delivered_twice(campaign_id: int) -> int:
    """The people the cascade reached on two channels: a delivery that came after its fallback had fired (the
    figure to tune a step's wait by)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not is_cascade(campaign):
        return 0
    twice = (select(Message.contact_id)
             .where(Message.campaign_id == campaign_id, reached(campaign))
             .group_by(Message.contact_id).having(func.count() > 1).subquery())
    return db.session.scalar(select(func.count()).select_from(twice)) or 0
