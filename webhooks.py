"""The webhook receiver: the providers' callbacks taken in by one asyncio process, stored by group commit.

    python webhooks.py [--host 127.0.0.1] [--port 8026]

It serves the same addresses as the web app's ``/webhooks/whatsapp/<sender id>`` (the handshake and signed
POSTs), ``/webhooks/max/<sender id>`` and ``/webhooks/telegram/<sender id>`` (bots' updates) and
``/webhooks/sms/<sender id>?secret=…`` (SMS gateways' statuses) with the same
``campaigns.feedback.intake`` steps, on its own port (``VESTNIK_WEBHOOKS_PORT``, the Procfile's ``webhooks:``);
the Flask route stays for deployments that send providers to the web app.

Why a process of its own: the Flask endpoint commits one body per request, one gunicorn thread per request
(its figures beside this one's in docs/feedback.md); here each POST is checked on the event loop (size,
sender, signature, parse: refusals answer at once) and then waits for the next **group commit**: one committer
stores every body accepted while the previous commit ran, in one ``INSERT … ON CONFLICT DO NOTHING`` and one
``COMMIT`` (up to ``WEBHOOK_RECEIVER_BATCH`` bodies), on a thread beside the loop. Each POST is answered 200
only after the commit that holds its body — the body is durable in ``webhook_events`` before the
acknowledgement, exactly as with the Flask route — and a commit that fails answers all its POSTs 503 (the
provider sends them again). The workers are woken after the commits (at most every ``WAKE_SECONDS``).

SIGTERM or Ctrl-C: the listening socket closes, the POSTs in flight are committed and answered (for up to
``SHUTDOWN_SECONDS``), then the process exits. The readiness line ``webhooks listening on http://HOST:PORT``
is printed once it accepts connections (``--port 0``: the port the system chose).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence

from aiohttp import web
from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError

from app import create_app
from campaigns import metrics
from campaigns.feedback import intake
from campaigns.feedback.intake import Accepted, IntakeRefusal
from extensions import db

log = logging.getLogger("vestnik.webhooks")

EDGE = "receiver"  # the ``edge`` label of this process's metrics (the web app's route is ``flask``)
ROUTE = "/webhooks/whatsapp/{sender_id:\\d+}"
BOT_ROUTE = "/webhooks/{family:max|telegram|sms}/{sender_id:\\d+}"  # bots and SMS gateways make no handshake
SHUTDOWN_SECONDS = 10.0
# The workers are woken at most this often (after the commits since the last wake-up): an enqueue is a few Redis
# round trips, and at a commit every few milliseconds it was the committer's largest cost. Every commit is still
# followed by a wake-up that starts after it, so no body waits for the sweep.
WAKE_SECONDS = 0.05
UNAVAILABLE = _l("The callback cannot be stored right now; send it again later.")


class Committer:
    """Group commit: the bodies accepted while one commit runs are stored together by the next."""

    def __init__(self, app: Flask, batch: int) -> None:
        self.app, self.batch = app, batch
        self.waiting: list[tuple[Accepted, asyncio.Future[None]]] = []
        self.ready = asyncio.Event()
        self.wake_due = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._wake_workers())]

    async def stop(self) -> None:
        """Commit what is waiting, wake the workers for it, then stop."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        while self.waiting:
            await self._commit_next()
        if self.wake_due.is_set():
            await asyncio.to_thread(self._wake)

    async def store(self, accepted: Accepted) -> None:
        """Return once ``accepted`` is committed; raises :class:`IntakeRefusal` 503 when its commit failed."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((accepted, future))
        self.ready.set()
        await future

    async def _run(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.waiting:
                await self._commit_next()

    async def _commit_next(self) -> None:
        group, self.waiting = self.waiting[:self.batch], self.waiting[self.batch:]
        try:
            new = await asyncio.to_thread(self._commit, [accepted for accepted, _future in group])
        except Exception:  # the database (or anything else): never acknowledged, so the provider sends it again
            log.exception("event=webhook_store_failed bodies=%d", len(group))
            for _accepted, future in group:
                if not future.done():
                    future.set_exception(IntakeRefusal(503, UNAVAILABLE))
            return
        self.wake_due.set()
        metrics.webhook_stored(len(group), new)
        for _accepted, future in group:
            if not future.done():  # a client that went away cancelled its wait; its body is stored all the same
                future.set_result(None)

    def _commit(self, group: Sequence[Accepted]) -> int:
        # A thread of its own and an app context of its own: its session is not the event loop's.
        with self.app.app_context():
            try:
                new = intake.store(group)
                db.session.commit()
            except SQLAlchemyError:
                db.session.rollback()
                raise
        return new

    async def _wake_workers(self) -> None:
        while True:
            await self.wake_due.wait()
            self.wake_due.clear()
            await asyncio.to_thread(self._wake)
            await asyncio.sleep(WAKE_SECONDS)

    def _wake(self) -> None:
        with self.app.app_context():
            intake.wake_now()


class Receiver:
    """The aiohttp handlers over one Flask app (its settings, database and translations)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.committer = Committer(app, app.config["WEBHOOK_RECEIVER_BATCH"])

    def routes(self) -> web.Application:
        application = web.Application()
        application.router.add_get(ROUTE, self.handshake)
        application.router.add_post(ROUTE, self.receive)
        application.router.add_post(BOT_ROUTE, self.receive)
        return application

    async def handshake(self, request: web.Request) -> web.StreamResponse:
        try:
            challenge = self._checked(lambda: intake.handshake(int(request.match_info["sender_id"]), request.query))
        except IntakeRefusal as refusal:
            return self._problem(request, refusal)
        return web.Response(text=challenge, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        sender_id = int(request.match_info["sender_id"])
        family = request.match_info.get("family", "whatsapp")
        try:
            body = await self._body(request)
            accepted = self._checked(lambda: intake.accept(sender_id, request.headers, body, family, request.query))
            await self.committer.store(accepted)
        except IntakeRefusal as refusal:
            metrics.webhook_refused(refusal.status, EDGE, time.perf_counter() - started)
            return self._problem(request, refusal)
        metrics.webhook_acknowledged(accepted.events, EDGE, time.perf_counter() - started)
        return web.Response(status=200)

    async def _body(self, request: web.Request) -> bytes:
        """The raw body; :class:`IntakeRefusal` 413 as soon as it is longer than allowed (unread if it says so)."""
        limit = self.app.config["WEBHOOK_MAX_BYTES"]
        if request.content_length is not None and request.content_length > limit:
            raise IntakeRefusal(413, _l("The body is larger than %(limit)s bytes.", limit=limit))
        chunks, size = [], 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise IntakeRefusal(413, _l("The body is larger than %(limit)s bytes.", limit=limit))
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _checked(check):
        # The checks read a sender from the database now and then (its keys are kept): never leave that
        # read's transaction open on the loop's session, and a database that cannot answer is a 503.
        try:
            return check()
        except SQLAlchemyError:
            log.exception("event=webhook_sender_unreadable")
            raise IntakeRefusal(503, UNAVAILABLE) from None
        finally:
            db.session.remove()

    def _problem(self, request: web.Request, refusal: IntakeRefusal) -> web.Response:
        """The web app's own answer to the refusal (problem details in the caller's language)."""
        headers = {"Accept-Language": request.headers.get("Accept-Language", "")}
        # A context of its own: the loop's would keep the first caller's language (flask_babel keeps it in g).
        with self.app.app_context(), self.app.test_request_context(request.path, method=request.method,
                                                                   headers=headers):
            answer = self.app.make_response(self.app.handle_user_exception(refusal))
        return web.Response(body=answer.get_data(), status=answer.status_code, content_type=answer.mimetype)


async def serve(app: Flask, host: str, port: int, ready=print, stopped: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM or SIGINT, or until ``stopped`` is set (``app``'s context is the loop's); ``ready``
    gets the readiness line."""
    receiver = Receiver(app)
    receiver.committer.start()
    runner = web.AppRunner(receiver.routes(), access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    ready(f"webhooks listening on http://{host}:{runner.addresses[0][1]}")
    if stopped is None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()  # stops listening, lets the POSTs in flight finish (the committer still runs)
        await receiver.committer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python webhooks.py", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026, help="0: any free port (the readiness line says which)")
    options = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        asyncio.run(serve(app, options.host, options.port, lambda line: print(line, flush=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
