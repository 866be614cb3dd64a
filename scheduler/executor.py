"""Who runs the publishing work. The dispatch policy decides *what* is due (claims); an executor decides
*where* each claim's publish runs: on a Celery worker (workers/tasks.py) or inline in this process (rehearsal,
`campaign post-now`). Claim, publish and thread follow-ups go through this one interface, never a loop of
their own."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from scheduler.clock import Clock
from scheduler.dispatch import Claim
from scheduler.publishing import Outcome


class Executor(Protocol):
    def submit(self, claims: Sequence[Claim]) -> None:
        """Arrange for each claim's delivery to be published at (not before) its `run_at`."""
        ...


class InlineExecutor:
    """Runs claims in this process, in `run_at` order, once the clock reaches them. `publish` is the
    application's publish of one delivery id; whatever it claims next (a thread's following parts) comes back
    through `submit`, so a whole thread drains in one `run_due`."""

    def __init__(self, clock: Clock, publish: Callable[[int, InlineExecutor], Outcome]):
        self._clock = clock
        self._publish = publish
        self._queue: list[tuple[datetime, int, Claim]] = []
        self._order = itertools.count()  # ties keep submission order

    def submit(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            heapq.heappush(self._queue, (claim.run_at, next(self._order), claim))

    @property
    def next_at(self) -> datetime | None:
        return self._queue[0][0] if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)

    def run_due(self) -> list[tuple[Claim, Outcome]]:
        """Publish every claim due by now, including the follow-ups they make due; return what happened."""
        done = []
        while self._queue and self._queue[0][0] <= self._clock.now():
            _, _, claim = heapq.heappop(self._queue)
            done.append((claim, self._publish(claim.delivery_id, self)))
        return done
