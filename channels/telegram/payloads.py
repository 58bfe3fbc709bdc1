"""The JSON bodies the Bot API wants: ``sendMessage`` for one outbound message, ``setWebhook``.

Pure functions over ``channels.base`` values; the client posts what they return. What Telegram would
refuse and we can see beforehand (no text, a text over 4,096 characters as the person sees it, a
button's ``callback_data`` over 64 bytes, a button that is neither a callback nor a link, a template)
raises :class:`PayloadError` with the code the result carries, before any request: a request would
only be a refusal, or worse.

Markup: ``text_format="markdown"`` is Vestnik's small markdown dialect, sent as MarkdownV2 with every
other character escaped (:mod:`.markup`); ``"html"`` is sent as it is with ``parse_mode`` HTML (the
renderer's tags: b, i, u, s, a, code, pre, blockquote); None is plain text, without ``parse_mode``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from channels.base import InlineButton, Outbound
from channels.telegram.markup import to_markdown_v2

TEXT_LIMIT = 4096  # characters of a message's text after its entities are parsed (UTF-16 code units)
CALLBACK_DATA_LIMIT = 64  # bytes of a callback button's data
PARSE_MODES = {"markdown": "MarkdownV2", "html": "HTML"}
# The updates Vestnik acts on: people's messages and /start, button presses, and the bot blocked or restarted.
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")


class PayloadError(ValueError):
    """What we were asked to send cannot be put in Telegram's form; ``code`` is the result's code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def chat_id(address: str) -> int | str:
    """The ``chat_id`` as Telegram takes it: the number for a user or group id, else the ``@channel`` name."""
    value = address.strip()
    try:
        return int(value)
    except ValueError:
        return value


_TAG = re.compile(r"<[^>]*>")
_LINK_TARGET = re.compile(r"\]\((?:\\.|[^)\\])*\)")
_V2_MARKUP = re.compile(r"\\(.)|[*_~`\[\]]")


def utf16_length(text: str) -> int:
    """Telegram measures text in UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def visible(text: str, mode: str | None) -> str:
    """The text as the person sees it, which is what Telegram's limit counts: without tags (HTML) or markers
    and escapes (MarkdownV2, ``text`` already converted)."""
    if mode == "HTML":
        return html.unescape(_TAG.sub("", text))
    if mode == "MarkdownV2":
        return _V2_MARKUP.sub(lambda found: found.group(1) or "", _LINK_TARGET.sub("]", text))
    return text


def _button(button: InlineButton, key: str) -> dict[str, str]:
    if button.payload is not None:
        if not button.payload or len(button.payload.encode()) > CALLBACK_DATA_LIMIT:
            raise PayloadError("button_data_too_long", f"the button {button.text!r} of {key} has callback data of "
                               f"{len(button.payload.encode())} bytes (1–{CALLBACK_DATA_LIMIT})")
        return {"text": button.text, "callback_data": button.payload}
    if button.url:
        return {"text": button.text, "url": button.url}
    raise PayloadError("button_invalid", f"the button {button.text!r} of {key} has neither a payload nor a url")


def reply_markup(buttons: tuple[InlineButton, ...], key: str = "") -> dict[str, Any]:
    """An ``InlineKeyboardMarkup`` with one button per row, in order."""
    return {"inline_keyboard": [[_button(button, key)] for button in buttons]}


def message(outbound: Outbound) -> dict[str, Any]:
    """The body of ``sendMessage`` for one outbound message."""
    if outbound.template is not None:
        raise PayloadError("no_templates", f"message {outbound.key} is a template; Telegram takes rendered text")
    text = outbound.text or ""
    if not text.strip():
        raise PayloadError("text_empty", f"message {outbound.key} has no text")
    body: dict[str, Any] = {"chat_id": chat_id(outbound.to)}
    mode = PARSE_MODES.get(outbound.text_format or "")
    if outbound.text_format is not None and mode is None:
        raise PayloadError("cant_parse_entities", f"message {outbound.key} has the unknown text format "
                           f"{outbound.text_format!r} (markdown or html)")
    body["text"] = to_markdown_v2(text) if mode == "MarkdownV2" else text
    length = utf16_length(visible(body["text"], mode))
    if length > TEXT_LIMIT:
        raise PayloadError("message_too_long", f"the text of {outbound.key} has {length} UTF-16 units, over "
                           f"{TEXT_LIMIT}")
    if mode is not None:
        body["parse_mode"] = mode
    if outbound.buttons:
        body["reply_markup"] = reply_markup(outbound.buttons, outbound.key)
    return body


def webhook(url: str, secret: str) -> dict[str, Any]:
    """The body of ``setWebhook``: where updates go, the secret Telegram echoes, the kinds of update we take."""
    return {"url": url, "secret_token": secret, "allowed_updates": list(ALLOWED_UPDATES)}
