"""Fixed-window counters with Mastodon's header arithmetic.

Rack::Attack and Mastodon's RateLimiter both count in windows aligned on multiples of the period since the
epoch, and report `X-RateLimit-Reset` as now + (period - now % period) with microseconds (`iso8601(6)`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from .config import Throttle


@dataclass(frozen=True)
class ThrottleState:
    name: str
    limit: int
    period: int
    count: int  # including the current request when it was counted
    now: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    def headers(self, *, remaining: int | None = None) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining if remaining is None else remaining),
            "X-RateLimit-Reset": reset_header(self.now, self.period),
        }


def reset_header(now: float, period: int) -> str:
    reset = now + (period - int(now) % period)
    moment = datetime.fromtimestamp(reset, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


class WindowCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}

    def _window(self, throttle: Throttle, now: float) -> int:
        return int(now) // throttle.period

    def hit(self, name: str, discriminator: str, throttle: Throttle, now: float) -> ThrottleState:
        key = (name, discriminator, self._window(throttle, now))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return ThrottleState(name, throttle.limit, throttle.period, self._counts[key], now)

    def peek(self, name: str, discriminator: str, throttle: Throttle, now: float) -> ThrottleState:
        key = (name, discriminator, self._window(throttle, now))
        with self._lock:
            return ThrottleState(name, throttle.limit, throttle.period, self._counts.get(key, 0), now)

    def set(self, name: str, discriminator: str, throttle: Throttle, now: float, count: int) -> None:
        with self._lock:
            self._counts[(name, discriminator, self._window(throttle, now))] = count

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
