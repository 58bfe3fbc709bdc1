"""The four-eyes review: submit a campaign, the reviewers' queue, approve or reject, revise.

Submitting runs the preflight and stores its report and cost estimate on the campaign; a blocking
verdict refuses the submission with its reasons. A reviewer (or an admin) who neither created nor
last edited the campaign approves it or rejects it with a reason. The approval binds to the content
hash at that moment and keeps a snapshot of the hashed content, so the next review can show what
changed; an approved campaign is then scheduled to launch at ``send_at`` (``launch.schedule_launch``).
An approval checks the channel rule again (``campaigns.channel_reach``: an admin may have changed it since
the submission): a block refuses it, and a warning needs the reviewer's written acknowledgement, which
is kept on the review and in the audit log; so does a campaign that sends SMS (``campaigns.sms_preflight``: a
mailing runs under a contract with the operator, 126-FZ art. 44.1).
Every step is a lifecycle transition, written to the audit log. Functions add and flush; the caller
commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import Role, User
from campaigns import channel_reach, launch, lifecycle, preflight, sms_preflight
from campaigns.content import content_hash, content_snapshot, hash_snapshot
from campaigns.models import Campaign, CampaignReview, CampaignStatus, ReviewDecision
from compliance.verdict import Outcome
from dbtypes import utcnow
from domain_errors import DomainError
from extensions import db

MAX_REASON = 2000
# An acknowledgement is a sentence in the reviewer's own words, not a tick: at least this many words and characters.
MIN_ACKNOWLEDGEMENT_WORDS = 3
MIN_ACKNOWLEDGEMENT_CHARS = 20

# Common reasons a reviewer rejects a campaign, with the label the author sees.
REJECTION_REASONS = {
    "misleading": _l("Misleading or unverifiable claims"),
    "restricted_content": _l("Restricted platform or prohibited content"),
    "audience": _l("Wrong audience or consent in doubt"),
    "timing": _l("Bad timing, schedule or send window"),
    "spam": _l("Too pushy or spam-like"),
    "personalisation": _l("Variables or fallbacks read badly"),
    "cost": _l("Too expensive for what it achieves"),
    "other": _l("Other (see the comment)"),
}

FIELD_LABELS = {
    "template": _l("Template"),
    "variables": _l("Variables"),
    "segment": _l("Segment"),
    "sender": _l("Sender"),
    "send_at": _l("Send time"),
    "send_window": _l("Send window"),
    "messages_per_second": _l("Rate"),
    "cascade": _l("Cascade"),
}


class ReviewError(DomainError):
    """The review step cannot be taken; ``errors`` are sentences, ``report`` the preflight if one ran.

    A preflight that blocks a submission is 422: the request was understood, the rules refuse it.
    """

    def __init__(self, errors: list[str], report: dict[str, Any] | None = None, *, status: int | None = None) -> None:
        super().__init__(errors, status=status or (422 if report is not None else None))
        self.report = report

    def problem_members(self) -> dict[str, Any]:
        return {} if self.report is None else {"report": self.report}


def submit(campaign: Campaign, actor: Any = None, *, now: datetime | None = None) -> dict[str, Any]:
    """Run the preflight, store its report and estimate, and move the draft into review; returns the
    report worded in the current language (the stored one keeps its sentences as codes).

    Raises ``ReviewError`` with the blocking reasons (and the report) when the preflight blocks,
    or ``lifecycle.TransitionError`` when the campaign is not a draft.
    """
    if not lifecycle.can(campaign, CampaignStatus.IN_REVIEW):
        lifecycle.transition(campaign, CampaignStatus.IN_REVIEW, actor=actor)  # raises the lifecycle's sentence
    report = preflight.run(campaign, now)
    worded = preflight.readable(report)
    if report["blocking"]:
        raise ReviewError(worded["blocking"], worded)
    current = content_hash(campaign)
    lifecycle.transition(
        campaign,
        CampaignStatus.IN_REVIEW,
        actor=actor,
        details={"content_hash": current, "outcome": report["outcome"]},
        preflight=report,
        estimate=report["estimate"],
        content_hash=current,
    )
    return worded


def review_queue() -> list[Campaign]:
    """Campaigns waiting for a reviewer, the longest waiting first."""
    return list(db.session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.IN_REVIEW)
                                   .order_by(Campaign.updated_at, Campaign.id)))


def reviews_of(campaign: Campaign) -> list[CampaignReview]:
    """The campaign's review decisions, newest first."""
    return list(db.session.scalars(select(CampaignReview).where(CampaignReview.campaign_id == campaign.id)
                                   .order_by(CampaignReview.id.desc())))


def may_review(campaign: Campaign, user: User | None) -> str | None:
    """Why ``user`` may not approve ``campaign`` (a sentence), or None when they may."""
    if user is None or not user.has_role(Role.REVIEWER):
        return _("Only a compliance reviewer or an administrator can review campaigns.")
    if user.id in (campaign.created_by_id, campaign.updated_by_id):
        return _("You created or last edited this campaign, so someone else must approve it (four-eyes rule).")
    return None


def approve(campaign: Campaign, reviewer: User, *, note: str = "", schedule: bool = True,
            acknowledgement: str | None = None) -> CampaignReview:
    """Approve the campaign as it is now and (with ``schedule``) schedule its launch at ``send_at``.

    The approval binds to the current content hash. If the content changed since submission (its
    segment or template was edited underneath it), the reviewer is told to have it submitted again.
    The channel rule is judged again now: a block refuses the approval; a warning needs
    ``acknowledgement``, the reviewer's written words (kept on the review and in the audit log).
    """
    problem = may_review(campaign, reviewer)
    if problem:
        raise ReviewError([problem], status=403)
    if campaign.status is not CampaignStatus.IN_REVIEW:
        lifecycle.transition(campaign, CampaignStatus.APPROVED, actor=reviewer)  # raises the lifecycle's sentence
    snapshot = content_snapshot(campaign)
    current = hash_snapshot(snapshot)
    if current != campaign.content_hash:
        raise ReviewError(_("What this campaign sends changed after it was submitted (its segment or template was "
                            "edited); reject it so that the author submits it again."), status=409)
    channels = channel_reach.campaign_reach(campaign)
    sms_law = sms_preflight.law_warnings(campaign)
    acknowledged = _acknowledged(channels, acknowledgement, sms_law)
    now = utcnow()
    details: dict[str, Any] = {"content_hash": current}
    if channels.outcome is Outcome.WARN:
        details.update(channel_rule={"channel": channels.channel, "warned": channels.own.warned},
                       acknowledgement=acknowledged)
    if sms_law:
        details.update(sms_law=[sentence.code for sentence in sms_law], acknowledgement=acknowledged)
    lifecycle.transition(campaign, CampaignStatus.APPROVED, actor=reviewer, details=details,
                         approved_hash=current, approved_by_id=reviewer.id, approved_at=now)
    review = CampaignReview(
        campaign_id=campaign.id,
        reviewer_id=reviewer.id,
        decision=ReviewDecision.APPROVED,
        reason=(note or "").strip()[:MAX_REASON],
        content_hash=current,
        snapshot=snapshot,
        acknowledgement=acknowledged,
        created_at=now,
    )
    db.session.add(review)
    db.session.flush()
    if schedule:
        launch.schedule_launch(campaign, actor=reviewer)
    return review


def _acknowledged(channels: channel_reach.ChannelReport, acknowledgement: str | None,
                  sms_law: list[str] | None = None) -> str | None:
    """The acknowledgement to keep when the channel rule warns or the campaign sends SMS (``sms_law``, the
    warnings of 126-FZ art. 44.1); None when neither asks for one. Raises ``ReviewError`` when the channel rule
    blocks, or when a warning stands and the acknowledgement is missing or not a sentence."""
    if channels.outcome is Outcome.BLOCK:
        raise ReviewError([*channels.sentences], status=422)
    warned = channels.outcome is Outcome.WARN
    if not warned and not sms_law:
        return None
    text = (acknowledgement or "").strip()
    if len(text.split()) < MIN_ACKNOWLEDGEMENT_WORDS or len(" ".join(text.split())) < MIN_ACKNOWLEDGEMENT_CHARS:
        channel = channel_reach.CHANNEL_NAMES[channels.channel if warned else "sms"]
        raise ReviewError([*(channels.sentences if warned else []), *(sms_law or []), _(
            "To approve it anyway, write in a sentence (at least %(words)s words) that you have read this warning "
            "and why the campaign may go out through %(channel)s.", words=MIN_ACKNOWLEDGEMENT_WORDS,
            channel=channel)], status=422)
    if len(text) > MAX_REASON:
        raise ReviewError([_("The acknowledgement is longer than %(limit)s characters.", limit=MAX_REASON)])
    return text


def reject(campaign: Campaign, reviewer: User, reason_code: str | None, reason: str = "") -> CampaignReview:
    """Reject the campaign with a reason the author sees: a common reason, free text, or both."""
    if reviewer is None or not reviewer.has_role(Role.REVIEWER):
        raise ReviewError([_("Only a compliance reviewer or an administrator can review campaigns.")], status=403)
    code = (reason_code or "").strip() or None
    text = (reason or "").strip()
    if code is not None and code not in REJECTION_REASONS:
        raise ReviewError([_("Choose one of the listed reasons, or write your own.")])
    if code is None and not text:
        raise ReviewError([_("Say why the campaign is rejected: choose a reason or write one.")])
    if code == "other" and not text:
        raise ReviewError([_("Write the reason when you choose “Other”.")])
    if len(text) > MAX_REASON:
        raise ReviewError([_("The reason is longer than %(limit)s characters.", limit=MAX_REASON)])
    snapshot = content_snapshot(campaign)
    # The common reason is kept as its code (in details) and worded when shown, in the reader's language.
    lifecycle.transition(campaign, CampaignStatus.REJECTED, actor=reviewer, reason=text,
                         details={"reason_code": code})
    review = CampaignReview(campaign_id=campaign.id, reviewer_id=reviewer.id, decision=ReviewDecision.REJECTED,
                            reason_code=code, reason=text, content_hash=hash_snapshot(snapshot), snapshot=snapshot)
    db.session.add(review)
    db.session.flush()
    return review


def revise(campaign: Campaign, actor: Any = None) -> Campaign:
    """Take a rejected campaign back to draft, to edit and submit again."""
    lifecycle.transition(campaign, CampaignStatus.DRAFT, actor=actor, reason="revise")
    return campaign


def reason_label(review: CampaignReview) -> str:
    """The review's reason as the author reads it: the common reason's label and the comment."""
    parts = [str(REJECTION_REASONS[review.reason_code])] if review.reason_code in REJECTION_REASONS else []
    if review.reason:
        parts.append(review.reason)
    return " — ".join(parts)


def changes_since_last_review(campaign: Campaign) -> list[dict[str, Any]] | None:
    """What differs between the content the last reviewer saw and the content now.

    None when the campaign was never reviewed; otherwise one ``{"field", "before", "after"}`` per
    changed part (an empty list: nothing changed).
    """
    last = db.session.scalar(select(CampaignReview).where(CampaignReview.campaign_id == campaign.id)
                             .order_by(CampaignReview.id.desc()).limit(1))
    if last is None:
        return None
    now = content_snapshot(campaign)
    return [{"field": field, "before": last.snapshot.get(field), "after": now.get(field)}
            for field in FIELD_LABELS if last.snapshot.get(field) != now.get(field)]
