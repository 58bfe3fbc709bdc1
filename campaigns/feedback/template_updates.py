"""What a batch's template status updates do: the template's status, reason and category in the sender's
business account (``template_approvals``, audited as said by the channel), and a paused, disabled or rejected
template pauses the sending campaigns that use it in that account (``pausing``: reason ``template_paused``,
one notification per campaign).

The update names the provider's template id; the approval that holds it is the newest version's of that id in
the account (earlier versions were superseded by it), else the current version of that name and language that
was submitted there. A template the provider has but Vestnik never submitted is logged and left alone. A repeat
records nothing new and pauses nothing twice. The Cloud API's update carries no time of its own, so two updates
of one template are applied in the order they arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from campaigns import template_approvals
from campaigns.feedback.pausing import PauseReason, pause_automatically
from campaigns.models import Campaign, CampaignStatus, Sender, Template, TemplateApproval, TemplateStatus
from campaigns.senders import account_of
from channels.base import TemplateStatusChange
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

# A template in these statuses cannot be sent: its sending campaigns pause rather than fail message by message.
STOPPING = frozenset({TemplateStatus.PAUSED, TemplateStatus.DISABLED, TemplateStatus.REJECTED})


def handle(context: FeedbackContext, events: Sequence[TemplateStatusChange]) -> None:
    """Apply a batch's template updates of one sender; flushes only."""
    waba_id, base_url = account_of(context.sender)
    for event in events:
        account_id = event.account or waba_id
        template = _template_of(event, account_id, base_url)
        if template is None:
            log.info("event=template_update_unknown template_id=%s name=%s account=%s", event.template_id,
                     event.name, account_id)
            continue
        approval = template_approvals.record_from_provider(
            template, account_id, base_url, context.sender.channel, event.status, reason=event.reason,
            category=event.category, provider_template_id=event.template_id)
        if approval.status in STOPPING:
            details = {"template": template.name, "language": template.language, "status": approval.status.value,
                       "reason": event.reason}
            pause_automatically(_sending_with(template, account_id, base_url), PauseReason.TEMPLATE_PAUSED, details,
                                context.now)


def _template_of(event: TemplateStatusChange, account_id: str, base_url: str) -> Template | None:
    by_id = db.session.scalar(
        select(Template).join(TemplateApproval, TemplateApproval.template_id == Template.id)
        .where(TemplateApproval.account_id == account_id, TemplateApproval.base_url == base_url,
               TemplateApproval.provider_template_id == event.template_id)
        .order_by(Template.version.desc()).limit(1))
    if by_id is not None:
        return by_id
    return db.session.scalar(
        select(Template).join(TemplateApproval, TemplateApproval.template_id == Template.id)
        .where(TemplateApproval.account_id == account_id, TemplateApproval.base_url == base_url,
               Template.name == event.name, Template.language == event.language, Template.is_current.is_(True))
        .limit(1))


def _sending_with(template: Template, account_id: str, base_url: str) -> list[int]:
    """The sending campaigns of ``template`` whose senders belong to the account."""
    return list(db.session.scalars(
        select(Campaign.id).join(Sender, Sender.id == Campaign.sender_id)
        .where(Campaign.template_id == template.id, Campaign.status == CampaignStatus.SENDING,
               Sender.waba_id == account_id, Sender.base_url == base_url)))
