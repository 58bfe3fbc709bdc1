"""The sandbox's Telegram Bot API: ``/bot<token>/sendMessage``, ``getMe``, ``setWebhook``, ``deleteWebhook``,
``getWebhookInfo``, as Telegram answers them.

Every request goes through :func:`bot_api` (:mod:`.chain`): the added latency (``latency_ms``), the token, the
injected fault (``faults``, in Telegram's shape), the handler, the ledger entry. ``sendMessage`` checks
in this order: the bot's limit (30 accepted messages in any second), the chat (unknown, deactivated,
blocked, never started), the chat's limit (one message a second), the text, its markup and the
buttons; a refusal by a limit answers 429 with ``parameters.retry_after`` and is counted as a violation
in the ledger (``telegram_bot_limit_violations``, ``telegram_chat_limit_violations``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from channels.sandbox import chain
from channels.sandbox.chain import JSON
from channels.sandbox.errors import GraphError
from channels.sandbox.telegram_validation import TelegramError, bad_request, reply_markup, visible_text
from channels.sandbox.telegram_world import Bot, SentMessage, bot_id_of, retry_after

if TYPE_CHECKING:
    from channels.sandbox.app import Sandbox
    from channels.sandbox.settings import Settings

SECRET_TOKEN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
UPDATE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
                "my_chat_member", "chat_member", "inline_query", "chosen_inline_result", "poll", "poll_answer",
                "chat_join_request", "message_reaction", "message_reaction_count", "business_message")

Handler = Callable[["Sandbox", Bot, dict[str, Any], float], Awaitable[Any]]


def answer(result: Any) -> web.Response:
    return web.Response(body=json.dumps({"ok": True, "result": result}).encode(), content_type=JSON)


def _refusal(error: TelegramError) -> tuple[web.Response, str]:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return (web.Response(status=error.status, body=error.body(), content_type=JSON, headers=headers),
            f"telegram_{error.status}")


def _fault(error: GraphError, settings: Settings) -> TelegramError:
    """An injected fault of the shared ``faults`` shares, as Telegram would answer it."""
    if error.status >= 500:
        return TelegramError(500, "Internal Server Error")
    retry = settings.retry_after
    return TelegramError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)


def _bot(request: web.BaseRequest, sandbox: Sandbox) -> Bot:
    """The bot of the path's token: 404 for a token of no shape, 401 for one of no bot."""
    bot = sandbox.state.telegram.bot_of_token(request["token"])
    if bot is None:
        raise TelegramError(404 if bot_id_of(request["token"]) is None else 401,
                            "Not Found" if bot_id_of(request["token"]) is None else "Unauthorized")
    return bot


async def parameters(request: web.BaseRequest) -> dict[str, Any]:
    """The method's parameters: a JSON body, a form, or the query string (Telegram takes all three)."""
    params: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if not raw.strip():
        return params
    if request.content_type == "application/x-www-form-urlencoded":
        params.update(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
        return params
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("can't parse JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("parameters must be a JSON object")
    params.update(body)
    return params


def masked(path: str) -> str:
    """The request path for the ledger, without the secret part of the token."""
    head, _slash, method = path.removeprefix("/bot").partition("/")
    return f"/bot{bot_id_of(head) or '?'}:***/{method}"


TELEGRAM = chain.Dialect(refused=TelegramError, authenticate=_bot, fault=_fault, refusal=_refusal,
                         path=lambda request: masked(request.path))


def bot_api(sandbox: Sandbox, handler: Handler) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """Wrap a Bot API method with latency, the token, faults, error answers and the ledger."""

    async def method(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
        return answer(await handler(sandbox, bot, await parameters(request), request["arrived"]))

    return chain.chained(sandbox, TELEGRAM, method)


# --- the methods ------------------------------------------------------------------------------------

def _chat_id(params: dict[str, Any]) -> int:
    value = params.get("chat_id")
    if value in (None, ""):
        raise bad_request("chat_id is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request("chat not found") from None  # an @channel name the sandbox has no channel for


async def send_message(sandbox: Sandbox, bot: Bot, params: dict[str, Any], arrived: float) -> Any:
    world, ledger = sandbox.state.telegram, sandbox.state.ledger
    wait = world.bot_wait(bot, arrived)
    if wait > 0:
        ledger.event("telegram_bot_limit_violations")
        seconds = retry_after(wait)
        raise TelegramError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
    chat_id = _chat_id(params)
    user = world.users.get(chat_id)
    if user is None:
        raise bad_request("chat not found")
    dialog = world.dialog(bot, chat_id)
    if user.deactivated:
        raise TelegramError(403, "Forbidden: user is deactivated")
    if dialog.status == "kicked":
        raise TelegramError(403, "Forbidden: bot was blocked by the user")
    if dialog.status != "member":
        raise TelegramError(403, "Forbidden: bot can't initiate conversation with a user")
    wait = world.chat_wait(dialog, arrived)
    if wait > 0:
        ledger.event("telegram_chat_limit_violations")
        seconds = retry_after(wait)
        raise TelegramError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
    text = visible_text(params.get("text"), params.get("parse_mode"))
    markup = reply_markup(params.get("reply_markup"))
    body = {name: params[name] for name in ("chat_id", "text", "parse_mode") if name in params}
    if markup is not None:
        body["reply_markup"] = markup
    message = SentMessage(bot.id, chat_id, world.next_message_id(dialog), int(time.time()), body, text, time.time())
    world.sent(bot, dialog, message, arrived)
    ledger.event("telegram_accepted")
    result: dict[str, Any] = {"message_id": message.message_id, "from": bot.as_user(), "chat": user.as_chat(),
                              "date": message.date, "text": text}
    if markup is not None:
        result["reply_markup"] = markup
    return result


async def get_me(sandbox: Sandbox, bot: Bot, params: dict[str, Any], arrived: float) -> Any:
    return bot.me()


def _allowed_updates(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("can't parse allowed updates") from None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise bad_request("can't parse allowed updates")
    return [kind for kind in value if kind in UPDATE_KINDS]


async def set_webhook(sandbox: Sandbox, bot: Bot, params: dict[str, Any], arrived: float) -> Any:
    """Stores the URL (an empty one removes the webhook), the secret token and the kinds of update. Unlike
    Telegram, any http(s) URL is taken (Telegram wants a public HTTPS URL on port 443, 80, 88 or 8443)."""
    url = str(params.get("url") or "")
    if url and not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and (not isinstance(secret, str) or not 1 <= len(secret) <= 256
                               or set(secret) - SECRET_TOKEN_CHARACTERS):
        raise bad_request("secret token contains unallowed characters")
    bot.webhook_url, bot.secret_token = url or None, secret or None
    if "allowed_updates" in params:
        bot.allowed_updates = _allowed_updates(params.get("allowed_updates"))
    sandbox.changed()
    return True


async def delete_webhook(sandbox: Sandbox, bot: Bot, params: dict[str, Any], arrived: float) -> Any:
    bot.webhook_url, bot.secret_token = None, None
    sandbox.changed()
    return True


async def get_webhook_info(sandbox: Sandbox, bot: Bot, params: dict[str, Any], arrived: float) -> Any:
    info: dict[str, Any] = {"url": bot.webhook_url or "", "has_custom_certificate": False, "pending_update_count": 0}
    if bot.allowed_updates:
        info["allowed_updates"] = bot.allowed_updates
    return info


async def unknown_method(sandbox: Sandbox, bot: Bot, params: dict[str, Any], arrived: float) -> Any:
    raise TelegramError(404, "Not Found")


METHODS: dict[str, Handler] = {
    "sendMessage": send_message,
    "getMe": get_me,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
}


def add_routes(router: Any, sandbox: Sandbox) -> None:
    """The Bot API's paths (GET and POST, as Telegram takes both); any other method name answers 404."""
    for name, handler in METHODS.items():
        for verb in ("POST", "GET"):
            router.add(verb, f"/bot{{token}}/{name}", bot_api(sandbox, handler))
    for verb in ("POST", "GET"):
        router.add(verb, "/bot{token}/{method}", bot_api(sandbox, unknown_method))
