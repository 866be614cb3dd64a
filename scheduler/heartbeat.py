"""Whether the scheduler is running: every tick leaves a heartbeat in the store (when it last checked the
schedule, and since when it has done so without a gap), and `status` reads it. One row of the settings table,
so the heartbeat is where the schedule is, whichever machine runs beat and the workers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from scheduler.db import Store
from scheduler.models import Setting

HEARTBEAT_KEY = "heartbeat"
# A scheduler is taken as stopped once it has missed this many checks in a row, and never sooner than
# STALE_AT_LEAST: a busy worker can run a check late (the check waits behind posts on the same queue).
MISSED_CHECKS = 6
STALE_AT_LEAST = timedelta(minutes=1)

SchedulerState = Literal["running", "stopped", "never started"]


def stale_after(tick_seconds: float) -> timedelta:
    """How long after its last check a scheduler checking every `tick_seconds` is taken as stopped."""
    return max(STALE_AT_LEAST, timedelta(seconds=tick_seconds * MISSED_CHECKS))


@dataclass(frozen=True)
class Heartbeat:
    """The scheduler as `status` shows it. `started_at` is when its current run of checks began: a gap longer
    than `stale_after` starts a new run."""

    state: SchedulerState
    last_check_at: datetime | None = None
    started_at: datetime | None = None
    tick_seconds: float | None = None
    by: str | None = None  # the process that made the last check

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "running": self.running,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "last_check_at": self.last_check_at.isoformat() if self.last_check_at else None,
            "tick_seconds": self.tick_seconds,
            "by": self.by,
        }


def _parse(value: str) -> tuple[datetime, datetime, float, str] | None:
    try:
        data = json.loads(value)
        return (
            datetime.fromisoformat(data["last_check_at"]),
            datetime.fromisoformat(data["started_at"]),
            float(data["tick_seconds"]),
            str(data.get("by") or ""),
        )
    except (ValueError, KeyError, TypeError):
        return None  # a row from another version: the next check writes a good one


def beat(store: Store, now: datetime, *, tick_seconds: float, by: str) -> None:
    """Record a check of the schedule made at `now` by `by`, which checks every `tick_seconds`."""
    with store.transaction() as session:
        row = session.get(Setting, HEARTBEAT_KEY, with_for_update=store.dialect == "postgresql")
        previous = _parse(row.value) if row is not None else None
        started = now
        if previous is not None:
            last, previous_start, previous_seconds, _by = previous
            if now - last <= stale_after(previous_seconds):
                started = previous_start
        value = json.dumps(
            {
                "last_check_at": now.isoformat(),
                "started_at": started.isoformat(),
                "tick_seconds": tick_seconds,
                "by": by,
            }
        )
        if row is not None:
            row.value = value
            row.updated_at = now
            return
        try:
            with session.begin_nested():  # two first checks at once (PostgreSQL): one row wins, both are fine
                session.add(Setting(key=HEARTBEAT_KEY, value=value, updated_at=now))
        except IntegrityError:
            pass


def read(store: Store, now: datetime) -> Heartbeat:
    """The heartbeat as of `now`: running, stopped (with when it was last seen) or never started."""
    with store.transaction() as session:
        row = session.get(Setting, HEARTBEAT_KEY)
        parsed = _parse(row.value) if row is not None else None
    if parsed is None:
        return Heartbeat("never started")
    last, started, tick_seconds, by = parsed
    state: SchedulerState = "running" if now - last <= stale_after(tick_seconds) else "stopped"
    return Heartbeat(state, last_check_at=last, started_at=started, tick_seconds=tick_seconds, by=by or None)
