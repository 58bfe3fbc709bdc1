"""How much a message reads like spam: a few explainable signals, each adding its weight.

The score is the sum of the weights of the signals that fired. A signal about the whole text
(shouting, too many links) adds its weight once; a counted signal adds it once per occurrence: per
run of exclamation marks, per shortened link and per distinct trigger word. Placeholders such as
``{{1}}`` are not wording, and the letters of a link are not prose: neither counts as capitals or
words. An e-mail address is not a link.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from flask_babel import gettext as _

from compliance.hosts import listed_domain
from compliance.verdict import Outcome

_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}")
# A web address with or without a scheme, starting a word (not inside a host or a path). Neither
# part of an e-mail address is one: the name is followed by "@", the domain preceded by it.
_LINK = re.compile(r"(?<![\w@.-])(?:https?://)?(?:[\w-]+\.)+[a-z]{2,}(?![\w.-]*@)(?:/\S*)?", re.IGNORECASE)
_NOT_LETTERS = re.compile(r"[\W\d_]+")
_DOMAIN = re.compile(r"(?:[\w-]+\.)+[a-z]{2,}")

SHORTENERS = (
    "bit.ly", "bitly.com", "tinyurl.com", "clck.ru", "goo.su", "goo.gl", "t.ly", "t.co", "cutt.ly", "is.gd",
    "v.gd", "ow.ly", "buff.ly", "rebrand.ly", "vk.cc", "u.to", "qps.ru", "tiny.cc", "rb.gy", "shorturl.at", "s.id",
)
# "бесплатн*" is a stem: it also catches бесплатный, бесплатной, бесплатная. Entries without "*" are
# whole words or phrases only. "ё" is read as "е" in entries and in texts.
TRIGGER_WORDS = (
    "бесплатн*", "срочн*", "только сегодня", "вы выиграли", "выигрыш*", "гарантированн*", "кредит без отказа",
    "без вложений", "заработок", "заработать", "легкие деньги", "спешите", "последний шанс", "не упустите",
    "халяв*", "100%",
    "free", "winner", "act now", "guaranteed", "risk-free", "cash", "click here", "limited time", "only today",
    "you have won", "you won", "urgent", "no credit check", "make money", "last chance",
)


@dataclass(frozen=True)
class SpamWeights:
    """What each signal adds to the score (per occurrence for the counted ones)."""

    uppercase: float = 2.0
    exclamations: float = 1.0
    shorteners: float = 2.0
    trigger_words: float = 1.0
    too_many_links: float = 1.5


SIGNALS = tuple(item.name for item in fields(SpamWeights))


@dataclass(frozen=True)
class _Compiled:
    exclamations: re.Pattern[str]
    # All trigger words in one pattern, then each alone to tell which one a match is.
    triggers: re.Pattern[str]
    trigger_entries: tuple[tuple[str, re.Pattern[str]], ...]
    shorteners: frozenset[str]


@dataclass(frozen=True)
class SpamRules:
    """Weights, thresholds and word lists of the spam score. An admin may change any of them."""

    weights: SpamWeights = SpamWeights()
    warn_at: float = 3.0
    block_at: float = 6.0
    # Shouting is a share of capitals among at least this many letters: "SALE" alone is not shouting.
    uppercase_ratio: float = 0.5
    uppercase_min_letters: int = 12
    exclamation_run: int = 2
    max_links: int = 2
    shorteners: tuple[str, ...] = SHORTENERS
    trigger_words: tuple[str, ...] = TRIGGER_WORDS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpamRules:
        """Rules from stored settings shaped like ``as_dict``; a missing setting keeps its default.

        Raises ``ValueError`` with a sentence that names the first bad setting.
        """
        if not isinstance(data, Mapping):
            raise ValueError(_("Spam rules must be an object of named settings."))
        _only_known(data, [item.name for item in fields(cls)], "")
        weights = data.get("weights", {})
        if not isinstance(weights, Mapping):
            raise ValueError(_("%(field)s must be an object with a number for each signal.", field="weights"))
        _only_known(weights, SIGNALS, "weights.")
        rules = cls(
            weights=replace(SpamWeights(), **{
                name: _number(f"weights.{name}", value, low=0) for name, value in weights.items()
            }),
            **{name: check(name, data[name]) for name, check in _CHECKS.items() if name in data},
        )
        if rules.block_at < rules.warn_at:
            raise ValueError(_("%(field)s must not be below %(other)s.", field="block_at", other="warn_at"))
        return rules

    def as_dict(self) -> dict[str, Any]:
        """The rules as JSON-ready settings that ``from_dict`` reads back."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    def outcome(self, total: float) -> Outcome:
        """Block at ``block_at`` and above, warn at ``warn_at`` and above, pass below."""
        if total >= self.block_at:
            return Outcome.BLOCK
        return Outcome.WARN if total >= self.warn_at else Outcome.PASS

    @functools.cached_property
    def _compiled(self) -> _Compiled:
        # Longest entry first: of two entries starting at the same word the fuller one is reported.
        entries = sorted(self.trigger_words, key=len, reverse=True)
        patterns = [_trigger_pattern(entry) for entry in entries]
        return _Compiled(
            exclamations=re.compile(f"!{{{self.exclamation_run},}}"),
            # No capturing groups: with them the regex engine can no longer skip ahead to the
            # letters an entry starts with, and matching gets twenty times slower.
            # An empty alternation would match everywhere; a pattern that never matches stands in.
            triggers=re.compile(f"(?:{'|'.join(patterns) or '(?!x)x'})" + r"(?!\w)"),
            trigger_entries=tuple((entry, re.compile(pattern))
                                  for entry, pattern in zip(entries, patterns, strict=True)),
            shorteners=frozenset(self.shorteners),
        )


DEFAULT_SPAM_RULES = SpamRules()


@dataclass(frozen=True)
class Signal:
    """One thing that makes the text read like spam, with what it added to the score."""

    name: str
    weight: float
    explanation: str
    details: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SpamScore:
    """The score of one text: its total, the signals that fired and what the total means."""

    total: float
    signals: list[Signal]
    outcome: Outcome

    def as_dict(self) -> dict[str, Any]:
        """The score as JSON-ready data."""
        return {
            "score": self.total,
            "outcome": self.outcome.value,
            "signals": [
                {"name": signal.name, "weight": signal.weight, "explanation": signal.explanation}
                for signal in self.signals
            ],
        }


def score(text: str, rules: SpamRules = DEFAULT_SPAM_RULES) -> SpamScore:
    """How spam-like ``text`` reads under ``rules``: the signals that fired, their total and the outcome."""
    compiled = rules._compiled
    wording = _PLACEHOLDER.sub(" ", text)
    links = list(_LINK.finditer(wording))
    prose = " ".join(wording[start:end] for start, end in _gaps(links, len(wording)))
    weights = rules.weights
    signals = [
        _uppercase(prose, rules),
        _exclamations(prose, rules, compiled),
        _shorteners([link.group() for link in links], weights.shorteners, compiled),
        _trigger_words(prose, weights.trigger_words, compiled),
        _too_many_links(len(links), rules),
    ]
    fired = [signal for signal in signals if signal]
    total = round(sum((signal.weight for signal in fired), 0.0), 2)
    return SpamScore(total, fired, rules.outcome(total))


def _gaps(links: list[re.Match[str]], length: int):
    cursor = 0
    for link in links:
        yield cursor, link.start()
        cursor = link.end()
    yield cursor, length


def _uppercase(prose: str, rules: SpamRules) -> Signal | None:
    # Dropping everything but letters in one regex pass is cheaper than asking each character.
    letters = _NOT_LETTERS.sub("", prose)
    if not letters or len(letters) < rules.uppercase_min_letters:
        return None
    ratio = sum(map(str.isupper, letters)) / len(letters)
    if ratio < rules.uppercase_ratio:
        return None
    percent = round(ratio * 100)
    return Signal("uppercase", rules.weights.uppercase,
                  _("%(percent)s%% of the letters are capitals; shouting reads as spam.", percent=percent),
                  {"ratio": round(ratio, 2), "letters": len(letters)})


def _exclamations(prose: str, rules: SpamRules, compiled: _Compiled) -> Signal | None:
    runs = len(compiled.exclamations.findall(prose))
    if not runs:
        return None
    return Signal("exclamations", rules.weights.exclamations * runs,
                  _("Runs of exclamation marks (%(marks)s) look like spam; found: %(count)s.",
                    marks="!" * rules.exclamation_run, count=runs),
                  {"runs": runs})


def _shorteners(links: list[str], weight: float, compiled: _Compiled) -> Signal | None:
    hosts = [host for host in (listed_domain(link, compiled.shorteners) for link in links) if host]
    if not hosts:
        return None
    return Signal("shorteners", weight * len(hosts),
                  _("Shortened links (%(hosts)s) hide where they lead; use the full address.",
                    hosts=", ".join(dict.fromkeys(hosts))),
                  {"hosts": hosts})


def _trigger_words(prose: str, weight: float, compiled: _Compiled) -> Signal | None:
    lowered = prose.lower()
    found: dict[str, str] = {}  # entry -> its first match, as written
    for match in compiled.triggers.finditer(lowered.replace("ё", "е")):
        entry = next(entry for entry, pattern in compiled.trigger_entries if pattern.fullmatch(match.group()))
        found.setdefault(entry, lowered[match.start():match.end()])
    if not found:
        return None
    words = list(found.values())
    return Signal("trigger_words", weight * len(words),
                  _("Words typical of spam: %(words)s.", words=", ".join(words)), {"words": words})


def _too_many_links(count: int, rules: SpamRules) -> Signal | None:
    if count <= rules.max_links:
        return None
    return Signal("too_many_links", rules.weights.too_many_links,
                  _("Too many links (%(count)s); keep to %(max)s or fewer.", count=count, max=rules.max_links),
                  {"links": count, "max": rules.max_links})


def _trigger_pattern(entry: str) -> str:
    """The regex of a trigger word or phrase, for lower-case text with "ё" read as "е"."""
    entry = entry.lower().replace("ё", "е")
    stem = entry.removesuffix("*")
    first, *rest = map(re.escape, stem.split())
    # The word boundary is checked behind the first word rather than before it, so the pattern
    # starts with a literal the regex engine can search for instead of trying every position.
    return first + rf"(?<!\w{first})" + "".join(rf"\s+{word}" for word in rest) + (r"\w*" if stem != entry else "")


def _only_known(data: Mapping[str, Any], known, prefix: str) -> None:
    for name in data:
        if name not in known:
            raise ValueError(_("%(field)s is not a spam rule setting.", field=f"{prefix}{name}"))


def _number(name: str, value: Any, *, low: float, high: float | None = None,
            strict: bool = False, whole: bool = False) -> float:
    if whole and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(_("%(field)s must be a whole number.", field=name))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(_("%(field)s must be a number.", field=name))
    if strict and value <= low:
        raise ValueError(_("%(field)s must be more than %(low)s.", field=name, low=low))
    if value < low:
        raise ValueError(_("%(field)s must be at least %(low)s.", field=name, low=low))
    if high is not None and value > high:
        raise ValueError(_("%(field)s must be at most %(high)s.", field=name, high=high))
    return value if whole else float(value)


def _entries(name: str, value: Any, check) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(_("%(field)s must be a list of texts.", field=name))
    entries = []
    for entry in value:
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError(_("%(field)s must be a list of texts, none of them empty.", field=name))
        entries.append(check(name, " ".join(entry.split())))
    return tuple(entries)


def _domain(name: str, entry: str) -> str:
    entry = entry.lower()
    # A shortener the link pattern cannot see as a host would never fire.
    if not _DOMAIN.fullmatch(entry):
        raise ValueError(_("%(field)s: %(value)s is not a domain name such as bit.ly.", field=name, value=entry))
    return entry


def _trigger_word(name: str, entry: str) -> str:
    stem = entry.removesuffix("*")
    # A lone "*" or "sale *" would be a stem of nothing and match every word.
    if "*" in stem or not stem or stem[-1] == " ":
        raise ValueError(
            _("%(field)s: %(value)s may have a * only right after its last word.", field=name, value=entry)
        )
    return entry


_CHECKS = {
    "warn_at": lambda name, value: _number(name, value, low=0, strict=True),
    "block_at": lambda name, value: _number(name, value, low=0, strict=True),
    "uppercase_ratio": lambda name, value: _number(name, value, low=0, high=1, strict=True),
    "uppercase_min_letters": lambda name, value: _number(name, value, low=0, whole=True),
    "exclamation_run": lambda name, value: _number(name, value, low=1, whole=True),
    "max_links": lambda name, value: _number(name, value, low=0, whole=True),
    "shorteners": lambda name, value: _entries(name, value, _domain),
    "trigger_words": lambda name, value: _entries(name, value, _trigger_word),
}
