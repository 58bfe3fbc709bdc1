"""The content hash of a campaign: everything that decides what is sent to whom, hashed.

An approval binds to this hash. It is computed from the segment and template as they are now, so an
edit of either after the approval is caught at launch as well as an edit of the campaign itself.

A bot sender's campaign (MAX, Telegram) also hashes the sender's channel and the template as rendered for it
(``campaigns.bot_rendering``: the text in the channel's markup and the buttons, with the opt-out one): a change of
the channel, of the rendering or of what it is made of (the disclaimers, the opt-out keywords) voids the approval.
WhatsApp campaigns hash what they always did, so their approvals stand. An SMS sender's campaign hashes its channel
and the SMS text with its parts (``campaigns.sms_rendering``) the same way.

A cascade also hashes its steps in order — each step's sender, channel and wait, and the text that channel would
get (``campaigns.step_rendering``) — so a step added, removed, reordered or waiting longer voids the approval, as
does an edit of any channel's rendering. A campaign on one sender hashes no cascade, so its approval stands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from audience.models import Segment
from campaigns import bot_rendering, sms_rendering, step_rendering
from campaigns.models import Campaign, Sender, Template
from extensions import db


def content_snapshot(campaign: Campaign) -> dict[str, Any]:
    """Everything that decides what is sent to whom, as JSON-ready data (what the hash covers)."""
    template = db.session.get(Template, campaign.template_id) if campaign.template_id else None
    segment = db.session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    sender = db.session.get(Sender, campaign.sender_id) if campaign.sender_id else None
    snapshot = {
        "template": None if template is None else {
            "id": template.id, "name": template.name, "language": template.language, "version": template.version,
            "category": template.category.value, "header": template.header or "", "body": template.body,
            "footer": template.footer or "", "buttons": template.buttons or [],
        },
        "variables": campaign.variables or {},
        "segment": None if segment is None else {"id": segment.id, "definition": segment.definition},
        "sender": None if sender is None else {"id": sender.id, "phone": sender.phone},
        "send_at": campaign.send_at.astimezone(UTC).isoformat() if campaign.send_at else None,
        "send_window": campaign.send_window or None,
        "messages_per_second": campaign.messages_per_second,
    }
    if sender is not None and bot_rendering.is_bot(sender.channel):
        snapshot["sender"]["channel"] = sender.channel
        snapshot["rendering"] = None if template is None else \
            bot_rendering.preview_for(sender.channel, template).as_dict()
    elif sender is not None and sms_rendering.is_sms_channel(sender.channel):
        snapshot["sender"]["channel"] = sender.channel
        snapshot["rendering"] = None if template is None else sms_rendering.preview_for(template).as_dict()
    if campaign.cascade:
        snapshot["cascade"] = [{key: step[key] for key in ("step", "sender_id", "channel", "wait_seconds",
                                                           "rendering")}
                               for step in step_rendering.renderings(campaign)]
    return snapshot


def hash_snapshot(snapshot: Mapping[str, Any]) -> str:
    """sha256 of the snapshot's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_hash(campaign: Campaign) -> str:
    """The hash of what the campaign would send to whom now (the segment and template as they are now)."""
    return hash_snapshot(content_snapshot(campaign))
