"""What a customer's reply asks for: opt out, opt back in, help, or nothing.

A reply counts only when the whole message is a keyword or an unmistakable short request, so a
keyword inside an ordinary sentence ("can I stop by tomorrow?") never opts anyone out. Matching
forgives case, punctuation, spacing, ё/е and letters typed in the other alphabet (a Latin "C" in
"СТОП", a Cyrillic "О" in "STOP").
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from dataclasses import dataclass, field


class Intent(str, enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


# Cyrillic letters that look like Latin ones. Both the reply and the keywords are reduced to this
# "skeleton", so a word typed with letters of the other alphabet still matches.
_HOMOGLYPHS = str.maketrans("аеорсухкмтвніј", "aeopcyxkmtbhij")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)

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

    @functools.cached_property
    def normalised(self) -> dict[Intent, frozenset[str]]:
        """Each intent's entries, normalised the way replies are."""
        # Each field is named after the intent it stands for.
        return {
            intent: frozenset(normalise(entry) for entry in getattr(self, intent.value))
            for intent in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP)
        }


DEFAULT_KEYWORDS = KeywordSets()
# Long messages are conversations, not commands; this also keeps classification cheap.
MAX_WORDS = 6


def classify_reply(text: str, keywords: KeywordSets = DEFAULT_KEYWORDS) -> Intent:
    """The intent of a whole reply; ``Intent.NONE`` unless the message is a keyword or request."""
    reply = normalise(text)
    if not reply or reply.count(" ") >= MAX_WORDS:
        return Intent.NONE
    for intent, entries in keywords.normalised.items():
        if reply in entries:
            return intent
    return Intent.NONE
