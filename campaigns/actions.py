"""What the campaigns package writes to the audit log, in words: its actions, and the reasons the code
itself gives a campaign's transitions. The log stores the codes; pages show these labels."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "campaign.created": _l("Campaign created"),
    "campaign.updated": _l("Campaign changed"),
    "campaign.submit": _l("Submitted for review"),
    "campaign.approve": _l("Approved"),
    "campaign.reject": _l("Rejected"),
    "campaign.revise": _l("Taken back to draft to revise"),
    "campaign.edit": _l("Back to draft after an edit"),
    "campaign.schedule": _l("Launch scheduled"),
    "campaign.launch": _l("Launched"),
    "campaign.pause": _l("Paused"),
    "campaign.resume": _l("Resumed"),
    "campaign.complete": _l("Completed"),
    "campaign.cancel": _l("Cancelled"),
    "campaign.fail": _l("Failed"),
    "template.created": _l("Template created"),
    "template.updated": _l("Template changed"),
    "template.versioned": _l("New template version"),
    "template.archived": _l("Template archived"),
    "template.unarchived": _l("Template restored"),
    "template.status_changed": _l("Provider status changed"),
    "template.submitted": _l("Template submitted to the provider"),
    "template.edited_at_provider": _l("Template edited at the provider and submitted again"),
    "sender.created": _l("Sender added"),
    "sender.updated": _l("Sender changed"),
    "sender.checked": _l("Sender's connection checked"),
    "sender.webhook_connected": _l("Bot's webhook connected at its platform"),
    "sender.quality_changed": _l("The provider changed the number's quality or tier"),
    "template.test_sent": _l("Test message sent"),
    "conversation.replied": _l("Reply sent from the inbox"),
    "notification.resolved": _l("Notification marked settled"),
    "pricing.rate_card_changed": _l("Rate card changed"),
    "pricing.rate_card_reset": _l("Rate card reset to the shipped one"),
}
# The reasons the code itself gives a transition (a person's reason is stored as they wrote it).
TRANSITION_REASONS = {
    "revise": _l("revised by the author"),
    "edited after rejection": _l("edited after the rejection"),
    "content edited": _l("what it sends changed, so the approval is void"),
}
