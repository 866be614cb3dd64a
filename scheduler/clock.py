"""How time is decided. The clock is passed in wherever time decides behaviour, so tests and rehearsals
never sleep and never patch the system clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that moves only when told to."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    def set(self, instant: datetime) -> None:
        self.current = instant


@dataclass
class FastForwardClock:
    """Rehearsal time: it runs at real speed while work is being done and fast-forwards through the quiet
    gaps (waiting `gap / speed` real seconds, or at most `max_pause` when given: the rest is jumped), so the lag
    it shows is the lag a real run would have."""

    current: datetime
    speed: float
    max_pause: float | None = None
    _anchor: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.current + timedelta(seconds=time.monotonic() - self._anchor)

    def wait_until(self, instant: datetime) -> None:
        gap = (instant - self.now()).total_seconds()
        if gap <= 0:
            return
        pause = gap / self.speed
        time.sleep(pause if self.max_pause is None else min(pause, self.max_pause))
        self.current = instant
        self._anchor = time.monotonic()
