"""`campaign rehearse`: play calendars against a clock running N times fast, into a rehearsal outbox.

It runs the real policy and publish path (tick, claim, begin/complete publish, the outbox adapter) in one
process on its own store, so a team can watch a week go out in minutes and see every post's planned and
actual time, without a broker and without touching the real schedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from content_calendar.model import DEFAULT_TIMEZONE
from platforms.base import Secret
from scheduler.api import Api
from scheduler.calendars import CalendarRefused, check_calendars
from scheduler.clock import FastForwardClock
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy
from scheduler.models import Delivery, PostRecord, State
from scheduler.settings import Settings
from scheduler.sync import schedule_calendars
from scheduler.wiring import Wiring


@dataclass(frozen=True)
class RehearsedDelivery:
    campaign: str
    post_id: str
    platform: str
    part: int
    planned: datetime
    actual: datetime
    result: str
    timezone: str  # the campaign's: the zone its times are shown in

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
    settings: Settings,
    directory: Path,
    on_delivery: Callable[[RehearsedDelivery], None] = lambda _d: None,
    policy: DispatchPolicy | None = None,
    max_real_seconds: float | None = None,
) -> Rehearsal:
    """Play `paths` on a clock `speed` times fast, through the application's own tick, executor and publish,
    on a store and outbox of its own in `directory` and with no credentials (nothing reaches a platform)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    roots = [settings.campaigns_dir] if settings.campaigns_dir.is_dir() else []
    checked = check_calendars(paths, now=None, campaigns_roots=roots)
    if checked.errors:
        raise CalendarRefused(checked.errors)
    directory.mkdir(parents=True, exist_ok=True)
    outbox = directory / "outbox.jsonl"
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
    clock = FastForwardClock(virtual_start.astimezone(UTC), speed)
    offline = replace(
        settings,
        database_url=f"sqlite:///{directory / 'rehearsal.db'}",
        redis_url=None,
        outbox_path=outbox,
        bluesky_handle="",
        bluesky_app_password=Secret(""),
        mastodon_api_base_url="",
        mastodon_access_token=Secret(""),
    )
    wiring = Wiring.from_settings(offline, clock=clock, limiter=False)
    wiring.policy = policy or DispatchPolicy()
    api = Api(wiring)
    store = wiring.store
    schedule_calendars(store, checked.inputs, virtual_start, actor="rehearsal")
    executor = api.inline_executor(worker="rehearsal")
    rehearsal = Rehearsal(directory, outbox)
    real_deadline = None if max_real_seconds is None else time.monotonic() + max_real_seconds
    try:
        while True:
            rehearsal.missed += len(api.tick(executor, actor="rehearsal").missed)
            for claim, outcome in executor.run_due():
                if outcome.result == "failed":
                    rehearsal.failed += 1
                delivered = _describe(store, claim.delivery_id, clock.now(), outcome.result)
                rehearsal.delivered.append(delivered)
                on_delivery(delivered)
            if not len(executor) and _remaining(store) == 0:
                return rehearsal
            if real_deadline is not None and time.monotonic() > real_deadline:
                return rehearsal
            clock.wait_until(executor.next_at or _next_due(store, clock.now() + wiring.policy.claim_window / 2))
    finally:
        api.close()


def _describe(store: Store, delivery_id: int, actual: datetime, result: str) -> RehearsedDelivery:
    with store.transaction() as session:
        delivery = session.get_one(Delivery, delivery_id)
        zone = session.scalar(select(PostRecord.timezone).where(PostRecord.id == delivery.post_pk))
        return RehearsedDelivery(
            delivery.campaign, delivery.post_id, delivery.platform, delivery.part, delivery.due_at, actual, result,
            zone or DEFAULT_TIMEZONE,
        )  # fmt: skip


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
