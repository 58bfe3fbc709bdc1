"""The sandbox's MAX Bot API (``POST /messages``, ``GET /me``, ``/subscriptions``) and its MAX control API
(``/_sandbox/max/…``: bots, simulated people who start, stop, write and press buttons).

Every Bot API request goes through :func:`bot_api` (:mod:`.chain`), in the order MAX meets it:
added latency, the token (``Authorization: <token>``, or the deprecated ``?access_token=``), an
injected fault, the bot's request window (429), the handler — and the ledger. A send then checks its body (400
``proto.payload``), the recipient (404 ``chat.not.found``, 403 ``chat.denied``) and the dialog's
window (429). Errors are MAX's ``{"code", "message"}``. See docs/sandbox.md, "MAX".
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from channels.sandbox import chain, max_updates
from channels.sandbox.chain import JSON, respond
from channels.sandbox.errors import GraphError
from channels.sandbox.max_state import Bot, Dialog, MaxState, Sent
from channels.sandbox.settings import Settings, SettingsError

if TYPE_CHECKING:
    from channels.sandbox.app import Sandbox
    from channels.sandbox.routes import Router

SECRET_HEADER = "X-Max-Bot-Api-Secret"
SECRET = re.compile(r"^[a-zA-Z0-9_-]{5,256}$")
MAX_TEXT = 4000
BUTTON_TYPES = ("callback", "link", "request_contact", "request_geo_location", "open_app", "message", "clipboard")
ATTACHMENT_TYPES = ("image", "video", "audio", "file", "sticker", "contact", "inline_keyboard", "location", "share")


class MaxError(Exception):
    """A MAX error answer: raised anywhere in a handler, answered as ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return web.Response(body=json.dumps({"code": self.code, "message": self.message}).encode(),
                            status=self.status, content_type=JSON, headers=headers)


def _payload(message: str) -> MaxError:
    return MaxError(400, "proto.payload", message)


def _fault(error: GraphError, settings: Settings) -> MaxError:
    """An injected fault (``faults`` of the settings) in MAX's words: throttling is 429, the rest 500."""
    if error.status in (429, 400):
        return MaxError(429, "too.many.requests", "Too many requests.", retry_after=error.retry_after)
    return MaxError(500, "internal.error", "Internal server error.")


def _bot(request: web.BaseRequest, sandbox: Sandbox) -> Bot:
    """The bot of the token (``Authorization: <token>``, or the deprecated ``?access_token=``)."""
    token = request.headers.get("Authorization") or request.query.get("access_token") or ""
    bot = sandbox.state.max.bots.get(token)
    if bot is None:
        raise MaxError(401, "verify.token", "Invalid access_token")
    return bot


MAX = chain.Dialect(refused=MaxError, authenticate=_bot, fault=_fault,
                    refusal=lambda error: (error.response(), error.code))

Handler = Callable[[web.BaseRequest, "Sandbox", Bot], Awaitable[web.Response]]


def bot_api(sandbox: Sandbox, handler: Handler) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """Wrap a Bot API handler with latency, the token, faults, the bot's request window and the ledger."""

    async def windowed(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
        state = sandbox.state
        settings = state.settings
        if settings.max_enforce_limits and not state.max.admit_request(bot, request["arrived"],
                                                                       settings.max_requests_per_second):
            state.ledger.event("max_requests_throttled")
            raise MaxError(429, "too.many.requests",
                           f"Too many requests. Limit is: {settings.max_requests_per_second} calls per second.")
        return await handler(request, sandbox, bot)

    return chain.chained(sandbox, MAX, windowed)


# --- the Bot API ------------------------------------------------------------------------------------

def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise _payload("Invalid JSON in the request body") from None


def _query_id(request: web.BaseRequest, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"-?\d{1,19}", value):
        raise _payload(f"{name}: must be a number")
    return int(value)


def _check_button(button: Any, where: str) -> None:
    if not isinstance(button, dict) or button.get("type") not in BUTTON_TYPES:
        raise _payload(f"{where}.type: must be one of {', '.join(BUTTON_TYPES)}")
    text = button.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= 128:
        raise _payload(f"{where}.text: size must be between 1 and 128")
    if button["type"] == "callback":
        payload = button.get("payload")
        if not isinstance(payload, str) or len(payload) > 1024:
            raise _payload(f"{where}.payload: required, at most 1024 characters")
    if button["type"] == "link":
        url = button.get("url")
        if not isinstance(url, str) or not url or len(url) > 2048:
            raise _payload(f"{where}.url: required, at most 2048 characters")


def _check_body(body: Any) -> dict[str, Any]:
    """A ``NewMessageBody`` MAX would take, or 400 ``proto.payload`` naming what is wrong."""
    if not isinstance(body, dict):
        raise _payload("The request body must be a JSON object")
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise _payload("text: must be a string")
    if text is not None and len(text) > MAX_TEXT:
        raise _payload(f"text: size must be between 0 and {MAX_TEXT}")
    if body.get("format") not in (None, "markdown", "html"):
        raise _payload("format: must be markdown or html")
    if not isinstance(body.get("notify", True), bool):
        raise _payload("notify: must be true or false")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        raise _payload("attachments: must be a list")
    for index, attachment in enumerate(attachments):
        where = f"attachments[{index}]"
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            raise _payload(f"{where}.type: must be one of {', '.join(ATTACHMENT_TYPES)}")
        if attachment["type"] == "inline_keyboard":
            rows = (attachment.get("payload") or {}).get("buttons") if isinstance(attachment.get("payload"),
                                                                                 dict) else None
            if not isinstance(rows, list) or not rows or not all(isinstance(row, list) and row for row in rows):
                raise _payload(f"{where}.payload.buttons: must be a non-empty list of non-empty rows")
            for r, row in enumerate(rows):
                for b, button in enumerate(row):
                    _check_button(button, f"{where}.payload.buttons[{r}][{b}]")
    if not (text or "").strip() and not attachments:
        raise _payload("The message is empty: it needs a text or an attachment")
    return body


async def send_message(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
    state = sandbox.state
    world, settings = state.max, state.settings
    user_id, chat_id = _query_id(request, "user_id"), _query_id(request, "chat_id")
    if (user_id is None) == (chat_id is None):
        raise _payload("Exactly one of user_id and chat_id is required")
    body = _check_body(_json_body(await request.read()))
    dialog = world.recipient(bot, user_id, chat_id)
    if dialog is None:
        raise MaxError(404, "chat.not.found", f"Chat {chat_id if chat_id is not None else user_id} not found")
    if not dialog.started:
        state.ledger.event("max_denied")
        raise MaxError(403, "chat.denied", f"Key: error.dialog.suspended, args: [{dialog.user_id},].")
    if settings.max_enforce_limits and not world.admit_message(dialog, request["arrived"],
                                                                  settings.max_dialog_messages_per_second):
        state.ledger.event("max_dialog_throttled")
        raise MaxError(429, "too.many.requests", f"Too many messages to one dialog. Limit is: "
                                                 f"{settings.max_dialog_messages_per_second} messages per second.")
    mid, seq = world.new_mid()
    sent = Sent(mid, seq, bot.user_id, dialog.user_id, dialog.chat_id, max_updates.now_ms(), body)
    world.sent.append(sent)
    state.ledger.event("max_accepted")
    return respond({"message": max_updates.sent_message(bot, sent)})


async def read_me(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
    return respond({**bot.user(max_updates.now_ms()), "description": "Vestnik's sandbox MAX bot",
                    "commands": [{"name": "start", "description": "Start"}]})


async def subscribe(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
    body = _json_body(await request.read())
    if not isinstance(body, dict) or not isinstance(body.get("url"), str) \
            or not body["url"].startswith(("http://", "https://")):
        raise _payload("url: must be an http(s) URL")
    secret = body.get("secret")
    if secret is not None and (not isinstance(secret, str) or not SECRET.match(secret)):
        raise _payload("secret does not match ^[a-zA-Z0-9_-]{5,256}$")
    types = body.get("update_types") or []
    if not isinstance(types, list) or not all(isinstance(kind, str) for kind in types):
        raise _payload("update_types: must be a list of strings")
    bot.subscription_url, bot.subscription_secret = body["url"], secret or ""
    bot.update_types, bot.subscribed_at = list(types), max_updates.now_ms()
    sandbox.changed()
    return respond({"success": True})


async def list_subscriptions(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
    subscriptions = [] if bot.subscription_url is None else [
        {"url": bot.subscription_url, "time": bot.subscribed_at, "update_types": bot.update_types or None}]
    return respond({"subscriptions": subscriptions})


async def unsubscribe(request: web.BaseRequest, sandbox: Sandbox, bot: Bot) -> web.Response:
    if bot.subscription_url is not None and request.query.get("url") in (None, bot.subscription_url):
        bot.subscription_url, bot.subscription_secret, bot.update_types = None, "", []
        sandbox.changed()
    return respond({"success": True})


def post_update(sandbox: Sandbox, bot: Bot, update: dict[str, Any]) -> bool:
    """Post ``update`` to the bot's subscription (if it asked for that type); whether it was queued."""
    if bot.subscription_url is None or (bot.update_types and update["update_type"] not in bot.update_types):
        sandbox.state.ledger.event("max_updates_unsubscribed")
        return False
    sandbox.callbacks.post(bot.subscription_url, bot.subscription_secret, update, secret_header=SECRET_HEADER)
    sandbox.state.ledger.event("max_updates_posted")
    return True


# --- the control API --------------------------------------------------------------------------------

def control(sandbox: Sandbox, handler: Callable[[web.BaseRequest, Sandbox], Awaitable[Any]]
            ) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """Wrap a control handler (:func:`.chain.control`); it finds the body, a JSON object, in ``request["body"]``."""

    async def with_request_body(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
        request["body"] = body
        return await handler(request, sandbox)

    return chain.control(sandbox, chain.with_body(with_request_body))


def _user_id(value: Any) -> int:
    if isinstance(value, bool) or not re.fullmatch(r"\d{1,18}", str(value)):
        raise SettingsError(f"a user id is a positive number, not {value!r}")
    return int(value)


def _world(sandbox: Sandbox, request: web.BaseRequest) -> tuple[MaxState, Bot, dict[str, Any]]:
    world = sandbox.state.max
    body = request["body"]
    return world, world.bot_named(body.get("bot") or request.query.get("bot")), body


async def list_bots(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    return [bot.public() for bot in sandbox.state.max.bots.values()]


async def register_bot(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    bot = sandbox.state.max.register_bot(request["body"])
    sandbox.changed()
    return bot.public()


def _person_json(world: MaxState, user_id: int) -> dict[str, Any]:
    person = world.people[user_id]
    dialogs = [{"bot_user_id": d.bot_user_id, "chat_id": d.chat_id, "started": d.started, "stopped": d.stopped}
               for d in world.dialogs.values() if d.user_id == user_id]
    return {**person.user(0), "locale": person.locale, "dialogs": dialogs}


async def register_people(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """People MAX knows: ``{user_id, first_name?, last_name?, username?, locale?, started?}`` or ``{"users": [...]}``;
    ``started: true`` opens their dialog with the bot as if they had pressed Start, without posting an update (for
    benchmarks with thousands of recipients)."""
    world, bot, body = _world(sandbox, request)
    entries = body.get("users") if "users" in body else [body]
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SettingsError("users must be a list of objects")
    ids = []
    for entry in entries:
        user_id = _user_id(entry.get("user_id"))
        world.person(user_id, entry)
        dialog = world.dialog(bot, user_id)
        if entry.get("started") is True:
            dialog.started, dialog.stopped = True, False
        ids.append(user_id)
    sandbox.changed()
    return {"count": len(ids), "users": [_person_json(world, user_id) for user_id in ids[:100]]}


async def list_people(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    world = sandbox.state.max
    return [_person_json(world, user_id) for user_id in world.people]


def _known(world: MaxState, bot: Bot, request: web.BaseRequest, must_be_started: bool) -> tuple[Any, Dialog]:
    user_id = _user_id(request["user"])
    if user_id not in world.people:
        raise SettingsError(f"MAX knows no user {user_id}: start the bot as them first")
    dialog = world.dialog(bot, user_id)
    if must_be_started and not dialog.started:
        raise SettingsError(f"user {user_id} has not started the bot (or stopped it): they cannot write to it")
    return world.people[user_id], dialog


async def start(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """A person presses Start, through a deep link (``payload``) or not; MAX knows them from now on."""
    world, bot, body = _world(sandbox, request)
    payload = body.get("payload")
    if payload is not None and (not isinstance(payload, str) or len(payload) > 512):
        raise SettingsError("payload must be a string of at most 512 characters (MAX drops longer ones)")
    person = world.person(_user_id(request["user"]), body)
    dialog = world.dialog(bot, person.user_id)
    dialog.started, dialog.stopped = True, False
    sandbox.changed()
    update = max_updates.bot_started(dialog, person, payload)
    return {"chat_id": dialog.chat_id, "posted": post_update(sandbox, bot, update), "update": update}


async def stop(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """A person stops the bot in its settings: the bot may not write to them any more (403 ``chat.denied``)."""
    world, bot, _body = _world(sandbox, request)
    person, dialog = _known(world, bot, request, must_be_started=True)
    dialog.started, dialog.stopped = False, True
    sandbox.changed()
    update = max_updates.bot_stopped(dialog, person)
    return {"chat_id": dialog.chat_id, "posted": post_update(sandbox, bot, update), "update": update}


def _bot_message(world: MaxState, bot: Bot, dialog: Dialog, mid: Any) -> Sent:
    found = next((s for s in world.sent if s.mid == mid and s.bot_user_id == bot.user_id
                  and s.user_id == dialog.user_id), None)
    if found is None:
        raise SettingsError(f"the bot sent this user no message {mid!r}")
    return found


async def write(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """A person writes to the bot: ``{text, reply_to?: the mid of the bot's message they answer}``."""
    world, bot, body = _world(sandbox, request)
    person, dialog = _known(world, bot, request, must_be_started=True)
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise SettingsError("text is required")
    reply_to = _bot_message(world, bot, dialog, body["reply_to"]) if body.get("reply_to") else None
    mid, seq = world.new_mid()
    update = max_updates.message_created(bot, dialog, person, mid, seq, text, reply_to)
    return {"mid": mid, "posted": post_update(sandbox, bot, update), "update": update}


async def press(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """A person presses a callback button: ``{payload, mid?}`` (without ``mid``: the bot's latest message to them
    with that button)."""
    world, bot, body = _world(sandbox, request)
    person, dialog = _known(world, bot, request, must_be_started=True)
    payload = body.get("payload")
    if not isinstance(payload, str) or not payload:
        raise SettingsError("payload is required")
    if body.get("mid"):
        sent = _bot_message(world, bot, dialog, body["mid"])
        if sent.callback_text(payload) is None:
            raise SettingsError(f"message {sent.mid} has no callback button with payload {payload!r}")
    else:
        sent = next((s for s in reversed(world.sent) if s.bot_user_id == bot.user_id and s.user_id == dialog.user_id
                     and s.callback_text(payload) is not None), None)
        if sent is None:
            raise SettingsError(f"the bot sent this user no message with a callback button {payload!r}")
    callback_id = world.new_callback_id()
    update = max_updates.message_callback(bot, person, sent, callback_id, payload)
    return {"callback_id": callback_id, "posted": post_update(sandbox, bot, update), "update": update}


async def list_sent(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """The messages bots sent (``?user_id=`` one person's), with the request body MAX got."""
    user_id = request.query.get("user_id")
    return [sent.to_json() for sent in sandbox.state.max.sent if user_id is None or str(sent.user_id) == user_id]


def add_routes(router: Router, sandbox: Sandbox) -> None:
    """MAX's Bot API paths and the MAX control API, on the sandbox's router."""
    router.add("POST", "/messages", bot_api(sandbox, send_message))
    router.add("GET", "/me", bot_api(sandbox, read_me))
    router.add("POST", "/subscriptions", bot_api(sandbox, subscribe))
    router.add("GET", "/subscriptions", bot_api(sandbox, list_subscriptions))
    router.add("DELETE", "/subscriptions", bot_api(sandbox, unsubscribe))
    for method, path, handler in (
        ("GET", "/_sandbox/max/bots", list_bots),
        ("POST", "/_sandbox/max/bots", register_bot),
        ("GET", "/_sandbox/max/users", list_people),
        ("POST", "/_sandbox/max/users", register_people),
        ("POST", "/_sandbox/max/users/{user}/start", start),
        ("POST", "/_sandbox/max/users/{user}/stop", stop),
        ("POST", "/_sandbox/max/users/{user}/messages", write),
        ("POST", "/_sandbox/max/users/{user}/press", press),
        ("GET", "/_sandbox/max/messages", list_sent),
    ):
        router.add(method, path, control(sandbox, handler))
