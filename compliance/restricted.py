"""Platforms restricted in Russia: find their mentions and links, tag mentions with the disclaimer.

The platforms, their names in every spelling, their link domains and the disclaimers are data
(``compliance/data/restricted_platforms.json``), not code. A mention is a whole word: Python's
``\\b`` would accept "Meta" inside "<meta>" or "FB" inside "FB2", so matches are bounded by explicit
look-arounds on letters, digits and markup characters instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import gettext as _

from compliance.hosts import listed_domain

REGISTRY_PATH = Path(__file__).with_name("data") / "restricted_platforms.json"
NOTE_MARK = "*"
FORMATTING_MARKERS = "*_~"
# Not part of a word on either side: no letter or digit, and no markup or path character that would
# make the name part of something else (<meta>, insta_shop, fb.me, @instagram handles are links).
# Underscores are allowed next to a name: they are WhatsApp's italics (_Facebook_).
_BEFORE = r"(?<![^\W_])(?<![<@/.\-])"
_AFTER = r"(?![^\W_]|[>\-]|\.\w)"
# A link starts at a word boundary (not inside a word or an e-mail address); without that, a long
# word would be rescanned from every position.
_URL = re.compile(r"(?<![\w@.-])(?:https?://)?(?:[\w-]+\.)+[a-z]{2,}(?:/[^\s]*)?", re.IGNORECASE)
# "Instagram-аккаунт", "Фейсбук-группа": a long name may start a hyphenated compound. Short ones may
# not, or "Фейс-контроль" would count.
_COMPOUND_MIN = 5
_COMPOUND = r"(?=-[^\W\d_])"


@dataclass(frozen=True)
class Mention:
    platform: str
    match: str
    start: int
    end: int


@dataclass(frozen=True)
class BlockedLink:
    platform: str
    url: str
    start: int
    end: int


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    owner: str
    domains: tuple[str, ...]
    mention_policy: str = "tag"  # "tag" or "ignore"
    link_policy: str = "block"  # "block", "warn" or "allow"


class Registry:
    """The restricted-platform registry compiled for matching."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.owners: dict[str, dict[str, Any]] = data["owners"]
        self.platforms = {
            entry["id"]: Platform(
                entry["id"], entry["name"], entry["owner"], tuple(entry.get("domains", [])),
                entry.get("policy", {}).get("mentions", "tag"), entry.get("policy", {}).get("links", "block"),
            )
            for entry in data["platforms"]
        }
        tagged = [entry for entry in data["platforms"] if self.platforms[entry["id"]].mention_policy == "tag"]
        # An empty alternation would match everywhere; a pattern that can never match stands in for it.
        # The look-ahead on first letters lets the scan skip most positions in one cheap test
        # instead of trying every name there (five times faster on typical texts).
        self._pattern = re.compile(
            f"(?=[{re.escape(self._first_letters(tagged))}])(?:{'|'.join(self._alternatives(tagged))})"
            if tagged
            else r"(?!x)x"
        )
        self._disclaimer_pattern = re.compile("|".join(
            re.escape(text) for owner in self.owners.values() for text in owner["disclaimer"].values()
        ))
        self._domains = {
            domain.lower(): entry["id"] for entry in data["platforms"] for domain in entry.get("domains", [])
            if self.platforms[entry["id"]].link_policy != "allow"
        }

    @staticmethod
    def _names(entry: dict[str, Any]) -> tuple[list[str], list[str]]:
        """A platform's names: those matched in any letter case, and those matched only as written."""
        loose = [*entry.get("aliases", [])]
        strict = [*entry.get("exact_aliases", [])]
        for stem in entry.get("stems", []):
            (strict if stem.get("exact") else loose).extend(stem["stem"] + ending for ending in stem["endings"])
        return loose, strict

    @classmethod
    def _first_letters(cls, platforms: list[dict[str, Any]]) -> str:
        letters = set()
        for entry in platforms:
            loose, strict = cls._names(entry)
            for name in filter(None, loose + strict):
                # Both cases even for exact names: cheap, and keeps this a pure pre-filter.
                letters.update({name[0], name[0].lower(), name[0].upper(), name[0].casefold()})
        return "".join(sorted(letters))

    @classmethod
    def _alternatives(cls, platforms: list[dict[str, Any]]):
        for entry in platforms:
            group = f"p_{entry['id']}"
            loose, strict = cls._names(entry)
            # Longest first, so "Meta Platforms" wins over "Meta".
            parts = [(name, f"(?i:{re.escape(name)})") for name in sorted(loose, key=len, reverse=True)]
            parts += [(name, re.escape(name)) for name in sorted(strict, key=len, reverse=True)]
            names = "|".join(part for _name, part in parts)
            long_names = "|".join(part for name, part in parts if len(name) >= _COMPOUND_MIN)
            body = f"(?:{names}){_AFTER}"
            if long_names:
                body = f"(?:{long_names}){_COMPOUND}|{body}"
            yield f"{_BEFORE}(?P<{group}>{body})"

    @classmethod
    def load(cls, path: Path = REGISTRY_PATH) -> Registry:
        """Read the registry from its JSON file."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: Any) -> Registry:
        """A registry an admin edited; ``ValueError`` with a sentence naming what is wrong."""
        problem = _registry_problem(data)
        if problem:
            raise ValueError(problem)
        try:
            registry = cls(data)
        except re.error:
            raise ValueError(_("A name in the registry makes an invalid pattern.")) from None
        return registry

    def as_dict(self) -> dict[str, Any]:
        """The registry data, as stored."""
        return self.data

    def links(self, text: str) -> list[BlockedLink]:
        """Every link in ``text`` that points at a restricted platform (any subdomain, any path)."""
        found = []
        for match in _URL.finditer(text):
            domain = listed_domain(match.group(), self._domains)
            if domain:
                # Punctuation after a link ends the sentence, not the address.
                url = match.group().rstrip(".,;:!?)»\"")
                found.append(BlockedLink(self._domains[domain], url, match.start(), match.start() + len(url)))
        return found

    def mentions(self, text: str, links: list[BlockedLink] | None = None) -> list[Mention]:
        """Every mention of a restricted platform by name, outside links (``links`` of ``text`` if already found)."""
        # Names inside links, and inside a disclaimer already appended, are not mentions.
        skip = [(link.start, link.end) for link in (self.links(text) if links is None else links)] + [
            (match.start(), match.end()) for match in self._disclaimer_pattern.finditer(text)
        ]
        found = []
        for match in self._pattern.finditer(text):
            if any(start <= match.start() < end for start, end in skip):
                continue
            group = match.lastgroup or ""
            found.append(Mention(group.removeprefix("p_"), match.group(), match.start(), match.end()))
        return found

    def tag(self, text: str, language: str = "ru", mentions: list[Mention] | None = None) -> str:
        """``text`` with every mention marked and each required disclaimer appended once.

        Idempotent: a mention already followed by the mark and a disclaimer already present are
        left as they are. Placeholders such as ``{{1}}`` and WhatsApp formatting are not touched.
        ``mentions`` of ``text``, if already found, spare finding them again.
        """
        if mentions is None:
            mentions = self.mentions(text)
        if not mentions:
            return text
        pieces, cursor = [], 0
        for mention in mentions:
            end = mention.end
            # Keep *bold*, _italic_ and ~strike~ intact: the mark goes after the closing marker.
            opener = text[mention.start - 1:mention.start]
            if opener and opener in FORMATTING_MARKERS and text[end:end + 1] == opener:
                end += 1
            pieces.append(text[cursor:end])
            if text[end:end + 1] != NOTE_MARK:
                pieces.append(NOTE_MARK)
            cursor = end
        pieces.append(text[cursor:])
        tagged = "".join(pieces)
        # One footnote per owner, in ``language`` (Russian when it has none). One in any language
        # already there counts: re-tagging in English adds no second one.
        for owner in dict.fromkeys(self.platforms[mention.platform].owner for mention in mentions):
            disclaimer = self.owners[owner]["disclaimer"]
            if not any(text in tagged for text in disclaimer.values()):
                tagged = f"{tagged.rstrip()}\n\n{disclaimer.get(language) or disclaimer['ru']}"
        return tagged


def _registry_problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a registry, in a sentence; None when it is fine."""
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("owners"), dict)
        or not isinstance(data.get("platforms"), list)
    ):
        return _("The registry needs an “owners” object and a “platforms” list.")
    for key, owner in data["owners"].items():
        disclaimer = owner.get("disclaimer") if isinstance(owner, dict) else None
        if (
            not isinstance(disclaimer, dict)
            or not isinstance(disclaimer.get("ru"), str)
            or not disclaimer["ru"].strip()
        ):
            return _("Owner “%(owner)s” needs a Russian disclaimer (disclaimer.ru).", owner=key)
        if not all(isinstance(text, str) and text.strip() for text in disclaimer.values()):
            return _("Every disclaimer of owner “%(owner)s” must be a non-empty text.", owner=key)
    seen = set()
    for index, entry in enumerate(data["platforms"], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].isidentifier():
            return _("Platform %(number)d needs an “id” made of letters, digits and underscores.", number=index)
        name = entry["id"]
        if name in seen:
            return _("Platform “%(platform)s” is listed twice.", platform=name)
        seen.add(name)
        if entry.get("owner") not in data["owners"]:
            return _("Platform “%(platform)s” names an owner that is not in “owners”.", platform=name)
        lists = [entry.get(key, []) for key in ("aliases", "exact_aliases", "domains")]
        stems = entry.get("stems", [])
        if not all(
            isinstance(items, list) and all(isinstance(item, str) and item.strip() for item in items) for items in lists
        ):
            return _(
                "Platform “%(platform)s”: aliases, exact_aliases and domains must be lists of non-empty texts.",
                platform=name,
            )
        if not isinstance(stems, list) or not all(
            isinstance(stem, dict) and isinstance(stem.get("stem"), str) and stem["stem"].strip()
            and isinstance(stem.get("endings"), list) and all(isinstance(end, str) for end in stem["endings"])
            for stem in stems
        ):
            return _("Platform “%(platform)s”: each stem needs a “stem” text and a list of “endings”.", platform=name)
        if not (lists[0] or lists[1] or stems):
            return _("Platform “%(platform)s” needs at least one name to look for.", platform=name)
        policy = entry.get("policy", {})
        if not isinstance(policy, dict) or policy.get("mentions", "tag") not in ("tag", "ignore") \
                or policy.get("links", "block") not in ("block", "warn", "allow"):
            return _(
                "Platform “%(platform)s”: policy.mentions must be tag or ignore, policy.links block, warn or allow.",
                platform=name,
            )
        if not isinstance(entry.get("name"), str) or not entry["name"].strip():
            return _("Platform “%(platform)s” needs a display “name”.", platform=name)
    return None
