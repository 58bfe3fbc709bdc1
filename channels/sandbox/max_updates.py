"""MAX's JSON as the sandbox answers and posts it: a sent ``Message``, and the ``Update`` objects of what
simulated people do (``bot_started``, ``bot_stopped``, ``message_created``, ``message_callback``), in
the shapes of MAX's OpenAPI schema (timestamps in Unix milliseconds)."""

from __future__ import annotations

import time
from typing import Any

from channels.sandbox.max_state import Bot, Dialog, Person, Sent


def now_ms() -> int:
    return int(time.time() * 1000)


def sent_message(bot: Bot, sent: Sent) -> dict[str, Any]:
    """A message the bot sent, as ``POST /messages`` answers it (``SendMessageResult.message``)."""
    body: dict[str, Any] = {"mid": sent.mid, "seq": sent.seq, "text": sent.body.get("text")}
    if sent.body.get("attachments"):
        body["attachments"] = sent.body["attachments"]
    return {"sender": bot.user(sent.at_ms),
            "recipient": {"chat_id": sent.chat_id, "chat_type": "dialog", "user_id": sent.user_id},
            "timestamp": sent.at_ms, "body": body}


def bot_started(dialog: Dialog, person: Person, payload: str | None) -> dict[str, Any]:
    at = now_ms()
    update: dict[str, Any] = {"update_type": "bot_started", "timestamp": at, "chat_id": dialog.chat_id,
                              "user": person.user(at), "user_locale": person.locale}
    if payload is not None:
        update["payload"] = payload
    return update


def bot_stopped(dialog: Dialog, person: Person) -> dict[str, Any]:
    at = now_ms()
    return {"update_type": "bot_stopped", "timestamp": at, "chat_id": dialog.chat_id, "user": person.user(at),
            "user_locale": person.locale}


def message_created(bot: Bot, dialog: Dialog, person: Person, mid: str, seq: int, text: str,
                    reply_to: Sent | None) -> dict[str, Any]:
    at = now_ms()
    message: dict[str, Any] = {
        "sender": person.user(at),
        "recipient": {"chat_id": dialog.chat_id, "chat_type": "dialog", "user_id": bot.user_id},
        "timestamp": at,
        "body": {"mid": mid, "seq": seq, "text": text},
    }
    if reply_to is not None:
        message["link"] = {"type": "reply", "sender": bot.user(reply_to.at_ms), "chat_id": dialog.chat_id,
                           "message": {"mid": reply_to.mid, "seq": reply_to.seq, "text": reply_to.body.get("text")}}
    return {"update_type": "message_created", "timestamp": at, "message": message, "user_locale": person.locale}


def message_callback(bot: Bot, person: Person, sent: Sent, callback_id: str, payload: str) -> dict[str, Any]:
    at = now_ms()
    return {"update_type": "message_callback", "timestamp": at,
            "callback": {"timestamp": at, "callback_id": callback_id, "user": person.user(at), "payload": payload},
            "message": sent_message(bot, sent), "user_locale": person.locale}
