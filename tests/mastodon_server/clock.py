"""The server's clock (real time plus an offset tests can move) and Mastodon's time-based ids."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime


class ServerClock:
    """Real time shifted by an offset. Tests advance it (idempotency expiry, rate-limit windows, scheduled
    statuses) instead of sleeping; the offset lives in the server, so every client process sees it."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        with self._lock:
            self._offset = moment.timestamp() - time.time()
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


def snowflake_at(moment: datetime, low_bits: int = 0) -> int:
    return (int(moment.timestamp() * 1000) << 16) + (low_bits & 0xFFFF)


class SnowflakeGenerator:
    """Ids like Mastodon's `timestamp_id`: milliseconds since the epoch shifted left 16 bits, plus 16 bits that
    keep ids made in the same millisecond distinct and increasing. `min_id=(ms << 16)` selects by time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0
        self._issued: set[int] = set()

    def next_id(self, now_ms: int) -> int:
        with self._lock:
            if now_ms <= self._last_ms:
                # Same millisecond (or the clock was moved back): stay above the last id.
                now_ms = self._last_ms
                self._sequence += 1
                if self._sequence > 0xFFFF:
                    now_ms += 1
                    self._sequence = random.randrange(0, 0x4000)
            else:
                self._sequence = random.randrange(0, 0x4000)
            self._last_ms = now_ms
            value = (now_ms << 16) + self._sequence
            self._issued.add(value)
            return value

    def id_at(self, moment_ms: int, avoid: int | None = None) -> int:
        """An id for a record created in the past (Mastodon's `Snowflake.id_at(created_at)` with random low
        bits, used for remote statuses): ordered by the original time, distinct from `avoid`."""
        with self._lock:
            while True:
                value = (moment_ms << 16) + random.randrange(0, 0x10000)
                if value != avoid and value not in self._issued:
                    self._issued.add(value)
                    return value

    def reset(self) -> None:
        with self._lock:
            self._last_ms = -1
            self._sequence = 0
            self._issued.clear()
