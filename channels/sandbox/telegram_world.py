"""The sandbox's Telegram: bots, the people who use them, their dialogs, the bots' messages and the limits.

A person (``User``) exists on Telegram or not; with each bot they have a dialog whose status says whether
the bot may write: ``none`` (never started it: 403 "bot can't initiate conversation with a user"),
``member`` (started it), ``kicked`` (blocked it: 403 "bot was blocked by the user"). A deactivated
account refuses every bot (403 "user is deactivated"); an id nobody has is 400 "chat not found".

The limits are Telegram's, counted over arrivals of accepted messages: at most ``BOT_PER_SECOND`` (30) in
any one second per bot, and at most one a second to one chat. A message id is per chat, shared by both
sides of the dialog; it never goes below a clock floor (tenths of a second since 2026), so that ids stay
unique across a restart whose state file was written before the last sends (sends do not rewrite it).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from channels.sandbox import defaults

BOT_PER_SECOND = 30
CHAT_INTERVAL_S = 1.0
EPOCH_2026 = 1_767_225_600  # 2026-01-01T00:00:00Z
FIRST_UPDATE_ID = 100_000_001
STATUSES = ("none", "member", "kicked")


def bot_id_of(token: str) -> int | None:
    """The bot's id, the number before the colon of its token (None for a token of another shape)."""
    head, colon, tail = token.partition(":")
    return int(head) if colon and head.isdigit() and tail else None


@dataclass
class Bot:
    token: str = defaults.TELEGRAM_TOKEN
    username: str = defaults.TELEGRAM_USERNAME
    first_name: str = defaults.TELEGRAM_FIRST_NAME
    webhook_url: str | None = None
    secret_token: str | None = None
    allowed_updates: list[str] = field(default_factory=list)  # empty: Telegram's default kinds
    next_update_id: int = FIRST_UPDATE_ID

    @property
    def id(self) -> int:
        return bot_id_of(self.token) or 0

    def as_user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def me(self) -> dict[str, Any]:
        """``getMe``'s result."""
        return {**self.as_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def public(self) -> dict[str, Any]:
        """The bot as the control API shows it: the token's secret part hidden, whether a secret is set."""
        data = asdict(self)
        data.update(id=self.id, token=f"{self.id}:***", secret_token=bool(self.secret_token))
        return data


@dataclass
class User:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language_code: str = "ru"
    deactivated: bool = False

    def as_user(self) -> dict[str, Any]:
        value: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name or f"User {self.id}"}
        if self.last_name:
            value["last_name"] = self.last_name
        if self.username:
            value["username"] = self.username
        if self.language_code:
            value["language_code"] = self.language_code
        return value

    def as_chat(self) -> dict[str, Any]:
        value: dict[str, Any] = {"id": self.id, "first_name": self.first_name or f"User {self.id}"}
        if self.last_name:
            value["last_name"] = self.last_name
        if self.username:
            value["username"] = self.username
        value["type"] = "private"
        return value


@dataclass
class Dialog:
    status: str = "none"
    last_message_id: int = 0
    last_sent: float | None = None  # monotonic arrival of the bot's last accepted message (not kept)


@dataclass
class SentMessage:
    """A message a bot sent: the request as the sandbox received it, and its id in the chat."""

    bot_id: int
    chat_id: int
    message_id: int
    date: int
    body: dict[str, Any]
    text: str  # as the person sees it (entities parsed)
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"bot_id": self.bot_id, "chat_id": self.chat_id, "message_id": self.message_id, "date": self.date,
                "text": self.text, "body": self.body, "at": self.at}

    def callback_data(self) -> list[str]:
        markup = self.body.get("reply_markup")
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        return [button["callback_data"] for row in rows for button in row
                if isinstance(button, dict) and "callback_data" in button]


class TelegramWorld:
    """Everything the sandbox's Telegram knows since its last reset."""

    def __init__(self) -> None:
        default = Bot()
        self.bots: dict[int, Bot] = {default.id: default}
        self.users: dict[int, User] = {}
        self.dialogs: dict[tuple[int, int], Dialog] = {}
        self.messages: list[SentMessage] = []
        self.by_id: dict[tuple[int, int, int], SentMessage] = {}  # (bot, chat, message id)
        self.windows: dict[int, deque[float]] = {}  # bot id → arrivals of its last BOT_PER_SECOND messages
        self._callbacks = itertools.count(int.from_bytes(os.urandom(4), "big") << 20)

    # --- who is who ---

    def bot_of_token(self, token: str) -> Bot | None:
        bot = self.bots.get(bot_id_of(token) or -1)
        return bot if bot is not None and bot.token == token else None

    def bot_named(self, name: Any) -> Bot:
        """A bot by its username or id (None: the default bot); ValueError when there is none."""
        if name in (None, ""):
            return self.bots.get(bot_id_of(defaults.TELEGRAM_TOKEN)) or next(iter(self.bots.values()))
        for bot in self.bots.values():
            if str(name).lstrip("@") in (bot.username, str(bot.id)):
                return bot
        raise ValueError(f"no Telegram bot {name!r} in the sandbox")

    def dialog(self, bot: Bot, chat_id: int) -> Dialog:
        return self.dialogs.setdefault((bot.id, chat_id), Dialog())

    def next_message_id(self, dialog: Dialog) -> int:
        floor = int((time.time() - EPOCH_2026) * 10)
        dialog.last_message_id = max(dialog.last_message_id + 1, floor)
        return dialog.last_message_id

    def next_update_id(self, bot: Bot) -> int:
        bot.next_update_id += 1
        return bot.next_update_id - 1

    def next_callback_id(self) -> str:
        return str(next(self._callbacks))

    # --- the limits ---

    def bot_wait(self, bot: Bot, now: float) -> float:
        """Seconds until the bot may send again (0: now): its last 30 messages span a second or more."""
        window = self.windows.get(bot.id)
        if window is None or len(window) < BOT_PER_SECOND:
            return 0.0
        return max(0.0, window[0] + 1.0 - now)

    @staticmethod
    def chat_wait(dialog: Dialog, now: float) -> float:
        if dialog.last_sent is None:
            return 0.0
        return max(0.0, dialog.last_sent + CHAT_INTERVAL_S - now)

    def sent(self, bot: Bot, dialog: Dialog, message: SentMessage, arrived: float) -> None:
        """Record an accepted message against both limits."""
        self.windows.setdefault(bot.id, deque(maxlen=BOT_PER_SECOND)).append(arrived)
        dialog.last_sent = arrived
        self.messages.append(message)
        self.by_id[(message.bot_id, message.chat_id, message.message_id)] = message

    # --- the state file ---

    def to_json(self) -> dict[str, Any]:
        """Bots (with their webhooks and update counters), people and dialogs: what a restart must not forget."""
        return {
            "bots": [asdict(bot) for bot in self.bots.values()],
            "users": [asdict(user) for user in self.users.values()],
            "dialogs": [{"bot_id": bot_id, "chat_id": chat_id, "status": dialog.status,
                         "last_message_id": dialog.last_message_id}
                        for (bot_id, chat_id), dialog in self.dialogs.items()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        if not data:
            return
        bots = [Bot(**row) for row in data.get("bots", ())]
        self.bots = {bot.id: bot for bot in bots} or self.bots
        self.users = {int(row["id"]): User(**row) for row in data.get("users", ())}
        self.dialogs = {(int(row["bot_id"]), int(row["chat_id"])): Dialog(row["status"], int(row["last_message_id"]))
                        for row in data.get("dialogs", ())}


def retry_after(wait: float) -> int:
    """Telegram's ``retry_after``: whole seconds, at least one."""
    return max(1, math.ceil(wait))
