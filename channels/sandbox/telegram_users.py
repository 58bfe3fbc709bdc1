"""Simulated Telegram users, driven over the control API (``/_sandbox/telegram/…``), and the updates they cause.

Each action changes the person's dialog with a bot and posts the matching ``Update`` (the next
``update_id`` of that bot) to the bot's webhook, with its secret in ``X-Telegram-Bot-Api-Secret-Token``,
as Telegram does: a start (``/start <payload>``; after a block, first ``my_chat_member`` kicked → member,
as pressing "Restart" does), a block (``my_chat_member`` member → kicked), a text (optionally a reply to
one of the bot's messages), a button pressed (``callback_query`` with the button's data and the bot's
message). An update the bot's ``allowed_updates`` leaves out is counted but not posted; a bot without a
webhook posts nothing. Every action rewrites the state file (people, dialogs, update counters).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from channels.sandbox.settings import SettingsError
from channels.sandbox.telegram_world import Bot, SentMessage, User

if TYPE_CHECKING:
    from channels.sandbox.app import Sandbox

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's kinds of update when a bot names none in allowed_updates (all but these).
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
USER_FIELDS = ("first_name", "last_name", "username", "language_code")


def _chat_id(body: dict[str, Any], name: str = "chat_id") -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise SettingsError(f"{name} must be a Telegram user id (an integer)")
    return int(value)


def _user(sandbox: Sandbox, body: dict[str, Any], create: bool) -> User:
    world = sandbox.state.telegram
    chat_id = _chat_id(body)
    user = world.users.get(chat_id)
    if user is None:
        if not create:
            raise SettingsError(f"no Telegram user {chat_id} in the sandbox (start the bot or add the user first)")
        user = world.users[chat_id] = User(chat_id)
    for name in USER_FIELDS:
        if isinstance(body.get(name), str):
            setattr(user, name, body[name])
    return user


def deliver(sandbox: Sandbox, bot: Bot, kind: str, value: dict[str, Any]) -> int:
    """Give the update the bot's next id and post it to the bot's webhook (if any, and if it takes the kind)."""
    update_id = sandbox.state.telegram.next_update_id(bot)
    sandbox.state.ledger.event("telegram_updates")
    wanted = kind in bot.allowed_updates if bot.allowed_updates else kind not in NOT_BY_DEFAULT
    if bot.webhook_url and wanted:
        headers = {SECRET_HEADER: bot.secret_token} if bot.secret_token else {}
        sandbox.callbacks.post(bot.webhook_url, "", {"update_id": update_id, kind: value}, headers=headers)
    return update_id


def _membership(bot: Bot, user: User, old: str, new: str) -> dict[str, Any]:
    member: dict[str, Any] = {"user": bot.as_user(), "status": new}
    if new == "kicked":
        member["until_date"] = 0
    return {"chat": user.as_chat(), "from": user.as_user(), "date": int(time.time()),
            "old_chat_member": {"user": bot.as_user(), "status": old}, "new_chat_member": member}


def _message(sandbox: Sandbox, bot: Bot, user: User, text: str, **extra: Any) -> dict[str, Any]:
    dialog = sandbox.state.telegram.dialog(bot, user.id)
    value: dict[str, Any] = {"message_id": sandbox.state.telegram.next_message_id(dialog), "from": user.as_user(),
                             "chat": user.as_chat(), "date": int(time.time()), "text": text, **extra}
    return value


def _bot_message(message: SentMessage, bot: Bot, user: User) -> dict[str, Any]:
    value: dict[str, Any] = {"message_id": message.message_id, "from": bot.as_user(), "chat": user.as_chat(),
                             "date": message.date, "text": message.text}
    if "reply_markup" in message.body:
        value["reply_markup"] = message.body["reply_markup"]
    return value


# --- the control handlers -----------------------------------------------------------------------------

async def add_users(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """People who exist on Telegram: ``{chat_id, first_name?, …}`` or ``{chat_ids: [...]}``; ``started: true``
    has them in the bot's dialogs already (no update is posted: a fixture, e.g. for a benchmark's audience)."""
    world = sandbox.state.telegram
    bot = world.bot_named(body.get("bot"))
    ids = body.get("chat_ids")
    if ids is None:
        ids = [body.get("chat_id")]
    if not isinstance(ids, list) or not ids:
        raise SettingsError("chat_ids must be a list of Telegram user ids")
    users = [_user(sandbox, {**body, "chat_id": chat_id}, create=True) for chat_id in ids]
    if body.get("started"):
        for user in users:
            world.dialog(bot, user.id).status = "member"
    sandbox.changed()
    return {"users": len(users)}


async def start(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """A person starts the bot (``/start``, with the deep link's ``payload`` if given)."""
    world = sandbox.state.telegram
    bot = world.bot_named(body.get("bot"))
    user = _user(sandbox, body, create=True)
    if user.deactivated:
        raise SettingsError(f"Telegram user {user.id} is deactivated")
    dialog = world.dialog(bot, user.id)
    updates = []
    if dialog.status == "kicked":  # "Restart" after a block: the membership comes back first
        updates.append(deliver(sandbox, bot, "my_chat_member", _membership(bot, user, "kicked", "member")))
    dialog.status = "member"
    payload = body.get("payload")
    text = f"/start {payload}" if payload not in (None, "") else "/start"
    message = _message(sandbox, bot, user, text, entities=[{"offset": 0, "length": 6, "type": "bot_command"}])
    updates.append(deliver(sandbox, bot, "message", message))
    sandbox.changed()
    return {"update_ids": updates, "message_id": message["message_id"]}


async def block(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """A person blocks the bot (``my_chat_member`` member → kicked); later sends get 403."""
    world = sandbox.state.telegram
    bot = world.bot_named(body.get("bot"))
    user = _user(sandbox, body, create=False)
    dialog = world.dialog(bot, user.id)
    if dialog.status != "member":
        raise SettingsError(f"Telegram user {user.id} has not started {bot.username}, so cannot block it")
    dialog.status = "kicked"
    update_id = deliver(sandbox, bot, "my_chat_member", _membership(bot, user, "member", "kicked"))
    sandbox.changed()
    return {"update_ids": [update_id]}


async def deactivate(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """A person deletes their account: every bot's send gets 403 "user is deactivated" (Telegram posts nothing)."""
    user = _user(sandbox, body, create=False)
    user.deactivated = True
    sandbox.changed()
    return {"deactivated": user.id}


async def write(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """A person writes ``text`` to the bot, as a reply to the bot's message ``reply_to_message_id`` if given."""
    world = sandbox.state.telegram
    bot = world.bot_named(body.get("bot"))
    user = _user(sandbox, body, create=False)
    if world.dialog(bot, user.id).status != "member":
        raise SettingsError(f"Telegram user {user.id} has not started {bot.username} (or blocked it): start it first")
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise SettingsError("text must be a non-empty string")
    extra: dict[str, Any] = {}
    if body.get("reply_to_message_id") is not None:
        replied = world.by_id.get((bot.id, user.id, _chat_id(body, "reply_to_message_id")))
        if replied is None:
            raise SettingsError("reply_to_message_id is no message of the bot in this chat")
        extra["reply_to_message"] = _bot_message(replied, bot, user)
    message = _message(sandbox, bot, user, text, **extra)
    update_id = deliver(sandbox, bot, "message", message)
    sandbox.changed()
    return {"update_ids": [update_id], "message_id": message["message_id"]}


async def press(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """A person presses a callback button of one of the bot's messages (``message_id``; else the last one with
    buttons): ``data`` (else the first button's) must be one of that message's buttons."""
    world = sandbox.state.telegram
    bot = world.bot_named(body.get("bot"))
    user = _user(sandbox, body, create=False)
    if world.dialog(bot, user.id).status != "member":
        raise SettingsError(f"Telegram user {user.id} has not started {bot.username} (or blocked it)")
    if body.get("message_id") is not None:
        message = world.by_id.get((bot.id, user.id, _chat_id(body, "message_id")))
    else:
        message = next((m for m in reversed(world.messages)
                        if (m.bot_id, m.chat_id) == (bot.id, user.id) and m.callback_data()), None)
    if message is None or not message.callback_data():
        raise SettingsError("no message of the bot with callback buttons in this chat")
    data = body.get("data", message.callback_data()[0])
    if data not in message.callback_data():
        raise SettingsError(f"the message has no button with callback_data {data!r}")
    callback_id = world.next_callback_id()
    query = {"id": callback_id, "from": user.as_user(), "message": _bot_message(message, bot, user),
             "chat_instance": str(-(bot.id * 1_000_003 + user.id)), "data": data}
    update_id = deliver(sandbox, bot, "callback_query", query)
    sandbox.changed()
    return {"update_ids": [update_id], "callback_query_id": callback_id}


async def list_bots(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    return [bot.public() for bot in sandbox.state.telegram.bots.values()]


async def add_bot(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """Register (or change) a bot: ``{token, username, first_name?}``."""
    token = body.get("token")
    bot = Bot(token=token) if isinstance(token, str) else None
    if bot is None or not bot.id:
        raise SettingsError("a bot needs a token of the form <bot id>:<secret>")
    world = sandbox.state.telegram
    current = world.bots.get(bot.id)
    bot = current if current is not None else bot
    bot.token = token
    for name in ("username", "first_name"):
        if isinstance(body.get(name), str) and body[name]:
            setattr(bot, name, body[name])
    world.bots[bot.id] = bot
    sandbox.changed()
    return bot.public()


async def messages(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """The bots' accepted messages (``?chat_id=`` one chat's), with the request bodies as received."""
    chat = request.query.get("chat_id")
    found = [m for m in sandbox.state.telegram.messages if chat is None or str(m.chat_id) == chat]
    return [message.to_json() for message in found]


ControlHandler = Callable[[web.BaseRequest, "Sandbox", dict[str, Any]], Awaitable[Any]]

ROUTES: tuple[tuple[str, str, ControlHandler], ...] = (
    ("GET", "/_sandbox/telegram/bots", list_bots),
    ("POST", "/_sandbox/telegram/bots", add_bot),
    ("POST", "/_sandbox/telegram/users", add_users),
    ("POST", "/_sandbox/telegram/start", start),
    ("POST", "/_sandbox/telegram/block", block),
    ("POST", "/_sandbox/telegram/deactivate", deactivate),
    ("POST", "/_sandbox/telegram/message", write),
    ("POST", "/_sandbox/telegram/press", press),
    ("GET", "/_sandbox/telegram/messages", messages),
)
