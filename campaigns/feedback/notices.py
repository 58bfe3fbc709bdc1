"""Notifications, as people read them: the list (unresolved first, then the newest), each one's sentence made
from its kind and ``params``, who has read what (the navigation's badge), and resolving the ones a campaign's
resume settles. A campaign's automatic pause reads the same way (``pause_sentence``).

What a producer puts in ``Notification.params`` (and, for a pause, in ``Campaign.pause_details``): rates and
thresholds are fractions (0.012 is 1.2 %); names are copied when the notification is made, and the current
name of a linked campaign or sender wins when it still exists.

- ``circuit_breaker``: ``rate``, ``threshold``, ``window`` (or ``delivered``: the last N delivered messages
  counted), ``complaints`` (or ``opt_outs``, ``blocks``, ``spam_reports``, which it adds up); ``campaign``.
- ``quality_red``: ``quality`` (``RED``), ``previous``; ``sender`` (name), ``phone``; ``campaign`` when one
  notification is made per paused campaign.
- ``quality_change``: ``previous``, ``quality`` (GREEN, YELLOW, RED, UNKNOWN), and/or ``previous_tier``,
  ``tier`` (TIER_1K…); ``sender``, ``phone``.
- ``template_paused``: ``template`` (name), ``status`` (``paused`` or ``disabled``), ``reason`` (the
  provider's code, optional); ``campaign``.
- ``unsure_reply``: ``phone``, ``name`` (the profile name), ``text`` (the reply, cut to 200 characters).

The same functions serve the page, the JSON API and the campaign page; they read, or add and flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, exists, func, select, update
from sqlalchemy.orm import aliased

from accounts.models import User
from campaigns.feedback.models import Notification, NotificationKind, NotificationRead
from campaigns.lifecycle import STATUS_LABELS
from campaigns.models import Campaign, CampaignStatus, Sender
from campaigns.senders import QUALITY_LABELS
from campaigns.template_approvals import REJECTION_LABELS
from compliance import audit
from compliance.sending import TIER_LABELS
from dbtypes import conflict_insert, utcnow
from domain_errors import DomainError
from extensions import db

PAGE_SIZE = 50
MANUAL = "manual"

KIND_LABELS = {
    NotificationKind.CIRCUIT_BREAKER: _l("Complaint rate over the threshold"),
    NotificationKind.QUALITY_RED: _l("Number's quality dropped to red"),
    NotificationKind.QUALITY_CHANGE: _l("Number's quality or limit changed"),
    NotificationKind.TEMPLATE_PAUSED: _l("Template paused by the provider"),
    NotificationKind.UNSURE_REPLY: _l("Reply that may be a refusal"),
}
# Why a campaign is paused (``Campaign.pause_reason``); every reason but ``manual`` is automatic, and only a
# reviewer may resume the campaign then.
PAUSE_REASON_LABELS = {
    MANUAL: _l("Paused by hand"),
    NotificationKind.CIRCUIT_BREAKER.value: _l("Paused automatically: too many complaints"),
    NotificationKind.QUALITY_RED.value: _l("Paused automatically: the number's quality dropped to red"),
    NotificationKind.TEMPLATE_PAUSED.value: _l("Paused automatically: the provider paused or disabled the template"),
}
# The kinds that pause campaigns: a campaign's resume settles its open notifications of these kinds (an unsure
# reply that names the campaign is settled by the decision on it, never by a resume).
PAUSING_KINDS = (NotificationKind.CIRCUIT_BREAKER, NotificationKind.QUALITY_RED, NotificationKind.TEMPLATE_PAUSED)


@dataclass(frozen=True)
class Entry:
    """One notification with what its sentence and links need."""

    notification: Notification
    campaign_name: str | None
    sender_name: str | None
    resolved_by: str | None  # the name (or email) of who resolved it
    read: bool  # by the person asking

    @property
    def sentence(self) -> str:
        return sentence(self.notification.kind, self.notification.params or {}, campaign=self.campaign_name,
                        sender=self.sender_name)

    @property
    def resolved(self) -> bool:
        return self.notification.resolved_at is not None


def is_automatic(campaign: Campaign) -> bool:
    """Whether the campaign was paused by the platform (the circuit breaker, the number's quality, the
    template), not by a person: only a reviewer may resume it then. A pause without a recorded reason (made
    before reasons were kept) counts as a person's."""
    return campaign.pause_reason is not None and campaign.pause_reason != MANUAL


# --- the sentences ----------------------------------------------------------------------------------------------

def _percent(value: Any) -> str:
    try:
        return format_percent(float(value), format="#,##0.##%")
    except (TypeError, ValueError):
        return "?"


def _count(value: Any) -> str:
    try:
        return format_decimal(int(value))
    except (TypeError, ValueError):
        return "?"


def _labelled(table: dict[str, Any], code: Any) -> str:
    return str(table.get(code, code)) if code else "?"


def sentence(kind: NotificationKind | str, params: dict[str, Any], *, campaign: str | None = None,
             sender: str | None = None) -> str:
    """What happened, in the reader's language, from a notification's (or a pause's) ``kind`` and ``params``;
    ``campaign``/``sender`` are the linked rows' current names (else the names the params kept). Missing
    params read as "?" rather than fail: a page of notifications always renders."""
    kind = NotificationKind(kind)
    campaign = campaign or params.get("campaign") or "?"
    number = sender or params.get("sender") or params.get("phone") or "?"
    if kind is NotificationKind.CIRCUIT_BREAKER:
        window = params.get("window") or params.get("delivered")
        rate = params.get("rate")
        if rate is None and window:
            complaints = params.get("complaints")
            if complaints is None:
                complaints = sum(params.get(key) or 0 for key in ("opt_outs", "blocks", "spam_reports"))
            rate = complaints / window
        return _("Campaign «%(campaign)s» paused: %(rate)s of its last %(window)s delivered messages brought "
                 "complaints — opt-outs, blocks and spam reports (threshold %(threshold)s).",
                 campaign=campaign, rate=_percent(rate), window=_count(window),
                 threshold=_percent(params.get("threshold")))
    if kind is NotificationKind.QUALITY_RED:
        quality = _labelled(QUALITY_LABELS, params.get("quality") or "RED")
        if params.get("campaign") or campaign != "?":
            return _("Campaign «%(campaign)s» paused: the quality rating of the number %(sender)s dropped to "
                     "%(quality)s.", campaign=campaign, sender=number, quality=quality)
        return _("The quality rating of the number %(sender)s dropped to %(quality)s; its campaigns are paused.",
                 sender=number, quality=quality)
    if kind is NotificationKind.QUALITY_CHANGE:
        parts = []
        if params.get("quality"):
            parts.append(_("The quality rating of the number %(sender)s changed from %(previous)s to %(quality)s.",
                           sender=number, previous=_labelled(QUALITY_LABELS, params.get("previous") or "UNKNOWN"),
                           quality=_labelled(QUALITY_LABELS, params["quality"])))
        if params.get("tier"):
            parts.append(_("The messaging limit of the number %(sender)s changed from %(previous)s to %(tier)s.",
                           sender=number, previous=_labelled(TIER_LABELS, params.get("previous_tier")),
                           tier=_labelled(TIER_LABELS, params["tier"])))
        return " ".join(parts) or _("The quality rating of the number %(sender)s changed.", sender=number)
    if kind is NotificationKind.TEMPLATE_PAUSED:
        template = params.get("template") or "?"
        if str(params.get("status") or "").lower() == "disabled":
            text = _("Campaign «%(campaign)s» paused: the provider disabled its template «%(template)s».",
                     campaign=campaign, template=template)
        else:
            text = _("Campaign «%(campaign)s» paused: the provider paused its template «%(template)s».",
                     campaign=campaign, template=template)
        if params.get("reason"):
            text += " " + _("Reason: %(reason)s.", reason=_labelled(REJECTION_LABELS, params["reason"]))
        return text
    phone = params.get("phone") or "?"
    who = f"{params['name']} ({phone})" if params.get("name") else phone
    return _("A reply from %(who)s may be a refusal: “%(text)s”. The number gets no messages until someone "
             "decides.", who=who, text=params.get("text") or "")


def pause_sentence(campaign: Campaign) -> str | None:
    """Why the paused campaign is paused, in a sentence (None when it is not paused automatically); an
    automatic reason of no known kind (a provider's code) is named as it was stored."""
    if not is_automatic(campaign):
        return None
    try:
        kind = NotificationKind(campaign.pause_reason)
    except ValueError:
        return _("Paused automatically: %(reason)s.", reason=campaign.pause_reason)
    return sentence(kind, campaign.pause_details or {}, campaign=campaign.name)


def pause_label(campaign: Campaign) -> str:
    """The pause reason's label; without a recorded reason (dispatch's own pause for a provider's refusal, whose
    sentence the audit log keeps, or a pause made before reasons were kept) just "Paused"."""
    if campaign.pause_reason is None:
        return str(STATUS_LABELS[CampaignStatus.PAUSED])
    return _labelled(PAUSE_REASON_LABELS, campaign.pause_reason)


# --- the list, the badge, reading ----------------------------------------------------------------------------------

def _read_by(user_id: int):
    return (exists().where(NotificationRead.notification_id == Notification.id, NotificationRead.user_id == user_id)
            .correlate(Notification))


def list_notifications(user: User, *, unresolved: bool = False, since: datetime | None = None, page: int = 1,
                       size: int = PAGE_SIZE) -> tuple[list[Entry], bool]:
    """One page of notifications — unresolved first, then the newest — with whether ``user`` has read each, and
    whether there is a next page. ``unresolved`` keeps the open ones; ``since`` those made after it."""
    resolver = aliased(User)
    query = (select(Notification, Campaign.name, Sender.name, resolver.name, resolver.email,
                    _read_by(user.id).label("read"))
             .outerjoin(Campaign, Campaign.id == Notification.campaign_id)
             .outerjoin(Sender, Sender.id == Notification.sender_id)
             .outerjoin(resolver, resolver.id == Notification.resolved_by_id))
    if unresolved:
        query = query.where(Notification.resolved_at.is_(None))
    if since is not None:
        query = query.where(Notification.created_at > since)
    query = query.order_by(case((Notification.resolved_at.is_(None), 0), else_=1), Notification.created_at.desc(),
                           Notification.id.desc())
    page = max(page, 1)
    rows = db.session.execute(query.offset((page - 1) * size).limit(size + 1)).all()
    entries = [Entry(notification, campaign_name, sender_name, (name or email) if (name or email) else None,
                     bool(read))
               for notification, campaign_name, sender_name, name, email, read in rows[:size]]
    return entries, len(rows) > size


def unread_count(user: User) -> int:
    """Open notifications ``user`` has not read: the navigation's badge (one COUNT over the open ones)."""
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.resolved_at.is_(None), ~_read_by(user.id))) or 0


def mark_read(user: User, notification_ids: list[int]) -> int:
    """Record that ``user`` has seen these notifications (seen twice, or by two tabs at once, is one row);
    returns how many ids exist."""
    ids = sorted(set(db.session.scalars(select(Notification.id).where(Notification.id.in_(notification_ids)))))
    if ids:
        now = utcnow()
        db.session.execute(
            conflict_insert(NotificationRead, db.session.get_bind().dialect.name)
            .values([{"notification_id": notification_id, "user_id": user.id, "read_at": now}
                     for notification_id in ids])
            .on_conflict_do_nothing(index_elements=["notification_id", "user_id"]))
    return len(ids)


def entry_of(notification: Notification, user: User) -> Entry:
    """The list's entry of one notification, for ``user``."""
    campaign = db.session.get(Campaign, notification.campaign_id) if notification.campaign_id else None
    sender = db.session.get(Sender, notification.sender_id) if notification.sender_id else None
    resolver = db.session.get(User, notification.resolved_by_id) if notification.resolved_by_id else None
    read = db.session.get(NotificationRead, (notification.id, user.id)) is not None
    return Entry(notification, campaign.name if campaign else None, sender.name if sender else None,
                 (resolver.name or resolver.email) if resolver else None, read)


def resolve_campaign(campaign: Campaign, actor: Any) -> int:
    """Settle the campaign's open notifications of the kinds that pause it (its pause was decided on), by
    ``actor`` (None: the operator); returns how many were open."""
    return db.session.execute(
        update(Notification)
        .where(Notification.campaign_id == campaign.id, Notification.kind.in_(PAUSING_KINDS),
               Notification.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolved_by_id=getattr(actor, "id", None))
        .execution_options(synchronize_session=False)).rowcount


# How each kind is settled when not by hand: a reviewer marks settled only what nothing else settles (a change
# of the number's quality or limit, to be read and acted on outside the platform).
SETTLED_ELSEWHERE = {
    **dict.fromkeys(PAUSING_KINDS, _l("This notification is settled when a reviewer resumes the campaign, or when "
                                      "it is cancelled.")),
    NotificationKind.UNSURE_REPLY: _l("This notification is settled by the decision on the reply, in the inbox."),
}


class NoticeError(DomainError):
    """A notification cannot be settled as asked."""

    status = 409


def may_settle(notification: Notification) -> bool:
    """Whether a reviewer may mark the notification settled by hand (an open one of a kind nothing else settles)."""
    return notification.resolved_at is None and notification.kind not in SETTLED_ELSEWHERE


def settle(notification: Notification, actor: Any) -> None:
    """A reviewer (the caller checks the role) marks an open notification that nothing else settles as settled,
    audited. ``NoticeError`` (409) for one already settled or one its own step settles. Flushes only."""
    if notification.kind in SETTLED_ELSEWHERE:
        raise NoticeError(SETTLED_ELSEWHERE[notification.kind])
    changed = db.session.execute(
        update(Notification).where(Notification.id == notification.id, Notification.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolved_by_id=getattr(actor, "id", None))
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(notification)
    if not changed:
        raise NoticeError(_("This notification is settled already."))
    audit.record("notification.resolved", actor=actor, target=notification,
                 details={"kind": notification.kind.value, "sender_id": notification.sender_id})


# --- as JSON (the API) ------------------------------------------------------------------------------------------

def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def entry_json(line: Entry) -> dict[str, Any]:
    """One notification as the API lists it: its codes, its sentence in the reader's language, its links."""
    notification = line.notification
    return {"id": notification.id, "kind": notification.kind.value, "kind_label": str(KIND_LABELS[notification.kind]),
            "sentence": line.sentence, "params": notification.params or {},
            "campaign_id": notification.campaign_id, "campaign": line.campaign_name,
            "sender_id": notification.sender_id, "sender": line.sender_name,
            "conversation_id": notification.conversation_id, "created_at": _time(notification.created_at),
            "resolved": line.resolved, "resolved_at": _time(notification.resolved_at),
            "resolved_by_id": notification.resolved_by_id, "resolved_by": line.resolved_by, "read": line.read}
