"""`campaign rehearse`: play calendars against a clock running N times fast, into a rehearsal outbox.

It runs the real policy and publish path (tick, claim, begin/complete publish, the outbox adapter) in one
process on its own store, so a team can watch a week go out in minutes and see every post's planned and
actual time, without a broker and without touching the real schedule.

Quiet gaps (the hours and weeks with nothing due) are skipped by default: each wait for the next post lasts
at most `GAP_PAUSE` real seconds, then the clock jumps to it. The work itself always runs at real speed, so
the lag shown is the lag a real run would have. The plan says, before anything is played, how long it will
take (from the posts' times, the speed and that rule)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from content_calendar.model import DEFAULT_TIMEZONE, PlatformLimits
from platforms.base import Secret
from scheduler.api import Api
from scheduler.calendars import CalendarRefused, check_calendars
from scheduler.clock import FastForwardClock
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy
from scheduler.models import Delivery, PostRecord, State
from scheduler.settings import Settings
from scheduler.sync import CalendarInput, schedule_calendars, without_approval
from scheduler.wiring import Adapters, Wiring

GAP_PAUSE = 1.0  # real seconds: the longest a skipped quiet gap is shown for, so people can follow along
# Real seconds one part takes to go through claim, publish and the outbox here, for the estimate (measured with
# every gap jumped: 23 ms a part for the awareness week, 48 ms for January to March with its images and threads).
WORK_SECONDS = 0.05


@dataclass(frozen=True)
class RehearsedDelivery:
    campaign: str
    post_id: str
    platform: str
    part: int
    planned: datetime
    actual: datetime | None  # None: it never went out (missed)
    result: str  # published, missed, failed (or retry, held, skipped: the engine's other outcomes)
    timezone: str  # the campaign's: the zone its times are shown in

    @property
    def lag(self) -> timedelta | None:
        return None if self.actual is None else self.actual - self.planned

    def to_json(self) -> dict[str, Any]:
        lag = self.lag
        return {
            "campaign": self.campaign,
            "post_id": self.post_id,
            "platform": self.platform,
            "part": self.part,
            "planned": self.planned.isoformat(),
            "actual": self.actual.isoformat() if self.actual else None,
            "lag_seconds": None if lag is None else round(lag.total_seconds(), 3),
            "result": self.result,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class CampaignWindow:
    """One campaign's part of a rehearsal: its posts, from the first to the last, in its own zone."""

    campaign: str
    timezone: str
    posts: int
    parts: int
    first: datetime
    last: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "timezone": self.timezone,
            "posts": self.posts,
            "parts": self.parts,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
        }


@dataclass(frozen=True)
class RehearsalPlan:
    """What a rehearsal will play, and how long it will take, said before it starts."""

    campaigns: tuple[CampaignWindow, ...]
    start: datetime  # the clock's first instant
    speed: float
    skip_gaps: bool
    pause: float  # with skip_gaps: the most one wait for the next post lasts, in real seconds
    waiting: float  # real seconds of waiting for the posts, under this plan's rule
    waiting_real_gaps: float  # the same with every gap played at `speed`
    work: float  # real seconds of posting, estimated
    outbox: Path
    max_real_seconds: float | None = None

    @property
    def posts(self) -> int:
        return sum(c.posts for c in self.campaigns)

    @property
    def parts(self) -> int:
        return sum(c.parts for c in self.campaigns)

    @property
    def first(self) -> datetime | None:
        return min((c.first for c in self.campaigns), default=None)

    @property
    def last(self) -> datetime | None:
        return max((c.last for c in self.campaigns), default=None)

    @property
    def estimate(self) -> float:
        """Real seconds the rehearsal should take."""
        whole = self.waiting + self.work
        return whole if self.max_real_seconds is None else min(whole, self.max_real_seconds)

    @property
    def estimate_real_gaps(self) -> float:
        return self.waiting_real_gaps + self.work

    def to_json(self) -> dict[str, Any]:
        first, last = self.first, self.last
        return {
            "campaigns": [c.to_json() for c in self.campaigns],
            "posts": self.posts,
            "parts": self.parts,
            "first": first.isoformat() if first else None,
            "last": last.isoformat() if last else None,
            "start": self.start.isoformat(),
            "speed": self.speed,
            "quiet_gaps": "skipped" if self.skip_gaps else "played",
            "pause_seconds": self.pause if self.skip_gaps else None,
            "estimated_seconds": round(self.estimate, 1),
            "estimated_seconds_with_real_gaps": round(self.estimate_real_gaps, 1),
            "max_seconds": self.max_real_seconds,
            "outbox": str(self.outbox),
        }


@dataclass
class Rehearsal:
    directory: Path
    outbox: Path
    plan: RehearsalPlan | None = None
    delivered: list[RehearsedDelivery] = field(default_factory=list)
    missed: int = 0
    failed: int = 0
    real_seconds: float = 0.0
    not_played: int = 0  # parts left when --max-seconds stopped it

    @property
    def published(self) -> int:
        return sum(1 for d in self.delivered if d.result == "published")

    @property
    def largest_lag(self) -> RehearsedDelivery | None:
        out = [d for d in self.delivered if d.lag is not None and d.result == "published"]
        return max(out, key=lambda d: d.lag or timedelta(0), default=None)

    def to_json(self) -> dict[str, Any]:
        worst = self.largest_lag
        lag = worst.lag if worst is not None else None
        return {
            "header": self.plan.to_json() if self.plan else None,
            "posts": [d.to_json() for d in self.delivered],
            "summary": {
                "published": self.published,
                "missed": self.missed,
                "failed": self.failed,
                "largest_lag_seconds": None if lag is None else round(lag.total_seconds(), 3),
                "largest_lag": worst.to_json() if worst else None,
                "real_seconds": round(self.real_seconds, 1),
                "not_played": self.not_played,
                "outbox": str(self.outbox),
            },
        }


def offline(settings: Settings, *, database_url: str, outbox: Path) -> Settings:
    """`settings` on another store and outbox, with no credentials: nothing played on them reaches a platform."""
    return replace(
        settings,
        database_url=database_url,
        redis_url=None,
        outbox_path=outbox,
        bluesky_handle="",
        bluesky_app_password=Secret(""),
        mastodon_api_base_url="",
        mastodon_access_token=Secret(""),
    )


def rehearse(
    paths: Sequence[Path],
    *,
    speed: float,
    start: datetime | None,
    settings: Settings,
    limits: PlatformLimits,
    directory: Path,
    on_plan: Callable[[RehearsalPlan], None] = lambda _p: None,
    on_delivery: Callable[[RehearsedDelivery], None] = lambda _d: None,
    policy: DispatchPolicy | None = None,
    max_real_seconds: float | None = None,
    real_gaps: bool = False,
) -> Rehearsal:
    """Play `paths` on a clock `speed` times fast, through the application's own tick, executor and publish,
    on a store and outbox of its own in `directory` and with no credentials (nothing reaches a platform)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    roots = [settings.campaigns_dir] if settings.campaigns_dir.is_dir() else []
    checked = check_calendars(paths, now=None, campaigns_roots=roots, limits=limits, secrets=settings.secrets())
    if checked.errors:
        raise CalendarRefused(checked.errors)
    directory.mkdir(parents=True, exist_ok=True)
    outbox = directory / "outbox.jsonl"
    return play(
        checked.inputs,
        offline(settings, database_url=f"sqlite:///{directory / 'rehearsal.db'}", outbox=outbox),
        directory=directory, speed=speed, start=start, on_plan=on_plan, on_delivery=on_delivery, policy=policy,
        max_real_seconds=max_real_seconds, pause=None if real_gaps else GAP_PAUSE,
    )  # fmt: skip


def play(
    inputs: Sequence[CalendarInput],
    settings: Settings,
    *,
    directory: Path,
    speed: float,
    start: datetime | None = None,
    pause: float | None = GAP_PAUSE,
    on_plan: Callable[[RehearsalPlan], None] = lambda _p: None,
    on_delivery: Callable[[RehearsedDelivery], None] = lambda _d: None,
    policy: DispatchPolicy | None = None,
    max_real_seconds: float | None = None,
    adapters: Callable[[Settings], Adapters] | None = None,
    actor: str = "rehearsal",
) -> Rehearsal:
    """Schedule checked calendars on `settings`' store (it should hold nothing else) and play them on a fast
    clock through this application's own engine. `pause`: the most one quiet gap lasts in real seconds (None:
    every gap is played at `speed`). `adapters`: who posts (default: the settings' own, the outbox here)."""
    began = time.monotonic()
    virtual_start = start or (_first_due(inputs) - timedelta(minutes=1))
    clock = FastForwardClock(virtual_start.astimezone(UTC), speed, max_pause=pause)
    wiring = Wiring.from_settings(settings, clock=clock, limiter=False)
    if adapters is not None:
        wiring.adapters = adapters(settings)
    wiring.policy = policy or DispatchPolicy()
    api = Api(wiring)
    store = wiring.store
    rehearsal = Rehearsal(directory, settings.outbox_path)
    try:
        schedule_calendars(store, without_approval(inputs), virtual_start, actor=actor)  # timing, not review
        rehearsal.plan = plan_of(store, virtual_start, speed=speed, pause=pause, outbox=settings.outbox_path,
                                 max_real_seconds=max_real_seconds)  # fmt: skip
        on_plan(rehearsal.plan)
        executor = api.inline_executor(worker=actor)
        deadline = None if max_real_seconds is None else time.monotonic() + max_real_seconds
        while True:
            for missed_id in api.tick(executor, actor=actor).missed:
                rehearsal.missed += 1
                gone = _describe(store, missed_id, None, "missed")
                rehearsal.delivered.append(gone)
                on_delivery(gone)
            for claim, outcome in executor.run_due():
                if outcome.result == "failed":
                    rehearsal.failed += 1
                delivered = _describe(store, claim.delivery_id, clock.now(), outcome.result)
                rehearsal.delivered.append(delivered)
                on_delivery(delivered)
            if not len(executor) and _remaining(store) == 0:
                break
            if deadline is not None and time.monotonic() > deadline:
                rehearsal.not_played = _remaining(store)
                break
            clock.wait_until(executor.next_at or _next_due(store, clock.now() + wiring.policy.claim_window / 2))
    finally:
        api.close()
    rehearsal.real_seconds = time.monotonic() - began
    return rehearsal


def plan_of(
    store: Store,
    start: datetime,
    *,
    speed: float,
    pause: float | None,
    outbox: Path,
    max_real_seconds: float | None = None,
) -> RehearsalPlan:
    """The plan of what `store` has scheduled, played from `start`: each campaign's window, and the real time
    it takes to wait for each distinct planned instant in turn (a gap takes gap / speed seconds, at most `pause`
    when gaps are skipped) plus the posting itself."""
    statement = (
        select(Delivery.campaign, Delivery.post_id, Delivery.due_at, PostRecord.timezone)
        .join(PostRecord, PostRecord.id == Delivery.post_pk)
        .where(Delivery.state == State.SCHEDULED)
    )
    with store.transaction() as session:
        rows = session.execute(statement).all()
    by_campaign: dict[str, list[Any]] = {}
    for row in rows:
        by_campaign.setdefault(row.campaign, []).append(row)
    windows = tuple(
        CampaignWindow(
            campaign,
            next((r.timezone for r in found if r.timezone), DEFAULT_TIMEZONE),
            len({r.post_id for r in found}),
            len(found),
            min(r.due_at for r in found),
            max(r.due_at for r in found),
        )
        for campaign, found in sorted(by_campaign.items())
    )
    instants = sorted({row.due_at for row in rows if row.due_at > start})
    previous = [start, *instants][: len(instants)]
    gaps = [(later - earlier).total_seconds() / speed for earlier, later in zip(previous, instants, strict=True)]
    return RehearsalPlan(
        campaigns=windows,
        start=start,
        speed=speed,
        skip_gaps=pause is not None,
        pause=pause if pause is not None else 0.0,
        waiting=sum(gaps if pause is None else (min(gap, pause) for gap in gaps)),
        waiting_real_gaps=sum(gaps),
        work=len(rows) * WORK_SECONDS,
        outbox=outbox,
        max_real_seconds=max_real_seconds,
    )


def _first_due(inputs: Sequence[CalendarInput]) -> datetime:
    drafts = {(item.campaign.slug, post.id) for item in inputs for post in item.calendar.posts
              if post.status == "draft"}  # fmt: skip
    return min(
        (
            part.at
            for item in inputs
            for post_id, platforms in item.rendered.items()
            if (item.campaign.slug, post_id) not in drafts
            for parts in platforms.values()
            for part in parts
        ),
        default=datetime.now(UTC),
    )


def _describe(store: Store, delivery_id: int, actual: datetime | None, result: str) -> RehearsedDelivery:
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
