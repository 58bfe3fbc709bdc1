"""The sandbox provider as a real process for tests, and a real HTTP server that receives its webhooks.

``SandboxProcess`` starts ``python -m channels.sandbox --port 0 --latency-ms 0 …``, waits for its
readiness line (no sleeping), and talks to its control API over HTTP. ``CallbackReceiver`` is a
small threaded HTTP server on a loopback port that records every POST (headers and raw body) and
answers 200, or a status the test chooses (for all, or for the next few); ``wait_for(count)``
blocks on a condition until that many have arrived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.processes import readiness_line

ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = "sandbox listening on "
START_SECONDS = 20
STOP_SECONDS = 10

TOKEN = "sandbox-token"
APP_SECRET = "sandbox-secret"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
VERSION = "v21.0"


class SandboxProcess:
    """One running sandbox process (``start()``/``stop()``, or as a context manager)."""

    def __init__(self, *args: str) -> None:
        self.args = ["--port", "0", "--latency-ms", "0", *args]
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> SandboxProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "channels.sandbox", *self.args], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=None, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self._readiness_line()
        self.url = line.removeprefix(READY_PREFIX).strip()
        return self

    def _readiness_line(self) -> str:
        line = readiness_line(self.process, READY_PREFIX, START_SECONDS)
        if line is not None:
            return line
        self.stop()
        raise RuntimeError(f"the sandbox did not start (exit code {self.process.returncode})")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within ``STOP_SECONDS``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)
        finally:
            self.process.stdout.close()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the control API ---

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """One control API call; returns the decoded JSON answer (raises on an HTTP error)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self.control("POST", "/_sandbox/reset")

    def configure(self, **settings: Any) -> dict:
        return self.control("POST", "/_sandbox/config", settings)

    def add_number(self, phone_number_id: str, waba_id: str = WABA_ID, **fields: Any) -> dict:
        return self.control("POST", "/_sandbox/numbers", {"phone_number_id": phone_number_id, "waba_id": waba_id,
                                                          **fields})

    def force_template(self, template_id: str, status: str, waba_id: str = WABA_ID, **fields: Any) -> dict:
        return self.control("POST", f"/_sandbox/templates/{waba_id}/{template_id}", {"status": status, **fields})

    def inbound(self, sender: str, text: str = "hello", **fields: Any) -> dict:
        return self.control("POST", "/_sandbox/inbound", {"from": sender, "text": text, **fields})

    def ledger(self, summary: bool = False) -> dict:
        return self.control("GET", "/_sandbox/ledger" + ("?summary=1" if summary else ""))

    def graph_url(self, node: str = PHONE_NUMBER_ID, edge: str = "") -> str:
        """The URL of a Cloud API node (``/v21.0/<node>[/<edge>]``) on this sandbox."""
        return f"{self.url}/{VERSION}/{node}" + (f"/{edge}" if edge else "")


@dataclass(frozen=True)
class Callback:
    """One webhook as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackReceiver:
    """A threaded HTTP server on 127.0.0.1 that records every POST and answers ``status`` (200 by default)."""

    def __init__(self) -> None:
        self.received: list[Callback] = []
        self.status = 200
        self.failures: list[int] = []  # statuses to answer the next POSTs with, before ``status`` again
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.condition:
                    receiver.received.append(Callback(self.path, dict(self.headers), body))
                    status = receiver.failures.pop(0) if receiver.failures else receiver.status
                    receiver.condition.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # the suite's output stays quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, name="callback-receiver", daemon=True)

    def start(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` webhooks with ``status`` (then 200 again)."""
        with self.condition:
            self.failures = [status] * count

    def wait_for(self, count: int, timeout: float = 15) -> list[Callback]:
        """Block until at least ``count`` webhooks have arrived; returns them all (raises after ``timeout``)."""
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise AssertionError(f"{len(self.received)} webhooks arrived within {timeout} s, expected {count}")
            return list(self.received)

    def bodies(self) -> list[Any]:
        with self.condition:
            return [callback.json() for callback in self.received]
