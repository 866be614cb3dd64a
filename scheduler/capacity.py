"""Whether the platforms' rate limits let every planned post out within its grace: the arithmetic of the rate
limiter (scheduler/ratelimit.py) done ahead, at `campaign schedule` time, so a calendar that asks for more than
an account may post is warned about then, post by post, and not found out when the posts are missed.

Each platform posts from one account (settings hold one per platform), so every campaign's posts to a platform
share its limits. Posts go out in planned order, each at the first instant every limit admits it; a post whose
instant is past its grace is missed and takes no place, as the limiter leaves it out of the queue."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select

from content_calendar.model import PLATFORM_NAMES, Problem
from scheduler.db import Store
from scheduler.dispatch.transitions import minutes
from scheduler.models import Delivery, PostRecord, State
from scheduler.ratelimit import PLATFORM_LIMITS, Limit, platform_limits
from scheduler.sync import CalendarInput


class Planned(NamedTuple):
    """One part of one post to one platform, as the limits see it."""

    at: datetime
    grace: timedelta
    order: int = 0  # between parts planned at the same instant (the store's id)
    key: int = 0  # whatever number the caller needs to name it again


@dataclass(frozen=True)
class Late:
    planned: Planned
    earliest: datetime  # the first instant the limits would let it out
    limit: Limit  # the limit that holds it back


def past_grace(
    planned: Iterable[Planned], limits: Sequence[Limit], *, now: datetime, spent: Iterable[datetime] = ()
) -> list[Late]:
    """The posts the limits would keep back past their grace, given the posts already out in the windows
    (`spent`). Posts go in planned order, each at the first instant every limit admits it, never before now."""
    taken = sorted(spent)
    late = []
    for item in sorted(planned, key=lambda p: (p.at, p.order)):
        earliest, holding = max(item.at, now), None
        for limit in limits:
            if len(taken) >= limit.amount:
                free = taken[-limit.amount] + timedelta(seconds=limit.seconds)
                if free > earliest:
                    earliest, holding = free, limit
        if holding is not None and earliest > item.at + item.grace:
            late.append(Late(item, earliest, holding))
        else:
            bisect.insort(taken, earliest)
    return late


@dataclass(frozen=True)
class _Where:
    campaign: str
    post_id: str
    platform: str
    file: str
    line: int | None
    zone: str


def rate_limit_warnings(
    store: Store,
    inputs: Sequence[CalendarInput],
    now: datetime,
    *,
    specs: Mapping[str, str] = PLATFORM_LIMITS,
) -> list[Problem]:
    """After a sync: a warning for each post (of any campaign, per platform) that the platform's rate limits
    would keep back past its grace. Posts of the calendars just scheduled are named by file and line."""
    lines = {
        (item.campaign.slug, post.id): (str(item.calendar.path), post.line)
        for item in inputs
        for post in item.calendar.posts
    }
    by_platform: dict[str, list[Planned]] = {}
    spent: dict[str, list[datetime]] = {}
    longest = max((limit.seconds for name in specs for limit in platform_limits(name, specs)), default=0)
    with store.transaction() as session:
        waiting = session.execute(
            select(
                Delivery.id,
                Delivery.campaign,
                Delivery.post_id,
                Delivery.platform,
                Delivery.due_at,
                Delivery.misfire_grace_s,
                PostRecord.source,
                PostRecord.timezone,
            )
            .join(PostRecord, PostRecord.id == Delivery.post_pk)
            .where(
                Delivery.state.in_([State.SCHEDULED, State.CLAIMED, State.PUBLISHING]),
                Delivery.platform.in_([name for name in specs if specs[name]]),
            )
        ).all()
        for row, (delivery_id, _campaign, _post, platform, due_at, grace_s, _source, _zone) in enumerate(waiting):
            grace = timedelta(seconds=grace_s)
            if due_at + grace < now:
                continue  # missed already: the next tick says so
            by_platform.setdefault(platform, []).append(Planned(due_at, grace, delivery_id, row))
        out = session.execute(
            select(Delivery.platform, Delivery.published_at).where(
                Delivery.state == State.PUBLISHED,
                Delivery.dry_run.is_(False),
                Delivery.published_at >= now - timedelta(seconds=longest),
            )
        ).all()
        for platform, published_at in out:
            if published_at is not None:
                spent.setdefault(platform, []).append(published_at)

    problems: list[Problem] = []
    reported: set[tuple[str, str, str]] = set()
    for platform, planned in sorted(by_platform.items()):
        limits = platform_limits(platform, specs)
        for late in past_grace(planned, limits, now=now, spent=spent.get(platform, ())):
            _id, campaign, post_id, _platform, _due, _grace, source, zone = waiting[late.planned.key]
            if (campaign, post_id, platform) in reported:
                continue  # one warning per post and platform, for the first of its parts kept back
            reported.add((campaign, post_id, platform))
            file, line = lines.get((campaign, post_id), (source, None))
            problems.append(_problem(_Where(campaign, post_id, platform, file, line, zone), late))
    return problems


def _problem(where: _Where, late: Late) -> Problem:
    zone = ZoneInfo(where.zone)
    planned = late.planned.at.astimezone(zone)

    def at(instant: datetime) -> str:  # the time alone on the planned day
        local = instant.astimezone(zone)
        return f"{local:%H:%M %Z}" if local.date() == planned.date() else f"{local:%a %d %b %H:%M %Z}"

    platform = PLATFORM_NAMES.get(where.platform, where.platform)
    delay = int((late.earliest - late.planned.at).total_seconds())
    grace = int(late.planned.grace.total_seconds())
    return Problem(
        severity="warning",
        code="rate-limit",
        file=where.file,
        post_id=where.post_id,
        line=where.line,
        message=(
            f"{platform} lets one account post {late.limit}, and the posts planned before this one use that up: "
            f"it could go out at {at(late.earliest)} at the earliest, {minutes(delay)} after its planned "
            f"{planned:%a %d %b %H:%M %Z} and past its grace period ({minutes(grace)}), so it would be missed."
        ),
        fix=(
            f"Spread the {platform} posts around {at(late.planned.at)} further apart, or raise "
            "misfire_grace_minutes in campaign.yaml."
        ),
    )
