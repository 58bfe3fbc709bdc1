"""Vestnik's markdown → Telegram's MarkdownV2, with every other character escaped as Telegram demands.

A rendered message with ``text_format="markdown"`` speaks a small dialect that every bot channel can
carry: ``**bold**``, ``*italic*`` or ``_italic_``, ``~~strike~~``, ```code```, ``[text](url)``, and a
backslash before a reserved character that is meant literally (before any other, it is a backslash).
MarkdownV2 refuses the whole message when any of
``_*[]()~`>#+-=|{}.!\\`` stands unescaped outside an entity (HTTP 400 "can't parse entities"), and a
marketer's text is full of dots, dashes and exclamation marks; so everything that is not one of the
dialect's entities is escaped here, and a marker without its pair is a literal character.
"""

from __future__ import annotations

import re

# Escaped outside entities (Telegram's "Formatting options", MarkdownV2).
RESERVED = "_*[]()~`>#+-=|{}.!\\"
_ESCAPE = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_CODE_ESCAPE = re.compile(r"([`\\])")  # inside pre and code entities
_URL_ESCAPE = re.compile(r"([)\\])")  # inside the (...) of a link

# One entity of the dialect, or an escaped character. Italic markers must hug their text and not stand inside a
# word, so that snake_case and 2*3*4 stay literal.
_TOKEN = re.compile(
    r"\\(?P<escaped>[_*\[\]()~`>#+\-=|{}.!\\])"
    r"|`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|\*\*(?P<bold>(?!\s).+?(?<!\s))\*\*"
    r"|~~(?P<strike>(?!\s).+?(?<!\s))~~"
    r"|(?<![\w*])\*(?P<star>(?![\s*]).+?(?<![\s*]))\*(?![\w*])"
    r"|(?<![\w_])_(?P<under>(?![\s_]).+?(?<![\s_]))_(?![\w_])",
    re.S,
)


def escape(text: str) -> str:
    """``text`` as literal MarkdownV2: every reserved character with a backslash before it."""
    return _ESCAPE.sub(r"\\\1", text)


def to_markdown_v2(text: str) -> str:
    """The dialect's ``text`` as MarkdownV2 (the entities kept, everything else literal)."""
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        out.append(escape(text[position:match.start()]))
        out.append(_entity(match))
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


def _entity(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups["escaped"] is not None:
        return escape(groups["escaped"])
    if groups["code"] is not None:
        return "`" + _CODE_ESCAPE.sub(r"\\\1", groups["code"]) + "`"
    if groups["label"] is not None:
        return "[" + to_markdown_v2(groups["label"]) + "](" + _URL_ESCAPE.sub(r"\\\1", groups["url"]) + ")"
    if groups["bold"] is not None:
        return "*" + to_markdown_v2(groups["bold"]) + "*"
    if groups["strike"] is not None:
        return "~" + to_markdown_v2(groups["strike"]) + "~"
    return "_" + to_markdown_v2(groups["star"] if groups["star"] is not None else groups["under"]) + "_"
