"""Engagement snapshots of our own posts: when each is due (SnapshotPolicy, posts_due_for_snapshot) and
storing what the platform answered (store_snapshots)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select

from platforms.base import Engagement
from scheduler.collection.sql import utc
from scheduler.collection_models import EngagementSnapshot
from scheduler.db import Store
from scheduler.models import Delivery, State


@dataclass(frozen=True)
class SnapshotPolicy:
    """Hourly for the first week after publication, daily to day 30, then never."""

    hourly_for: timedelta = timedelta(days=7)
    daily_until: timedelta = timedelta(days=30)
    hourly: timedelta = timedelta(hours=1)
    daily: timedelta = timedelta(days=1)
    # A beat that fires every few minutes should not drift a snapshot late by one whole period.
    slack: timedelta = timedelta(minutes=5)

    def interval(self, age: timedelta) -> timedelta | None:
        if age < self.hourly_for:
            return self.hourly
        if age < self.daily_until:
            return self.daily
        return None

    def due(self, published_at: datetime, last_taken: datetime | None, now: datetime) -> bool:
        interval = self.interval(now - published_at)
        if interval is None:
            return False
        return last_taken is None or now - last_taken >= interval - self.slack


@dataclass(frozen=True)
class DuePost:
    delivery_id: int
    remote_id: str
    published_at: datetime
    last_taken: datetime | None


def posts_due_for_snapshot(
    store: Store, campaign: str, platform: str, now: datetime, policy: SnapshotPolicy | None = None
) -> list[DuePost]:
    """Our published posts (not dry runs) whose next snapshot is due, oldest publication first."""
    policy = policy or SnapshotPolicy()
    last_taken = (
        select(EngagementSnapshot.delivery_id, func.max(EngagementSnapshot.taken_at).label("last_taken"))
        .where(EngagementSnapshot.campaign == campaign, EngagementSnapshot.platform == platform)
        .group_by(EngagementSnapshot.delivery_id)
        .subquery()
    )
    statement = (
        select(Delivery.id, Delivery.remote_id, Delivery.published_at, last_taken.c.last_taken)
        .outerjoin(last_taken, last_taken.c.delivery_id == Delivery.id)
        .where(
            Delivery.campaign == campaign,
            Delivery.platform == platform,
            Delivery.state == State.PUBLISHED,
            Delivery.dry_run.is_(False),
            Delivery.remote_id.is_not(None),
            Delivery.published_at.is_not(None),
            Delivery.published_at > now - policy.daily_until,
        )
        .order_by(Delivery.published_at, Delivery.id)
    )
    with store.transaction() as session:
        rows = session.execute(statement).all()
    due = []
    for delivery_id, remote_id, published_at, taken in rows:
        taken = utc(taken) if isinstance(taken, datetime) else (_parse_time(taken) if taken else None)
        if policy.due(published_at, taken, now):
            due.append(DuePost(delivery_id, remote_id, published_at, taken))
    return due


def _parse_time(value: str) -> datetime:
    # SQLite returns an aggregate over a typed column as its stored text.
    return utc(datetime.fromisoformat(value))


def store_snapshots(
    store: Store,
    campaign: str,
    platform: str,
    due: Sequence[DuePost],
    counts: Iterable[Engagement],
    now: datetime,
) -> int:
    """Append one snapshot per post the platform answered for; returns how many were written."""
    by_remote = {post.remote_id: post.delivery_id for post in due}
    rows = []
    for item in counts:
        delivery_id = by_remote.pop(item.remote_id, None)
        if delivery_id is None:
            continue
        rows.append(
            {
                "delivery_id": delivery_id,
                "campaign": campaign,
                "platform": platform,
                "taken_at": now,
                "likes": int(item.likes),
                "reposts": int(item.reposts),
                "replies": int(item.replies),
                "quotes": int(getattr(item, "quotes", 0) or 0),
            }
        )
    if rows:
        with store.transaction() as session:
            session.execute(cast(Table, EngagementSnapshot.__table__).insert(), rows)
    return len(rows)
