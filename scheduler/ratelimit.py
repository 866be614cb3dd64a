"""A per-account rate limiter shared by every worker: a moving window in Redis (the `limits` library),
keyed by platform and account, configured from each platform's published limits."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from scheduler.redis_urls import for_limits

# Bluesky: 5,000 write points an hour and 35,000 a day, a create costs 3 points.
# Mastodon: 300 statuses per 3 hours (and 300 requests per 5 minutes).
PLATFORM_LIMITS: Mapping[str, str] = {
    "bluesky": "1666/hour;11666/day",
    "mastodon": "300 per 3 hours;60 per 5 minutes",
}


class RateLimiter:
    def __init__(self, redis_url: str, limits: Mapping[str, str] = PLATFORM_LIMITS):
        self._storage = storage_from_string(for_limits(redis_url))
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._limits: dict[str, Sequence[RateLimitItem]] = {p: parse_many(spec) for p, spec in limits.items()}

    def acquire(self, platform: str, account: str) -> float | None:
        """Take one token. Returns None when granted, else how many seconds to wait before asking again."""
        # Each hit is atomic in Redis (a Lua script), so two workers can never both take the last token.
        # A token taken from an earlier window when a later one refuses is lost: conservative, never over.
        for item in self._limits.get(platform, ()):
            if not self._strategy.hit(item, platform, account):
                reset, _remaining = self._strategy.get_window_stats(item, platform, account)
                return max(1.0, reset - time.time())
        return None
