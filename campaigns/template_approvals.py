"""The provider's verdict on a template, per WhatsApp Business Account: submit, record, sync.

A template's approval belongs to a business account (a sender's ``(waba_id, base_url)``), so it is
kept per account in ``template_approvals`` and a campaign needs its template approved in its own
sender's account (``status_for``). ``submit`` sends the template to the provider of every sender's
account (or one sender's) through the channel and records its answer — approved or rejected at once,
or pending; the periodic ``sync`` reads pending ones back; an admin records a verdict by hand
(``set_status``) for providers whose API cannot be read. Each change is audited, a provider's with
the channel as the actor. ``Template.status`` is the sum the editing rules use (see the model).
Functions add and flush; the caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.events import set_actor_label
from campaigns import senders
from campaigns.message_templates import (
    ADMIN_STATUSES,
    NEEDS_REASON,
    STATUS_LABELS,
    TemplateError,
    template_spec,
)
from campaigns.models import ApprovalSource, Sender, Template, TemplateApproval, TemplateStatus
from campaigns.provider_calls import call_provider
from campaigns.sender_secrets import SecretError
from campaigns.template_rules import check
from channels.base import Channel, ChannelError, TemplateState, TemplateSubmission
from channels.registry import CHANNELS
from compliance import audit
from compliance.policy import Policy, current_policy
from dbtypes import utcnow
from extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

# The provider's statuses (lower case, as channels give them) in ours; anything else reads as pending.
PROVIDER_STATUSES = {
    "approved": TemplateStatus.APPROVED, "pending": TemplateStatus.PENDING, "in_appeal": TemplateStatus.PENDING,
    "rejected": TemplateStatus.REJECTED, "limit_exceeded": TemplateStatus.REJECTED,
    "paused": TemplateStatus.PAUSED, "disabled": TemplateStatus.DISABLED,
    "pending_deletion": TemplateStatus.DISABLED, "deleted": TemplateStatus.DISABLED,
}
# Meta's rejection reasons (``rejected_reason``): a short label and what the author should do.
# Not a provider's code: Vestnik's reason for an earlier version whose text a newer one replaced at the provider.
SUPERSEDED = "SUPERSEDED"
REJECTION_LABELS = {
    "ABUSIVE_CONTENT": _l("Abusive content"),
    "INCORRECT_CATEGORY": _l("Incorrect category"),
    "INVALID_FORMAT": _l("Invalid format"),
    "SCAM": _l("Scam"),
    "PROMOTIONAL": _l("Promotional content in a utility template"),
    "TAG_CONTENT_MISMATCH": _l("Content does not match the category"),
    "CATEGORY_NOT_AVAILABLE": _l("Category not available"),
    "NONE": _l("No reason given"),
    SUPERSEDED: _l("Replaced by a newer version"),
}
REJECTION_SENTENCES = {
    "ABUSIVE_CONTENT": _l("The provider found the content abusive or against its policies (a link to a restricted "
                          "platform counts); remove it and submit again."),
    "INCORRECT_CATEGORY": _l("The provider says the category is wrong for this text; choose the category that fits "
                             "(marketing for offers) and submit again."),
    "INVALID_FORMAT": _l("The provider could not accept the template's format: check the variables (numbered "
                         "without gaps, with examples), the buttons and the lengths, then submit again."),
    "SCAM": _l("The provider took the template for a scam; make the sender and the offer clear and verifiable."),
    "PROMOTIONAL": _l("A utility template may not promote anything; remove the offer or make it a marketing "
                      "template."),
    "TAG_CONTENT_MISMATCH": _l("The text does not match the chosen category; change one of them and submit again."),
    "CATEGORY_NOT_AVAILABLE": _l("This category is not available to the business account."),
    "NONE": _l("The provider gave no reason."),
    SUPERSEDED: _l("A newer version of this template replaced its text at the provider; campaigns must use the "
                   "current version."),
}
SOURCE_LABELS = {ApprovalSource.PROVIDER: _l("the provider"), ApprovalSource.ADMIN: _l("an administrator")}


def reason_text(reason: str | None) -> str:
    """A stored reason in words: the sentence for a provider's code, an admin's reason as written."""
    if not reason:
        return ""
    found = REJECTION_SENTENCES.get(reason.strip().upper())
    return str(found) if found is not None else reason


@dataclass(frozen=True)
class Account:
    """A business account and the sender whose credentials reach it."""

    account_id: str
    base_url: str
    sender: Sender


def takes_provider_templates(channel: str) -> bool:
    """Whether a sender on ``channel`` sends only templates its provider approved (WhatsApp); a bot or an SMS
    gateway sends the text we render."""
    kind = CHANNELS.get(channel)
    return kind is None or kind.capabilities.provider_templates


def accounts(sender: Sender | None = None) -> list[Account]:
    """The business accounts of every sender (the first sender of each by id speaks for it), or ``sender``'s.
    A bot or an SMS gateway has none: it takes no provider templates."""
    found: dict[tuple[str, str], Account] = {}
    for each in ([sender] if sender is not None else db.session.scalars(select(Sender).order_by(Sender.id))):
        if not takes_provider_templates(each.channel):
            continue
        key = senders.account_of(each)
        found.setdefault(key, Account(key[0], key[1], each))
    return list(found.values())


def approvals_of(template: Template) -> list[TemplateApproval]:
    """The template version's approvals, one per account."""
    return list(db.session.scalars(select(TemplateApproval).where(TemplateApproval.template_id == template.id)
                                   .order_by(TemplateApproval.id)))


def _approval(template_id: int, account_id: str, base_url: str) -> TemplateApproval | None:
    return db.session.scalar(select(TemplateApproval).where(
        TemplateApproval.template_id == template_id, TemplateApproval.account_id == account_id,
        TemplateApproval.base_url == base_url))


def approval_for(template: Template, sender: Sender) -> TemplateApproval | None:
    """The template's approval in ``sender``'s business account, if it was ever submitted there."""
    return _approval(template.id, *senders.account_of(sender))


def status_for(template: Template, sender: Sender | None) -> TemplateStatus:
    """The template's status in ``sender``'s account: ``draft`` when it was never submitted there. A bot (MAX,
    Telegram) or an SMS gateway has no provider templates: any template is ``approved`` for it, rendered to its
    text (``campaigns.bot_rendering``, ``campaigns.sms_rendering``); the four-eyes review of the campaign is the
    only approval it needs."""
    if sender is not None and not takes_provider_templates(sender.channel):
        return TemplateStatus.APPROVED
    found = approval_for(template, sender) if sender is not None else None
    return found.status if found is not None else TemplateStatus.DRAFT


def approved_for(template: Template, sender: Sender | None) -> bool:
    """Whether ``sender`` may send the template: approved in its business account."""
    return status_for(template, sender) is TemplateStatus.APPROVED


def senders_by_status(template: Template) -> list[tuple[Sender, TemplateApproval | None]]:
    """Every sender with the template's approval in its account (None: never submitted there)."""
    rows = {(item.account_id, item.base_url): item for item in approvals_of(template)}
    return [(sender, rows.get(senders.account_of(sender))) for sender in senders.list_senders()]


# --- the sum on the template -------------------------------------------------------------------------------

_PRECEDENCE = (TemplateStatus.PENDING, TemplateStatus.APPROVED, TemplateStatus.PAUSED, TemplateStatus.DISABLED,
               TemplateStatus.REJECTED)


def refresh_status(template: Template) -> None:
    """Sum the approvals up on ``Template.status`` (and its reason), as the model's docstring says."""
    approvals = approvals_of(template)
    statuses = {item.status for item in approvals}
    status = next((candidate for candidate in _PRECEDENCE if candidate in statuses), TemplateStatus.DRAFT)
    reason = None
    if status in NEEDS_REASON:
        reason = next((item.reason for item in reversed(approvals) if item.status is status and item.reason), None)
    if (template.status, template.rejection_reason) != (status, reason):
        template.status, template.rejection_reason, template.updated_at = status, reason, utcnow()


@contextmanager
def _as_channel(channel: str) -> Iterator[None]:
    """Audit what happens inside as done by the provider (``channel:<name>``), not by whoever asked."""
    label = g.get("audit_actor_label")
    set_actor_label(f"channel:{channel}")
    try:
        yield
    finally:
        g.audit_actor_label = label


def record(template: Template, account_id: str, base_url: str, status: TemplateStatus, *, reason: str = "",
           category: str | None = None, provider_template_id: str | None = None,
           source: ApprovalSource = ApprovalSource.PROVIDER, actor: Any = None,
           submitted: bool = False) -> TemplateApproval:
    """Set the template's status in one account (creating its row), audit a change, and refresh the sum."""
    approval = _approval(template.id, account_id, base_url)
    previous = approval.status if approval is not None else TemplateStatus.DRAFT
    now = utcnow()
    if approval is None:
        approval = TemplateApproval(template_id=template.id, account_id=account_id, base_url=base_url)
        db.session.add(approval)
    changed = (previous, approval.reason or "", approval.category) != (status, reason or "", category or
                                                                       approval.category)
    approval.status, approval.reason, approval.source = status, reason or None, source
    approval.category = category or approval.category
    approval.provider_template_id = provider_template_id or approval.provider_template_id
    approval.updated_at = now
    if submitted:
        approval.submitted_at, approval.decided_at = now, None
    if status is not TemplateStatus.PENDING and (changed or approval.decided_at is None):
        approval.decided_at = now
    db.session.flush()
    if changed or submitted:
        audit.record("template.status_changed", actor=actor, target=template,
                     details={"name": template.name, "language": template.language, "version": template.version,
                              "from": previous.value, "to": status.value, "reason": reason or "",
                              "source": source.value, "account": account_id, "category": approval.category or ""})
    refresh_status(template)
    db.session.flush()
    return approval


def record_from_provider(template: Template, account_id: str, base_url: str, channel: str, status: str | None, *,
                         reason: str = "", category: str | None = None,
                         provider_template_id: str | None = None) -> TemplateApproval:
    """What the provider said of the template in one account on its own (a status webhook), audited as said by
    the channel: its status (lower case, as channels give it; None keeps the status: a category change), reason
    and category. A status it does not say (anything we do not know) reads as pending."""
    approval = _approval(template.id, account_id, base_url)
    if status is None:
        new = approval.status if approval is not None else TemplateStatus.PENDING
        reason = (approval.reason or "") if approval is not None else ""
    else:
        new = PROVIDER_STATUSES.get(status.lower(), TemplateStatus.PENDING)
        reason = (reason or "").strip() if new in NEEDS_REASON else ""
    with _as_channel(channel):
        return record(template, account_id, base_url, new, reason=reason, category=category,
                      provider_template_id=provider_template_id)


# --- submission ---------------------------------------------------------------------------------------------

@dataclass
class Submission:
    """What a submission did: the approvals recorded, and the accounts whose provider refused (sentences)."""

    template: Template
    approvals: list[TemplateApproval] = field(default_factory=list)
    failures: list[tuple[Account, str]] = field(default_factory=list)


def submission_of(template: Template) -> TemplateSubmission:
    """The template as the provider wants it for approval."""
    return TemplateSubmission(
        name=template.name, language=template.language, category=template.category.value, body=template.body,
        header=template.header or "", footer=template.footer or "",
        buttons=tuple(dict(button) for button in template.buttons or []), examples=dict(template.examples or {}))


def _provider_status(state: TemplateState) -> TemplateStatus:
    return PROVIDER_STATUSES.get((state.status or "").lower(), TemplateStatus.PENDING)


def _provider_reason(state: TemplateState) -> str:
    """The provider's reason, kept only where a reason belongs (Meta says NONE for an approved one)."""
    reason = (state.reason or "").strip()
    return reason if _provider_status(state) in NEEDS_REASON else ""


# An account's row in these statuses (or no row) is submitted again: rejected, or edited since its rejection.
RESUBMITTABLE = frozenset({TemplateStatus.REJECTED, TemplateStatus.DRAFT})


def can_submit(template: Template) -> bool:
    """Whether submitting would send the template anywhere: a current version with a sender's account
    where it was never submitted, was rejected, or was edited since it was rejected."""
    if not template.is_current:
        return False
    rows = {(item.account_id, item.base_url): item.status for item in approvals_of(template)}
    return any(rows.get((account.account_id, account.base_url), TemplateStatus.DRAFT) in RESUBMITTABLE
               for account in accounts())


def provider_template_id(template: Template, account_id: str, base_url: str) -> str | None:
    """The provider's id of the template's (name, language) in the account: this version's, else the newest
    earlier version's that has one; None when the account never saw the template (it is created there)."""
    return db.session.scalar(
        select(TemplateApproval.provider_template_id).join(Template, Template.id == TemplateApproval.template_id)
        .where(Template.name == template.name, Template.language == template.language,
               Template.version <= template.version, TemplateApproval.account_id == account_id,
               TemplateApproval.base_url == base_url, TemplateApproval.provider_template_id.is_not(None))
        .order_by(Template.version.desc(), TemplateApproval.id.desc()).limit(1))


def _at_provider(account: Account, work: Callable[[Channel], Awaitable[T]], calls: int = 1) -> T:
    """``work(channel)`` at the account's provider, through its sender (``call_provider``).

    A sender whose secret no key in force opens is a ``ChannelError`` too (code ``secret``, the sentence naming
    the sender): one account that cannot be reached, not the end of a submission or a sync for every other.
    """
    try:
        settings = senders.settings_for(account.sender)
    except SecretError as error:
        raise ChannelError(str(error), "secret") from None
    return call_provider(settings, work, calls)


def _with_reason(account: Account, state: TemplateState) -> TemplateState:
    """The provider's record of the submitted template (for its rejection reason); the answer itself if
    the record cannot be read."""
    try:
        states = _at_provider(account, lambda channel: channel.template_states(state.name))
    except ChannelError:
        return state
    return next((found for found in states if found.provider_id == state.provider_id), state)


def submit(template: Template, actor: Any = None, policy: Policy | None = None,
           sender: Sender | None = None) -> Submission:
    """Send the template for approval to the provider of every sender's account (or ``sender``'s).

    Accounts where it is pending or decided (other than rejected) are skipped. Where the account already has
    a provider template of this name and language (an earlier version's, or this version's before it was
    edited), that template is edited; elsewhere it is created. Each provider's answer is recorded: approved
    or rejected at once, else pending for ``sync`` to read back. When every provider refused the call,
    ``TemplateError`` says why; when some did, ``failures`` lists them.
    """
    if not template.is_current:
        raise TemplateError([_("This is an old version of the template; submit the current one.")], status=409)
    targets = accounts(sender)
    if not targets:
        raise TemplateError([_("There is no sender yet, so no business account to submit the template to; "
                               "add a sender first.")], status=409)
    open_targets = [account for account in targets
                    if (found := _approval(template.id, account.account_id, account.base_url)) is None
                    or found.status in RESUBMITTABLE]
    if not open_targets:
        status = status_for(template, sender) if sender is not None else template.status
        raise TemplateError([_("The template is already “%(status)s” in every business account it could be "
                               "submitted to; only a new or a rejected one is submitted.",
                               status=STATUS_LABELS[status])], status=409)
    policy = current_policy() if policy is None else policy
    errors = check(template_spec(template), policy.keywords)
    if errors:
        raise TemplateError(errors)
    outcome = Submission(template)
    for account in open_targets:
        approval = _submit_to(template, account, submission_of(template), actor)
        if isinstance(approval, str):
            outcome.failures.append((account, approval))
        else:
            outcome.approvals.append(approval)
    if not outcome.approvals:
        raise TemplateError([sentence for _account, sentence in outcome.failures], status=502)
    return outcome


def _submit_to(template: Template, account: Account, submission: TemplateSubmission,
               actor: Any) -> TemplateApproval | str:
    """Create or edit the template at one account's provider and record the answer; the provider's refusal
    as a sentence instead."""
    existing = provider_template_id(template, account.account_id, account.base_url)

    def call(channel):
        return channel.edit_template(existing, submission) if existing else channel.submit_template(submission)

    try:
        state = _at_provider(account, call, calls=3)  # an edit reads, posts and reads again
    except ChannelError as error:
        log.info("event=template_submit_failed template=%s account=%s edit=%s code=%s", template.id,
                 account.account_id, bool(existing), error.code)
        return str(error.sentence)
    details = {"name": template.name, "language": template.language, "version": template.version,
               "channel": account.sender.channel, "account": account.account_id}
    if existing:
        # Meta keeps one template per name: this version replaced the content of the one the account has.
        audit.record("template.edited_at_provider", actor=actor, target=template,
                     details={**details, "provider_template_id": existing})
        with _as_channel(account.sender.channel):
            _supersede_earlier(template, account, existing)
    else:
        audit.record("template.submitted", actor=actor, target=template, details=details)
    record(template, account.account_id, account.base_url, TemplateStatus.PENDING,
           provider_template_id=state.provider_id or existing, category=state.category, submitted=True, actor=actor)
    status = _provider_status(state)
    if status in NEEDS_REASON and not (state.reason or "").strip():
        # The submission's answer carries no reason (Meta's neither): the template's record has it.
        state = _with_reason(account, state)
    if status is not TemplateStatus.PENDING:
        # The provider decided, not the person who submitted: the audit log names the channel.
        with _as_channel(account.sender.channel):
            record(template, account.account_id, account.base_url, status, reason=_provider_reason(state),
                   category=state.category, provider_template_id=state.provider_id or existing)
    return _approval(template.id, account.account_id, account.base_url)


def _supersede_earlier(template: Template, account: Account, provider_id: str) -> None:
    """Earlier versions whose text the provider's template held are no longer what it sends by that name: a
    campaign still on one of them would go out with this version's text, so they stop being usable there."""
    earlier = db.session.execute(
        select(Template, TemplateApproval).join(TemplateApproval, TemplateApproval.template_id == Template.id)
        .where(Template.name == template.name, Template.language == template.language,
               Template.version < template.version, TemplateApproval.account_id == account.account_id,
               TemplateApproval.base_url == account.base_url, TemplateApproval.provider_template_id == provider_id,
               TemplateApproval.status != TemplateStatus.DISABLED))
    for version, _approval_row in earlier.all():
        record(version, account.account_id, account.base_url, TemplateStatus.DISABLED, reason=SUPERSEDED)


# --- an admin's verdict, and the periodic sync ------------------------------------------------------------

def set_status(template: Template, status: str, reason: str = "", actor: Any = None,
               sender: Sender | None = None) -> Template:
    """Record the provider's status by hand, in ``sender``'s account or (None) in every sender's account.

    Rejecting, pausing and disabling need a reason, which the template's author sees.
    """
    try:
        new = TemplateStatus(status)
    except ValueError:
        new = None
    reason = (reason or "").strip()
    if new not in ADMIN_STATUSES:
        raise TemplateError([_("Status: choose pending, approved, rejected, paused or disabled.")], field="status")
    if new in NEEDS_REASON and not reason:
        raise TemplateError([_("Reason: say why, so that the template's author knows what to change.")], field="reason")
    if len(reason) > 2000:
        raise TemplateError([_("Reason: keep the reason under 2,000 characters.")], field="reason")
    targets = accounts(sender)
    if not targets:
        raise TemplateError([_("There is no sender yet, so no business account to record the status for; "
                               "add a sender first.")], status=409)
    for account in targets:
        record(template, account.account_id, account.base_url, new, reason=reason if new in NEEDS_REASON else "",
               source=ApprovalSource.ADMIN, actor=actor)
    return template


async def _states_of(channel: Channel, names: list[str]) -> list[TemplateState]:
    """The provider's templates of each of ``names``, one name after the other."""
    states: list[TemplateState] = []
    for name in names:
        states += await channel.template_states(name)
    return states


def sync() -> tuple[int, list[str]]:
    """Read every pending approval back from its provider and record what changed.

    Returns how many approvals changed and the accounts whose provider could not be read (the job
    raises for those after doing the others).
    """
    pending = list(db.session.scalars(select(TemplateApproval).where(
        TemplateApproval.status == TemplateStatus.PENDING).order_by(TemplateApproval.id)))
    by_account: dict[tuple[str, str], list[TemplateApproval]] = {}
    for approval in pending:
        by_account.setdefault((approval.account_id, approval.base_url), []).append(approval)
    speakers = {(account.account_id, account.base_url): account for account in accounts()}
    changed, unreadable = 0, []
    for key, approvals in by_account.items():
        account = speakers.get(key)
        if account is None:  # no sender reaches this account any more
            continue
        templates = {approval.id: db.session.get(Template, approval.template_id) for approval in approvals}
        names = sorted({template.name for template in templates.values()})
        try:
            states = _at_provider(account, lambda channel, n=names: _states_of(channel, n), calls=len(names))
        except ChannelError as error:
            log.warning("event=template_sync_failed account=%s code=%s", key[0], error.code)
            unreadable.append(key[0])
            continue
        for approval in approvals:
            template = templates[approval.id]
            state = next((s for s in states if approval.provider_template_id and s.provider_id
                          == approval.provider_template_id), None) or next(
                (s for s in states if (s.name, s.language) == (template.name, template.language)), None)
            if state is None:
                continue
            status, reason = _provider_status(state), _provider_reason(state)
            if (status, reason, state.category or approval.category) == (
                    approval.status, approval.reason or "", approval.category):
                continue
            with _as_channel(account.sender.channel):
                record(template, approval.account_id, approval.base_url, status, reason=reason,
                       category=state.category, provider_template_id=state.provider_id)
            changed += 1
    return changed, unreadable
