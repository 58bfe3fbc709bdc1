"""Slows down repeated failed sign-ins, per e-mail address and per client address.

After a few free attempts every further failure doubles the wait before the next attempt is even
checked (1 s, 2 s, 4 s … up to a cap). State lives in Redis so every web process shares it and
it decays by itself a day after the last failure.
"""

from __future__ import annotations

import time

from flask import current_app

from extensions import redis_queues

FAILURE_MEMORY_SECONDS = 24 * 3600
# A single address may legitimately serve a whole office, so it gets more free attempts.
ADDRESS_ALLOWANCE_FACTOR = 4


def _keys(email: str, address: str) -> list[tuple[str, int]]:
    free = current_app.config["LOGIN_FREE_ATTEMPTS"]
    # Keyed the way accounts are looked up (users.find_by_email), or " ann@x" would count apart from "ann@x".
    return [
        (f"vestnik:login-failures:email:{email.strip().lower()}", free),
        (f"vestnik:login-failures:addr:{address}", free * ADDRESS_ALLOWANCE_FACTOR),
    ]


def _delay(failures: int, free: int) -> int:
    if failures < free:
        return 0
    return min(2 ** (failures - free), current_app.config["LOGIN_MAX_DELAY_SECONDS"])


def seconds_until_allowed(email: str, address: str, now: float | None = None) -> int:
    """How long this e-mail/address pair must wait before its next attempt; 0 means go ahead."""
    now = time.time() if now is None else now
    redis = redis_queues.connection
    wait = 0.0
    for key, free in _keys(email, address):
        failures, last = redis.hmget(key, "failures", "last")
        if failures is None:
            continue
        wait = max(wait, float(last) + _delay(int(failures), free) - now)
    return max(0, int(wait + 0.999))


def record_failure(email: str, address: str, now: float | None = None) -> None:
    """Count a failed attempt against both the e-mail address and the client address."""
    now = time.time() if now is None else now
    pipe = redis_queues.connection.pipeline()
    for key, _free in _keys(email, address):
        pipe.hincrby(key, "failures", 1)
        pipe.hset(key, "last", repr(now))
        pipe.expire(key, FAILURE_MEMORY_SECONDS)
    pipe.execute()


def forget_failures(email: str) -> None:
    """A successful sign-in clears the e-mail's record (the address's record decays on its own)."""
    key, _free = _keys(email, "")[0]
    redis_queues.connection.delete(key)
