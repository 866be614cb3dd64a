"""The library behind the CLI: every command is a thin call into one of these functions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from content_calendar.model import Problem
from content_calendar.validate import check_calendar, cross_file_problems
from scheduler import dispatch
from scheduler.clock import Clock
from scheduler.db import Store
from scheduler.models import Delivery, State
from scheduler.sync import CalendarInput, SyncReport, schedule_calendars


@dataclass
class CheckedCalendars:
    inputs: list[CalendarInput]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def check_paths(paths: Sequence[Path], *, now: datetime | None, campaigns_dir: Path) -> CheckedCalendars:
    inputs: list[CalendarInput] = []
    problems: list[Problem] = []
    results = [check_calendar(path, now=now, campaigns_roots=[campaigns_dir]) for path in paths]
    for result in results:
        problems.extend(result.problems)
        if result.ok and result.calendar is not None and result.campaign is not None:
            inputs.append(CalendarInput(result.calendar, result.campaign, result.rendered))
    problems.extend(cross_file_problems(results))
    return CheckedCalendars(inputs, problems)


class ScheduleRefused(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def schedule_paths(
    store: Store, paths: Sequence[Path], *, now: datetime, campaigns_dir: Path, actor: str
) -> tuple[SyncReport, list[Problem]]:
    """Validate every calendar, then sync them all in one transaction. Any error: nothing is written."""
    checked = check_paths(paths, now=now, campaigns_dir=campaigns_dir)
    if checked.errors:
        raise ScheduleRefused([p.format() for p in checked.errors])
    return schedule_calendars(store, checked.inputs, now, actor=actor), checked.problems


@dataclass
class DeliveryView:
    id: int
    campaign: str
    post_id: str
    platform: str
    part: int
    state: str
    due_at: datetime
    attempts: int
    published_at: datetime | None = None
    url: str | None = None
    last_error: str | None = None
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("due_at", "published_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass
class StatusReport:
    now: datetime
    paused: bool
    pause_reason: str
    counts: dict[str, int]
    upcoming: list[DeliveryView] = field(default_factory=list)
    in_flight: list[DeliveryView] = field(default_factory=list)
    published: list[DeliveryView] = field(default_factory=list)
    failed: list[DeliveryView] = field(default_factory=list)
    missed: list[DeliveryView] = field(default_factory=list)
    latest_report: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "counts": self.counts,
            "latest_report": self.latest_report,
            **{
                name: [v.to_json() for v in getattr(self, name)]
                for name in ("upcoming", "in_flight", "published", "failed", "missed")
            },
        }


def _view(d: Delivery) -> DeliveryView:
    return DeliveryView(
        d.id,
        d.campaign,
        d.post_id,
        d.platform,
        d.part,
        d.state,
        d.due_at,
        d.attempts,
        d.published_at,
        d.remote_url,
        d.last_error,
        d.dry_run,
    )


def status(store: Store, now: datetime, *, campaign: str | None = None, limit: int = 20) -> StatusReport:
    with store.transaction() as session:

        def query(*conditions: Any) -> Any:
            statement = select(Delivery).where(*conditions)
            if campaign:
                statement = statement.where(Delivery.campaign == campaign)
            return statement

        count_query = select(Delivery.state, func.count()).group_by(Delivery.state)
        if campaign:
            count_query = count_query.where(Delivery.campaign == campaign)
        counts = {state: n for state, n in session.execute(count_query).all()}
        paused, reason = dispatch.is_paused(session), ""
        if paused:
            reason = (
                session.scalar(select(dispatch.Setting.value).where(dispatch.Setting.key == dispatch.PAUSE_REASON_KEY))
                or ""
            )

        def views(statement: Any) -> list[DeliveryView]:
            return [_view(d) for d in session.scalars(statement)]

        return StatusReport(
            now=now,
            paused=paused,
            pause_reason=reason,
            counts=counts,
            upcoming=views(query(Delivery.state == State.SCHEDULED).order_by(Delivery.due_at).limit(limit)),
            in_flight=views(query(Delivery.state.in_([State.CLAIMED, State.PUBLISHING])).order_by(Delivery.due_at)),
            published=views(
                query(Delivery.state == State.PUBLISHED).order_by(Delivery.published_at.desc()).limit(limit)
            ),
            failed=views(query(Delivery.state == State.FAILED).order_by(Delivery.due_at)),
            missed=views(query(Delivery.state == State.MISSED).order_by(Delivery.due_at)),
        )


def pause_and_drain(
    store: Store,
    clock: Clock,
    *,
    reason: str,
    actor: str,
    wait: timedelta = timedelta(seconds=120),
    poll_seconds: float = 0.1,
) -> int:
    """Pause, then wait until no adapter call that began before the pause is still under way.

    When this returns 0, nothing more will be posted until `resume`. Returns how many publishes were still
    in flight when `wait` ran out (they may still complete)."""
    dispatch.pause(store, clock.now(), reason=reason, actor=actor)
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        busy = dispatch.in_flight(store)
        if busy == 0 or time.monotonic() >= deadline:
            return busy
        time.sleep(poll_seconds)


def latest_report(reports_dir: Path, campaign: str | None = None) -> Path | None:
    """The weekly report of the latest ISO week, read from its name (<campaign>-<year>-W<week>.html), of one
    campaign when given. Not the newest file: a report rewritten for an older week, or another campaign's
    report, must not hide the latest one. Files named otherwise are not weekly reports."""
    import re

    if not reports_dir.is_dir():
        return None
    name = re.compile(r"(?P<campaign>[a-z0-9][a-z0-9-]*)-(?P<year>\d{4})-W(?P<week>\d{2})\.html")
    best: tuple[tuple[int, int, float], Path] | None = None
    for path in reports_dir.glob("**/*.html"):
        found = name.fullmatch(path.name)
        if found is None or (campaign is not None and found["campaign"] != campaign):
            continue
        try:
            modified = path.stat().st_mtime  # only to choose between campaigns' reports of the same week
        except OSError:
            continue
        key = (int(found["year"]), int(found["week"]), modified)
        if best is None or key > best[0]:
            best = (key, path)
    return best[1] if best else None
