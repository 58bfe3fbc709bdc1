"""Campaign tables: senders, WhatsApp templates (versioned), campaigns, their reviews, and the
message rows a launch materialises — one per (campaign, contact)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, func
from sqlalchemy.orm import Mapped, mapped_column

from dbtypes import BigId, UTCDateTime, utcnow, value_enum
from extensions import db


class SenderChannel(str, enum.Enum):
    """The provider a sender's number is reached through (``channels.registry`` has the adapters)."""

    SANDBOX = "sandbox"  # the local sandbox provider: the Cloud API's format, no Meta account
    WHATSAPP_CLOUD = "whatsapp_cloud"
    MAX = "max"  # a MAX bot (the real platform, or the sandbox at its base URL)
    TELEGRAM = "telegram"  # a Telegram bot (likewise)
    SMSC = "smsc"  # an SMSC.ru account sending SMS (the real gateway, or the sandbox at its base URL)


class Sender(db.Model):
    """A WhatsApp business phone number that campaigns are sent from, and how to reach its provider.

    ``tier`` is its messaging tier (compliance.sending.TIER_LIMITS) and ``messages_per_second`` its
    throughput; a campaign's rate limit may not exceed it. "Check connection" reads both from the
    provider (``provider_tier`` keeps the provider's word as it came, ``quality_rating`` too). The
    business account it belongs to is ``(waba_id, base_url)``: template approvals are kept per
    account (``TemplateApproval``). Secrets are stored encrypted (``campaigns.sender_secrets``),
    with their last four characters for display; ``check_error_code``/``check_error_params`` keep
    the last failed check as a code, worded when shown.
    """

    __tablename__ = "senders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)  # E.164; None for a bot
    bot_username: Mapped[str] = mapped_column(String(64), default="")  # a bot's name in deep links
    login: Mapped[str] = mapped_column(String(64), default="", server_default="")  # an SMS gateway account's login
    alpha_name: Mapped[str] = mapped_column(String(11), default="", server_default="")  # an SMS sender name
    tier: Mapped[str] = mapped_column(String(32), default="TIER_250")
    messages_per_second: Mapped[int] = mapped_column(Integer, default=80)
    channel: Mapped[str] = mapped_column(String(32), default="sandbox")
    phone_number_id: Mapped[str] = mapped_column(String(64), default="")
    waba_id: Mapped[str] = mapped_column(String(64), default="")
    base_url: Mapped[str] = mapped_column(String(500), default="")
    api_version: Mapped[str] = mapped_column(String(16), default="")
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_last4: Mapped[str] = mapped_column(String(4), default="")
    app_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    app_secret_last4: Mapped[str] = mapped_column(String(4), default="")
    verify_token_encrypted: Mapped[str | None] = mapped_column(Text)
    verify_token_last4: Mapped[str] = mapped_column(String(4), default="")
    quality_rating: Mapped[str | None] = mapped_column(String(16))  # GREEN, YELLOW, RED, UNKNOWN
    provider_tier: Mapped[str | None] = mapped_column(String(32))  # as the provider said it
    verified_name: Mapped[str] = mapped_column(String(200), default="")
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_error_code: Mapped[str | None] = mapped_column(String(64))
    check_error_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def handle(self) -> str:
        """How people know the sender: its number, or a bot's @username (a bot has no number)."""
        if self.phone:
            return self.phone
        return f"@{self.bot_username}" if self.bot_username else ""


class TemplateCategory(str, enum.Enum):
    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"


class TemplateStatus(str, enum.Enum):
    """The provider's verdict on a template, mirrored here."""

    DRAFT = "draft"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAUSED = "paused"
    DISABLED = "disabled"


class Template(db.Model):
    """One version of a WhatsApp message template.

    A template is known by (name, language); editing an approved one adds a new version rather than
    changing what the provider approved, so a campaign always points at the exact text it was
    reviewed with. ``is_current`` marks the newest version of each (name, language).

    The provider's verdicts are kept per business account (``TemplateApproval``); ``status`` sums them
    up for the editing and versioning rules and the lists: ``draft`` until first submitted anywhere,
    ``pending`` while any account is still deciding, ``approved`` when approved in at least one account,
    else ``paused``, ``disabled`` or ``rejected`` (in that order of precedence). Whether a campaign may
    use it is asked of its own sender's account (``campaigns.template_approvals.status_for``), never of
    this sum. ``rejection_reason`` is the reason behind a rejected, paused or disabled sum.
    """

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("name", "language", "version"),
        Index("ix_templates_current", "is_current", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(512))  # lowercase letters, digits, underscores
    language: Mapped[str] = mapped_column(String(16))  # ru, en, en_US, …
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(default=True)
    category: Mapped[TemplateCategory] = mapped_column(value_enum(TemplateCategory))
    header: Mapped[str] = mapped_column(String(60), default="")  # text header, ≤ 1 variable
    body: Mapped[str] = mapped_column(Text)
    footer: Mapped[str] = mapped_column(String(60), default="")
    # [{"type": "quick_reply"|"url"|"phone", "text": …, "url"|"phone": …}]
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    examples: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # variable → example value
    status: Mapped[TemplateStatus] = mapped_column(value_enum(TemplateStatus), default=TemplateStatus.DRAFT)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(String(500), default="")  # '|promo|autumn|', as contacts' tags
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApprovalSource(str, enum.Enum):
    PROVIDER = "provider"  # the provider's API answered (submission, the periodic sync, later the webhook)
    ADMIN = "admin"  # an admin recorded the provider's verdict by hand


class TemplateApproval(db.Model):
    """The provider's verdict on one template version in one WhatsApp Business Account.

    The account is the sender's ``(waba_id, base_url)``: senders of one account share its templates,
    and a campaign needs its template approved in its own sender's account. A version never submitted
    to an account has no row there; ``draft`` is the status of a row whose rejected version was edited
    since (it keeps ``provider_template_id``, so that the next submission edits the provider's
    template of that name instead of creating a second one, which the provider refuses). A new version
    submitted where an earlier one has a provider template id edits that template too, and its row
    records the same id; the earlier version's row stays as it was, as history. ``reason`` is the
    provider's code (``INVALID_FORMAT``, …) or an admin's words.
    """

    __tablename__ = "template_approvals"
    __table_args__ = (UniqueConstraint("template_id", "account_id", "base_url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(String(64))  # the WABA id
    base_url: Mapped[str] = mapped_column(String(500))
    provider_template_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[TemplateStatus] = mapped_column(value_enum(TemplateStatus), default=TemplateStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))  # as the provider has it (it may change it)
    source: Mapped[ApprovalSource] = mapped_column(value_enum(ApprovalSource), default=ApprovalSource.PROVIDER)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignStatus(str, enum.Enum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Campaign(db.Model):
    """A broadcast: template version + segment + variables + schedule, and where it stands.

    ``content_hash`` covers everything that decides what is sent to whom; an approval holds only
    for the hash it was given (``approved_hash``), so any later edit voids it.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    # variable → {"source": "field"|"attribute"|"constant", "value": …, "fallback": …}
    variables: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: as soon as approved and launched
    # {"start": "HH:MM", "end": "HH:MM"} in the recipient's local time; None: the compliance default.
    send_window: Mapped[dict[str, str] | None] = mapped_column(JSON)
    messages_per_second: Mapped[int] = mapped_column(Integer, default=20)
    # A cascade: the ordered channels each recipient is tried on, ``[{"sender_id": …, "wait_seconds": …}, …]``
    # (``campaigns.cascade``); None for a campaign on one sender. Its first step's sender is ``sender_id``.
    cascade: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    status: Mapped[CampaignStatus] = mapped_column(value_enum(CampaignStatus), default=CampaignStatus.DRAFT, index=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    preflight: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the report stored at submission
    estimate: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # cost estimate, minor units
    exclusions: Mapped[dict[str, int] | None] = mapped_column(JSON)  # at launch, by reason
    recipients: Mapped[int | None] = mapped_column(Integer)  # message rows materialised at launch
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it is paused, for the page and the API: "manual", "circuit_breaker", "quality_red", "template_paused",
    # a provider's code…; ``pause_details`` fill the sentence (the rate and threshold, the template's reason).
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    pause_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewDecision(str, enum.Enum):
    APPROVED = "approved"
    REJECTED = "rejected"


class CampaignReview(db.Model):
    """One reviewer's decision on one content hash of a campaign."""

    __tablename__ = "campaign_reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(value_enum(ReviewDecision))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    # What the reviewer saw: the campaign's hashed content, to show what changed next time.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # An approval despite a channel warning (a restricted channel to recipients in Russia): the reviewer's words.
    acknowledgement: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageStatus(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"
    # The request may have left (a lease expired on a channel that is not idempotent): sent or not, we
    # cannot tell until a status for its key settles it.
    UNKNOWN = "unknown"
    # Outside the recipient's send window: waits for ``not_before``, the next window in their zone.
    DEFERRED = "deferred"


# Messages that went out, or may have: with a ``sent_at`` they count against a recipient's frequency
# cap, the sender's tier and the free allowance, at launch, in the preflight and at send time alike.
# ``unknown`` counts too: a message that may have gone out must not let a second one through the cap
# just because we could not tell. So does ``sending``: the request is in flight (its ``sent_at`` is the
# moment it passed the re-check), and a second campaign's batch judging the same number a moment later
# must see it, or both would go out.
SENT_STATUSES = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ,
                 MessageStatus.UNKNOWN)


def sent_by() -> ColumnElement[int]:
    """The sender a message row goes out from: its cascade step's (``Message.sender_id``), else its campaign's.
    Queries that use it join ``Campaign`` on ``Message.campaign_id``."""
    return func.coalesce(Message.sender_id, Campaign.sender_id)


def sent_since(since: Any) -> ColumnElement[bool]:
    """Messages sent (or maybe sent) at or after ``since`` (a datetime or a SQL expression of one):
    what caps, tiers and the free allowance count. A row with no ``sent_at`` never went out."""
    return and_(Message.status.in_(SENT_STATUSES), Message.sent_at >= since)


class Message(db.Model):
    """One recipient of one campaign on one of its channels; unique per (campaign, contact, cascade step), so
    nobody gets it twice on a channel. A campaign on one sender has only step 0."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "step"),
        Index("ix_messages_campaign_status", "campaign_id", "status"),
        # The frequency cap counts a number's messages sent in the last day and week (by phone, as the
        # suppression list does: the person is the number, whatever contact row they came in as).
        Index("ix_messages_phone_sent_at", "phone", "sent_at"),
        # The tier's unique recipients in the last 24 h and the month's free allowance scan a range
        # of send times across every campaign (then join to the sender or the template category).
        Index("ix_messages_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    # The cascade step (``Campaign.cascade``) the row belongs to, and its sender; None: the campaign's sender.
    step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"))
    # When the cascade gave up waiting on this row and tried the person on a later step (a definite failure,
    # a stopped bot, or no delivery in the step's time): once, so no second fallback row is ever made.
    fallback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phone: Mapped[str] = mapped_column(String(16))  # E.164; "" for a messenger-only contact
    # Bots: the address the message goes to (ContactAddress.address); None on WhatsApp (the phone is the address).
    address: Mapped[str | None] = mapped_column(String(64))
    variables: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # rendered values by variable
    # Sent with the message to the provider, so that a retried send cannot deliver twice.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[MessageStatus] = mapped_column(value_enum(MessageStatus), default=MessageStatus.QUEUED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Send attempts so far: the backoff grows with it, and a limit on it ends the retries.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not to be tried before this moment: a retry's backoff, or the next send window of a deferred row.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The batch that claimed the row and until when; an expired lease means its worker died.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The provider's id (a "wamid."), by which its statuses find the row.
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # A permanent failure keeps the provider's code and its own words (for the log and the operator);
    # the marketer's sentence is derived from the code when shown (``channels.errors.sentence_for``).
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    # When the request was accepted (or may have been, for ``unknown``): caps, tiers and the free
    # allowance count this, never ``created_at``, which is only the launch that made the row.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The category the provider says it charges the message as, for the cost actually spent.
    price_category: Mapped[str | None] = mapped_column(String(32))
    # What the provider says it charges (``pricing.billable``) and what that costs by the rate card, in the
    # card's minor units: the actual cost beside the estimate.
    billable: Mapped[bool | None] = mapped_column()
    cost_minor: Mapped[int | None] = mapped_column(Integer)
    # The recipient's first reply to it (the funnel's "replied").
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The feedback loop's tables belong to this package's metadata too (migrations compare all of them).
from campaigns.feedback import models as _feedback_models  # noqa: E402, F401
