"""The sandbox's HTTP handlers: the Cloud API's paths, and the control API under ``/_sandbox/``.

Every Graph API request goes through :func:`graph` (:mod:`.chain`): added latency, the token, the
injected fault, the handler, the ledger entry — in that order, as the real service would meet them (a
throttled request is refused before its body is looked at). A send handler leaves the message key in
``request["key"]`` for the ledger, whether the send is accepted or refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from channels.sandbox import (
    chain,
    defaults,
    errors,
    max_routes,
    persistence,
    sms_routes,
    telegram_api,
    telegram_users,
    templates,
    webhooks,
)
from channels.sandbox.callbacks import Callbacks
from channels.sandbox.chain import JSON, body_of, control, respond, with_body
from channels.sandbox.errors import GraphError
from channels.sandbox.ledger import Message
from channels.sandbox.recipients import Simulation
from channels.sandbox.routes import Router
from channels.sandbox.settings import Settings, SettingsError
from channels.sandbox.state import TIERS, Number, State, number_from
from channels.sandbox.validation import parse_send, wa_id_of

VERSION = r"{version:v\d+\.\d+}"
QUALITY_ORDER = ("RED", "YELLOW", "GREEN")


class Sandbox:
    """The process's one sandbox: its current state, the recipients' simulation and the webhook sender."""

    def __init__(self, settings: Settings) -> None:
        self.initial = settings.copy()
        self.state_file: Path | None = None  # set after the first, empty state (which must not overwrite it)
        self.callbacks = Callbacks(count=lambda name: self.state.ledger.event(name),
                                   retries=lambda: (self.state.settings.callback_retries,
                                                    self.state.settings.callback_backoff_ms))
        self.reset()

    def reset(self) -> None:
        """Forget everything but the settings the process started with and the default number."""
        self.callbacks.reset()
        self.state = State(self.initial.copy())
        self.simulation = Simulation(self.state, self.callbacks)
        self.changed()

    def restore(self) -> None:
        """Read the state file (numbers, templates); templates it left pending are decided now."""
        if self.state_file is not None:
            for template in persistence.load(self.state_file, self.state):
                _decide(self, self.state, template)

    def changed(self) -> None:
        """Numbers or templates changed: rewrite the state file, if there is one."""
        if self.state_file is not None:
            persistence.save(self.state_file, self.state)

    def post(self, number: Number | None, body: dict[str, Any]) -> None:
        if number is not None:
            url, secret = self.state.callback_of(number)
            self.callbacks.post(url, secret, body)


Handler = Callable[[web.BaseRequest, Sandbox, str, Number | None], Awaitable[web.Response]]


def _number(request: web.BaseRequest, sandbox: Sandbox) -> Number | None:
    """The number, account or template the path names (None: none of this sandbox's), if the token is its own."""
    state = sandbox.state
    node = request["node"]
    number = state.numbers.get(node) or state.number_of_account(node) or state.number_of_template(node)
    token = number.token if number is not None and number.token else state.settings.token
    if request.headers.get("Authorization") != "Bearer " + token:
        raise errors.bad_token()
    return number


def _graph_refusal(error: GraphError) -> tuple[web.Response, str | None]:
    return web.Response(status=error.status, body=error.body(), content_type=JSON, headers=error.headers()), error.code


GRAPH = chain.Dialect(refused=GraphError, authenticate=_number, fault=lambda error, settings: error,
                      refusal=_graph_refusal)


def graph(sandbox: Sandbox, handler: Handler) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """Wrap a Graph API handler with latency, authentication, faults, error answers and the ledger."""

    async def on_node(request: web.BaseRequest, sandbox: Sandbox, number: Number | None) -> web.Response:
        return await handler(request, sandbox, request["node"], number)

    return chain.chained(sandbox, GRAPH, on_node)


def parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.invalid_parameter("The request body is not valid JSON.") from None


# --- the Cloud API ----------------------------------------------------------------------------------

async def send_message(request: web.BaseRequest, sandbox: Sandbox, node: str, number: Number | None) -> web.Response:
    if number is None or number.phone_number_id != node:
        raise errors.unknown_object(node)
    raw = await request.read()
    body = parsed(raw)
    if isinstance(body, dict):
        request["key"] = body.get("biz_opaque_callback_data")
    state = sandbox.state
    if state.settings.enforce_throughput and not state.within_throughput(number):
        raise errors.throughput(state.settings.retry_after)
    send = parse_send(body, number.waba_id, state.book)
    if send.key is not None and state.settings.idempotency:
        previous = state.by_key.get((node, send.key))
        if previous is not None:
            state.ledger.duplicate(previous)
            return _accepted(send.to, previous.to, previous.id)
    message = Message(state.new_wamid(), node, number.display_phone_number, send.wa_id, send.key, send.type,
                      time.time(), text=send.text, category=send.category, quick_replies=send.quick_replies)
    if send.template is not None:
        message.template = (send.template.name, send.template.language, send.template.category)
        message.raw = raw
    state.ledger.accepted(message)
    if send.key is not None:
        state.by_key[(node, send.key)] = message
    sandbox.simulation.accepted(number, message)
    return _accepted(send.to, send.wa_id, message.id)


# The answer to an accepted send, formatted rather than json.dumps'ed: it is the hot path of the benchmark. Only
# the input is the caller's text (JSON-encoded); the wa_id is digits and the wamid base64.
ACCEPTED = ('{"messaging_product": "whatsapp", "contacts": [{"input": %s, "wa_id": "%s"}], '
            '"messages": [{"id": "%s", "message_status": "accepted"}]}')


def _accepted(given: str, wa_id: str, wamid: str) -> web.Response:
    return web.Response(body=(ACCEPTED % (json.dumps(given), wa_id, wamid)).encode(), content_type=JSON)


async def read_node(request: web.BaseRequest, sandbox: Sandbox, node: str, number: Number | None) -> web.Response:
    fields = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()]
    if number is None:
        raise errors.unknown_object(node)
    if number.phone_number_id == node:
        return respond(number.public(fields))
    template = sandbox.state.book.by_id.get(node)
    if template is not None:  # GET /{template_id}, as Meta reads one template
        return respond(template.to_json(tuple(fields) or templates.DEFAULT_FIELDS))
    return respond({"id": node, "name": f"{number.verified_name} account"})  # a business account


async def submit_template(request: web.BaseRequest, sandbox: Sandbox, node: str, number: Number | None) -> web.Response:
    if number is None or number.waba_id != node:
        raise errors.unknown_object(node)
    state = sandbox.state
    template = templates.parse_submission(node, state.book.new_id(), parsed(await request.read()))
    state.book.add(template)
    sandbox.changed()
    _review(sandbox, state, template)
    return respond({"id": template.id, "status": template.status, "category": template.category})


async def edit_template(request: web.BaseRequest, sandbox: Sandbox, node: str, number: Number | None) -> web.Response:
    """``POST /{template_id}``: Meta's edit of a template of any account (the id says which); ``{"success": true}``.
    The edited template is reviewed again as a submission is (same rules, same delays, the same webhook)."""
    state = sandbox.state
    template = state.book.by_id.get(node)
    if template is None:
        raise errors.unknown_object(node)
    settings = state.settings
    templates.apply_edit(template, parsed(await request.read()), time.time(), settings.approved_edits_per_day,
                         settings.approved_edits_per_30_days)
    state.ledger.event("templates_edited")
    sandbox.changed()
    _review(sandbox, state, template)
    return respond({"success": True})


def _review(sandbox: Sandbox, state: State, template: templates.Template) -> None:
    """Decide a submitted or edited template now, later, or (a ``_pending`` name) only when forced."""
    delay = templates.delay_ms(template, state.settings.template_delay_ms, state.settings.slow_template_delay_ms)
    if delay == 0:
        _decide(sandbox, state, template)
    elif delay is not None:
        revision = template.revision
        sandbox.callbacks.later(delay / 1000, lambda: _decide(sandbox, state, template, revision))


def _decide(sandbox: Sandbox, state: State, template: templates.Template, revision: int | None = None) -> None:
    if template.forced or template.status != "PENDING" or revision not in (None, template.revision):
        return  # forced, decided already, or edited since this decision was planned (the edit plans its own)
    template.status, template.reason = templates.decide(template)
    state.ledger.event("templates_decided")
    sandbox.changed()
    sandbox.post(state.number_of_account(template.waba_id), webhooks.template_status(template.waba_id, template))


async def list_templates(request: web.BaseRequest, sandbox: Sandbox, node: str, number: Number | None) -> web.Response:
    if number is None or number.waba_id != node:
        raise errors.unknown_object(node)
    return respond(sandbox.state.book.page(node, str(request.url.with_query(None)), dict(request.query)))


async def unknown_path(request: web.BaseRequest) -> web.Response:
    """Any other path or method: Graph's answer for a path it does not know, not aiohttp's plain-text 404."""
    error = GraphError(400, 100, f"Unknown path components: {request.path}", kind="OAuthException")
    return web.Response(status=error.status, body=error.body(), content_type=JSON)


# --- the control API --------------------------------------------------------------------------------

def _public_settings(settings: Settings) -> dict[str, Any]:
    return {**settings.to_json(), "token": "***", "app_secret": "***"}


async def health(request: web.BaseRequest) -> web.Response:
    return respond({"status": "ok"})


async def reset(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    sandbox.reset()
    return {"status": "reset"}


async def read_config(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    return _public_settings(sandbox.state.settings)


async def configure(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    sandbox.state.settings.update(await body_of(request))
    return _public_settings(sandbox.state.settings)


async def register_number(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    body = await body_of(request)
    state = sandbox.state
    current = state.numbers.get(str(body.get("phone_number_id"))) if isinstance(body, dict) else None
    number = number_from(body, current)
    state.numbers[number.phone_number_id] = number
    sandbox.changed()
    if current is not None:
        for event in _quality_events(current, number):
            sandbox.post(number, webhooks.quality(number, event))
    return number.to_json()


def _quality_events(before: Number, after: Number) -> list[str]:
    """The ``phone_number_quality_update`` events of a change of tier or quality."""
    events = []
    if after.tier != before.tier:
        events.append("UPGRADE" if TIERS.index(after.tier) > TIERS.index(before.tier) else "DOWNGRADE")
    if after.quality != before.quality and {after.quality, before.quality} <= set(QUALITY_ORDER):
        worse = QUALITY_ORDER.index(after.quality) < QUALITY_ORDER.index(before.quality)
        events.append("FLAGGED" if worse else "UNFLAGGED")
    return events


async def list_numbers(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    return [number.to_json() for number in sandbox.state.numbers.values()]


async def force_template(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    state = sandbox.state
    waba_id, template_id = request["waba"], request["template"]
    template = state.book.get(waba_id, template_id)
    if template is None:
        raise SettingsError(f"no template {template_id} in account {waba_id}")
    body = await body_of(request)
    status = str(body.get("status", template.status)).upper()
    category = str(body.get("category", template.category)).upper()
    if status not in templates.STATUSES or category not in templates.CATEGORIES:
        raise SettingsError(f"status must be one of {', '.join(templates.STATUSES)}; "
                            f"category one of {', '.join(templates.CATEGORIES)}")
    owner = state.number_of_account(waba_id)
    template.forced = True
    if category != template.category:
        template.previous_category, template.category = template.category, category
        sandbox.post(owner, webhooks.template_category(waba_id, template))
    if status != template.status or "reason" in body:
        template.status = status
        template.reason = str(body.get("reason") or ("NONE" if status != "REJECTED" else "INVALID_FORMAT")).upper()
        sandbox.post(owner, webhooks.template_status(waba_id, template))
    sandbox.changed()
    return template.to_json(templates.READABLE_FIELDS)


async def inbound(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    """A person writes to a number (opens their 24-hour window): ``{from, text | button {payload, text},
    context_id?, phone_number_id?}``."""
    body = await body_of(request)
    state = sandbox.state
    number = state.numbers.get(str(body.get("phone_number_id", defaults.PHONE_NUMBER_ID)))
    if number is None:
        raise SettingsError("no such phone_number_id")
    wa_id = wa_id_of(body.get("from"))
    button = body.get("button")
    if isinstance(button, dict):
        wamid = sandbox.simulation.inbound(number, wa_id, str(button.get("text", "")), str(button.get("payload", "")),
                                           str(body.get("context_id") or ""))
    else:
        wamid = sandbox.simulation.inbound(number, wa_id, str(body.get("text", "")))
    return {"id": wamid}


async def ledger(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    book = sandbox.state.ledger
    return book.summary() if request.query.get("summary") in ("1", "true") else book.to_json()


# --- the routes -------------------------------------------------------------------------------------

def make_router(sandbox: Sandbox) -> Router:
    """Every route of the sandbox, the sends first (the hot paths): the Cloud API's, then MAX's."""
    router = Router(fallback=unknown_path)
    router.add("POST", f"/{VERSION}/{{node}}/messages", graph(sandbox, send_message))
    router.add("GET", f"/{VERSION}/{{node}}/message_templates", graph(sandbox, list_templates))
    router.add("POST", f"/{VERSION}/{{node}}/message_templates", graph(sandbox, submit_template))
    router.add("GET", f"/{VERSION}/{{node}}", graph(sandbox, read_node))
    router.add("POST", f"/{VERSION}/{{node}}", graph(sandbox, edit_template))
    max_routes.add_routes(router, sandbox)
    telegram_api.add_routes(router, sandbox)
    sms_routes.add_routes(router, sandbox)
    router.add("GET", "/_sandbox/health", health)
    for method, path, handler in (
        ("POST", "/_sandbox/reset", reset),
        ("GET", "/_sandbox/config", read_config),
        ("POST", "/_sandbox/config", configure),
        ("GET", "/_sandbox/numbers", list_numbers),
        ("POST", "/_sandbox/numbers", register_number),
        ("POST", "/_sandbox/templates/{waba}/{template}", force_template),
        ("POST", "/_sandbox/inbound", inbound),
        ("GET", "/_sandbox/ledger", ledger),
    ):
        router.add(method, path, control(sandbox, handler))
    for method, path, handler in telegram_users.ROUTES:
        router.add(method, path, control(sandbox, with_body(handler)))
    return router
