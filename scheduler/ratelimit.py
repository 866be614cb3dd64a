"""A per-account rate limiter shared by every worker: moving windows in Redis, keyed by platform and account,
configured from each platform's published limits, with time taken from the clock passed in.

A post is admitted only when every limit of its account admits it, and then counts against all of them at
once; a refusal counts against none. A post refused is told when its turn comes: the posts waiting for one
account are queued in planned order, and the Nth of them gets the Nth instant the limits will admit a post,
so a backlog drains at exactly the pace the limits allow, oldest first.

The `limits` library reads the specifications; the test-and-take runs in one Lua script of our own, because
the library takes one limit at a time (a refusal by the second would already have spent the first) and its
time from `time.time()`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from limits import parse_many

from content_calendar.model import PLATFORM_NAMES
from scheduler.redis_urls import for_redis_py

# Bluesky: 5,000 write points an hour and 35,000 a day, a create costs 3 points.
# Mastodon: 300 statuses per 3 hours (and 300 requests per 5 minutes: 60 posts leave room for the rest).
PLATFORM_LIMITS: Mapping[str, str] = {
    "bluesky": "1666/hour;11666/day",
    "mastodon": "300 per 3 hours;60 per 5 minutes",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(instant: datetime) -> int:
    return (instant - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


@dataclass(frozen=True)
class Limit:
    amount: int  # posts
    seconds: int  # per this many seconds, in any window of that length
    per: str  # the window as a person reads it: "3 hours", "hour"

    def __str__(self) -> str:
        return f"{self.amount} posts per {self.per}"


def parse_limits(spec: str) -> tuple[Limit, ...]:
    """`limits` notation ("300 per 3 hours;60 per 5 minutes") as Limits."""
    found = []
    for item in parse_many(spec):
        unit = item.GRANULARITY.name
        per = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
        found.append(Limit(item.amount, item.get_expiry(), per))
    return tuple(found)


def platform_limits(platform: str, specs: Mapping[str, str] = PLATFORM_LIMITS) -> tuple[Limit, ...]:
    spec = specs.get(platform)
    return parse_limits(spec) if spec else ()


def describe(platform: str, account: str, limit: Limit) -> str:
    """The limit as a person reads it, e.g. "Mastodon's rate limit for social.example: 300 posts per 3 hours"."""
    return f"{PLATFORM_NAMES.get(platform, platform)}'s rate limit for {account}: {limit}"


@dataclass(frozen=True)
class Hold:
    """Not now: the instant the limits will admit this post (its turn in the account's queue), and the limit
    that holds it back."""

    until: datetime
    platform: str
    account: str
    limit: Limit

    @property
    def reason(self) -> str:
        return describe(self.platform, self.account, self.limit)


# KEYS: each limit's log (admission times in ms, newest first), then the account's waiting posts (a sorted set
# by planned time, the member the zero-padded ticket, so equal times go in ticket order) and their turns (a hash).
# ARGV: now, ticket, planned, deadline, stale (ms), the number of limits, then each limit's amount and window.
# Returns {1} when admitted, else {0, the instant of its turn, the 1-based index of the limit holding it}.
_ACQUIRE = """
local now, ticket = tonumber(ARGV[1]), ARGV[2]
local planned, deadline, stale = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local waiting, turns = KEYS[n + 1], KEYS[n + 2]

-- Waiting posts planned before this one. One whose turn passed long ago without it asking again is gone
-- (cancelled, paused, missed): it no longer keeps anyone waiting.
local ahead = 0
local before = redis.call('zrangebyscore', waiting, '-inf', planned, 'WITHSCORES')
for i = 1, #before, 2 do
  local member, score = before[i], tonumber(before[i + 1])
  if member ~= ticket then
    local turn = tonumber(redis.call('hget', turns, member) or '0')
    if turn + stale < now then
      redis.call('zrem', waiting, member)
      redis.call('hdel', turns, member)
    elseif score < planned or member < ticket then
      ahead = ahead + 1
    end
  end
end

-- The next `ahead + 1` instants the limits admit a post, each no earlier than the one before: in a window of
-- `span` ms at most `amount` posts, so a post is admitted once the amount-th latest is `span` old.
local amount, span, log = {}, {}, {}
local longest = 0
for i = 1, n do
  amount[i], span[i] = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
  if span[i] > longest then longest = span[i] end
  local newest_first = redis.call('lrange', KEYS[i], 0, amount[i] - 1)
  local oldest_first = {}
  for j = #newest_first, 1, -1 do oldest_first[#oldest_first + 1] = tonumber(newest_first[j]) end
  log[i] = oldest_first
end
local at, by = now, 0
for step = 0, ahead do
  for i = 1, n do
    local entries = log[i]
    if #entries >= amount[i] then
      local free = entries[#entries - amount[i] + 1] + span[i]
      if free > at then at, by = free, i end
    end
  end
  if step < ahead then
    for i = 1, n do log[i][#log[i] + 1] = at end
  end
end

if at <= now then
  for i = 1, n do
    -- Never before the latest entry: a worker whose clock is a little behind keeps the log in order.
    local latest = tonumber(redis.call('lindex', KEYS[i], 0) or '0')
    redis.call('lpush', KEYS[i], math.max(now, latest))
    redis.call('ltrim', KEYS[i], 0, amount[i] - 1)
    redis.call('pexpire', KEYS[i], span[i])
  end
  redis.call('zrem', waiting, ticket)
  redis.call('hdel', turns, ticket)
  return {1}
end
if at <= deadline then
  redis.call('zadd', waiting, planned, ticket)
  redis.call('hset', turns, ticket, at)
  redis.call('pexpire', waiting, longest + stale)
  redis.call('pexpire', turns, longest + stale)
else
  -- Its turn comes too late for it: it is left out of the queue, so it keeps no later post waiting.
  redis.call('zrem', waiting, ticket)
  redis.call('hdel', turns, ticket)
end
return {0, at, by}
"""


class RateLimiter:
    """`acquire` admits a post or says when its turn comes. Every worker shares the state in Redis; each call
    is one atomic script, so two workers can never both take the last place in a window."""

    def __init__(
        self,
        redis_url: str,
        limits: Mapping[str, str] = PLATFORM_LIMITS,
        *,
        stale_after: timedelta = timedelta(minutes=5),
        prefix: str = "campaign:rate",
    ):
        self._redis = redis.Redis.from_url(for_redis_py(redis_url))
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._limits = {platform: parse_limits(spec) for platform, spec in limits.items()}
        self._stale_ms = int(stale_after / _MS)
        self._prefix = prefix

    def limits(self, platform: str) -> tuple[Limit, ...]:
        return self._limits.get(platform, ())

    def acquire(
        self, platform: str, account: str, *, now: datetime, ticket: int, planned: datetime, deadline: datetime
    ) -> Hold | None:
        """Admit the post `ticket` (planned at `planned`, of no use after `deadline`) now: None, and it counts
        against every limit of the account. Else a Hold: when its turn comes, and which limit holds it back;
        nothing is counted. A post whose turn comes after its deadline is not queued."""
        limits = self.limits(platform)
        if not limits:
            return None
        base = f"{self._prefix}:{platform}:{account}"
        keys = [f"{base}:{limit.amount}/{limit.seconds}" for limit in limits] + [f"{base}:waiting", f"{base}:turns"]
        args: list[int | str] = [to_ms(now), f"{ticket:012d}", to_ms(planned), to_ms(deadline), self._stale_ms]
        args.append(len(limits))
        for limit in limits:
            args += [limit.amount, limit.seconds * 1000]
        answer = self._acquire(keys=keys, args=args)
        if answer[0] == 1:
            return None
        return Hold(from_ms(int(answer[1])), platform, account, limits[int(answer[2]) - 1])

    def clear(self, platform: str, account: str) -> None:
        """Forget an account's windows and queue (tests and benchmarks start from nothing)."""
        keys = list(self._redis.scan_iter(match=f"{self._prefix}:{platform}:{account}:*"))
        if keys:
            self._redis.delete(*keys)

    def close(self) -> None:
        self._redis.close()
