"""channels.http: the process's loop and session for synchronous callers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from channels import http


def test_a_call_that_runs_out_of_time_is_cancelled_not_left_running():
    # A send left running after its caller gave up could still be accepted by the provider with
    # nobody to record it: the caller's timeout must end the work too.
    started, cancelled = threading.Event(), threading.Event()

    async def work(session):
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    try:
        with pytest.raises(TimeoutError):
            http.run(work, timeout=0.2)
        assert started.is_set()
        assert cancelled.wait(5), "the timed-out coroutine is still running on the process's loop"
        # The loop is still usable afterwards.
        assert http.run(lambda session: asyncio.sleep(0, result="ok")) == "ok"
    finally:
        http.close()


def test_a_call_from_inside_the_loop_is_refused_at_once_instead_of_waiting_on_itself():
    # A coroutine that calls the synchronous run() would block the very loop that has to run the work:
    # it must be told so, not hang until the timeout.
    async def nested(session):
        return http.run(lambda _session: asyncio.sleep(0, result="inner"), timeout=30)

    try:
        with pytest.raises(RuntimeError, match="inside"):
            http.run(nested, timeout=10)
    finally:
        http.close()
