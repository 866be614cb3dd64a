"""Safeguarding holds: finer than the pause switch. A hold covers one campaign, the posts carrying a topic, the
posts planned in a window of dates, or one platform (its login was refused); while it stands nothing it covers is
claimed or starts publishing, and a post it keeps back past its misfire grace is missed with the hold named as
the reason. This module says what a hold covers and how it reads; scheduler/hold_actions.py places and releases
them.

A platform hold keeps the platform's name in the hold's `topic` column (the `holds` table has no column of its
own for it, and a hold of kind "platform" has no topic)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.display import local_time, platform_name
from scheduler.models import Delivery, PostRecord
from scheduler.review_models import Hold

KINDS = ("campaign", "topic", "window", "platform", "all")
TOPIC = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def topic_name(raw: str) -> str:
    """A topic as holds match it: trimmed, lower case, without a leading '#'."""
    return raw.strip().lstrip("#").strip().lower()


def post_topics(raw: str | None) -> frozenset[str]:
    """A post's topics from `posts.topics` (a JSON list)."""
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return frozenset()
    return frozenset(topic_name(v) for v in values if isinstance(v, str)) if isinstance(values, list) else frozenset()


@dataclass(frozen=True)
class HoldView:
    """A hold as people read it: what it covers, who set it, why, since when."""

    id: int
    kind: str
    campaign: str | None
    topic: str | None
    platform: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    reason: str
    actor: str
    created_at: datetime
    released_at: datetime | None = None
    released_by: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, campaign: str, platform: str, topics: Iterable[str], planned_at: datetime) -> bool:
        if self.campaign is not None and campaign != self.campaign:
            return False
        if self.kind == "topic":
            return self.topic is not None and self.topic in topics
        if self.kind == "window":
            return (self.starts_at is None or planned_at >= self.starts_at) and (
                self.ends_at is None or planned_at < self.ends_at
            )
        if self.kind == "platform":
            return platform == self.platform
        return self.kind in ("campaign", "all")

    def describe(self, zone: str) -> str:
        """What it covers, in words: "campaign act-on-iicsa", "posts about inquiry-news", ..."""
        within = f" of campaign {self.campaign}" if self.campaign and self.kind != "campaign" else ""
        if self.kind == "campaign":
            return f"campaign {self.campaign}"
        if self.kind == "topic":
            return f"posts about {self.topic}{within}"
        if self.kind == "window":
            return f"posts planned from {local_time(self.starts_at, zone)} to {local_time(self.ends_at, zone)}{within}"
        if self.kind == "platform":
            return f"every post to {platform_name(self.platform or '')}"
        return "every post"

    def named(self, zone: str) -> str:
        """The hold as a reason names it: 'hold 3 (posts about inquiry-news) set by sam@laptop: "why"'."""
        return f'hold {self.id} ({self.describe(zone)}) set by {self.actor}: "{self.reason}"'

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "campaign": self.campaign,
            "topic": self.topic,
            "platform": self.platform,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "reason": self.reason,
            "by": self.actor,
            "since": self.created_at.isoformat(),
            "released_at": self.released_at.isoformat() if self.released_at else None,
            "released_by": self.released_by,
        }


def view(row: Hold) -> HoldView:
    platform = row.topic if row.kind == "platform" else None
    return HoldView(
        id=row.id,
        kind=row.kind,
        campaign=row.campaign,
        topic=None if row.kind == "platform" else row.topic,
        platform=platform,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        released_at=row.released_at,
        released_by=row.released_by,
    )


def active_holds(session: Session) -> list[HoldView]:
    rows = session.scalars(select(Hold).where(Hold.released_at.is_(None)).order_by(Hold.id)).all()
    return [view(row) for row in rows]


@dataclass(frozen=True)
class PostFacts:
    """What a hold looks at: the post's topics and planned time."""

    topics: frozenset[str]
    planned_at: datetime


def post_facts(session: Session, post_pks: Iterable[int]) -> dict[int, PostFacts]:
    wanted = list(dict.fromkeys(post_pks))
    facts: dict[int, PostFacts] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(PostRecord.id, PostRecord.topics, PostRecord.planned_at).where(
                PostRecord.id.in_(wanted[start : start + 500])
            )
        ).all()
        for pk, topics, planned_at in rows:
            facts[pk] = PostFacts(post_topics(topics), planned_at)
    return facts


def first_covering(holds: Sequence[HoldView], delivery: Delivery, facts: PostFacts | None) -> HoldView | None:
    """The oldest active hold that covers this delivery."""
    if facts is None:
        return None
    for hold in holds:
        if hold.covers(delivery.campaign, delivery.platform, facts.topics, facts.planned_at):
            return hold
    return None


def holding(session: Session, deliveries: Sequence[Delivery]) -> dict[int, HoldView]:
    """delivery id -> the hold that keeps it back, for those any active hold covers (one query when none is)."""
    holds = active_holds(session)
    if not holds or not deliveries:
        return {}
    facts = post_facts(session, (d.post_pk for d in deliveries))
    found = {d.id: first_covering(holds, d, facts.get(d.post_pk)) for d in deliveries}
    return {delivery_id: hold for delivery_id, hold in found.items() if hold is not None}


def zone_of(session: Session, delivery: Delivery) -> str:
    return session.scalar(select(PostRecord.timezone).where(PostRecord.id == delivery.post_pk)) or "UTC"
