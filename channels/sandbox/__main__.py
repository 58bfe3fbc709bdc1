"""``python -m channels.sandbox``: run the sandbox provider until SIGTERM or SIGINT.

Prints ``sandbox listening on http://HOST:PORT`` on stdout once it accepts connections (with
``--port 0`` the line names the port the system chose), so a supervisor or a test waits on that line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from channels.sandbox import defaults
from channels.sandbox.app import Sandbox, make_router
from channels.sandbox.settings import Settings

# A stop waits this long for requests in flight: a held "timeout" fault must not hold up a restart.
SHUTDOWN_SECONDS = 1.0


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m channels.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0: any free port (the readiness line says which)")
    parser.add_argument("--token", default=defaults.TOKEN, help="the access token every Graph request must carry")
    parser.add_argument("--app-secret", default=defaults.APP_SECRET, help="signs webhooks (X-Hub-Signature-256)")
    parser.add_argument("--callback-url", default=None, help="where webhooks go for numbers without their own URL")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added to every Graph API request")
    parser.add_argument("--no-idempotency", action="store_true",
                        help="a repeated biz_opaque_callback_data is a new message, as on the real Cloud API")
    parser.add_argument("--seed", type=int, default=0, help="fixes every random choice (faults, delays, shares)")
    parser.add_argument("--state-file", type=Path, default=None,
                        help="keep numbers and templates in this JSON file across restarts")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings()
    settings.update({"token": args.token, "app_secret": args.app_secret, "callback_url": args.callback_url,
                     "latency_ms": args.latency_ms, "idempotency": not args.no_idempotency, "seed": args.seed})
    return settings


async def serve(settings: Settings, host: str, port: int, state_file: Path | None = None) -> None:
    """Serve until a stop signal; no access log (one line per request would cost more than the request)."""
    sandbox = Sandbox(settings)
    sandbox.state_file = state_file
    await sandbox.callbacks.start()
    sandbox.restore()
    server = web.Server(make_router(sandbox), access_log=None)
    runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048, shutdown_timeout=SHUTDOWN_SECONDS)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"sandbox listening on http://{host}:{bound}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()
        await sandbox.callbacks.stop()


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(settings_from(args), args.host, args.port, args.state_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
