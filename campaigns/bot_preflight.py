"""The preflight of a bot campaign (MAX, Telegram): who the bot can reach, and whether its rendering fits.

``campaigns.preflight.run`` judges a segment by its numbers, as WhatsApp reaches people; a bot reaches them by
their addresses on it, which the number-based report cannot see (a person known by a bot address only has no
number at all). So for a bot sender ``amend`` replaces the report's audience with the materialisation's own
count (``materialise.bot_audience``: the same joins the launch runs, so the review sees what the launch will
do), sets the tier aside (a bot has no messaging tier, and sends cost nothing at the provider), adds the
channel's rendering (``campaigns.bot_rendering``) and blocks a rendering over the channel's length limit. The
send window and the other send-time rules still apply when each row leaves (``campaigns.dispatch.gate``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from campaigns import bot_rendering, pricing
from campaigns.materialise import bot_audience
from campaigns.models import Campaign, Sender, Template
from compliance import sentences
from compliance.sentences import Sentence
from extensions import db

# The launch's exclusions of a bot campaign that WhatsApp's have not (``materialise.BOT_EXCLUSION_REASONS``).
EXCLUSION_LABELS = {
    "no_address": _l("No address on this bot"),
    "bot_stopped": _l("Stopped the bot"),
}
SENTENCES = {
    "bot_nobody_reachable": _l(
        "Nobody in the segment can be reached through this bot: a bot writes only to people who started it. Share "
        "the bot's entry points (its subscribe page or QR code) first, or choose another sender."
    ),
}
_NOBODY = "nobody_eligible"


def _code(kept: Any) -> str | None:
    return kept.get("code") if isinstance(kept, dict) else None


def amend(report: dict[str, Any], campaign: Campaign, now: datetime, rules: Any) -> dict[str, Any]:
    """``report`` (``preflight.run``'s) as it stands for a bot sender; any other sender's comes back as it is."""
    sender = db.session.get(Sender, campaign.sender_id)
    if sender is None or not bot_rendering.is_bot(sender.channel):
        return report
    template = db.session.get(Template, campaign.template_id)
    reach = bot_audience(campaign, now, rules)
    message = bot_rendering.preview_for(sender.channel, template)
    blocking = [kept for kept in report["blocking"] if _code(kept) not in (_NOBODY, "bot_nobody_reachable")]
    if reach.recipients == 0:
        blocking.append(sentences.stored(Sentence(SENTENCES, "bot_nobody_reachable")))
    blocking += [sentences.stored(sentence) for sentence in bot_rendering.preflight_sentences(message)]
    warnings = [kept for kept in report["warnings"] if _code(kept) != "tier_overflow"]
    category = template.category.value
    return {
        **report,
        "audience": {"total": reach.recipients + sum(reach.exclusions.values()), "eligible": reach.recipients,
                     "deferred": 0, "deferred_by": {}, "excluded": reach.exclusions},
        "tier": {"tier": None, "limit": None, "contacted_last_24h": 0, "headroom": None,
                 "new_recipients": reach.recipients, "fits": True},
        "estimate": pricing.estimate(Counter(), category, pricing.current_rate_card()),
        "rendering": message.as_dict(),
        "blocking": blocking,
        "warnings": warnings,
        "outcome": "block" if blocking else ("warn" if warnings else "pass"),
    }
