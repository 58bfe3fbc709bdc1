"""Rate limits shared by every worker through Redis: send-time slots (``Pacer``; per dialog too, for bots) and the
messaging tier's unique recipients per rolling 24 h (``TierReservations``).

Both are single Lua scripts, so each decision is atomic across any number of processes and hosts, and both
read the clock with ``redis.call('TIME')``: one clock for everybody, and the answers are relative (seconds
from now), so a worker whose clock is off by a second still paces exactly. Every key lives under ``PREFIX``
and carries a TTL, so a limit nobody uses any more vanishes by itself. Why a small GCRA of our own rather
than a library, with the figures: ``docs/dispatch.md``, "Rate limits".

Redis unreachable raises ``RateLimitUnavailableError`` (never a guess): the batch job fails, RQ retries it,
and the rows it had claimed come back when their lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "vestnik:rate"
# Slots are spaced as if the rate were this much lower. The provider counts arrivals, and arrivals jitter:
# event-loop scheduling, connection set-up and the network move a request a few milliseconds either way,
# so slots spaced exactly at the limit put one or two more arrivals than allowed into some 1-s window.
# 2 % at 200 msg/s is 4 messages' worth of room (20 ms of jitter) and still leaves the mean above 194.
PACING_MARGIN = 0.02
TIER_WINDOW_SECONDS = 24 * 3600
# The tier set outlives its newest entry by the window plus this, then Redis drops it; the next
# reservation seeds it again from the database.
TIER_TTL_SLACK_SECONDS = 3600
# A member of the tier set that no phone can be (phones are digits): its presence says "seeded".
SEEDED_MARKER = "~seeded"


def dialog_name(sender_id: int, address: str) -> str:
    """The limit of one bot's dialog with one person (``Pacer.reserve_dialogs``): every campaign and reply of the
    bot to that address shares it."""
    return f"dialog:{sender_id}:{address}"


class RateLimitUnavailableError(RuntimeError):
    """Redis, which holds the shared rate limits, did not answer: nothing may be sent until it does."""


# KEYS: the limits' keys. ARGV[1]: n; ARGV[1 + i]: the interval of KEYS[i] in seconds (0 = unlimited).
# Returns {offset of the first slot from now, spacing}, as strings (Lua numbers would come back truncated).
_RESERVE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local n = tonumber(ARGV[1])
local start, step = now, 0
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat > start then start = tat end
  local interval = tonumber(ARGV[1 + i])
  if interval > step then step = interval end
end
local last = start + (n - 1) * step
for i, key in ipairs(KEYS) do
  local tat = last + tonumber(ARGV[1 + i])
  if tat > now then
    redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
  end
end
return {string.format('%.6f', start - now), string.format('%.9f', step)}
"""

# Slots under the shared limits and, per message, its dialog's limit (a bot: MAX 2/s, Telegram 1/s to one person).
# KEYS: the k shared limits' keys, then the n messages' dialog keys (distinct). ARGV[1]: n; ARGV[2]: k;
# ARGV[2 + i]: the interval of KEYS[i]; ARGV[3 + k]: the dialog interval. In order, each message whose dialog is
# free by the next slot of the shared stream takes that slot (and its dialog's TAT moves on); one whose dialog is
# not gets no slot and holds nothing: its place goes to the next message, and the caller tries it again once its
# dialog is free. Returns, per message, {"s", offset of its slot} or {"w", seconds until its dialog is free},
# offsets from now as strings.
_RESERVE_DIALOGS = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local n = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local dialog = tonumber(ARGV[3 + k])
local free, step = now, 0
for i = 1, k do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > free then free = tat end
  local interval = tonumber(ARGV[2 + i])
  if interval > step then step = interval end
end
local result = {}
local taken = 0
for j = 1, n do
  local ready = tonumber(redis.call('GET', KEYS[k + j]) or '0')
  if ready <= free then
    result[j] = {'s', string.format('%.6f', free - now)}
    local tat = free + dialog
    redis.call('SET', KEYS[k + j], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
    free = free + step
    taken = taken + 1
  else
    result[j] = {'w', string.format('%.6f', ready - now)}
  end
end
if taken > 0 then
  local last = free - step
  for i = 1, k do
    local tat = last + tonumber(ARGV[2 + i])
    if tat > now then
      redis.call('SET', KEYS[i], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
    end
  end
end
return result
"""

# KEYS[1]: the key. ARGV[1]: seconds. TAT = max(TAT, now + seconds).
_SLOW_DOWN = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > tat then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.ceil((until_ - now) * 1000) + 1000)
end
return 1
"""

# KEYS[1]: the sender's set (phone -> time of its latest reservation). ARGV: limit (-1 = unlimited),
# window, ttl, the marker, the number of phones P, the P phones, then (phone, epoch seconds) seed pairs if
# the caller brings a seed ('-' as ARGV[6 + P] when it does not). Returns {'seed'} when the set is not
# seeded and no seed came; else {'ok', frees_in ('' = nothing refused), granted phone, …}.
_TIER = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local marker = ARGV[4]
local count = tonumber(ARGV[5])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
if not redis.call('ZSCORE', key, marker) then
  local seed_at = 6 + count
  if ARGV[seed_at] == '-' then return {'seed'} end
  local batch = {}
  -- Lua 5.1 unpacks a few thousand values at most: load in chunks.
  for i = seed_at, #ARGV, 2 do
    batch[#batch + 1] = ARGV[i + 1]
    batch[#batch + 1] = ARGV[i]
    if #batch >= 1000 then
      redis.call('ZADD', key, 'GT', unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('ZADD', key, 'GT', unpack(batch)) end
  redis.call('ZADD', key, '+inf', marker)
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key) - 1
local stamp = string.format('%.6f', now)
local result = {'ok', ''}
local refused = false
for i = 6, 5 + count do
  local phone = ARGV[i]
  if redis.call('ZSCORE', key, phone) then
    redis.call('ZADD', key, stamp, phone)
    result[#result + 1] = phone
  elseif limit < 0 or used < limit then
    redis.call('ZADD', key, stamp, phone)
    used = used + 1
    result[#result + 1] = phone
  else
    refused = true
  end
end
redis.call('EXPIRE', key, ttl)
if refused then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local frees = window
  if oldest[1] and oldest[1] ~= marker then frees = math.max(0, tonumber(oldest[2]) + window - now) end
  result[2] = string.format('%.6f', frees)
end
return result
"""


def _unavailable(error: Exception) -> NoReturn:
    raise RateLimitUnavailableError(f"Redis did not answer, so the shared rate limits cannot be read: {error}") \
        from error


@dataclass(frozen=True)
class DialogSlot:
    """One message's answer from ``Pacer.reserve_dialogs``: its slot in seconds from now, or (``slot`` None) how long
    until its dialog is free."""

    slot: float | None
    wait: float


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Pacer:
    """Send-time slots under several rates at once (the sender's msgs/s, the campaign's own lower rate).

    GCRA with no burst: each key keeps one number, its theoretical arrival time (TAT), the earliest moment the
    next message under that limit may go. ``reserve`` hands out a whole batch of slots in one round trip.
    """

    def __init__(self, redis: Redis, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._reserve_dialogs = redis.register_script(_RESERVE_DIALOGS)
        self._slow_down = redis.register_script(_SLOW_DOWN)

    def key(self, name: str) -> str:
        """The Redis key of the limit called ``name`` (e.g. ``sender:3``)."""
        return f"{self.prefix}:pace:{name}"

    def reserve(self, limits: Sequence[tuple[str, float | None]], n: int) -> list[float]:
        """Reserve ``n`` send slots under every ``(name, messages per second)`` limit; a rate of None or 0 is
        unlimited (the name still counts for ``slow_down``). Returns when each message may go, in seconds
        from now, ascending: one stream at the slowest rate (less ``PACING_MARGIN``), starting at the latest
        TAT of all the limits; afterwards every limit's TAT is the last slot plus its own interval. A message
        must not leave before its slot; slots nobody uses (a worker died) are lost, never given twice."""
        if n <= 0:
            return []
        intervals = [1 / (rate * (1 - PACING_MARGIN)) if rate else 0.0 for _name, rate in limits]
        try:
            offset, step = self._reserve(keys=[self.key(name) for name, _rate in limits], args=[n, *intervals])
        except (RedisConnectionError, RedisTimeoutError) as error:
            _unavailable(error)
        offset, step = float(offset), float(step)
        return [offset + index * step for index in range(n)]

    def reserve_dialogs(self, limits: Sequence[tuple[str, float | None]], dialogs: Sequence[str],
                        dialog_rate: float) -> list[DialogSlot]:
        """A slot for each message of ``dialogs`` (each message's dialog name, ``dialog_name``; distinct) under every
        shared ``limits`` as ``reserve`` gives them, and under its dialog's ``dialog_rate`` msgs/s (less
        ``PACING_MARGIN``), across every worker, campaign and reply. A message whose dialog is not free by the
        shared stream's next slot gets none (``slot`` None) and ``wait``, the seconds until it is: it holds no
        place, so the messages after it go at the bot's rate and never wait behind it. In the order of
        ``dialogs``; the slots are ascending among those that got one."""
        if not dialogs:
            return []
        if len(set(dialogs)) != len(dialogs):
            raise ValueError("each dialog may have one message per reservation")
        intervals = [1 / (rate * (1 - PACING_MARGIN)) if rate else 0.0 for _name, rate in limits]
        dialog_interval = 1 / (dialog_rate * (1 - PACING_MARGIN))
        keys = [self.key(name) for name, _rate in limits] + [self.key(name) for name in dialogs]
        try:
            reply = self._reserve_dialogs(keys=keys, args=[len(dialogs), len(limits), *intervals, dialog_interval])
        except (RedisConnectionError, RedisTimeoutError) as error:
            _unavailable(error)
        return [DialogSlot(float(value), 0.0) if _text(kind) == "s" else DialogSlot(None, float(value))
                for kind, value in reply]

    def slow_down(self, name: str, seconds: float) -> None:
        """Hold every slot of the limit ``name`` back until ``seconds`` from now (the provider said to wait);
        a later TAT already there stays."""
        if seconds <= 0:
            return
        try:
            self._slow_down(keys=[self.key(name)], args=[seconds])
        except (RedisConnectionError, RedisTimeoutError) as error:
            _unavailable(error)


@dataclass(frozen=True)
class Granted:
    """The phones that may be sent to now, and, if some were refused, in how many seconds headroom frees."""

    phones: set[str]
    frees_in: float | None


# What a seed yields: each phone the sender reached in the last 24 h with its latest send time.
Seed = Callable[[], Iterable[tuple[str, datetime | float]]]


class TierReservations:
    """The messaging tier: how many unique recipients a sender may reach in any rolling 24 h.

    One sorted set per sender, phone → time of its latest reservation. Reserving is atomic, so two batches
    never both spend the same headroom. Redis only mirrors the database: when the set is missing (Redis
    restarted, or nobody sent for a day) it is first loaded from ``seed`` — the phones with their last send
    time from the rows in ``SENT_STATUSES`` — in the same script that reserves.
    """

    def __init__(self, redis: Redis, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._tier = redis.register_script(_TIER)

    def key(self, sender_id: int) -> str:
        """The Redis key of a sender's tier set."""
        return f"{self.prefix}:tier:{sender_id}"

    def reserve(self, sender_id: int, phones: Iterable[str], limit: int | None, seed: Seed) -> Granted:
        """Reserve a place in the sender's rolling 24 h for each of ``phones`` (``limit`` unique recipients,
        None for unlimited). A phone already in the window is granted without taking headroom; the others
        while headroom lasts. ``seed`` is called only when Redis has no set for the sender (rarely: a second
        worker racing on the same empty set may call it too, and only the first load counts)."""
        wanted = list(dict.fromkeys(phones))
        if not wanted:
            return Granted(phones=set(), frees_in=None)
        head = [-1 if limit is None else limit, TIER_WINDOW_SECONDS,
                TIER_WINDOW_SECONDS + TIER_TTL_SLACK_SECONDS, SEEDED_MARKER, len(wanted), *wanted]
        reply = self._call(sender_id, [*head, "-"])
        if reply[0] == "seed":
            pairs = [value for phone, at in seed() for value in (phone, _epoch(at))]
            reply = self._call(sender_id, [*head, *pairs])
        frees_in = float(reply[1]) if reply[1] else None
        return Granted(phones=set(reply[2:]), frees_in=frees_in)

    def _call(self, sender_id: int, args: list) -> list[str]:
        try:
            reply = self._tier(keys=[self.key(sender_id)], args=args)
        except (RedisConnectionError, RedisTimeoutError) as error:
            _unavailable(error)
        return [value.decode() if isinstance(value, bytes) else value for value in reply]


def _epoch(at: datetime | float) -> float:
    return at.timestamp() if isinstance(at, datetime) else float(at)
