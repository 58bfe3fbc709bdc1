"""What a customer's reply asks for: opt out, opt back in, help, or nothing.

First the keywords: a reply that is, as a whole, a keyword or short request of the policy (an admin
may edit them) means that intent. Matching forgives case, punctuation, spacing, ё/е and letters typed
in the other alphabet (a Latin "C" in "СТОП", a Cyrillic "О" in "STOP"). Then the sentence: a reply
that is not a keyword is read by ``refusals``, which recognises refusals (and requests to subscribe
again, and questions about us) written in the customer's own words, by Russian morphology — so a
keyword inside an ordinary sentence ("can I stop by tomorrow?") still opts nobody out.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from flask_babel import gettext as _

from compliance import refusals
from compliance.intents import Intent

__all__ = ["DEFAULT_KEYWORDS", "Intent", "KeywordSets", "classify_button", "classify_reply", "normalise"]


# Cyrillic letters that look like Latin ones. Both the reply and the keywords are reduced to this
# "skeleton", so a word typed with letters of the other alphabet still matches.
_HOMOGLYPHS = str.maketrans("аеорсухкмтвніј", "aeopcyxkmtbhij")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)

# A keyword or short request has at most this many words; longer replies are read as sentences (refusals).
MAX_WORDS = 6
REQUIRED_OPT_OUT = ("stop", "стоп")
# Politeness around a request changes nothing about what it asks for.
FILLERS = frozenset({"please", "pls", "plz", "thanks", "thank", "you", "пожалуйста", "плиз", "спасибо"})


def normalise(text: str) -> str:
    """Case-folded words, without punctuation, fillers or the difference between look-alike letters."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    words = _NOT_WORD.sub(" ", text).replace("_", " ").split()
    return " ".join(word for word in words if word not in FILLERS).translate(_HOMOGLYPHS)


@dataclass(frozen=True)
class KeywordSets:
    """The words and short phrases that mean each intent. An admin may replace any of them."""

    opt_out: frozenset[str] = field(default_factory=lambda: frozenset({
        "stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "optout", "opt out", "revoke",
        "unsubscribe me", "stop sending", "stop messaging me", "stop texting me", "remove me",
        "стоп", "отписаться", "отписка", "отписаться от рассылки", "отпишите", "отпишите меня",
        "не присылайте", "не присылайте больше", "больше не присылайте", "не пишите", "не пишите мне",
        "больше не пишите", "хочу отписаться", "прекратите рассылку", "удалите меня",
    }))
    opt_in: frozenset[str] = field(default_factory=lambda: frozenset({
        "start", "unstop", "subscribe", "subscribe me", "yes subscribe",
        "старт", "подписаться", "подпишите", "подпишите меня", "хочу подписаться",
    }))
    help: frozenset[str] = field(default_factory=lambda: frozenset({
        "help", "info", "помощь", "справка", "инфо", "инфо рассылка",
    }))

    @classmethod
    def from_dict(cls, data: dict) -> KeywordSets:
        """Keyword sets from an admin's edit; ``ValueError`` with a sentence when they make no sense."""
        sets = {}
        for intent in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP):
            entries = data.get(intent.value, [])
            if not isinstance(entries, (list, tuple, set, frozenset)) or not all(isinstance(e, str) for e in entries):
                raise ValueError(_("The %(intent)s keywords must be a list of words.", intent=intent.value))
            sets[intent.value] = frozenset(entry.strip() for entry in entries if normalise(entry))
        keywords = cls(**sets)
        normalised = keywords.normalised
        # Carrier rules expect STOP to work everywhere; without it nobody could reliably opt out.
        missing = [word for word in REQUIRED_OPT_OUT if normalise(word) not in normalised[Intent.OPT_OUT]]
        if missing:
            raise ValueError(
                _("The opt-out keywords must keep %(words)s.", words=", ".join(w.upper() for w in missing))
            )
        for entry in (e for entries in normalised.values() for e in entries):
            if entry.count(" ") >= MAX_WORDS:
                raise ValueError(
                    _(
                        "“%(entry)s” is too long; a keyword may have at most %(count)d words.",
                        entry=entry,
                        count=MAX_WORDS,
                    )
                )
        intents = list(normalised.items())
        for index, (intent, entries) in enumerate(intents):
            for other, other_entries in intents[index + 1:]:
                shared = entries & other_entries
                if shared:
                    raise ValueError(_("“%(entry)s” cannot mean both %(first)s and %(second)s.",
                                       entry=sorted(shared)[0], first=intent.value, second=other.value))
        return keywords

    def as_dict(self) -> dict[str, list[str]]:
        """The sets as sorted lists, JSON-ready."""
        return {
            intent.value: sorted(getattr(self, intent.value)) for intent in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP)
        }

    @functools.cached_property
    def normalised(self) -> dict[Intent, frozenset[str]]:
        """Each intent's entries, normalised the way replies are."""
        # Each field is named after the intent it stands for.
        return {
            intent: frozenset(normalise(entry) for entry in getattr(self, intent.value))
            for intent in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP)
        }


DEFAULT_KEYWORDS = KeywordSets()


def classify_reply(text: str, keywords: KeywordSets = DEFAULT_KEYWORDS) -> Intent:
    """The intent of a whole reply: a keyword of ``keywords`` first, then what its sentences ask for
    (``refusals.recognise``); ``Intent.NONE`` for an ordinary reply."""
    reply = normalise(text)
    if not reply:
        return Intent.NONE
    if reply.count(" ") < MAX_WORDS:
        for intent, entries in keywords.normalised.items():
            if reply in entries:
                return intent
        if reply in _UNSURE:
            return Intent.UNSURE
    return refusals.recognise(text)


# Replies that may be refusals but ask for nothing clearly: held until a person decides.
_UNSURE = frozenset(normalise(text) for text in (
    "не надо", "зачем вы мне пишете", "кто вы такие", "откуда у вас мой номер", "who is this", "why are you texting me",
))


def is_opt_out_label(label: str, keywords: KeywordSets = DEFAULT_KEYWORDS) -> bool:
    """Whether a button's label or payload reads as a request to opt out: an opt-out keyword as a
    whole, or a label starting with one ("Stop promotions", «Отписаться от рассылки», ``STOP_PROMO``)."""
    words = normalise(label or "")
    if not words:
        return False
    entries = keywords.normalised[Intent.OPT_OUT]
    return any(words == entry or words.startswith(entry + " ") for entry in entries)


def classify_button(text: str, payload: str | None, keywords: KeywordSets = DEFAULT_KEYWORDS) -> Intent:
    """The intent of a reply that may be a button tap: a tap whose payload or label is an opt-out is
    one, whatever else the label says; any other reply is read as its text."""
    if payload is not None and (is_opt_out_label(payload, keywords) or is_opt_out_label(text, keywords)):
        return Intent.OPT_OUT
    return classify_reply(text, keywords)
