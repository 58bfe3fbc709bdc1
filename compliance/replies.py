"""Acting on a customer's reply: opt them out or back in, and say so once."""

from __future__ import annotations

from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _

from compliance import suppression
from compliance.keywords import Intent, KeywordSets, classify_reply
from compliance.models import SuppressionReason
from compliance.numbers import from_provider
from compliance.policy import current_policy

_NEVER_MESSAGE = {SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT}


def _confirmation(intent: Intent) -> str:
    if intent is Intent.OPT_OUT:
        return _(
            "You have unsubscribed and will get no more messages from us. To subscribe again, reply START (or СТАРТ)."
        )
    if intent is Intent.OPT_IN:
        return _("You are subscribed again. To unsubscribe, reply STOP (or СТОП).")
    return _(
        "You are getting these messages because you subscribed to them. "
        "Reply STOP (or СТОП) to unsubscribe, START (or СТАРТ) to subscribe again."
    )


def handle_reply(
    phone: str,
    text: str,
    received_at: datetime,
    evidence: str,
    *,
    language: str = "ru",
    keywords: KeywordSets | None = None,
) -> str | None:
    """Apply what the reply asks for and return the one confirmation to send back, or None.

    ``phone`` is the sender as the provider reports it, ``evidence`` the inbound message id, and
    ``language`` the contact's. An opt-out is recorded at once; an opt-in lifts only an opt-out
    (never a block or spam report). Nothing is sent when nothing changed, so repeating STOP does
    not start a conversation, and nothing at all is sent to a number that blocked or reported us.
    """
    intent = classify_reply(text, keywords or current_policy().keywords)
    if intent is Intent.NONE:
        return None
    phone = from_provider(phone)
    if intent is Intent.OPT_OUT:
        _entry, changed = suppression.suppress(
            phone, SuppressionReason.OPT_OUT, source="keyword", evidence=evidence, note=text[:200], at=received_at
        )
    elif intent is Intent.OPT_IN:
        changed = bool(suppression.lift_opt_out(phone, evidence=evidence, at=received_at))
    else:
        changed = True  # help is answered every time it is asked
    still_open = suppression.open_entries(phone)
    # "Subscribed again" would be untrue while another suppression (manual, say) still holds.
    if not changed or (intent is Intent.OPT_IN and still_open):
        return None
    if any(entry.reason in _NEVER_MESSAGE for entry in still_open):
        return None
    with force_locale(language):
        return _confirmation(intent)
