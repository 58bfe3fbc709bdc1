"""MAX webhook bodies (``Update`` objects) → neutral events (``channels.base``), purely.

MAX posts one ``Update`` per webhook request; ``GET /updates`` (long polling) answers
``{"updates": [...], "marker"}``, and both are read here (a bare list of updates too). By
``update_type``:

- ``bot_started`` (``chat_id``, ``user``, ``payload``: the deep link's start parameter,
  ``user_locale``) → :class:`BotStarted`;
- ``bot_stopped`` (``chat_id``, ``user``) → :class:`BotStopped`;
- ``message_created`` (``message``: ``sender``, ``recipient``, ``body {mid, text}``, ``link`` to the
  message it replies to) → :class:`InboundMessage`;
- ``message_callback`` (``callback {callback_id, payload, user}``, ``message``: ours, with the
  keyboard) → :class:`InboundMessage` of kind ``button``.

Every other type (``dialog_muted``, ``message_edited``, ``bot_added``, …) gives no event: MAX adds
types freely. A body that is not JSON, or an update of these four types without the fields it
needs, raises :class:`WebhookError` saying what. Timestamps are Unix milliseconds.

The address is what ``send`` takes: a person's user id in their dialog with the bot, ``chat:<id>``
for a group chat. MAX gives an update no id of its own, so :class:`BotStarted` and
:class:`BotStopped` get ``<type>:<user_id>:<timestamp>`` (MAX may post the same update twice:
equal ids are the same update).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from channels.base import BotStarted, BotStopped, Event, InboundMessage, WebhookError
from channels.fields import decoded, object_of
from channels.max.payloads import CHAT_PREFIX


def _id(container: dict[str, Any], name: str, where: str) -> str:
    value = container.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).lstrip("-") == "" \
            or not str(value).lstrip("-").isdigit():
        raise WebhookError(f"{where}.{name} is missing or not an id")
    return str(value)


def _optional_text(container: dict[str, Any], name: str) -> str | None:
    value = container.get(name)
    return value if isinstance(value, str) and value != "" else None


def _moment(container: dict[str, Any], where: str) -> datetime:
    value = container.get("timestamp")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookError(f"{where}.timestamp should be Unix milliseconds, not {value!r}")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookError(f"{where}.timestamp is out of range: {value!r}") from None


def _name(user: dict[str, Any]) -> str:
    """A person's name as MAX shows it: first and last name, else the (deprecated) ``name``."""
    parts = [user.get("first_name"), user.get("last_name")]
    full = " ".join(str(part) for part in parts if isinstance(part, str) and part)
    return full or str(user.get("name") or "")


def _user(update: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    user = object_of(update.get("user"), f"{where}.user")
    return user, _id(user, "user_id", f"{where}.user")


def _started(update: dict[str, Any], where: str) -> BotStarted:
    user, user_id = _user(update, where)
    _id(update, "chat_id", where)  # required by MAX; the dialog is addressed by the user id
    at = _moment(update, where)
    return BotStarted(address=user_id, at=at, event_id=f"bot_started:{user_id}:{update['timestamp']}",
                      payload=_optional_text(update, "payload"), profile_name=_name(user), user_id=user_id,
                      language=_optional_text(update, "user_locale"))


def _stopped(update: dict[str, Any], where: str) -> BotStopped:
    _user_record, user_id = _user(update, where)
    _id(update, "chat_id", where)
    return BotStopped(address=user_id, at=_moment(update, where),
                      event_id=f"bot_stopped:{user_id}:{update['timestamp']}")


def _address(message: dict[str, Any], user_id: str, where: str) -> str:
    """Where a reply to this message goes: the person in a dialog, ``chat:<id>`` in a group chat."""
    recipient = message.get("recipient") if isinstance(message.get("recipient"), dict) else {}
    if recipient.get("chat_type") in (None, "dialog"):
        return user_id
    return CHAT_PREFIX + _id(recipient, "chat_id", f"{where}.recipient")


def _body(message: dict[str, Any], where: str) -> dict[str, Any]:
    body = message.get("body")
    return object_of(body, f"{where}.body") if body is not None else {}


def _kind(body: dict[str, Any]) -> str:
    """``text``, or the type of the message's first attachment (image, video, file, sticker, contact, …)."""
    attachments = body.get("attachments") if isinstance(body.get("attachments"), list) else []
    for attachment in attachments:
        if isinstance(attachment, dict) and attachment.get("type") not in (None, "inline_keyboard"):
            return str(attachment["type"])
    return "text"


def _created(update: dict[str, Any], where: str) -> list[Event]:
    place = f"{where}.message"
    message = object_of(update.get("message"), place)
    sender = object_of(message.get("sender"), f"{place}.sender")
    if sender.get("is_bot") is True:
        return []  # a bot's post (ours, or another bot's in a chat): no one wrote to us
    user_id = _id(sender, "user_id", f"{place}.sender")
    body = _body(message, place)
    link = message.get("link") if isinstance(message.get("link"), dict) else {}
    linked = link.get("message") if isinstance(link.get("message"), dict) else {}
    context = _optional_text(linked, "mid") if link.get("type") == "reply" else None
    mid = _optional_text(body, "mid")
    if mid is None:
        raise WebhookError(f"{place}.body.mid is missing")
    return [InboundMessage(provider_id=mid, sender=_address(message, user_id, place), at=_moment(update, where),
                           text=str(body.get("text") or ""), context_id=context, profile_name=_name(sender),
                           user_id=user_id, kind=_kind(body))]


def _button_text(message: dict[str, Any], payload: str | None) -> str:
    """The text of the callback button with ``payload`` on our message's keyboard, "" when it is not there."""
    body = message.get("body") if isinstance(message.get("body"), dict) else {}
    for attachment in body.get("attachments") or ():
        if not isinstance(attachment, dict) or attachment.get("type") != "inline_keyboard":
            continue
        keyboard = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        for row in keyboard.get("buttons") or ():
            for button in row if isinstance(row, list) else ():
                if isinstance(button, dict) and button.get("type") == "callback" and button.get("payload") == payload:
                    return str(button.get("text") or "")
    return ""


def _callback(update: dict[str, Any], where: str) -> list[Event]:
    callback = object_of(update.get("callback"), f"{where}.callback")
    user = object_of(callback.get("user"), f"{where}.callback.user")
    user_id = _id(user, "user_id", f"{where}.callback.user")
    callback_id = _optional_text(callback, "callback_id")
    if callback_id is None:
        raise WebhookError(f"{where}.callback.callback_id is missing")
    # The message with the keyboard may be null (deleted since); then the press is the person's, in their dialog.
    message = update.get("message") if isinstance(update.get("message"), dict) else {}
    payload = _optional_text(callback, "payload")
    mid = _optional_text(_body(message, f"{where}.message"), "mid") if message else None
    at = _moment(callback, f"{where}.callback") if "timestamp" in callback else _moment(update, where)
    return [InboundMessage(provider_id=callback_id, sender=_address(message, user_id, f"{where}.message"), at=at,
                           text=_button_text(message, payload), button_payload=payload, context_id=mid,
                           profile_name=_name(user), user_id=user_id, kind="button")]


_TYPES = {
    "bot_started": lambda update, where: [_started(update, where)],
    "bot_stopped": lambda update, where: [_stopped(update, where)],
    "message_created": _created,
    "message_callback": _callback,
}
UPDATE_TYPES = tuple(_TYPES)  # what a subscription asks for


def _update(update: Any, where: str) -> list[Event]:
    update = object_of(update, where)
    kind = update.get("update_type")
    if not isinstance(kind, str) or not kind:
        raise WebhookError(f"{where}.update_type is missing")
    handler = _TYPES.get(kind)
    if handler is None:
        return []  # dialog_muted, message_edited, bot_added, …: nothing we act on
    _moment(update, where)
    return handler(update, where)


def parse(body: bytes) -> list[Event]:
    """The events of one webhook body (an update, ``{"updates": [...]}`` or a list), in order; raises
    :class:`WebhookError` if malformed."""
    document = decoded(body)
    if isinstance(document, dict) and "update_type" not in document and "updates" in document:
        document = document["updates"]
        if not isinstance(document, list):
            raise WebhookError("the body's updates should be a list")
    if isinstance(document, list):
        events: list[Event] = []
        for index, update in enumerate(document):
            events.extend(_update(update, f"updates[{index}]"))
        return events
    return _update(document, "the update")
