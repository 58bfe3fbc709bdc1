"""The sandbox's MAX world: bots (token, name, webhook subscription), simulated people, their dialogs with
each bot, the messages bots sent, and the rate windows MAX enforces.

A dialog is (bot, person): the person started the bot (``bot_started``) and may have stopped it
since (``bot_stopped``). A bot may write only into a started dialog (else 403 ``chat.denied``); a
person MAX does not know, or a chat id no dialog has, is 404 ``chat.not.found``. Rate limits are
sliding windows of one second over arrival times: at most ``max_requests_per_second`` requests of one
bot, at most ``max_dialog_messages_per_second`` messages into one dialog.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from channels.sandbox import defaults
from channels.sandbox.settings import SettingsError

WINDOW_S = 1.0
FIRST_CHAT_ID = 100000001  # dialog chat ids count up from here (they differ from user ids, as on MAX)


@dataclass
class Bot:
    token: str = defaults.MAX_TOKEN
    username: str = defaults.MAX_BOT_USERNAME
    name: str = defaults.MAX_BOT_NAME
    user_id: int = defaults.MAX_BOT_USER_ID
    subscription_url: str | None = None
    subscription_secret: str = ""
    update_types: list[str] = field(default_factory=list)  # empty: every type
    subscribed_at: int = 0  # Unix ms

    def user(self, now_ms: int) -> dict[str, Any]:
        """The bot as a ``User`` (a message's sender)."""
        return {"user_id": self.user_id, "first_name": self.name, "username": self.username, "is_bot": True,
                "last_activity_time": now_ms, "name": self.name}

    def public(self) -> dict[str, Any]:
        """The bot for the control API: its token only as whether one is set."""
        return {**asdict(self), "token": bool(self.token), "subscription_secret": bool(self.subscription_secret)}


@dataclass
class Person:
    user_id: int
    first_name: str = "Иван"
    last_name: str = ""
    username: str | None = None
    locale: str = "ru"

    def user(self, now_ms: int) -> dict[str, Any]:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return {"user_id": self.user_id, "first_name": self.first_name, "last_name": self.last_name,
                "username": self.username, "is_bot": False, "last_activity_time": now_ms, "name": name}


@dataclass
class Dialog:
    bot_user_id: int
    user_id: int
    chat_id: int
    started: bool = False  # the person pressed Start (and has not stopped the bot since)
    stopped: bool = False  # the person stopped the bot after starting it


@dataclass(slots=True)
class Sent:
    """One message a bot sent (the request's body as MAX got it, for tests to read back)."""

    mid: str
    seq: int
    bot_user_id: int
    user_id: int
    chat_id: int
    at_ms: int
    body: dict[str, Any]

    def callback_text(self, payload: str) -> str | None:
        """The text of this message's callback button with ``payload``; None when it has none."""
        for attachment in self.body.get("attachments") or ():
            if isinstance(attachment, dict) and attachment.get("type") == "inline_keyboard":
                for row in (attachment.get("payload") or {}).get("buttons") or ():
                    for button in row:
                        if button.get("type") == "callback" and button.get("payload") == payload:
                            return str(button.get("text", ""))
        return None

    def to_json(self) -> dict[str, Any]:
        return {"mid": self.mid, "seq": self.seq, "bot_user_id": self.bot_user_id, "user_id": self.user_id,
                "chat_id": self.chat_id, "at": self.at_ms, **self.body}


class MaxState:
    """Everything the sandbox knows about MAX since its last reset (or from its state file)."""

    def __init__(self) -> None:
        default = Bot()
        self.bots: dict[str, Bot] = {default.token: default}
        self.people: dict[int, Person] = {}
        self.dialogs: dict[tuple[int, int], Dialog] = {}  # (bot user id, person's user id)
        self.by_chat: dict[int, Dialog] = {}
        self.sent: list[Sent] = []
        self.next_chat_id = FIRST_CHAT_ID
        self.request_windows: dict[str, deque[float]] = {}  # bot token → arrival times (monotonic)
        self.dialog_windows: dict[tuple[int, int], deque[float]] = {}
        self._mid_prefix = os.urandom(4).hex()
        self._counter = itertools.count(1)

    # --- ids ----------------------------------------------------------------------------------------

    def new_mid(self) -> tuple[str, int]:
        """A fresh message id (``mid.`` and 32 hex digits, as MAX's) and its sequence number."""
        number = next(self._counter)
        return f"mid.{self._mid_prefix}{number:024x}", number

    def new_callback_id(self) -> str:
        return f"cb{self._mid_prefix}{next(self._counter):020d}"

    # --- bots and people ----------------------------------------------------------------------------

    def bot_named(self, username: str | None) -> Bot:
        """The bot with this username (the default bot for None); SettingsError when there is none."""
        wanted = username or defaults.MAX_BOT_USERNAME
        for bot in self.bots.values():
            if bot.username == wanted:
                return bot
        raise SettingsError(f"no MAX bot is called {wanted!r}")

    def register_bot(self, body: Any) -> Bot:
        """Add or change a bot: ``{username, token?, name?, user_id?}`` (a known username keeps what is not given)."""
        if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not body["username"]:
            raise SettingsError("a MAX bot needs its username")
        unknown = set(body) - {"username", "token", "name", "user_id"}
        if unknown:
            raise SettingsError(f"unknown bot fields: {', '.join(sorted(unknown))}")
        current = next((bot for bot in self.bots.values() if bot.username == body["username"]), None)
        values = asdict(current) if current is not None else {"user_id": defaults.MAX_BOT_USER_ID + len(self.bots)}
        values.update(body)
        if not isinstance(values.get("token"), str) or not values["token"]:
            raise SettingsError("a new MAX bot needs its token")
        if not isinstance(values["user_id"], int) or isinstance(values["user_id"], bool):
            raise SettingsError("user_id must be a number")
        if current is not None:
            del self.bots[current.token]
        bot = Bot(**values)
        self.bots[bot.token] = bot
        return bot

    def person(self, user_id: int, fields: dict[str, Any] | None = None) -> Person:
        """The person with this user id, created (or renamed) from ``fields`` (first_name, last_name, username,
        locale)."""
        fields = {k: v for k, v in (fields or {}).items() if k in ("first_name", "last_name", "username", "locale")}
        person = self.people.get(user_id)
        if person is None:
            person = self.people[user_id] = Person(user_id, **fields)
        else:
            for name, value in fields.items():
                setattr(person, name, value)
        return person

    def dialog(self, bot: Bot, user_id: int) -> Dialog:
        """The dialog of ``bot`` with the person (opened now, not started, if they never met)."""
        key = (bot.user_id, user_id)
        found = self.dialogs.get(key)
        if found is None:
            found = self.dialogs[key] = Dialog(bot.user_id, user_id, self.next_chat_id)
            self.by_chat[found.chat_id] = found
            self.next_chat_id += 1
        return found

    def recipient(self, bot: Bot, user_id: int | None, chat_id: int | None) -> Dialog | None:
        """The dialog a send names by ``user_id`` or ``chat_id``; None when MAX would not find the chat."""
        if chat_id is not None:
            found = self.by_chat.get(chat_id)
            return found if found is not None and found.bot_user_id == bot.user_id else None
        if user_id not in self.people:
            return None
        return self.dialog(bot, user_id)

    # --- rate windows -------------------------------------------------------------------------------

    @staticmethod
    def _admit(window: deque[float], now: float, limit: int) -> bool:
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def admit_request(self, bot: Bot, now: float, limit: int) -> bool:
        """Whether the bot may make one more request at ``now`` (monotonic seconds); counts it if so."""
        return self._admit(self.request_windows.setdefault(bot.token, deque()), now, limit)

    def admit_message(self, dialog: Dialog, now: float, limit: int) -> bool:
        """Whether one more message may go into ``dialog`` at ``now``; counts it if so."""
        return self._admit(self.dialog_windows.setdefault((dialog.bot_user_id, dialog.user_id), deque()), now, limit)

    # --- the state file -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Bots (with their subscriptions), people and dialogs: what outlives a restart with ``--state-file``."""
        return {"bots": [asdict(bot) for bot in self.bots.values()],
                "people": [asdict(person) for person in self.people.values()],
                "dialogs": [asdict(dialog) for dialog in self.dialogs.values()],
                "next_chat_id": self.next_chat_id}

    def load(self, data: dict[str, Any]) -> None:
        self.bots = {bot["token"]: Bot(**bot) for bot in data.get("bots", ())} or self.bots
        self.people = {person["user_id"]: Person(**person) for person in data.get("people", ())}
        self.dialogs = {(d["bot_user_id"], d["user_id"]): Dialog(**d) for d in data.get("dialogs", ())}
        self.by_chat = {dialog.chat_id: dialog for dialog in self.dialogs.values()}
        self.next_chat_id = max(int(data.get("next_chat_id", FIRST_CHAT_ID)),
                                max(self.by_chat, default=FIRST_CHAT_ID - 1) + 1)
