"""``python worker.py`` with a cProfile of every job, for the dispatch benchmarks (``BENCH_PROFILE=DIR``).

Each job runs in its own forked work horse; this profiles the job's thread and the thread of the
channels' event loop (``channels.http``, where the requests run) separately, in CPU time of the thread
(``time.thread_time``: waiting for an answer, for the GIL or for a core costs nothing), and writes
``DIR/job-<pid>-<job id>.prof`` and ``DIR/loop-<pid>-<job id>.prof``. Read them with
``python -m pstats`` or ``bench/profile_summary.py DIR``. Only the benchmarks start it.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import worker
from channels import http

FOLDER = Path(os.environ["BENCH_PROFILE"])


class ProfiledPool(http._Pool):
    """The channels' loop thread, profiled from its first instruction."""

    def __init__(self) -> None:  # the parent's, with a profiler around the loop
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.session = None
        self.profiler = cProfile.Profile(time.thread_time)

        def run() -> None:
            self.profiler.enable()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="channels-http", daemon=True)
        self.thread.start()

    def dump(self, path: Path) -> None:
        """Stop the loop thread's profiler on that thread and write its stats."""
        done = threading.Event()

        def stop() -> None:
            self.profiler.disable()
            self.profiler.dump_stats(path)
            done.set()

        self.loop.call_soon_threadsafe(stop)
        done.wait(timeout=10)


http._Pool = ProfiledPool
_perform_job = worker.AppWorker.perform_job


def perform_job(self, job, queue, execution):
    """The job under cProfile (this runs in the work horse)."""
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        return _perform_job(self, job, queue, execution)
    finally:
        profiler.disable()
        name = f"{os.getpid()}-{job.id}"
        profiler.dump_stats(FOLDER / f"job-{name}.prof")
        pool = http._pool
        if isinstance(pool, ProfiledPool) and pool.pid == os.getpid():
            pool.dump(FOLDER / f"loop-{name}.prof")


worker.AppWorker.perform_job = perform_job

if __name__ == "__main__":
    FOLDER.mkdir(parents=True, exist_ok=True)
    sys.exit(worker.main())
