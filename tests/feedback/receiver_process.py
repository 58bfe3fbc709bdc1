"""An edge that takes webhooks, as a real process: ``python webhooks.py --port 0`` (the receiver), or the web app
under gunicorn. Started with the environment given, ready once it answers (no sleeping), stopped with SIGTERM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.processes import readiness_line

ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "webhooks listening on "
START_SECONDS = 30
STOP_SECONDS = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EdgeProcess:
    """``python webhooks.py`` (``gunicorn=None``) or gunicorn with ``(workers, threads)`` serving the web app."""

    def __init__(self, environment: dict[str, str], gunicorn: tuple[int, int] | None = None) -> None:
        self.environment, self.gunicorn = environment, gunicorn
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> EdgeProcess:
        env = {**os.environ, **self.environment, "PYTHONUNBUFFERED": "1"}
        if self.gunicorn is None:
            self.process = subprocess.Popen([sys.executable, "webhooks.py", "--port", "0"], cwd=ROOT, env=env,
                                            stdout=subprocess.PIPE, text=True)
            self.url = self._readiness_line().removeprefix(READY_PREFIX).strip()
            return self
        workers, threads = self.gunicorn
        port = free_port()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--threads", str(threads), "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        self._wait_until_it_answers()
        return self

    def _readiness_line(self) -> str:
        line = readiness_line(self.process, READY_PREFIX, START_SECONDS)
        if line is not None:
            return line
        self.stop()
        raise RuntimeError("the webhook receiver did not start")

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> int | None:
        """SIGTERM, then the exit status (SIGKILL after ``STOP_SECONDS``)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> EdgeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
