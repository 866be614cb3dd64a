"""The campaign to date: every week of a range side by side (posts, on time, engagement gained, hashtag mentions,
accounts and new accounts), its totals, and the posts that gained most over the whole range.

Built for long ranges and big stores: mentions are counted in SQL by platform and hour (one pass over the
covering index, never loaded), each hour placed in its local week here; accounts come from the small tables
collection keeps (mention_author_weeks, mention_authors); engagement is read one post's snapshots at a time.
Weeks are Monday to Sunday in the campaign's zone, so a week with a clock change has 167 or 169 hours.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func, select

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS
from scheduler.collection_models import EngagementSnapshot, MentionAuthor, MentionAuthorWeek, MentionRecord
from scheduler.db import Store
from scheduler.demo_flag import is_demo
from scheduler.models import Delivery, PostRecord, State
from scheduler.reports.engagement import METRICS
from scheduler.reports.model import IsoWeek
from scheduler.reports.posts import ON_TIME, first_words

BEST_POSTS = 10
SNAPSHOT_CHUNK = 200


@dataclass
class WeekLine:
    week: IsoWeek
    posts: int = 0  # posts (calendar entries) planned in the week, not cancelled everywhere
    posts_out: int = 0  # of those, posts that went out on at least one platform (dry runs are not posted)
    planned: int = 0  # parts sent to platforms (one a post's part on one platform), not cancelled
    published: int = 0
    on_time: int = 0
    engagement_gained: int = 0
    mentions: dict[str, int] = field(default_factory=dict)  # platform -> mentions
    accounts: int = 0
    new_accounts: int = 0
    accounts_so_far: int = 0  # distinct accounts from the range's first week to this one (new accounts added up)

    @property
    def total_mentions(self) -> int:
        return sum(self.mentions.values())

    @property
    def on_time_share(self) -> int | None:
        """Percent of what was published that went out on time (None: nothing published)."""
        return round(100 * self.on_time / self.published) if self.published else None


@dataclass(frozen=True)
class BestPost:
    post_id: str
    name: str
    gained: int
    by_platform: dict[str, int]


@dataclass
class CampaignReport:
    campaign: str
    campaign_name: str
    zone: str
    first: IsoWeek
    last: IsoWeek
    generated_at: datetime
    weeks: list[WeekLine]
    best: list[BestPost]
    demo: bool = False
    busiest_day: int = 0  # the most mentions on one platform in one day, in the weeks counted (not `known_mentions`)

    @property
    def total(self) -> WeekLine:
        total = WeekLine(self.last)
        for line in self.weeks:
            total.posts += line.posts
            total.posts_out += line.posts_out
            total.planned += line.planned
            total.published += line.published
            total.on_time += line.on_time
            total.engagement_gained += line.engagement_gained
            for platform, count in line.mentions.items():
                total.mentions[platform] = total.mentions.get(platform, 0) + count
            total.new_accounts += line.new_accounts
        total.accounts = total.accounts_so_far = self.weeks[-1].accounts_so_far if self.weeks else 0
        return total

    @property
    def platforms(self) -> list[str]:
        seen = {p for line in self.weeks for p, n in line.mentions.items() if n}
        return [p for p in PLATFORMS if p in seen] + sorted(seen - set(PLATFORMS))

    @property
    def title(self) -> str:
        return f"{self.campaign_name}: the campaign from the {self.first.week_of} to the {self.last.week_of}"

    @property
    def period(self) -> str:
        end = self.last.monday + timedelta(days=6)
        return f"Monday {self.first.monday:%-d %B %Y} to Sunday {end:%-d %B %Y} ({self.zone}), {len(self.weeks)} weeks"

    @property
    def file_stem(self) -> str:
        return f"{self.campaign}-campaign-{self.first.label}-to-{self.last.label}"


def weeks_between(first: IsoWeek, last: IsoWeek) -> list[IsoWeek]:
    weeks, week = [], first
    while week <= last:
        weeks.append(week)
        week = IsoWeek.containing(week.monday + timedelta(days=7))
    return weeks


def first_week(store: Store, campaign: str, zone: str = DEFAULT_TIMEZONE) -> IsoWeek | None:
    """The week of the campaign's first planned post or first mention (None: nothing yet)."""
    with store.transaction() as session:
        planned = session.scalar(select(func.min(PostRecord.planned_at)).where(PostRecord.campaign == campaign))
        mentioned = session.scalar(
            select(func.min(MentionAuthor.first_mention_at)).where(MentionAuthor.campaign == campaign)
        )
    moments = [m for m in (planned, mentioned) if m is not None]
    if not moments:
        return None
    from zoneinfo import ZoneInfo

    return IsoWeek.containing(min(moments).astimezone(ZoneInfo(zone)).date())


def last_week(store: Store, campaign: str, zone: str = DEFAULT_TIMEZONE) -> IsoWeek | None:
    """The week of the campaign's last planned post or last mention (None: nothing yet)."""
    with store.transaction() as session:
        planned = session.scalar(select(func.max(PostRecord.planned_at)).where(PostRecord.campaign == campaign))
        mentioned = session.scalar(
            select(func.max(MentionAuthor.first_mention_at)).where(MentionAuthor.campaign == campaign)
        )
    moments = [m for m in (planned, mentioned) if m is not None]
    if not moments:
        return None
    from zoneinfo import ZoneInfo

    return IsoWeek.containing(max(moments).astimezone(ZoneInfo(zone)).date())


def _week_starts(weeks: Sequence[IsoWeek], zone: str) -> list[datetime]:
    """Each week's first instant (UTC), and the end of the last: len(weeks) + 1 instants."""
    return [w.boundaries(zone)[0] for w in weeks] + [weeks[-1].boundaries(zone)[7]]


def _mentions(
    store: Store,
    campaign: str,
    lines: list[WeekLine],
    starts: list[datetime],
    zone: str,
    known: dict[IsoWeek, dict[str, int]],
) -> int:
    """Fill each line's mentions and accounts; return the busiest platform-day of the weeks counted here."""
    # The last weeks whose counts the caller already has (the weekly report's own two) are not counted again.
    scanned = len(lines)
    while scanned > 0 and lines[scanned - 1].week in known:
        scanned -= 1
        lines[scanned].mentions = {p: n for p, n in known[lines[scanned].week].items() if n}
    start, end = starts[0], starts[scanned]
    created = MentionRecord.created_at
    first = MentionAuthor.first_mention_at
    local = ZoneInfo(zone)
    if store.dialect == "postgresql":  # local dates, computed by PostgreSQL
        bucket: Any = cast(func.timezone(zone, created), Date)
        new_bucket: Any = cast(func.timezone(zone, first), Date)
        mondays = [line.week.monday for line in lines]

        def week_of(value: Any) -> int:
            return bisect_right(mondays, value) - 1

        def day_of(value: Any) -> Any:
            return value
    else:  # UTC hours (minutes for zones whose midnights are not on the hour), placed in local weeks here
        on_the_hour = all(s.minute == 0 and s.second == 0 for s in starts)
        width, pattern = (13, "%Y-%m-%d %H") if on_the_hour else (16, "%Y-%m-%d %H:%M")
        bucket, new_bucket = func.substr(created, 1, width), func.substr(first, 1, width)

        def week_of(value: Any) -> int:
            return bisect_right(starts, datetime.strptime(value, pattern).replace(tzinfo=UTC)) - 1

        def day_of(value: Any) -> Any:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC).astimezone(local).date()

    with store.transaction() as session:
        counted: Iterable[Any] = (
            session.execute(
                select(MentionRecord.platform, bucket, func.count())
                .where(MentionRecord.campaign == campaign, created >= start, created < end)
                .group_by(MentionRecord.platform, bucket)
            )
            if scanned
            else []
        )
        days: dict[tuple[str, Any], int] = defaultdict(int)
        for platform, value, count in counted:
            line = lines[week_of(value)]
            line.mentions[platform] = line.mentions.get(platform, 0) + int(count)
            days[(platform, day_of(value))] += int(count)
        index = {line.week.monday: line for line in lines}
        for monday, accounts in session.execute(
            select(MentionAuthorWeek.week_start, func.count())
            .where(MentionAuthorWeek.campaign == campaign, MentionAuthorWeek.week_start >= lines[0].week.monday,
                   MentionAuthorWeek.week_start <= lines[-1].week.monday)
            .group_by(MentionAuthorWeek.week_start)
        ):  # fmt: skip
            if monday in index:
                index[monday].accounts = int(accounts)
        before = session.scalar(
            select(func.count()).select_from(MentionAuthor).where(MentionAuthor.campaign == campaign, first < starts[0])
        )
        for value, count in session.execute(
            select(new_bucket, func.count())
            .where(MentionAuthor.campaign == campaign, first >= starts[0], first < starts[-1])
            .group_by(new_bucket)
        ):
            lines[week_of(value)].new_accounts += int(count)
    so_far = int(before or 0)
    for line in lines:
        so_far += line.new_accounts
        line.accounts_so_far = so_far
    return max(days.values(), default=0)


def _deliveries(store: Store, campaign: str, lines: list[WeekLine], starts: list[datetime]) -> None:
    with store.transaction() as session:
        posts: list[set[int]] = [set() for _ in lines]
        out: list[set[int]] = [set() for _ in lines]
        for state, dry_run, planned, published_at, post_pk in session.execute(
            select(Delivery.state, Delivery.dry_run, PostRecord.planned_at, Delivery.published_at, PostRecord.id)
            .join(PostRecord, PostRecord.id == Delivery.post_pk)
            .where(PostRecord.campaign == campaign, PostRecord.planned_at >= starts[0],
                   PostRecord.planned_at < starts[-1], Delivery.state != State.CANCELLED)
        ):  # fmt: skip
            index = bisect_right(starts, planned) - 1
            line = lines[index]
            line.planned += 1
            posts[index].add(post_pk)
            if state == State.PUBLISHED and not dry_run:
                out[index].add(post_pk)
                line.published += 1
                line.on_time += int(published_at is not None and published_at - planned <= ON_TIME)
    for line, planned_posts, posts_out in zip(lines, posts, out, strict=True):
        line.posts, line.posts_out = len(planned_posts), len(posts_out)


def _snapshots(store: Store, campaign: str, end: datetime) -> Iterator[tuple[Any, list[Any], list[datetime]]]:
    """Each published delivery of the campaign with its snapshots before `end`, oldest first, and when our own
    parts answering it went out; read SNAPSHOT_CHUNK deliveries at a time (memory bounded by the chunk)."""
    with store.transaction() as session:
        deliveries = {
            row.id: row
            for row in session.execute(
                select(Delivery.id, Delivery.post_id, Delivery.platform, Delivery.published_at, PostRecord.summary)
                .join(PostRecord, PostRecord.id == Delivery.post_pk)
                .where(Delivery.campaign == campaign, Delivery.state == State.PUBLISHED, Delivery.dry_run.is_(False),
                       Delivery.published_at.is_not(None), Delivery.published_at < end)
            )
        }  # fmt: skip
        ours: dict[int, list[datetime]] = defaultdict(list)  # our own thread's parts, by the part they answer
        for parent_id, published_at in session.execute(
            select(Delivery.parent_id, Delivery.published_at).where(
                Delivery.campaign == campaign, Delivery.parent_id.is_not(None), Delivery.state == State.PUBLISHED,
                Delivery.dry_run.is_(False), Delivery.published_at.is_not(None),
            )
        ):  # fmt: skip
            if parent_id is not None and published_at is not None:
                ours[parent_id].append(published_at)
    ids = sorted(deliveries)
    for chunk in range(0, len(ids), SNAPSHOT_CHUNK):  # short transactions: a writer never waits long on a report
        wanted = ids[chunk : chunk + SNAPSHOT_CHUNK]
        with store.transaction() as session:
            rows = session.execute(
                select(EngagementSnapshot.delivery_id, EngagementSnapshot.taken_at,
                       *[getattr(EngagementSnapshot, m) for m in METRICS])
                .where(EngagementSnapshot.delivery_id.in_(wanted), EngagementSnapshot.taken_at < end)
                .order_by(EngagementSnapshot.delivery_id, EngagementSnapshot.taken_at, EngagementSnapshot.id)
            ).all()  # fmt: skip
        for delivery_id, group in groupby(rows, key=lambda row: row[0]):
            yield deliveries[delivery_id], [row[1:] for row in group], sorted(ours.get(delivery_id, []))


def _engagement(store: Store, campaign: str, lines: list[WeekLine], starts: list[datetime]) -> list[BestPost]:
    """Each week's gain (the same rule as the weekly report: a week's gain is the last count before its end less
    the last count before its start, own-thread replies taken away, unknown when a post published before the
    week had no count before it), and each post's gain over the range."""
    by_post: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    names: dict[str, str] = {}
    for delivery, rows, ours in _snapshots(store, campaign, starts[-1]):
        _fold(delivery, rows, ours, lines, starts, by_post, names)
    best = [
        BestPost(post_id, first_words(names[post_id]) or post_id, sum(gains.values()), dict(gains))
        for post_id, gains in by_post.items()
        if sum(gains.values()) > 0
    ]
    best.sort(key=lambda b: (-b.gained, b.name.lower(), b.post_id))
    return best[:BEST_POSTS]


def _total_before(moment: datetime, taken: list[datetime], rows: list[Any], parts: list[datetime]) -> int | None:
    """A delivery's engagement at its last count strictly before `moment`, our own thread's replies taken away."""
    index = bisect_right(taken, moment - timedelta(microseconds=1)) - 1
    if index < 0:
        return None
    row = rows[index]
    counts = dict(zip(METRICS, (int(v) for v in row[1:]), strict=True))
    counts["replies"] = max(0, counts["replies"] - bisect_right(parts, row[0]))  # as engagement.py counts them
    return sum(counts.values())


def _fold(
    delivery: Any,
    rows: list[Any],
    parts: list[datetime],
    lines: list[WeekLine],
    starts: list[datetime],
    by_post: dict[str, dict[str, int]],
    names: dict[str, str],
) -> None:
    names.setdefault(delivery.post_id, delivery.summary or "")
    if not rows:
        return
    taken = [row[0] for row in rows]
    counts = [_total_before(moment, taken, rows, parts) for moment in starts]
    for i, line in enumerate(lines):
        at_end, at_start = counts[i + 1], counts[i]
        if at_end is None:
            continue
        if at_start is None and delivery.published_at < starts[i]:
            continue  # published before the week and first counted during it: its gain is unknown
        line.engagement_gained += at_end - (at_start or 0)
    if counts[-1] is not None and (counts[0] is not None or delivery.published_at >= starts[0]):
        by_post[delivery.post_id][delivery.platform] += counts[-1] - (counts[0] or 0)


def build_campaign_report(
    store: Store,
    campaign: str,
    first: IsoWeek,
    last: IsoWeek,
    *,
    campaign_name: str | None = None,
    zone: str = DEFAULT_TIMEZONE,
    now: datetime | None = None,
    known_mentions: dict[IsoWeek, dict[str, int]] | None = None,
) -> CampaignReport:
    """Every week from `first` to `last` (inclusive) of one campaign, with totals and the best posts.
    `known_mentions`: mentions per platform of the range's last weeks, already counted by the caller."""
    if last < first:
        first, last = last, first
    weeks = weeks_between(first, last)
    starts = _week_starts(weeks, zone)
    lines = [WeekLine(week) for week in weeks]
    busiest = _mentions(store, campaign, lines, starts, zone, known_mentions or {})
    _deliveries(store, campaign, lines, starts)
    best = _engagement(store, campaign, lines, starts)
    return CampaignReport(
        campaign,
        campaign_name or campaign,
        zone,
        first,
        last,
        now or datetime.now(UTC),
        lines,
        best,
        is_demo(store),
        busiest,
    )
