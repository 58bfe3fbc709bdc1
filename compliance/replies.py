"""Acting on a customer's reply: opt them out or back in, hold an unclear one, and say so once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Role, User
from compliance import audit, suppression
from compliance.keywords import Intent, KeywordSets, classify_button
from compliance.models import SuppressionError, SuppressionReason
from compliance.numbers import from_provider
from compliance.policy import current_policy

_NEVER_MESSAGE = {SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT}

# How a decision on a held reply is recorded: the lift reason of the hold and the audit's "decision"
# (labelled in ``suppression.LIFT_REASON_LABELS``).
REFUSAL, NOT_A_REFUSAL = "reply_refusal", "reply_not_refusal"


@dataclass(frozen=True)
class ReplyOutcome:
    """What a reply asked for and the one confirmation to send back (None: send nothing)."""

    intent: Intent
    confirmation: str | None = None


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
    button_payload: str | None = None,
) -> ReplyOutcome:
    """Apply what the reply asks for; return its intent and the one confirmation to send back.

    ``phone`` is the sender as the provider reports it, ``evidence`` the inbound message id,
    ``language`` the contact's, and ``button_payload`` the payload of a tapped button (None for
    typed text): a tap on an opt-out button is an opt-out whatever its label says. An opt-out is
    recorded at once; an opt-in lifts only an opt-out (never a block, a spam report or a hold). A
    reply that may be a refusal (``Intent.UNSURE``) holds the number (``unsure_reply``) until a
    person calls ``decide_unsure``, and nothing is sent back. Nothing is sent when nothing changed,
    so repeating STOP does not start a conversation, and nothing at all is sent to a number that
    blocked or reported us.
    """
    intent = classify_button(text, button_payload, keywords or current_policy().keywords)
    if intent is Intent.NONE:
        return ReplyOutcome(intent)
    phone = from_provider(phone)
    note = (text or button_payload or "")[:200]
    if intent is Intent.UNSURE:
        suppression.suppress(
            phone, SuppressionReason.UNSURE_REPLY, source="reply", evidence=evidence, note=note, at=received_at
        )
        return ReplyOutcome(intent)
    if intent is Intent.OPT_OUT:
        _entry, changed = suppression.suppress(
            phone, SuppressionReason.OPT_OUT, source="keyword", evidence=evidence, note=note, at=received_at
        )
    elif intent is Intent.OPT_IN:
        changed = bool(suppression.lift_opt_out(phone, evidence=evidence, at=received_at))
    else:
        changed = True  # help is answered every time it is asked
    still_open = suppression.open_entries(phone)
    # "Subscribed again" would be untrue while another suppression (manual, a hold…) still holds.
    if not changed or (intent is Intent.OPT_IN and still_open):
        return ReplyOutcome(intent)
    if any(entry.reason in _NEVER_MESSAGE for entry in still_open):
        return ReplyOutcome(intent)
    with force_locale(language):
        return ReplyOutcome(intent, _confirmation(intent))


def decide_unsure(phone: str, refusal: bool, *, actor: User | None, note: str = "") -> None:
    """A person decides what a held reply of ``phone`` meant, and the hold ends.

    ``refusal``: the number is opted out (as if the person had written STOP; their own START can
    lift it) and the hold lifted. Otherwise the hold is lifted and messages may resume, which only a
    reviewer (or an admin, or the server's operator with ``actor=None``) may decide: when in doubt,
    do not send. Either way the decision is audited with ``note``. ``SuppressionError`` (a
    sentence) when no reply of the number awaits a decision — say, another person decided first.
    """
    phone = from_provider(phone)
    note = (note or "").strip()[:2000]
    if not refusal and actor is not None and not actor.has_role(Role.REVIEWER):
        raise SuppressionError(_l("Only a reviewer can decide that a reply was not a refusal."))
    holds = [entry for entry in suppression.open_entries(phone) if entry.reason is SuppressionReason.UNSURE_REPLY]
    if not holds:
        raise SuppressionError(_l("No reply of %(phone)s awaits a decision.", phone=phone))
    hold = holds[0]
    if refusal:
        suppression.suppress(phone, SuppressionReason.OPT_OUT, source="decision", actor=actor, note=hold.note,
                             evidence=hold.evidence)
    decision = REFUSAL if refusal else NOT_A_REFUSAL
    lifted = suppression.lift_hold(phone, actor=actor, reason_text=decision)
    if not lifted:  # another person's decision won the race between the read and the lift
        raise SuppressionError(_l("No reply of %(phone)s awaits a decision.", phone=phone))
    audit.record("suppression.decided", actor=actor, target=hold,
                 details={"phone": phone, "decision": decision, "evidence": hold.evidence, "note": note})
