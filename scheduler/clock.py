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
class CompressedClock:
    """Virtual time that runs `speed` times faster than real time from `virtual_start`."""

    virtual_start: datetime
    speed: float
    real_start: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.virtual_start + timedelta(seconds=(time.monotonic() - self.real_start) * self.speed)

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self.now()).total_seconds() / self.speed)

    def to_spec(self) -> str:
        """A string another process can rebuild the same clock from (see `clock_from_spec`)."""
        wall_start = time.time() - (time.monotonic() - self.real_start)
        return f"compressed:{self.virtual_start.isoformat()}:{self.speed}:{wall_start}"


def clock_from_spec(spec: str | None) -> Clock:
    if not spec or spec == "system":
        return SystemClock()
    kind, _, rest = spec.partition(":")
    if kind == "compressed":
        virtual, speed, wall_start = rest.rsplit(":", 2)
        clock = CompressedClock(datetime.fromisoformat(virtual), float(speed))
        clock.real_start = time.monotonic() - (time.time() - float(wall_start))
        return clock
    raise ValueError(f"unknown clock spec {spec!r}: use 'system' or 'compressed:<iso start>:<speed>:<epoch>'")


@dataclass
class FastForwardClock:
    """Rehearsal time: it runs at real speed while work is being done and fast-forwards through the quiet
    gaps (waiting `gap / speed` real seconds), so the lag it shows is the lag a real run would have."""

    current: datetime
    speed: float
    _anchor: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.current + timedelta(seconds=time.monotonic() - self._anchor)

    def wait_until(self, instant: datetime) -> None:
        gap = (instant - self.now()).total_seconds()
        if gap <= 0:
            return
        time.sleep(gap / self.speed)
        self.current = instant
        self._anchor = time.monotonic()
