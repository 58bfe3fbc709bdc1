"""The chain every provider API of the sandbox runs a request through, in the order a provider meets it.

Added latency (``latency_ms``), who is asking (the token: a refusal in the provider's words), an
injected fault (``faults``, in the provider's shape, or a held answer), the handler, and the ledger
entry for the answer, accepted or refused. A :class:`Dialect` says how one provider does the parts
that differ: how it knows the caller, what its error answers are and how a fault is worded.
The arrival is taken before the latency: the ledger's request times, and ``request["arrived"]``
(monotonic, for the handlers' rate windows), are arrivals, what a provider's rate limit counts (a busy
loop's late wake-ups after the sleep would bunch them where the client never did).

The control API's handlers (``/_sandbox/…``) are wrapped by :func:`control`: their result as JSON, a
refusal a 400 with the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from channels.sandbox import faults
from channels.sandbox.errors import GraphError
from channels.sandbox.settings import SettingsError

if TYPE_CHECKING:
    from channels.sandbox.app import Sandbox
    from channels.sandbox.settings import Settings

JSON = "application/json"

Wrapped = Callable[[web.BaseRequest], Awaitable[web.Response]]
Handler = Callable[[web.BaseRequest, "Sandbox", Any], Awaitable[web.Response]]


def respond(data: Any, status: int = 200) -> web.Response:
    """``data`` as a JSON answer."""
    return web.Response(body=json.dumps(data).encode(), status=status, content_type=JSON)


@dataclass(frozen=True)
class Dialect:
    """How one provider's API answers: the parts of the chain that are its own."""

    refused: type[Exception]  # its error answer, raised by any step of the chain
    # The caller (a number, a bot) the handler is given, or ``refused`` when the token is not one.
    authenticate: Callable[[web.BaseRequest, Sandbox], Any]
    fault: Callable[[GraphError, Settings], Exception]  # an injected fault as the provider answers it
    refusal: Callable[[Any], tuple[web.Response, str | None]]  # an error → its answer and the ledger's code
    path: Callable[[web.BaseRequest], str] = lambda request: request.raw_path  # as the ledger shows it


def chained(sandbox: Sandbox, dialect: Dialect, handler: Handler) -> Wrapped:
    """``handler(request, sandbox, caller)`` behind the chain of ``dialect``'s provider."""

    async def wrapped(request: web.BaseRequest) -> web.Response:
        state = sandbox.state
        settings = state.settings
        arrived = time.time()
        request["arrived"] = time.monotonic()
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        hold = False
        code = None
        try:
            caller = dialect.authenticate(request, sandbox)
            fault = faults.fault_for(settings, next(state.requests)) if settings.any_faults else None
            if fault is faults.TIMEOUT:
                hold = True
            elif fault is not None:
                raise dialect.fault(fault, settings)
            response = await handler(request, sandbox, caller)
        except dialect.refused as error:
            response, code = dialect.refusal(error)
        # A send handler leaves its message key in request["key"], accepted or refused.
        state.ledger.request(request.method, dialect.path(request), response.status, code, request.get("key"),
                             arrived)
        if hold:
            # The request was handled (a send is accepted) but its answer is held back longer than any client
            # waits, as when the provider's answer is lost on the way: the client cannot know whether it went
            # through.
            state.ledger.event("timeouts")
            await asyncio.sleep(settings.timeout_hold_s)
        return response

    return wrapped


# --- the control API (/_sandbox/…) -----------------------------------------------------------------

def control(sandbox: Sandbox, handler: Callable[[web.BaseRequest, Sandbox], Awaitable[Any]]
            ) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """Wrap a control handler: its result as JSON; a refused setting is a 400 with the reason."""

    async def wrapped(request: web.BaseRequest) -> web.Response:
        try:
            return respond(await handler(request, sandbox))
        except (SettingsError, GraphError, ValueError) as error:
            return respond({"error": getattr(error, "details", "") or str(error)}, status=400)

    return wrapped


async def body_of(request: web.BaseRequest) -> Any:
    raw = await request.read()
    return json.loads(raw) if raw.strip() else {}


def with_body(handler: Callable[[web.BaseRequest, Sandbox, dict[str, Any]], Awaitable[Any]]
              ) -> Callable[[web.BaseRequest, Sandbox], Awaitable[Any]]:
    """A control handler that takes the request's JSON object (an empty body: ``{}``)."""

    async def wrapped(request: web.BaseRequest, sandbox: Sandbox) -> Any:
        body = await body_of(request)
        if not isinstance(body, dict):
            raise SettingsError("the body must be a JSON object")
        return await handler(request, sandbox, body)

    return wrapped
