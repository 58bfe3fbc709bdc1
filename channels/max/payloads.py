"""Outbound values → MAX's wire format: the recipient's query parameter and the ``NewMessageBody``.

``POST /messages?user_id=<id>`` (a person, in their dialog with the bot) or ``?chat_id=<id>`` (a
chat: the address ``chat:<id>``) with ``{"text", "format"?, "attachments"?, "notify"}``. Buttons
become one ``inline_keyboard`` attachment, one button per row: a ``callback`` button carries its
payload back in ``message_callback``, a ``link`` button opens its URL. Limits are MAX's
(``NewMessageBody``, ``CallbackButton``, ``LinkButton`` of its OpenAPI schema): text ≤ 4,000
characters, button text 1–128, callback payload ≤ 1,024, URL ≤ 2,048. Pure functions.
"""

from __future__ import annotations

import re
from typing import Any

from channels.base import InlineButton, Outbound

MAX_TEXT = 4000
MAX_BUTTON_TEXT = 128
MAX_CALLBACK_PAYLOAD = 1024
MAX_URL = 2048
MAX_BUTTONS = 30  # rows of one keyboard: MAX documents no number; more than this is surely a rendering bug
FORMATS = ("markdown", "html")
CHAT_PREFIX = "chat:"
_ID = re.compile(r"^-?\d{1,19}$")


class PayloadError(ValueError):
    """The message cannot be expressed in MAX's format; the message says why (for the log)."""


class AddressError(ValueError):
    """The address is neither a user id nor ``chat:<id>``."""


def recipient(address: str) -> dict[str, str]:
    """The query parameter that names the recipient: ``{"user_id": …}`` or, for ``chat:<id>``, ``{"chat_id": …}``."""
    value = (address or "").strip()
    name = "user_id"
    if value.startswith(CHAT_PREFIX):
        name, value = "chat_id", value[len(CHAT_PREFIX):]
    if not _ID.match(value):
        raise AddressError(f"{address!r} is not a MAX user id or chat:<chat id>")
    return {name: value}


def _button(button: InlineButton, index: int) -> dict[str, str]:
    where = f"button {index + 1}"
    if not button.text or len(button.text) > MAX_BUTTON_TEXT:
        raise PayloadError(f"{where}: its text must have 1 to {MAX_BUTTON_TEXT} characters")
    if (button.payload is None) == (button.url is None):
        raise PayloadError(f"{where}: a button has either a payload (callback) or a url (link)")
    if button.url is not None:
        if not button.url.startswith(("https://", "http://")) or len(button.url) > MAX_URL:
            raise PayloadError(f"{where}: the link must be an http(s) URL of at most {MAX_URL} characters")
        return {"type": "link", "text": button.text, "url": button.url}
    if not button.payload or len(button.payload) > MAX_CALLBACK_PAYLOAD:
        raise PayloadError(f"{where}: the payload must have 1 to {MAX_CALLBACK_PAYLOAD} characters")
    return {"type": "callback", "text": button.text, "payload": button.payload}


def keyboard(buttons: tuple[InlineButton, ...]) -> dict[str, Any]:
    """The ``inline_keyboard`` attachment of the buttons, one per row."""
    if len(buttons) > MAX_BUTTONS:
        raise PayloadError(f"at most {MAX_BUTTONS} buttons")
    rows = [[_button(button, index)] for index, button in enumerate(buttons)]
    return {"type": "inline_keyboard", "payload": {"buttons": rows}}


def message(outbound: Outbound) -> dict[str, Any]:
    """The ``NewMessageBody`` of one outbound message; raises :class:`PayloadError` when MAX cannot take it."""
    if outbound.template is not None:
        raise PayloadError("MAX has no provider templates: render the template to text and buttons")
    text = outbound.text or ""
    if not text.strip():
        raise PayloadError("the text is empty")
    if len(text) > MAX_TEXT:
        raise PayloadError(f"the text has {len(text)} characters; MAX takes at most {MAX_TEXT}")
    body: dict[str, Any] = {"text": text, "notify": True}
    if outbound.text_format is not None:
        if outbound.text_format not in FORMATS:
            raise PayloadError(f"format must be one of {', '.join(FORMATS)}, not {outbound.text_format!r}")
        body["format"] = outbound.text_format
    if outbound.buttons:
        body["attachments"] = [keyboard(outbound.buttons)]
    return body
