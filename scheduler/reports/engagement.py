"""Our posts' engagement over a span: counts at its end and what they gained during it, thread parts added
together, from the engagement snapshots collection takes.

Our own thread is not engagement: a platform's reply count of part N includes our own part N+1 (a thread is
posted as replies), so each snapshot's replies lose the parts of ours that answered that part by the time it was
taken. Snapshots keep the counts as the platform gave them; the correction is made here, where they are read,
so snapshots taken before this rule existed are read the same way.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from content_calendar.model import PLATFORM_NAMES
from scheduler.collection_models import EngagementSnapshot
from scheduler.db import Store
from scheduler.models import Delivery, PostRecord, State
from scheduler.reports.model import PostEngagement, TopPost, local_time

TOP_POSTS = 5
TRACKING_DAYS = timedelta(days=30)  # engagement is snapshotted for 30 days after publication
METRICS = ("likes", "reposts", "replies", "quotes")


def own_replies(store: Store, delivery_ids: Sequence[int]) -> dict[int, list[datetime]]:
    """delivery id -> when each of our own published parts that replies to it went out (sorted)."""
    found: dict[int, list[datetime]] = defaultdict(list)
    ids = list(delivery_ids)
    with store.transaction() as session:
        for chunk in range(0, len(ids), 500):
            for parent_id, published_at in session.execute(
                select(Delivery.parent_id, Delivery.published_at).where(
                    Delivery.parent_id.in_(ids[chunk : chunk + 500]),
                    Delivery.state == State.PUBLISHED,
                    Delivery.dry_run.is_(False),
                    Delivery.published_at.is_not(None),
                )
            ):
                if parent_id is not None and published_at is not None:
                    found[parent_id].append(published_at)
    for moments in found.values():
        moments.sort()
    return found


def _counts(snapshot: Any, ours: Sequence[datetime]) -> dict[str, int]:
    """A snapshot's counts as engagement: its replies less our own parts posted by the time it was taken."""
    counts = {metric: int(getattr(snapshot, metric)) for metric in METRICS}
    counts["replies"] = max(0, counts["replies"] - bisect_right(ours, snapshot.taken_at))
    return counts


def engagement(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> list[PostEngagement]:
    """Our posts tracked during [start, end): counts at its end and growth during it, parts summed."""

    def latest_before(moment: datetime) -> Any:
        return (
            select(EngagementSnapshot.id)
            .where(EngagementSnapshot.delivery_id == Delivery.id, EngagementSnapshot.taken_at < moment)
            .order_by(EngagementSnapshot.taken_at.desc(), EngagementSnapshot.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    statement = (
        select(
            Delivery.id,
            Delivery.post_id,
            Delivery.platform,
            Delivery.part,
            Delivery.published_at,
            Delivery.remote_url,
            PostRecord.summary,
            latest_before(end).label("end_id"),
            latest_before(start).label("start_id"),
        )
        .join(PostRecord, PostRecord.id == Delivery.post_pk)
        .where(
            Delivery.campaign == campaign,
            Delivery.state == State.PUBLISHED,
            Delivery.dry_run.is_(False),
            Delivery.published_at.is_not(None),
            Delivery.published_at < end,
            Delivery.published_at >= start - TRACKING_DAYS,
        )
        .order_by(Delivery.published_at, Delivery.post_id, Delivery.platform, Delivery.part)
    )
    with store.transaction() as session:
        rows = session.execute(statement).all()
        snapshot_ids = {i for row in rows for i in (row.end_id, row.start_id) if i is not None}
        snapshots = (
            {
                s.id: s
                for s in session.execute(
                    select(EngagementSnapshot).where(EngagementSnapshot.id.in_(snapshot_ids))
                ).scalars()
            }
            if snapshot_ids
            else {}
        )
    ours = own_replies(store, [row.id for row in rows])
    posts: dict[tuple[str, str], PostEngagement] = {}
    for row in rows:
        end_snap = snapshots.get(row.end_id)
        start_snap = snapshots.get(row.start_id) if row.published_at < start else None
        if end_snap is None and row.published_at < start:
            continue  # published before the span and never measured: nothing to say about it
        key = (row.post_id, row.platform)
        post = posts.get(key)
        if post is None:
            post = posts[key] = PostEngagement(
                row.post_id, row.platform, row.summary or "", local_time(row.published_at, zone),
                row.remote_url or "", tracked=False,
            )  # fmt: skip
        if end_snap is None:
            continue
        post.tracked = True
        # Published during the span: it started from nothing. Published before: from the last snapshot before
        # it, and without one the span's growth is unknown (its whole count is not growth within the span).
        baseline_known = row.published_at >= start or start_snap is not None
        post.growth_known = post.growth_known and baseline_known
        now_counts = _counts(end_snap, ours.get(row.id, []))
        before_counts = _counts(start_snap, ours.get(row.id, [])) if start_snap is not None else {}
        for metric in METRICS:
            now_value, before = now_counts[metric], before_counts.get(metric, 0)
            setattr(post, metric, getattr(post, metric) + now_value)
            setattr(post, f"{metric}_growth", getattr(post, f"{metric}_growth") + now_value - before)
    for post in posts.values():
        if not post.growth_known:  # one part without a baseline makes the whole post's growth unknown
            post.likes_growth = post.reposts_growth = post.replies_growth = post.quotes_growth = 0
    return list(posts.values())


def top_posts(posts: Sequence[PostEngagement], limit: int = TOP_POSTS) -> list[TopPost]:
    """The posts that gained most, platforms folded together (ties: the larger total, then the post's name)."""
    by_post: dict[str, list[PostEngagement]] = defaultdict(list)
    for post in posts:
        by_post[post.post_id].append(post)
    ranked = []
    for post_id, rows in by_post.items():
        measured = [r for r in rows if r.growth_known]  # a post without a baseline has no known growth
        growth = sum(r.growth for r in measured)
        if growth <= 0:
            continue
        platforms = ", ".join(PLATFORM_NAMES.get(r.platform, r.platform) for r in measured if r.growth > 0)
        ranked.append(TopPost(post_id, rows[0].summary, growth, sum(r.total for r in rows), platforms))
    ranked.sort(key=lambda t: (-t.growth, -t.total, t.post_id))
    return ranked[:limit]
