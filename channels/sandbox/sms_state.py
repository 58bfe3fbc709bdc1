"""The sandbox's SMSC.ru accounts and the SMS they took: who is asking (login and password), where their status
callbacks go, and each account's request window.

A fresh state has the default account (``defaults.SMS_LOGIN``); the control API adds others or points an
account's callbacks at a URL (``POST /_sandbox/sms/accounts``). Everything is forgotten on reset.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from channels.sandbox import defaults

# SMSC refuses the same request again within a minute (its code 9).
DUPLICATE_WINDOW_S = 60.0


@dataclass
class Account:
    login: str
    password: str
    callback_url: str | None = None  # SMSC's "URL for statuses" of the account; it carries our ?secret=


@dataclass(slots=True)
class Sms:
    """One SMS the sandbox took: SMSC's id (the caller's ``id``), the account, the phone, the text and its parts."""

    id: str
    login: str
    sender: str
    phone: str  # E.164
    text: str
    parts: int
    at: float
    reported: list[int] = field(default_factory=list)  # the statuses posted so far


class SmsState:
    """Accounts, taken messages and request windows of one sandbox run."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {defaults.SMS_LOGIN: Account(defaults.SMS_LOGIN, defaults.SMS_PASSWORD)}
        self.messages: dict[tuple[str, str], Sms] = {}  # (login, id) → the last message of that id
        self.recent: dict[tuple[str, str, str, str], float] = {}  # (login, id, phone, text) → when, for code 9
        self.windows: dict[str, deque[float]] = {}  # login → arrivals in the last second

    def account(self, login: str, password: str) -> Account | None:
        """The account of this login if the password is its own."""
        account = self.accounts.get(login)
        return account if account is not None and account.password == password else None

    def admit(self, login: str, arrived: float, per_second: int) -> bool:
        """Whether a request arriving at ``arrived`` (monotonic) fits the account's window of one second."""
        window = self.windows.setdefault(login, deque())
        while window and arrived - window[0] >= 1.0:
            window.popleft()
        if len(window) >= per_second:
            return False
        window.append(arrived)
        return True

    def repeated(self, login: str, key: str, phone: str, text: str) -> bool:
        """Whether the same request came within the last minute (and note this one)."""
        now = time.monotonic()
        marker = (login, key, phone, text)
        then = self.recent.get(marker)
        self.recent[marker] = now if then is None or now - then >= DUPLICATE_WINDOW_S else then
        if len(self.recent) > 100_000:  # a long benchmark: drop the markers past the window
            self.recent = {k: v for k, v in self.recent.items() if now - v < DUPLICATE_WINDOW_S}
        return then is not None and now - then < DUPLICATE_WINDOW_S
