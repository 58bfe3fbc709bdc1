"""Which handler answers a request: a method and an exact path from a dict, else the first pattern that matches.

The sandbox runs on aiohttp's low-level server (``web.Server``) with this router instead of a
``web.Application``: the application's machinery (its router's resources, the request factory,
signals) costs about a fifth of the server's time per request, and the benchmark's hot path is one
route. Path parameters (``{node}``, ``{version:v\\d+\\.\\d+}``) are put into the request's mapping
(``request["node"]``); a request nothing matches goes to the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
_PARAMETER = re.compile(r"\{(\w+)(?::([^{}]+))?\}")


class Router:
    """Routes of one server; patterns are tried in the order they were added (add the hot one first)."""

    def __init__(self, fallback: RequestHandler) -> None:
        self.fallback = fallback
        self.exact: dict[tuple[str, str], RequestHandler] = {}
        self.patterns: list[tuple[str, re.Pattern[str], RequestHandler]] = []

    def add(self, method: str, path: str, handler: RequestHandler) -> None:
        if "{" not in path:
            self.exact[(method, path)] = handler
            return
        pattern = _PARAMETER.sub(lambda m: f"(?P<{m[1]}>{m[2] or '[^/]+'})", path)
        self.patterns.append((method, re.compile(f"^{pattern}$"), handler))

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        method, path = request.method, request.path
        handler = self.exact.get((method, path))
        if handler is None:
            handler = self.fallback
            for wanted, pattern, candidate in self.patterns:
                found = pattern.match(path) if wanted == method else None
                if found is not None:
                    request.update(found.groupdict())
                    handler = candidate
                    break
        return await handler(request)
