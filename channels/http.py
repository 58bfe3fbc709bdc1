"""One keep-alive HTTP session per process, and a way for synchronous code to use it.

Flask views, CLI commands and RQ jobs are synchronous; the channels are async so that one batch can
have hundreds of requests in flight. ``run(coro_factory)`` runs a coroutine on the process's own
event loop (a daemon thread), with the process's one ``aiohttp.ClientSession`` — so connections are
kept alive across calls instead of being opened per message. After a fork (RQ forks per job) the
child starts its own loop and session on first use: an inherited loop and its sockets are unusable.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

T = TypeVar("T")

# Connections per host kept open: enough for a batch of sends in flight at once.
CONNECTIONS_PER_HOST = 200


class _Pool:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.session: aiohttp.ClientSession | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="channels-http", daemon=True)
        self.thread.start()

    async def get_session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=CONNECTIONS_PER_HOST, keepalive_timeout=60)
            self.session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
        return self.session

    async def _close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def close(self) -> None:
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)


_pool: _Pool | None = None
_lock = threading.Lock()


def _current() -> _Pool:
    global _pool
    with _lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = _Pool()
            atexit.register(close)
        return _pool


def run(work: Callable[[aiohttp.ClientSession], Awaitable[T]], timeout: float | None = 120) -> T:
    """Run ``work(session)`` on the process's event loop and return its result (or raise its exception).

    Safe from any thread; must not be called from inside the loop itself (a coroutine awaits instead).
    When ``timeout`` runs out the work is cancelled before ``TimeoutError`` is raised: a request left
    running with nobody waiting for its answer could still be accepted and never recorded.
    """
    pool = _current()
    if threading.current_thread() is pool.thread:
        # Waiting here would block the loop that has to run the work: it could only end in the timeout.
        raise RuntimeError("channels.http.run was called from inside the channels loop; await the coroutine instead")

    async def with_session() -> T:
        return await work(await pool.get_session())

    future = asyncio.run_coroutine_threadsafe(with_session(), pool.loop)
    try:
        return future.result(timeout=timeout)
    except TimeoutError:
        future.cancel()
        raise


def close() -> None:
    """Close the session and stop the loop (at process exit or in tests)."""
    global _pool
    with _lock:
        if _pool is not None and _pool.pid == os.getpid():
            _pool.close()
        _pool = None
