"""The content linter: what the compliance guard says about a template body before it goes out.

Links to restricted platforms and mentions of them are found once and shared by the tagging; the
length is checked on the body as it will be sent (tagged, with the disclaimer); the spam score is
taken on the author's own wording, without the disclaimer we add. Every finding is a verdict and
the report's outcome is the worst of them. To keep the report short, a check that found nothing
says nothing (no mention verdict without mentions, no length verdict when the body fits), except
the spam score, which is always reported because its number is useful even when it passes.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

from babel import Locale
from babel.numbers import format_decimal
from flask_babel import format_number, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from compliance.restricted import BlockedLink, Mention, Registry
from compliance.sentences import Sentence
from compliance.spam import DEFAULT_SPAM_RULES, SpamRules, SpamScore, score
from compliance.verdict import Outcome, Verdict, worst

BODY_LIMIT = 1024  # characters WhatsApp allows in a template body
# Longest text anyone may ask to check: a body with header, footer and room to spare. Bounds the
# work one request can cause.
MAX_TEXT = 4096


# The linter's sentences by code (see compliance.sentences): a stored report words them for its reader.
SENTENCES = {
    "link_may_be_restricted": _l("Links to %(platform)s may be restricted in Russia: %(url)s."),
    "link_not_allowed": _l("Links to %(platform)s are not allowed in Russia: %(url)s."),
    "mentions_tagged": _l("Mentions of %(platforms)s are marked with * and the disclaimer is added."),
    "text_too_long": lambda p: _("The text is %(length)s characters; a template body allows %(limit)s.",
                                 length=format_number(p["length"]), limit=format_number(p["limit"])),
    "tagged_text_too_long": lambda p: _(
        "With the disclaimer the text is %(length)s characters; a template body allows %(limit)s.",
        length=format_number(p["length"]), limit=format_number(p["limit"])),
    "spam_blocks": lambda p: _("Spam score %(score)s reaches the blocking level of %(level)s; reword the message.",
                               score=_decimal(p["score"]), level=_decimal(p["level"])),
    "spam_warns": lambda p: _("Spam score %(score)s reaches the warning level of %(level)s; check the wording.",
                              score=_decimal(p["score"]), level=_decimal(p["level"])),
    "spam_passes": lambda p: _("Spam score %(score)s is below the warning level of %(level)s.",
                               score=_decimal(p["score"]), level=_decimal(p["level"])),
}


@functools.cache
def default_registry() -> Registry:
    """The restricted-platform registry shipped with Vestnik, read on first use."""
    return Registry.load()


@dataclass(frozen=True)
class LintReport:
    """Everything the linter found in one text, and the text as it should be sent (``tagged``)."""

    text: str
    language: str
    mentions: list[Mention]
    tagged: str
    links: list[BlockedLink]
    spam: SpamScore
    verdicts: list[Verdict]
    outcome: Outcome

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "text": self.text,
            "language": self.language,
            "tagged": self.tagged,
            "mentions": [asdict(mention) for mention in self.mentions],
            "links": [asdict(link) for link in self.links],
            "spam": self.spam.as_dict(),
            "verdicts": [
                {"rule": verdict.rule, "outcome": verdict.outcome.value, "reason": str(verdict.reason)}
                for verdict in self.verdicts
            ],
            "outcome": self.outcome.value,
        }


def lint(text: str, language: str = "ru", *, registry: Registry | None = None, rules: SpamRules | None = None,
         body_limit: int = BODY_LIMIT) -> LintReport:
    """Check ``text`` for restricted platforms, length and spam; disclaimers are in ``language``."""
    registry = default_registry() if registry is None else registry
    rules = DEFAULT_SPAM_RULES if rules is None else rules
    links = registry.links(text)
    mentions = registry.mentions(text, links)
    tagged = registry.tag(text, language, mentions)
    spam = score(text, rules)
    verdicts = [_link_verdict(registry, link) for link in links]
    if mentions:
        verdicts.append(_mention_verdict(registry, mentions))
    if len(tagged) > body_limit:
        verdicts.append(_length_verdict(text, tagged, body_limit))
    verdicts.append(_spam_verdict(spam, rules))
    return LintReport(text, language, mentions, tagged, links, spam, verdicts, worst(verdicts))


def _link_verdict(registry: Registry, link: BlockedLink) -> Verdict:
    # A mark would break the address, so a link cannot be tagged: it has to go, unless the registry
    # says links to this platform only need a second look.
    platform = registry.platforms[link.platform]
    details = {"platform": link.platform, "url": link.url}
    if platform.link_policy == "warn":
        return Verdict("restricted_link", Outcome.WARN,
                       Sentence(SENTENCES, "link_may_be_restricted", platform=platform.name, url=link.url), details)
    return Verdict("restricted_link", Outcome.BLOCK,
                   Sentence(SENTENCES, "link_not_allowed", platform=platform.name, url=link.url), details)


def _mention_verdict(registry: Registry, mentions: list[Mention]) -> Verdict:
    # Tagging makes a mention lawful, but the author should see that their text was changed.
    platforms = list(dict.fromkeys(mention.platform for mention in mentions))
    names = ", ".join(registry.platforms[platform].name for platform in platforms)
    return Verdict("restricted_mention", Outcome.WARN,
                   Sentence(SENTENCES, "mentions_tagged", platforms=names),
                   {"platforms": platforms})


def _length_verdict(text: str, tagged: str, limit: int) -> Verdict:
    if len(text) > limit:
        reason = Sentence(SENTENCES, "text_too_long", length=len(text), limit=limit)
    else:
        reason = Sentence(SENTENCES, "tagged_text_too_long", length=len(tagged), limit=limit)
    return Verdict(
        "body_length", Outcome.BLOCK, reason, {"length": len(text), "tagged_length": len(tagged), "limit": limit}
    )


def _spam_verdict(spam: SpamScore, rules: SpamRules) -> Verdict:
    if spam.outcome is Outcome.BLOCK:
        reason = Sentence(SENTENCES, "spam_blocks", score=spam.total, level=rules.block_at)
    elif spam.outcome is Outcome.WARN:
        reason = Sentence(SENTENCES, "spam_warns", score=spam.total, level=rules.warn_at)
    else:
        reason = Sentence(SENTENCES, "spam_passes", score=spam.total, level=rules.warn_at)
    return Verdict("spam_score", spam.outcome, reason,
                   {"score": spam.total, "signals": [signal.name for signal in spam.signals]})


def _decimal(value: float) -> str:
    """``value`` written the reader's way (3.5 or 3,5)."""
    return _formatted(value, get_locale())


# Formatting a number with Babel costs as much as scanning the text for spam, and scores and
# thresholds take few distinct values.
@functools.lru_cache(maxsize=1024)
def _formatted(value: float, locale: Locale | None) -> str:
    return format_decimal(value, locale=locale)
