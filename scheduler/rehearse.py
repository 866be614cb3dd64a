"""`campaign rehearse`: play calendars against a clock running N times fast, into a rehearsal outbox.

It runs the real policy and publish path (tick, claim, begin/complete publish, the outbox adapter) in one
process on its own store, so a team can watch a week go out in minutes and see every post's planned and
actual time, without a broker and without touching the real schedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from platforms.outbox import OutboxAdapter
from scheduler.api import ScheduleRefused, check_paths
from scheduler.clock import FastForwardClock
from scheduler.db import Store
from scheduler.dispatch import Claim, DispatchPolicy, tick
from scheduler.models import Delivery, State
from scheduler.publishing import publish_delivery
from scheduler.sync import schedule_calendars


@dataclass(frozen=True)
class RehearsedDelivery:
    campaign: str
    post_id: str
    platform: str
    part: int
    planned: datetime
    actual: datetime
    result: str

    @property
    def lag(self) -> timedelta:
        return self.actual - self.planned


@dataclass
class Rehearsal:
    directory: Path
    outbox: Path
    delivered: list[RehearsedDelivery] = field(default_factory=list)
    missed: int = 0
    failed: int = 0


def rehearse(
    paths: Sequence[Path],
    *,
    speed: float,
    start: datetime | None,
    campaigns_dir: Path,
    directory: Path,
    on_delivery: Callable[[RehearsedDelivery], None] = lambda _d: None,
    policy: DispatchPolicy | None = None,
    max_real_seconds: float | None = None,
) -> Rehearsal:
    if speed <= 0:
        raise ValueError("speed must be positive")
    checked = check_paths(paths, now=None, campaigns_dir=campaigns_dir)
    if checked.errors:
        raise ScheduleRefused([p.format() for p in checked.errors])
    directory.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{directory / 'rehearsal.db'}")
    outbox = directory / "outbox.jsonl"
    adapters = {platform: OutboxAdapter(outbox, platform, account="rehearsal") for platform in ("bluesky", "mastodon")}
    first_due = min(
        (
            part.at
            for item in checked.inputs
            for parts in item.rendered.values()
            for ps in parts.values()
            for part in ps
        ),
        default=datetime.now(UTC),
    )
    virtual_start = start or (first_due - timedelta(minutes=1))
    schedule_calendars(store, checked.inputs, virtual_start, actor="rehearsal")
    clock = FastForwardClock(virtual_start.astimezone(UTC), speed)
    policy = policy or DispatchPolicy()
    rehearsal = Rehearsal(directory, outbox)
    pending: list[Claim] = []
    real_deadline = None if max_real_seconds is None else time.monotonic() + max_real_seconds
    try:
        while True:
            result = tick(store, clock.now(), policy, actor="rehearsal")
            rehearsal.missed += len(result.missed)
            pending.extend(result.claimed)
            pending.sort(key=lambda c: c.run_at)
            while pending and pending[0].run_at <= clock.now():
                claim = pending.pop(0)
                outcome = publish_delivery(
                    store,
                    claim.delivery_id,
                    adapter_for=lambda _c, p: adapters[p],
                    clock=clock,
                    policy=policy,
                    worker="rehearsal",
                )
                pending.extend(outcome.follow_ups)
                pending.sort(key=lambda c: c.run_at)
                if outcome.result == "failed":
                    rehearsal.failed += 1
                delivered = _describe(store, claim.delivery_id, clock.now(), outcome.result)
                rehearsal.delivered.append(delivered)
                on_delivery(delivered)
            if not pending and _remaining(store) == 0:
                return rehearsal
            if real_deadline is not None and time.monotonic() > real_deadline:
                return rehearsal
            clock.wait_until(pending[0].run_at if pending else _next_due(store, clock.now() + policy.claim_window / 2))
    finally:
        store.dispose()


def _describe(store: Store, delivery_id: int, actual: datetime, result: str) -> RehearsedDelivery:
    with store.transaction() as session:
        delivery = session.get_one(Delivery, delivery_id)
        return RehearsedDelivery(
            delivery.campaign, delivery.post_id, delivery.platform, delivery.part, delivery.due_at, actual, result
        )


def _next_due(store: Store, default: datetime) -> datetime:
    """When the next scheduled delivery falls due (minus the claim window's reach), to fast-forward to it."""
    with store.transaction() as session:
        due = session.scalar(select(func.min(Delivery.due_at)).where(Delivery.state == State.SCHEDULED))
    return default if due is None else max(default, due - timedelta(seconds=1))


def _remaining(store: Store) -> int:
    with store.transaction() as session:
        return (
            session.scalar(
                select(func.count()).where(Delivery.state.in_([State.SCHEDULED, State.CLAIMED, State.PUBLISHING]))
            )
            or 0
        )
