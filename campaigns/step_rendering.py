"""A cascade's steps as the marketer and the reviewer see them: each step's sender and channel, and the text that
channel would get (``campaigns.cascade`` decides who is tried where; this module only says what each is sent).

WhatsApp sends the template itself (header, body with its disclaimer, footer, buttons); a bot its rendering
(``campaigns.bot_rendering``); SMS the plain text of the template (``campaigns.sms_rendering``: header, body with its
disclaimer, footer and the buttons that mean something without a tap, one line after another) counted in SMS parts,
which is what a gateway bills. The content
hash covers every step's rendering (``campaigns.content``), so an edit of any channel's text voids an approval.
"""

from __future__ import annotations

from typing import Any

from campaigns import bot_rendering, rendering, sms_rendering
from campaigns.cascade import Step, steps
from campaigns.channel_reach import family_of
from campaigns.models import Campaign, Sender, Template
from campaigns.template_approvals import approved_for
from compliance.channel_rule import CHANNEL_NAMES
from compliance.policy import Policy, current_policy
from extensions import db


def channel_of(sender: Sender | None) -> str:
    """The channel family a step's sender sends through: whatsapp, max, telegram or sms."""
    return family_of(sender.channel) if sender is not None else "whatsapp"


def needs_provider_template(sender: Sender | None) -> bool:
    """Whether the sender sends only templates its provider approved (WhatsApp); a bot or SMS sends our text."""
    return channel_of(sender) == "whatsapp"


def step_senders(campaign: Campaign) -> list[tuple[Step, Sender | None]]:
    """Each step of the campaign (one for a campaign on one sender) with its sender."""
    return [(step, db.session.get(Sender, step.sender_id)) for step in steps(campaign)]


def rendering_for(sender: Sender | None, template: Template, policy: Policy | None = None) -> dict[str, Any]:
    """What the sender's channel would send of ``template`` (with its examples), JSON-ready."""
    channel = channel_of(sender)
    policy = policy or current_policy()
    if sender is not None and bot_rendering.is_bot(sender.channel):
        return {**bot_rendering.preview_for(sender.channel, template, policy=policy).as_dict(), "channel": channel}
    if channel == "sms":
        # What the batch sends (``campaigns.sms_rendering``), so the review and the hash cover the very text.
        return sms_rendering.preview_for(template, policy=policy).as_dict()
    rendered = rendering.render(template, rendering.preview_values(template))
    return {"channel": channel, "header": rendered.header,
            "body": rendering.sent_body(rendered.body, template.language or "ru", policy),
            "footer": rendered.footer, "buttons": [button.get("text", "") for button in rendered.buttons]}


def cascade_json(campaign: Campaign) -> list[dict[str, Any]] | None:
    """The campaign's cascade for the API and the pages (None: it sends on one sender)."""
    if not campaign.cascade:
        return None
    return [{"step": step.index, "sender_id": step.sender_id, "sender": sender.name if sender else None,
             "channel": channel_of(sender), "wait_seconds": step.wait_seconds}
            for step, sender in step_senders(campaign)]


def renderings(campaign: Campaign, policy: Policy | None = None) -> list[dict[str, Any]]:
    """Every step with what its channel would send: what the review page shows and the content hash covers."""
    template = db.session.get(Template, campaign.template_id) if campaign.template_id else None
    shown = []
    for step, sender in step_senders(campaign):
        channel = channel_of(sender)
        shown.append({"step": step.index, "sender_id": step.sender_id, "sender": sender.name if sender else None,
                      "channel": channel, "channel_name": CHANNEL_NAMES.get(channel, channel),
                      "wait_seconds": step.wait_seconds,
                      "rendering": None if template is None else rendering_for(sender, template, policy)})
    return shown


def senders_without_template(campaign: Campaign, template: Template | None) -> list[Sender | None]:
    """The WhatsApp senders of the campaign's steps for which ``template`` is not approved at the provider (a bot
    or SMS step sends our own rendering and needs no approval); a missing template fails every step."""
    return [sender for _step, sender in step_senders(campaign)
            if template is None or (needs_provider_template(sender) and not approved_for(template, sender))]
