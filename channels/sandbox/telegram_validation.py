"""What the sandbox's Bot API refuses in a ``sendMessage``, in Telegram's words, and the text a person sees.

Telegram answers errors as ``{"ok": false, "error_code", "description", "parameters"?}``; the
descriptions here are Telegram's own. The markup checks are those a sender meets in practice:
MarkdownV2's reserved characters unescaped outside an entity and entities left open, HTML tags Telegram
does not support or does not close, and a text over 4,096 characters once its entities are parsed.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
PARSE_MODES = ("MarkdownV2", "HTML", "Markdown")
# MarkdownV2: reserved characters that open or close an entity, and those that must always be escaped.
ENTITY_MARKERS = "*_~|`[]()"
ALWAYS_ESCAPED = "#+-={}.!>"
HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
                       "pre", "blockquote", "tg-emoji"})


class TelegramError(Exception):
    """An error answer of the Bot API, raised anywhere in a handler and answered by the wrapper."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def body(self) -> bytes:
        value: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            value["parameters"] = {"retry_after": self.retry_after}
        return json.dumps(value).encode()


def bad_request(what: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {what}")


def _entities_error(what: str) -> TelegramError:
    return bad_request(f"can't parse entities: {what}")


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode())  # Telegram names the UTF-8 byte offset


def markdown_v2_text(text: str) -> str:
    """The text a person sees of a MarkdownV2 message; TelegramError where Telegram would refuse it."""
    plain: list[str] = []
    open_markers: list[tuple[str, int]] = []
    index, size = 0, len(text)
    line_start = True
    while index < size:
        char = text[index]
        if char == "\\":
            if index + 1 < size and 1 <= ord(text[index + 1]) <= 126:
                plain.append(text[index + 1])
                index += 2
                line_start = False
                continue
            raise _entities_error("Character '\\' is reserved and must be escaped with the preceding '\\'")
        if char == "`":
            fence = "```" if text.startswith("```", index) else "`"
            end = _closing(text, index + len(fence), fence)
            if end < 0:
                raise _entities_error(f"Can't find end of the entity starting at byte offset {_offset(text, index)}")
            plain.append(_unescaped(text[index + len(fence):end]))
            index = end + len(fence)
            continue
        if char == "]":
            if not open_markers or open_markers[-1][0] != "[":
                raise _entities_error("Character ']' is reserved and must be escaped with the preceding '\\'")
            open_markers.pop()
            index += 1
            if text.startswith("(", index):
                end = _closing(text, index + 1, ")")
                if end < 0:
                    raise _entities_error(f"Can't find end of a URL at byte offset {_offset(text, index)}")
                index = end + 1
            continue
        if char in "*_~|[":
            marker = "__" if text.startswith("__", index) else "||" if text.startswith("||", index) else char
            if marker == "|":
                raise _entities_error("Character '|' is reserved and must be escaped with the preceding '\\'")
            if char != "[" and open_markers and open_markers[-1][0] == marker:
                open_markers.pop()
            else:
                open_markers.append((marker, index))
            index += len(marker)
            continue
        if char == ">" and line_start:  # a blockquote
            index += 1
            continue
        if char in ALWAYS_ESCAPED or char in "()":
            raise _entities_error(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        plain.append(char)
        line_start = char == "\n"
        index += 1
    if open_markers:
        start = open_markers[0][1]
        raise _entities_error(f"Can't find end of the entity starting at byte offset {_offset(text, start)}")
    return "".join(plain)


def _closing(text: str, start: int, closer: str) -> int:
    """Where the unescaped ``closer`` after ``start`` is (-1: nowhere); inside it only backslash escapes count."""
    index = start
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(closer, index):
            return index
        index += 1
    return -1


def _unescaped(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            index += 1
        out.append(text[index])
        index += 1
    return "".join(out)


class _Html(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source, self.plain, self.open = text, [], []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in HTML_TAGS:
            offset = _offset(self.source, self._index())
            raise _entities_error(f'Unsupported start tag "{tag}" at byte offset {offset}')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise _entities_error(f'Unmatched end tag at byte offset {_offset(self.source, self._index())}, '
                                  f'expected "</{self.open[-1] if self.open else tag}>", found "</{tag}>"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.plain.append(data)

    def _index(self) -> int:
        line, column = self.getpos()
        lines = self.source.split("\n")
        return sum(len(part) + 1 for part in lines[:line - 1]) + column


def html_text(text: str) -> str:
    """The text a person sees of an HTML message; TelegramError where Telegram would refuse it."""
    parser = _Html(text)
    parser.feed(text)
    parser.close()
    if parser.open:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
    return "".join(parser.plain)


def visible_text(text: Any, parse_mode: Any) -> str:
    """The message's text once its entities are parsed; refuses what Telegram refuses."""
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message text is empty")
    if parse_mode in (None, ""):
        plain = text
    elif parse_mode == "MarkdownV2":
        plain = markdown_v2_text(text)
    elif parse_mode == "HTML":
        plain = html_text(text)
    elif parse_mode == "Markdown":
        plain = text.replace("*", "").replace("_", "").replace("`", "")  # the legacy mode: no escaping to check
    else:
        raise bad_request("unsupported parse_mode")
    if not plain.strip():
        raise bad_request("message text is empty")
    if len(plain.encode("utf-16-le")) // 2 > TEXT_LIMIT:
        raise bad_request("message is too long")
    return plain


def reply_markup(value: Any) -> dict[str, Any] | None:
    """The ``reply_markup`` (an object, or its JSON in a string) checked as an ``InlineKeyboardMarkup``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = value.get("inline_keyboard")
    if rows is None:
        return value  # a reply keyboard or its removal: not what this sandbox checks
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
    for row in rows:
        for button in row:
            _button(button)
    return value


def _button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
        raise bad_request("can't parse inline keyboard button: Field \"text\" must be of type String")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
            raise bad_request("BUTTON_DATA_INVALID")
    elif "url" in button:
        url = button["url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https", "tg") or (parts.scheme != "tg" and not parts.netloc):
            raise bad_request("BUTTON_URL_INVALID")
    else:
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
