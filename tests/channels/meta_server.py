"""A real local HTTP server standing in for graph.facebook.com in the adapter's tests.

It records every request (method, path, query, headers, JSON body) and answers with whatever the
test's ``respond`` function returns. It runs on a loopback port inside the test's event loop, so a
test drives the adapter over real sockets: headers, paths, status codes, Retry-After and timeouts are
exactly what aiohttp sends and receives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.base import SenderSettings

TESTDATA = Path(__file__).resolve().parents[2] / "channels/whatsapp_cloud/testdata"
VERSION = "v21.0"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
TOKEN = "EAAG-test-token"


def fixture(name: str) -> Any:
    """A captured payload from channels/whatsapp_cloud/testdata, decoded."""
    return json.loads((TESTDATA / name).read_text(encoding="utf-8"))


def fixture_bytes(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    peer: tuple | None = None  # the client's address and port: one per kept-alive connection


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON; a str or bytes body is sent as it is
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the server stops): the client's timeout must fire
    drop: bool = False  # close the connection without an answer


Respond = Callable[[Received], Reply | Awaitable[Reply]]


class MetaServer:
    """Records requests and answers them with ``respond(received)``; the default answer is a send accepted."""

    def __init__(self, respond: Respond | None = None) -> None:
        self.received: list[Received] = []
        self.respond: Respond = respond or (lambda _received: Reply(body=fixture("send_accepted.json")))
        self.in_flight = 0
        self.most_in_flight = 0
        self.stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        peer = request.transport.get_extra_info("peername") if request.transport else None
        received = Received(request.method, request.path, dict(request.query), dict(request.headers), body, peer)
        self.received.append(received)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            reply = self.respond(received)
            if asyncio.iscoroutine(reply):
                reply = await reply
        finally:
            self.in_flight -= 1
        if reply.hang:
            await self.stopping.wait()
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        if isinstance(reply.body, str | bytes):
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def settings(self, **overrides: Any) -> SenderSettings:
        """Sender settings pointing at this server."""
        values: dict[str, Any] = {
            "channel": "whatsapp_cloud",
            "base_url": self.base_url,
            "api_version": VERSION,
            "phone_number_id": PHONE_NUMBER_ID,
            "account_id": WABA_ID,
            "access_token": TOKEN,
            "app_secret": "app-secret",
            "verify_token": "verify-me",
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return SenderSettings(**values)


def against_server(
    scenario: Callable[[MetaServer, aiohttp.ClientSession], Awaitable[Any]], respond: Respond | None = None
) -> Any:
    """Run ``scenario(server, session)`` on a fresh event loop with a started server and a client session."""

    async def main() -> Any:
        server = MetaServer(respond)
        await server.server.start_server()
        try:
            async with aiohttp.ClientSession() as session:
                return await scenario(server, session)
        finally:
            server.stopping.set()
            await server.server.close()

    return asyncio.run(main())
