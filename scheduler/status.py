"""What the schedule looks like now: the status every face shows (upcoming, in flight, published with links,
failed and missed with their reasons, attempts and next try; pause; failing collectors; the latest report)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select

from content_calendar.model import DEFAULT_TIMEZONE
from scheduler import dispatch
from scheduler.collection import collector_states
from scheduler.db import Store
from scheduler.models import Delivery, PostRecord, State


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
    next_attempt_at: datetime | None = None
    timezone: str = DEFAULT_TIMEZONE  # the campaign's zone: the one its times are shown in

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("due_at", "published_at", "next_attempt_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass
class CollectorView:
    campaign: str
    kind: str
    platform: str
    source: str
    consecutive_failures: int
    last_error: str | None
    next_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["next_attempt_at"] = self.next_attempt_at.isoformat() if self.next_attempt_at else None
        return data


SECTIONS = ("upcoming", "in_flight", "published", "failed", "missed")


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
    failing_collectors: list[CollectorView] = field(default_factory=list)
    dry_run_platforms: list[str] = field(default_factory=list)
    latest_report: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "counts": self.counts,
            "latest_report": self.latest_report,
            "dry_run_platforms": self.dry_run_platforms,
            "failing_collectors": [c.to_json() for c in self.failing_collectors],
            **{name: [v.to_json() for v in getattr(self, name)] for name in SECTIONS},
        }


def _view(d: Delivery, zone: str | None) -> DeliveryView:
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
        d.next_attempt_at,
        zone or DEFAULT_TIMEZONE,
    )


def status(store: Store, now: datetime, *, campaign: str | None = None, limit: int = 20) -> StatusReport:
    with store.transaction() as session:

        def query(*conditions: Any) -> Select[Delivery, str]:
            statement = (
                select(Delivery, PostRecord.timezone)
                .join(PostRecord, PostRecord.id == Delivery.post_pk)
                .where(*conditions)
            )
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

        def views(statement: Select[Delivery, str]) -> list[DeliveryView]:
            return [_view(delivery, zone) for delivery, zone in session.execute(statement).all()]

        report = StatusReport(
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
    report.failing_collectors = [
        CollectorView(c.campaign, c.kind, c.platform, c.source, c.consecutive_failures, c.last_error, c.next_attempt_at)
        for c in collector_states(store, campaign)
        if c.consecutive_failures
    ]
    return report


_REPORT_NAME = re.compile(r"(?P<campaign>[a-z0-9][a-z0-9-]*)-(?P<year>\d{4})-W(?P<week>\d{2})\.html")


def latest_report(reports_dir: Path, campaign: str | None = None) -> Path | None:
    """The weekly report of the latest ISO week, read from its name (<campaign>-<year>-W<week>.html), of one
    campaign when given. Not the newest file: a report rewritten for an older week, or another campaign's
    report, must not hide the latest one. Files named otherwise are not weekly reports."""
    if not reports_dir.is_dir():
        return None
    best: tuple[tuple[int, int, float], Path] | None = None
    for path in reports_dir.glob("**/*.html"):
        found = _REPORT_NAME.fullmatch(path.name)
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
