"""Acting on a customer's reply: opt them out or back in, hold an unclear one, and say so once.

A reply comes from a number (WhatsApp) or a messenger address ("max:<user id>", a bot's). Consent and refusal
are the person's, so the caller passes every key of the person (``person_keys``: their number and their address
keys): an opt-out suppresses them all, an opt-in lifts the opt-out of them all, a hold holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Role, User
from compliance import audit, suppression
from compliance.keywords import Intent, KeywordSets, classify_button
from compliance.models import SuppressionError, SuppressionReason, SuppressionScope
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
    person_keys: tuple[str, ...] | list[str] = (),
) -> ReplyOutcome:
    """Apply what the reply asks for; return its intent and the one confirmation to send back.

    ``phone`` is the sender as the provider reports it, ``evidence`` the inbound message id,
    ``language`` the contact's, and ``button_payload`` the payload of a tapped button (None for
    typed text): a tap on an opt-out button is an opt-out whatever its label says. An opt-out is
    recorded at once; an opt-in lifts only an opt-out (never a block, a spam report or a hold). A
    reply that may be a refusal (``Intent.UNSURE``) holds the number (``unsure_reply``) until a
    person calls ``decide_unsure``, and nothing is sent back. Nothing is sent when nothing changed,
    so repeating STOP does not start a conversation, and nothing at all is sent to a number that
    blocked or reported us. ``phone`` may be a messenger address key, and ``person_keys`` the person's other
    keys (their number, their other addresses): all of them are suppressed, lifted or held alike.
    """
    intent = classify_button(text, button_payload, keywords or current_policy().keywords)
    if intent is Intent.NONE:
        return ReplyOutcome(intent)
    keys = _keys(phone, person_keys)
    note = (text or button_payload or "")[:200]
    if intent is Intent.UNSURE:
        for key in keys:
            suppression.suppress(
                key, SuppressionReason.UNSURE_REPLY, source="reply", evidence=evidence, note=note, at=received_at
            )
        return ReplyOutcome(intent)
    if intent is Intent.OPT_OUT:
        changed = False
        for key in keys:
            _entry, created = suppression.suppress(
                key, SuppressionReason.OPT_OUT, source="keyword", evidence=evidence, note=note, at=received_at
            )
            changed = changed or created
    elif intent is Intent.OPT_IN:
        changed = False
        for key in keys:
            changed = bool(suppression.lift_opt_out(key, evidence=evidence, at=received_at)) or changed
    else:
        changed = True  # help is answered every time it is asked
    # A stopped bot closes one address, not the person: it does not make "subscribed again" untrue.
    still_open = [entry for key in keys for entry in suppression.open_entries(key)
                  if entry.scope is SuppressionScope.PERSON]
    # "Subscribed again" would be untrue while another suppression (manual, a hold…) still holds.
    if not changed or (intent is Intent.OPT_IN and still_open):
        return ReplyOutcome(intent)
    if any(entry.reason in _NEVER_MESSAGE for entry in still_open):
        return ReplyOutcome(intent)
    with force_locale(language):
        return ReplyOutcome(intent, _confirmation(intent))


def _keys(phone: str, person_keys) -> list[str]:
    """The reply's sender as a key (a provider's number in E.164; an address key as it is) and the person's
    other keys, once each."""
    key = phone if suppression.is_address_key(phone) else from_provider(phone)
    return list(dict.fromkeys([key, *(k for k in person_keys if k)]))


def decide_unsure(phone: str, refusal: bool, *, actor: User | None, note: str = "",
                  person_keys: tuple[str, ...] | list[str] = ()) -> None:
    """A person decides what a held reply of ``phone`` meant, and the hold ends.

    ``refusal``: the number is opted out (as if the person had written STOP; their own START can
    lift it) and the hold lifted. Otherwise the hold is lifted and messages may resume, which only a
    reviewer (or an admin, or the server's operator with ``actor=None``) may decide: when in doubt,
    do not send. Either way the decision is audited with ``note``. ``SuppressionError`` (a
    sentence) when no reply of the number awaits a decision — say, another person decided first. ``phone`` may
    be a messenger address key; the decision applies to every one of ``person_keys`` too (the person's).
    """
    keys = _keys(phone, person_keys)
    phone = keys[0]
    shown = suppression.display_key(phone)
    note = (note or "").strip()[:2000]
    if not refusal and actor is not None and not actor.has_role(Role.REVIEWER):
        raise SuppressionError(_l("Only a reviewer can decide that a reply was not a refusal."))
    holds = [entry for key in keys for entry in suppression.open_entries(key)
             if entry.reason is SuppressionReason.UNSURE_REPLY]
    if not holds:
        raise SuppressionError(_l("No reply of %(phone)s awaits a decision.", phone=shown))
    hold = holds[0]
    if refusal:
        for key in keys:
            suppression.suppress(key, SuppressionReason.OPT_OUT, source="decision", actor=actor, note=hold.note,
                                 evidence=hold.evidence)
    decision = REFUSAL if refusal else NOT_A_REFUSAL
    lifted = [entry for key in keys for entry in suppression.lift_hold(key, actor=actor, reason_text=decision)]
    if not lifted:  # another person's decision won the race between the read and the lift
        raise SuppressionError(_l("No reply of %(phone)s awaits a decision.", phone=shown))
    audit.record("suppression.decided", actor=actor, target=hold,
                 details={"phone": phone, "decision": decision, "evidence": hold.evidence, "note": note})
