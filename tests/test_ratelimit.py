"""The shared rate limits against the suite's real Redis, with real processes racing where atomicity matters.

Slots are seconds from now; a test puts slots of different calls on one time line with the wall clock read
just before and just after each call (``Booked``), so no comparison depends on how busy the machine is.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import redis as redis_client
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaigns.dispatch.ratelimit import (
    PACING_MARGIN,
    PREFIX,
    TIER_WINDOW_SECONDS,
    Granted,
    Pacer,
    RateLimitUnavailableError,
    TierReservations,
)
from tests.processes import wait_for

PROCESSES = 4


def interval(rate: float) -> float:
    return 1 / (rate * (1 - PACING_MARGIN))


@pytest.fixture
def redis(redis_url):
    client = redis_client.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def no_seed():
    return []


@dataclass(frozen=True)
class Booked:
    """The slots of one ``reserve`` on the wall clock: Redis read its clock between ``before`` and ``after``
    (same host, same clock), so each slot is known within that span however busy the machine is."""

    slots: list[float]
    before: float
    after: float

    def at(self, index: int, plus: float = 0) -> tuple[float, float]:
        return self.before + self.slots[index] + plus, self.after + self.slots[index] + plus


def book(pacer: Pacer, limits, n: int) -> Booked:
    before = time.time()
    slots = pacer.reserve(limits, n)
    return Booked(slots, before, time.time())


def assert_same_moment(one: tuple[float, float], other: tuple[float, float]) -> None:
    """Two moments each known within a span: the spans meet (give or take the microseconds Redis keeps)."""
    assert one[0] <= other[1] + 1e-5 and other[0] <= one[1] + 1e-5, f"{one} and {other} cannot be the same moment"


def assert_spaced(times: list[float], step: float, slack: float) -> None:
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert min(gaps) >= step - slack, f"two slots {min(gaps):.4f} s apart, the limit allows {step:.4f} s"


def most_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- Pacer --------------------------------------------------------------------------------------------


def test_slots_start_now_and_are_spaced_exactly_at_the_slowest_rate(redis):
    slots = Pacer(redis).reserve([("sender:1", 100), ("campaign:1", 10)], 5)
    assert slots[0] == 0
    assert [b - a for a, b in pairwise(slots)] == pytest.approx([interval(10)] * 4, abs=1e-6)


def test_the_pacing_margin_keeps_the_rate_a_little_under_the_limit(redis):
    slots = Pacer(redis).reserve([("sender:1", 200)], 201)
    assert 0 < PACING_MARGIN < 0.03
    assert slots[-1] - slots[0] == pytest.approx(200 / (200 * (1 - PACING_MARGIN)))
    assert slots[200] > 1  # 201 messages never fit in one second


def test_each_limit_moves_on_by_its_own_interval(redis):
    pacer = Pacer(redis)
    first = book(pacer, [("sender:1", 100), ("campaign:1", 10)], 3)
    # The sender is free again one sender interval after the last slot, not one campaign interval.
    sender_only = book(pacer, [("sender:1", 100)], 1)
    assert_same_moment(sender_only.at(0), first.at(-1, plus=interval(100)))
    # The campaign still waits its own interval after its last slot.
    campaign_again = book(pacer, [("sender:1", 100), ("campaign:1", 10)], 1)
    assert_same_moment(campaign_again.at(0), first.at(-1, plus=interval(10)))


def test_two_campaigns_of_one_sender_share_its_rate(redis):
    pacer = Pacer(redis)
    one = book(pacer, [("sender:1", 50), ("campaign:1", 50)], 10)
    two = book(pacer, [("sender:1", 50), ("campaign:2", 50)], 10)
    assert_same_moment(two.at(0), one.at(-1, plus=interval(50)))
    # Another sender is not held up by the first one.
    assert pacer.reserve([("sender:2", 50), ("campaign:3", 50)], 1) == [0]


def test_an_idle_limit_starts_at_now_without_a_burst_of_the_time_it_was_idle(redis):
    pacer = Pacer(redis)
    redis.set(pacer.key("sender:1"), f"{time.time() - 60:.6f}")  # a TAT long past
    slots = pacer.reserve([("sender:1", 100)], 3)
    assert slots[0] == 0
    assert slots[2] - slots[0] == pytest.approx(2 * interval(100))


def test_unlimited_means_at_once_and_reserving_nothing_asks_nothing(redis):
    pacer = Pacer(redis)
    assert pacer.reserve([("sender:1", None), ("campaign:1", 0)], 3) == [0, 0, 0]
    assert pacer.reserve([("sender:1", 10)], 0) == []


def test_slow_down_pushes_every_later_reservation_of_that_limit(redis):
    pacer = Pacer(redis)
    pacer.reserve([("sender:1", 100), ("campaign:1", 100)], 2)
    before = time.time()
    pacer.slow_down("sender:1", 3)
    held_until = (before + 3, time.time() + 3)
    later = book(pacer, [("sender:1", 100), ("campaign:1", 100)], 2)
    assert_same_moment(later.at(0), held_until)
    assert later.slots[1] - later.slots[0] == pytest.approx(interval(100))
    assert_same_moment(book(pacer, [("sender:1", None)], 1).at(0), later.at(1, plus=interval(100)))
    # Only that limit: another sender's campaign is not slowed.
    assert pacer.reserve([("sender:2", 100), ("campaign:2", 100)], 1) == [0]


def test_slow_down_never_pulls_slots_already_given_closer(redis):
    pacer = Pacer(redis)
    booked = book(pacer, [("sender:1", 10)], 50)  # the sender is booked for about 5 s
    pacer.slow_down("sender:1", 1)
    assert_same_moment(book(pacer, [("sender:1", 10)], 1).at(0), booked.at(-1, plus=interval(10)))


def test_keys_live_under_the_prefix_and_expire_by_themselves(redis):
    pacer = Pacer(redis)
    pacer.reserve([("sender:1", 10), ("campaign:1", 5)], 10)
    pacer.slow_down("sender:2", 2)
    keys = sorted(key.decode() for key in redis.keys("*"))
    assert keys == [f"{PREFIX}:pace:campaign:1", f"{PREFIX}:pace:sender:1", f"{PREFIX}:pace:sender:2"]
    # Each lasts until its TAT (then it means nothing) plus a second.
    assert redis.pttl(f"{PREFIX}:pace:campaign:1") / 1000 == pytest.approx(10 * interval(5) + 1, abs=0.05)
    assert redis.pttl(f"{PREFIX}:pace:sender:1") / 1000 == pytest.approx(9 * interval(5) + interval(10) + 1, abs=0.05)
    assert redis.pttl(f"{PREFIX}:pace:sender:2") / 1000 == pytest.approx(3, abs=0.05)


def _reserve_in_a_loop(redis_url, limits, calls, per_call, start, results):
    pacer = Pacer(redis_client.Redis.from_url(redis_url))
    start.wait()
    times = []
    for _ in range(calls):
        slots = pacer.reserve(limits, per_call)
        now = time.time()
        times += [now + slot for slot in slots]
    results.put(times)


def run_processes(target, arguments: list[tuple]) -> list:
    """Start one real process per entry of ``arguments`` on ``target(*entry, start, results)``, release
    them together, and return what each put on the results queue."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(arguments)), context.Queue()
    processes = [context.Process(target=target, args=(*entry, start, results)) for entry in arguments]
    for process in processes:
        process.start()
    try:
        collected = [wait_for(lambda: _take(results, processes), "the racing processes")[0] for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0] * len(processes)
    return collected


def _take(results, processes):
    try:
        return [results.get(timeout=0.2)]
    except queue.Empty:
        crashed = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
        assert not crashed, f"a racing process failed with exit code {crashed}"
        return None


def test_processes_reserving_at_once_never_share_a_slot_nor_exceed_the_rate(redis, redis_url):
    # Reserving does not wait for the slots, so 4 processes race for 800 slots of a 2 msg/s sender and a
    # campaign key at once (400 s of sending) within a second. The slow rate keeps the slots half a second
    # apart: a busy machine delaying a process's reading of its clock cannot blur two of them into one.
    limits = [("sender:7", 2), ("campaign:7", 4)]
    per_process = run_processes(_reserve_in_a_loop, [(redis_url, limits, 100, 2)] * PROCESSES)
    times = sorted(at for process in per_process for at in process)
    assert len(times) == 800
    assert_spaced(times, interval(2), slack=0.2)
    assert times[-1] - times[0] == pytest.approx(799 * interval(2), abs=0.2)
    assert most_in_window(times, 10) <= 20


# --- TierReservations ---------------------------------------------------------------------------------


def test_headroom_is_granted_until_the_limit_and_then_says_when_it_frees(redis):
    tier = TierReservations(redis)
    assert tier.reserve(1, ["79990000001", "79990000002"], 3, no_seed) == Granted({"79990000001", "79990000002"}, None)
    granted = tier.reserve(1, ["79990000003", "79990000004", "79990000005"], 3, no_seed)
    assert granted.phones == {"79990000003"}
    # The oldest reservation, made a moment ago, leaves the rolling 24 h first.
    assert granted.frees_in == pytest.approx(TIER_WINDOW_SECONDS, abs=1)
    # Another sender has its own headroom.
    assert tier.reserve(2, ["79990000004"], 3, no_seed).phones == {"79990000004"}


def test_a_phone_already_reserved_takes_no_headroom(redis):
    tier = TierReservations(redis)
    tier.reserve(1, ["79990000001", "79990000002"], 2, no_seed)
    again = tier.reserve(1, ["79990000002", "79990000001", "79990000003"], 2, no_seed)
    assert again.phones == {"79990000001", "79990000002"}
    assert again.frees_in is not None
    # The same phone twice in one call counts once.
    assert tier.reserve(3, ["79990000009", "79990000009"], 1, no_seed) == Granted({"79990000009"}, None)


def test_unlimited_grants_everyone(redis):
    phones = [f"7999{index:07d}" for index in range(2000)]
    assert TierReservations(redis).reserve(1, phones, None, no_seed) == Granted(set(phones), None)


def test_a_tier_of_zero_frees_nothing_within_a_day(redis):
    granted = TierReservations(redis).reserve(1, ["79990000001"], 0, no_seed)
    assert granted == Granted(set(), TIER_WINDOW_SECONDS)


def test_the_set_is_seeded_from_the_database_once_and_again_after_redis_lost_it(redis):
    now = datetime.now(UTC)
    calls = []
    sent = {"79990000001": now - timedelta(hours=1), "79990000002": now - timedelta(hours=25)}

    def seed():
        calls.append(1)
        return sent.items()

    tier = TierReservations(redis)
    first = tier.reserve(1, ["79990000003", "79990000004"], 2, seed)
    # 79990000001 counts (an hour ago), 79990000002 fell out of the 24 h; so one place was left.
    assert (first.phones, len(calls)) == ({"79990000003"}, 1)
    assert first.frees_in == pytest.approx(23 * 3600, abs=5)
    assert tier.reserve(1, ["79990000001"], 2, seed) == Granted({"79990000001"}, None)
    assert len(calls) == 1

    redis.flushdb()  # Redis restarted empty; the database now has both sends
    sent = {"79990000001": now, "79990000003": now}
    assert tier.reserve(1, ["79990000005"], 2, seed).phones == set()
    assert tier.reserve(1, ["79990000003", "79990000006"], 2, seed).phones == {"79990000003"}
    assert len(calls) == 2


def test_a_seed_larger_than_one_unpack_loads_whole(redis):
    now = time.time()
    sent = [(f"7999{index:07d}", now - index) for index in range(5000)]
    tier = TierReservations(redis)
    assert tier.reserve(1, ["79990000000", "78880000000"], 5000, lambda: sent).phones == {"79990000000"}
    assert tier.reserve(1, ["79990004999"], 5000, no_seed).phones == {"79990004999"}


def test_the_tier_set_lives_under_the_prefix_and_expires_a_day_after_its_last_use(redis):
    TierReservations(redis).reserve(4, ["79990000001"], 10, no_seed)
    assert [key.decode() for key in redis.keys("*")] == [f"{PREFIX}:tier:4"]
    assert TIER_WINDOW_SECONDS < redis.ttl(f"{PREFIX}:tier:4") <= TIER_WINDOW_SECONDS + 3600


def _race_for_the_last_place(redis_url, phone, senders, start, results):
    tier = TierReservations(redis_client.Redis.from_url(redis_url))
    won = []
    for sender in range(senders):
        start.wait()  # every round starts together, so the processes meet at each sender's last place
        if tier.reserve(sender, [phone], 1, no_seed).phones:
            won.append(sender)
    results.put(won)


def test_processes_reserving_at_once_never_overspend_the_headroom(redis, redis_url):
    # Senders with room for one recipient each; every process asks each of them, in step, for a different
    # phone. A check in Python followed by a write would let two of them take the one place.
    senders = 100
    granted = run_processes(_race_for_the_last_place,
                            [(redis_url, f"7999000000{index}", senders) for index in range(PROCESSES)])
    places = Counter(sender for per_process in granted for sender in per_process)
    assert sorted(places) == list(range(senders))
    assert set(places.values()) == {1}, f"{sum(count > 1 for count in places.values())} places given twice"


# --- Redis unavailable ---------------------------------------------------------------------------------


def test_an_unreachable_redis_raises_instead_of_guessing(tmp_path):
    # No retries with backoff (redis-py's default takes seconds): the first refusal is the answer here.
    gone = redis_client.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), retry=Retry(NoBackoff(), 0))
    with pytest.raises(RateLimitUnavailableError, match="Redis did not answer"):
        Pacer(gone).reserve([("sender:1", 10)], 3)
    with pytest.raises(RateLimitUnavailableError):
        Pacer(gone).slow_down("sender:1", 3)
    with pytest.raises(RateLimitUnavailableError):
        TierReservations(gone).reserve(1, ["79990000001"], 10, no_seed)
