"""The Telegram Bot API: the adapter (``client``), its wire format (``payloads``, ``markup``, ``webhooks``) and
what Telegram's error answers mean (``errors``). ``testdata/`` holds real-shaped payloads (see its README)."""

from channels.telegram.client import BASE_URL, TelegramBot

__all__ = ["BASE_URL", "TelegramBot"]
