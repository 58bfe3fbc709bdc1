"""Telegram webhook bodies (one ``Update`` each) → neutral events (``channels.base``), purely.

An update carries ``update_id`` and one of its kinds; the ones Vestnik acts on:

- ``message`` whose text is the ``/start`` command (``/start`` or ``/start@<bot>``, then the deep link's
  start parameter, if any) → :class:`BotStarted`; any other message → :class:`InboundMessage`
  (``provider_id`` ``"<chat_id>:<message_id>"``: message ids are per chat; a reply's ``context_id`` is the
  replied-to message the same way);
- ``callback_query`` (a button pressed) → :class:`InboundMessage` of kind ``button`` with the button's data;
- ``my_chat_member`` (the bot's own membership): ``kicked`` (a person blocked the bot) or ``left`` (it was
  removed from a group) → :class:`BotStopped`; back to ``member``/``administrator`` from there → a
  :class:`BotStarted` without payload (the person unblocked and restarted the bot).

Every event's id is fixed by the update, so a repeated update (Telegram retries until we answer 2xx) gives
the same event: ``BotStarted``/``BotStopped`` carry ``event_id = str(update_id)``; messages their chat and
message id; a press ``"cb:<callback_query.id>"``. Other kinds (edited messages, channel posts, polls…) give
no events; a body that is not an update raises :class:`WebhookError`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from channels.base import BotStarted, BotStopped, Event, InboundMessage, WebhookError
from channels.fields import decoded, object_of, unix_seconds

# /start, /start@some_bot, then an optional payload (Telegram's deep-link parameter: up to 64 of A–Z a–z 0–9 _ -,
# but the payload is taken as it comes: an unknown token is the platform's to answer politely).
_START = re.compile(r"^/start(?:@\w+)?(?:\s+(?P<payload>\S.*?))?\s*$", re.S)
STOPPED_STATUSES = frozenset({"kicked", "left"})
PRESENT_STATUSES = frozenset({"member", "administrator", "creator"})
# Message kinds other than text, as the Message object names their field (the first found names the kind).
_MEDIA = ("photo", "video", "voice", "audio", "document", "sticker", "animation", "video_note", "location",
          "venue", "contact", "poll")


def _id(container: dict[str, Any], name: str, where: str) -> str:
    value = container.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise WebhookError(f"{where}.{name} is missing or not an id")
    return str(value)


def _person(value: Any) -> tuple[str, str | None, str | None]:
    """The name ("first last"), user id and language code of a ``User`` (or a private ``Chat``)."""
    if not isinstance(value, dict):
        return "", None, None
    name = " ".join(str(value[part]) for part in ("first_name", "last_name") if value.get(part))
    user_id = value.get("id")
    user = str(user_id) if isinstance(user_id, int | str) and not isinstance(user_id, bool) else None
    language = value.get("language_code")
    return name, user, language if isinstance(language, str) and language else None


def _chat(message: dict[str, Any], where: str) -> str:
    return _id(object_of(message.get("chat"), f"{where}.chat"), "id", f"{where}.chat")


def _message(update_id: str, message: Any, where: str) -> Event:
    message = object_of(message, where)
    chat = _chat(message, where)
    message_id = _id(message, "message_id", where)
    at = unix_seconds(message, "date", where)
    name, user, language = _person(message.get("from") or message.get("chat"))
    text = message.get("text")
    started = _START.match(text) if isinstance(text, str) else None
    if started is not None:
        return BotStarted(address=chat, at=at, event_id=update_id, payload=started.group("payload"),
                          profile_name=name, user_id=user, language=language)
    reply = message.get("reply_to_message")
    context = None
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        context = f"{chat}:{_id(reply, 'message_id', where + '.reply_to_message')}"
    if isinstance(text, str):
        kind, body = "text", text
    else:
        kind = next((name for name in _MEDIA if name in message), "other")
        caption = message.get("caption")
        body = caption if isinstance(caption, str) else ""  # a photo's caption is what they wrote
    return InboundMessage(provider_id=f"{chat}:{message_id}", sender=chat, at=at, text=body, context_id=context,
                          profile_name=name, user_id=user, kind=kind)


def _callback(update_id: str, query: Any, where: str, received: datetime) -> Event | None:
    query = object_of(query, where)
    callback_id = _id(query, "id", where)
    data = query.get("data")
    if not isinstance(data, str):
        return None  # a game's button: nothing of ours
    name, user, _language = _person(query.get("from"))
    message = query.get("message")
    context = None
    if isinstance(message, dict):
        chat = _chat(message, f"{where}.message")
        context = f"{chat}:{_id(message, 'message_id', where + '.message')}"
    elif user is not None:
        chat = user  # a message sent inline through the bot: the person's private chat is their user id
    else:
        raise WebhookError(f"{where} has neither message nor from")
    # A press has no date of its own: the time it reached us.
    return InboundMessage(provider_id=f"cb:{callback_id}", sender=chat, at=received, text="", button_payload=data,
                          context_id=context, profile_name=name, user_id=user, kind="button")


def _membership(update_id: str, change: Any, where: str) -> Event | None:
    change = object_of(change, where)
    chat = _chat(change, where)
    at = unix_seconds(change, "date", where)
    old = object_of(change.get("old_chat_member"), f"{where}.old_chat_member").get("status")
    new = object_of(change.get("new_chat_member"), f"{where}.new_chat_member").get("status")
    if new in STOPPED_STATUSES and old not in STOPPED_STATUSES:
        return BotStopped(address=chat, at=at, event_id=update_id)
    if new in PRESENT_STATUSES and old in STOPPED_STATUSES:
        name, user, language = _person(change.get("from"))
        return BotStarted(address=chat, at=at, event_id=update_id, profile_name=name, user_id=user,
                          language=language)
    return None


def parse(body: bytes, received: datetime | None = None) -> list[Event]:
    """The events of one update (none for a kind we do not act on); raises :class:`WebhookError` if malformed.
    ``received`` dates a button press, which carries no date (now when not given)."""
    document = decoded(body)
    update = object_of(document, "the body")
    value = update.get("update_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookError("the body has no integer update_id: it is not a Telegram update")
    update_id = str(value)
    event: Event | None = None
    if "message" in update:
        event = _message(update_id, update["message"], "message")
    elif "callback_query" in update:
        event = _callback(update_id, update["callback_query"], "callback_query", received or datetime.now(UTC))
    elif "my_chat_member" in update:
        event = _membership(update_id, update["my_chat_member"], "my_chat_member")
    return [event] if event is not None else []
