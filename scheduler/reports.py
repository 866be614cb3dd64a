"""The weekly report: Monday to Sunday in the campaign's zone (Europe/London), from the store alone.

    report = build_weekly_report(store, campaign, IsoWeek.parse("2027-W05"))
    paths = write_report(report, out_dir, formats=("html", "md", "csv"))

Figures are aggregated in SQL (the week's mentions are never loaded into memory; a covering index answers
the counts) and the few rows that are listed (deliveries, our posts, allow-listed examples) are small.

Private by default: third-party accounts appear only as counts. A handle is named only when the campaign lists
it in `organisation_accounts` (or the report is asked to `include_handles`, which names the handles the
store holds: collection keeps a third party's handle only when told to, and never its text).

Every piece of text from a post or mention is treated as hostile: HTML escapes it (Jinja2 autoescape, inside
<bdi>, bidi controls removed, and a Content-Security-Policy that allows no script at all), Markdown escapes
its Markdown and HTML characters, CSV guards against formula injection.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import tempfile
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy import Date, case, cast, func, select

from scheduler.collection import account_names, clean_text
from scheduler.collection_models import EngagementSnapshot, MentionAuthor, MentionAuthorWeek, MentionRecord
from scheduler.db import Store
from scheduler.models import Delivery, Event, PostRecord, State

TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_ZONE = "Europe/London"
ON_TIME = timedelta(minutes=5)  # published within this of its planned time counts as on time
TOP_POSTS = 5
EXAMPLES = 10
FORMATS = ("html", "md", "csv")
PLATFORM_ORDER = ("bluesky", "mastodon")
PLATFORM_NAMES = {"bluesky": "Bluesky", "mastodon": "Mastodon"}
TRACKING_DAYS = timedelta(days=30)  # engagement is snapshotted for 30 days after publication


# --- weeks -------------------------------------------------------------------------------------------------


_WEEK = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _WEEK.match(text)
        if not match:
            raise ValueError(f"`{text}` is not an ISO week: write it like 2027-W05.")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {week}.") from None
        return cls(year, week)

    @classmethod
    def containing(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @classmethod
    def last_complete(cls, now: datetime, zone: str = DEFAULT_ZONE) -> IsoWeek:
        """The most recent Monday-to-Sunday week that has ended, in `zone`."""
        today = now.astimezone(ZoneInfo(zone)).date()
        return cls.containing(today - timedelta(days=7))

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    def previous(self) -> IsoWeek:
        return IsoWeek.containing(self.monday - timedelta(days=7))

    def boundaries(self, zone: str = DEFAULT_ZONE) -> list[datetime]:
        """Eight UTC instants: each local midnight from this Monday to the next (days are 23 or 25 hours
        long when the clocks change)."""
        tz = ZoneInfo(zone)
        return [datetime.combine(self.monday + timedelta(days=i), time(0), tzinfo=tz).astimezone(UTC) for i in range(8)]


# --- the figures ----------------------------------------------------------------------------------------------


@dataclass
class DeliveryFigures:
    planned: int = 0  # due in the week, not cancelled
    published: int = 0  # posted to a platform (dry runs are not)
    on_time: int = 0
    late: int = 0
    missed: int = 0
    failed: int = 0
    pending: int = 0  # still scheduled or in flight when the report was made
    cancelled: int = 0
    dry_run: int = 0  # written to the dry-run outbox (no credentials), not posted: its own outcome


@dataclass(frozen=True)
class DeliveryLine:
    """A delivery that did not go out on time, or a dry run: post, where, when, what happened and why."""

    post_id: str
    platform: str
    part: int
    due_local: str
    outcome: str  # late | missed | failed | pending | dry run
    published_local: str
    reason: str
    url: str


@dataclass
class PostEngagement:
    post_id: str
    platform: str
    summary: str
    published_local: str
    url: str
    tracked: bool  # at least one snapshot before the week's end
    # Growth is measured from the last snapshot before the week (or from zero for a post published during it).
    # False when the post was published before the week and its first snapshot came during it: the week's
    # growth is then unknown, and its growth fields stay 0.
    growth_known: bool = True
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    likes_growth: int = 0
    reposts_growth: int = 0
    replies_growth: int = 0
    quotes_growth: int = 0

    @property
    def total(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes

    @property
    def growth(self) -> int:
        return self.likes_growth + self.reposts_growth + self.replies_growth + self.quotes_growth

    @property
    def growth_note(self) -> str:
        """Where this week's growth is measured from, for the CSV."""
        if not self.tracked:
            return "not measured yet"
        return "" if self.growth_known else NO_EARLIER_SNAPSHOT


NO_EARLIER_SNAPSHOT = "no earlier snapshot"


def signed(value: int) -> Markup:
    """A change as people read it: +3, \u22123 (a real minus sign), 0. Markup: it is our own text, never escaped."""
    if value > 0:
        return Markup(f"+{value}")
    if value < 0:
        return Markup(f"\u2212{-value}")
    return Markup("0")


@dataclass(frozen=True)
class TopPost:
    post_id: str
    summary: str
    growth: int
    total: int
    platforms: str


@dataclass
class MentionFigures:
    days: list[date]
    platforms: list[str]
    per_day: dict[str, list[int]]  # platform -> 7 counts, Monday first
    replies_to_us: int = 0
    accounts: int = 0
    new_accounts: int = 0

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.per_day.values())

    @property
    def returning_accounts(self) -> int:
        return self.accounts - self.new_accounts

    def day_total(self, index: int) -> int:
        return sum(counts[index] for counts in self.per_day.values())

    def platform_total(self, platform: str) -> int:
        return sum(self.per_day.get(platform, []))


@dataclass(frozen=True)
class NamedAccount:
    handle: str
    platform: str
    mentions: int


@dataclass(frozen=True)
class Example:
    platform: str
    handle: str
    when_local: str
    text: str
    url: str


@dataclass(frozen=True)
class Change:
    label: str
    this_week: int
    previous_week: int

    @property
    def delta(self) -> int:
        return self.this_week - self.previous_week

    @property
    def delta_text(self) -> str:
        if self.previous_week and self.delta:
            return f"{signed(self.delta)} ({signed(round(100 * self.delta / self.previous_week))}%)"
        return str(signed(self.delta))


@dataclass
class WeekFigures:
    deliveries: DeliveryFigures
    mentions: MentionFigures
    engagement_growth: int


@dataclass
class WeeklyReport:
    campaign: str
    campaign_name: str
    week: IsoWeek
    zone: str
    start_local: date
    end_local: date
    generated_at: datetime
    include_handles: bool
    figures: WeekFigures
    previous: WeekFigures
    problems: list[DeliveryLine]
    posts: list[PostEngagement]
    top_posts: list[TopPost]
    named_accounts: list[NamedAccount]
    examples: list[Example]
    changes: list[Change] = field(default_factory=list)

    @property
    def deliveries(self) -> DeliveryFigures:
        return self.figures.deliveries

    @property
    def mentions(self) -> MentionFigures:
        return self.figures.mentions

    @property
    def unnamed_accounts(self) -> int:
        named = {(a.platform, a.handle.lower()) for a in self.named_accounts}
        return max(0, self.mentions.accounts - len(named))

    @property
    def title(self) -> str:
        return f"{self.campaign_name}: week {self.week.label}"

    @property
    def period(self) -> str:
        return f"Monday {self.start_local:%-d %B %Y} to Sunday {self.end_local:%-d %B %Y} ({self.zone})"

    @property
    def file_stem(self) -> str:
        return f"{self.campaign}-{self.week.label}"


# --- queries ----------------------------------------------------------------------------------------------------


def _local(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %-d %b %H:%M")


def _delivery_figures(store: Store, campaign: str, start: datetime, end: datetime) -> DeliveryFigures:
    figures = DeliveryFigures()
    statement = select(Delivery.state, Delivery.dry_run, Delivery.due_at, Delivery.published_at).where(
        Delivery.campaign == campaign, Delivery.due_at >= start, Delivery.due_at < end
    )
    with store.transaction() as session:
        for state, dry_run, due_at, published_at in session.execute(statement):
            if state == State.CANCELLED:
                figures.cancelled += 1
                continue
            figures.planned += 1
            if state == State.PUBLISHED and dry_run:
                figures.dry_run += 1  # written to the outbox, not posted: neither published nor on time
            elif state == State.PUBLISHED:
                figures.published += 1
                if published_at is not None and published_at - due_at > ON_TIME:
                    figures.late += 1
                else:
                    figures.on_time += 1
            elif state == State.MISSED:
                figures.missed += 1
            elif state == State.FAILED:
                figures.failed += 1
            else:
                figures.pending += 1
    return figures


def _delivery_lines(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> list[DeliveryLine]:
    """Deliveries of the week that were late, missed, failed, still pending, or dry runs."""
    with store.transaction() as session:
        deliveries = (
            session.execute(
                select(Delivery)
                .where(Delivery.campaign == campaign, Delivery.due_at >= start, Delivery.due_at < end)
                .where(Delivery.state != State.CANCELLED)
                .order_by(Delivery.due_at, Delivery.post_id, Delivery.platform, Delivery.part)
            )
            .scalars()
            .all()
        )
        lines = []
        for d in deliveries:
            late = d.published_at is not None and d.published_at - d.due_at > ON_TIME
            if d.state == State.PUBLISHED and not late and not d.dry_run:
                continue
            reason = d.last_error or ""
            if d.state == State.PUBLISHED and d.dry_run:
                outcome = "dry run"
                reason = "no credentials: written to the dry-run outbox, not posted" + (f"; {reason}" if reason else "")
            elif d.state == State.PUBLISHED:
                outcome = "late"
                assert d.published_at is not None
                minutes = int((d.published_at - d.due_at).total_seconds() // 60)
                reason = f"published {minutes} min after its planned time" + (f"; {reason}" if reason else "")
            elif d.state in (State.MISSED, State.FAILED):
                outcome = str(d.state)
                if not reason:
                    reason = (
                        session.execute(
                            select(Event.reason)
                            .where(Event.delivery_id == d.id, Event.to_state == d.state)
                            .order_by(Event.id.desc())
                            .limit(1)
                        ).scalar_one_or_none()
                        or ""
                    )
            else:
                outcome = "pending"
                reason = reason or f"still {d.state} when this report was made"
            lines.append(
                DeliveryLine(
                    d.post_id,
                    d.platform,
                    d.part,
                    _local(d.due_at, zone),
                    outcome,
                    _local(d.published_at, zone),
                    reason,
                    d.remote_url or "",
                )
            )
    return lines


def _engagement(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> list[PostEngagement]:
    """Our posts tracked during the week: counts at the week's end and growth during it, parts summed."""

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
    posts: dict[tuple[str, str], PostEngagement] = {}
    for row in rows:
        end_snap = snapshots.get(row.end_id)
        start_snap = snapshots.get(row.start_id) if row.published_at < start else None
        if end_snap is None and row.published_at < start:
            continue  # published before the week and never measured: nothing to say about this week
        key = (row.post_id, row.platform)
        post = posts.get(key)
        if post is None:
            post = posts[key] = PostEngagement(
                row.post_id, row.platform, row.summary or "", _local(row.published_at, zone), row.remote_url or "",
                tracked=False,
            )  # fmt: skip
        if end_snap is None:
            continue
        post.tracked = True
        # Published during the week: it started from nothing. Published before: from the last snapshot before the
        # week, and without one the week's growth is unknown (its whole count is not this week's growth).
        baseline_known = row.published_at >= start or start_snap is not None
        post.growth_known = post.growth_known and baseline_known
        for metric in ("likes", "reposts", "replies", "quotes"):
            now_value = getattr(end_snap, metric)
            before = getattr(start_snap, metric) if start_snap is not None else 0
            setattr(post, metric, getattr(post, metric) + now_value)
            setattr(post, f"{metric}_growth", getattr(post, f"{metric}_growth") + now_value - before)
    for post in posts.values():
        if not post.growth_known:  # one part without a baseline makes the whole post's growth unknown
            post.likes_growth = post.reposts_growth = post.replies_growth = post.quotes_growth = 0
    return list(posts.values())


def _top_posts(posts: Sequence[PostEngagement]) -> list[TopPost]:
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
    return ranked[:TOP_POSTS]


def _mention_figures(store: Store, campaign: str, week: IsoWeek, zone: str) -> tuple[MentionFigures, MentionFigures]:
    """This week's and the previous week's mention figures: one pass over the fortnight's index entries for the
    counts by platform and time bucket (placed in local days here); accounts per week and new accounts come
    from the small tables collection keeps for them (mention_author_weeks, mention_authors)."""
    previous = week.previous()
    day_starts = previous.boundaries(zone)[:7] + week.boundaries(zone)  # 15 instants: 14 local days
    start, middle, end = day_starts[0], day_starts[7], day_starts[14]
    created = MentionRecord.created_at
    in_range = (MentionRecord.campaign == campaign, created >= start, created < end)
    if store.dialect == "postgresql":
        bucket: Any = cast(func.timezone(zone, created), Date)  # the local date, computed by PostgreSQL

        def day_of(value: Any) -> int:
            return (value - previous.monday).days
    else:
        # SQLite has no time zones: group by UTC hour (minute, for zones whose midnights are not on the hour),
        # a cheap prefix of the stored text, then place each bucket in its local day here.
        on_the_hour = all(b.minute == 0 and b.second == 0 for b in day_starts)
        width, pattern = (13, "%Y-%m-%d %H") if on_the_hour else (16, "%Y-%m-%d %H:%M")
        bucket = func.substr(created, 1, width)

        def day_of(value: Any) -> int:
            return bisect_right(day_starts, datetime.strptime(value, pattern).replace(tzinfo=UTC)) - 1

    weeks = (MentionFigures(previous.days(), [], {p: [0] * 7 for p in PLATFORM_ORDER}),
             MentionFigures(week.days(), [], {p: [0] * 7 for p in PLATFORM_ORDER}))  # fmt: skip
    first = MentionAuthor.first_mention_at
    with store.transaction() as session:
        for platform, value, count, replies in session.execute(
            select(MentionRecord.platform, bucket, func.count(), func.count(MentionRecord.reply_to_delivery_id))
            .where(*in_range)
            .group_by(MentionRecord.platform, bucket)
        ):
            day = day_of(value)
            figures = weeks[day // 7]
            figures.per_day.setdefault(platform, [0] * 7)[day % 7] += count
            figures.replies_to_us += replies
        for monday, accounts in session.execute(
            select(MentionAuthorWeek.week_start, func.count())
            .where(MentionAuthorWeek.campaign == campaign,
                   MentionAuthorWeek.week_start.in_([previous.monday, week.monday]))
            .group_by(MentionAuthorWeek.week_start)
        ):  # fmt: skip
            weeks[0 if monday == previous.monday else 1].accounts = int(accounts)
        first_week = case((first < middle, 0), else_=1)
        for index, new in session.execute(
            select(first_week, func.count())
            .where(MentionAuthor.campaign == campaign, first >= start, first < end)
            .group_by(first_week)
        ):
            weeks[int(index)].new_accounts = int(new)
    for figures in weeks:
        figures.platforms = [p for p in figures.per_day if p in PLATFORM_ORDER or any(figures.per_day[p])]
    return weeks[1], weeks[0]


def _named_accounts(
    store: Store, campaign: str, start: datetime, end: datetime, allowed: frozenset[str], include_handles: bool
) -> list[NamedAccount]:
    with store.transaction() as session:
        rows = session.execute(
            select(MentionRecord.author_handle, MentionRecord.platform, func.count())
            .where(
                MentionRecord.campaign == campaign,
                MentionRecord.created_at >= start,
                MentionRecord.created_at < end,
                MentionRecord.author_handle.is_not(None),
            )
            .group_by(MentionRecord.author_handle, MentionRecord.platform)
        ).all()
    named = [
        NamedAccount(handle, platform, count)
        for handle, platform, count in rows
        if include_handles or _is_allowed(handle, platform, allowed)
    ]
    named.sort(key=lambda a: (-a.mentions, a.handle.lower(), a.platform))
    return named


def _is_allowed(handle: str | None, platform: str, allowed: frozenset[str]) -> bool:
    return bool(handle) and bool(account_names(platform, [handle or ""]) & allowed)


def _examples(
    store: Store, campaign: str, start: datetime, end: datetime, allowed: frozenset[str], zone: str
) -> list[Example]:
    """Mentions whose text may be quoted: from accounts the campaign allow-lists (now, not only when stored)."""
    with store.transaction() as session:
        rows = session.execute(
            select(
                MentionRecord.platform,
                MentionRecord.author_handle,
                MentionRecord.created_at,
                MentionRecord.text,
                MentionRecord.url,
            )
            .where(
                MentionRecord.campaign == campaign,
                MentionRecord.created_at >= start,
                MentionRecord.created_at < end,
                MentionRecord.author_handle.is_not(None),
                MentionRecord.text.is_not(None),
            )
            .order_by(MentionRecord.created_at.desc(), MentionRecord.id.desc())
            .limit(EXAMPLES * 20)
        ).all()
    examples = []
    for platform, handle, created_at, text, url in rows:
        if _is_allowed(handle, platform, allowed):
            examples.append(Example(platform, handle or "", _local(created_at, zone), text or "", url or ""))
        if len(examples) == EXAMPLES:
            break
    return examples


def _week_figures(
    store: Store, campaign: str, week: IsoWeek, zone: str, mentions: MentionFigures
) -> tuple[WeekFigures, list[PostEngagement]]:
    bounds = week.boundaries(zone)
    posts = _engagement(store, campaign, bounds[0], bounds[7], zone)
    deliveries = _delivery_figures(store, campaign, bounds[0], bounds[7])
    return WeekFigures(deliveries, mentions, sum(p.growth for p in posts if p.growth_known)), posts


def build_weekly_report(
    store: Store,
    campaign: str,
    week: IsoWeek,
    *,
    campaign_name: str | None = None,
    organisation_accounts: Iterable[str] = (),
    zone: str = DEFAULT_ZONE,
    include_handles: bool = False,
    now: datetime | None = None,
) -> WeeklyReport:
    """Every figure of one campaign's week (and the week before, for the changes)."""
    bounds = week.boundaries(zone)
    start, end = bounds[0], bounds[7]
    orgs = list(organisation_accounts)
    allowed = account_names("bluesky", orgs) | account_names("mastodon", orgs)
    this_mentions, previous_mentions = _mention_figures(store, campaign, week, zone)
    figures, posts = _week_figures(store, campaign, week, zone, this_mentions)
    previous, _ = _week_figures(store, campaign, week.previous(), zone, previous_mentions)
    report = WeeklyReport(
        campaign=campaign,
        campaign_name=campaign_name or campaign,
        week=week,
        zone=zone,
        start_local=week.monday,
        end_local=week.monday + timedelta(days=6),
        generated_at=now or datetime.now(UTC),
        include_handles=include_handles,
        figures=figures,
        previous=previous,
        problems=_delivery_lines(store, campaign, start, end, zone),
        posts=posts,
        top_posts=_top_posts(posts),
        named_accounts=_named_accounts(store, campaign, start, end, allowed, include_handles),
        examples=_examples(store, campaign, start, end, allowed, zone),
    )
    report.changes = _changes(figures, previous)
    return report


def _changes(this: WeekFigures, before: WeekFigures) -> list[Change]:
    pairs = [
        ("Deliveries planned", this.deliveries.planned, before.deliveries.planned),
        ("Published on time", this.deliveries.on_time, before.deliveries.on_time),
        ("Published late", this.deliveries.late, before.deliveries.late),
        ("Missed", this.deliveries.missed, before.deliveries.missed),
        ("Failed", this.deliveries.failed, before.deliveries.failed),
        ("Dry runs (outbox only, not posted)", this.deliveries.dry_run, before.deliveries.dry_run),
        ("Engagement gained (likes, reposts, replies, quotes)", this.engagement_growth, before.engagement_growth),
        ("Mentions", this.mentions.total, before.mentions.total),
        ("Mentions replying to us", this.mentions.replies_to_us, before.mentions.replies_to_us),
        ("Accounts mentioning the campaign", this.mentions.accounts, before.mentions.accounts),
        ("of which new", this.mentions.new_accounts, before.mentions.new_accounts),
        ("of which returning", this.mentions.returning_accounts, before.mentions.returning_accounts),
    ]
    return [Change(label, now, then) for label, now, then in pairs]


# --- charts (matplotlib, Agg, no pyplot: no global state shared between worker threads) -------------------


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


COLOURS = {"bluesky": "#1565c0", "mastodon": "#6a1b9a"}


def mentions_chart(mentions: MentionFigures) -> str:
    """Mentions per day per platform as grouped bars: a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.4, 2.9), dpi=150, layout="constrained")  # sized for a phone screen
    axes = figure.subplots()
    labels = [f"{d:%a}\n{d:%-d}" for d in mentions.days]
    platforms = mentions.platforms or list(PLATFORM_ORDER)
    width = 0.8 / max(1, len(platforms))
    for offset, platform in enumerate(platforms):
        counts = mentions.per_day.get(platform, [0] * 7)
        positions = [i + (offset - (len(platforms) - 1) / 2) * width for i in range(7)]
        axes.bar(positions, counts, width, label=PLATFORM_NAMES.get(platform, platform),
                 color=COLOURS.get(platform, "#2e7d32"))  # fmt: skip
    axes.set_xticks(range(7), labels)
    axes.set_ylabel("mentions")
    axes.set_title("Mentions per day")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    if mentions.total == 0:
        axes.set_ylim(0, 1)
        axes.text(3, 0.5, "No mentions this week", ha="center", va="center", color="#555555")
    axes.legend(frameon=False)
    return _png(figure)


def growth_chart(top_posts: Sequence[TopPost]) -> str | None:
    """Engagement gained this week by the top posts, as horizontal bars (None when nothing grew)."""
    if not top_posts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.4, 0.7 + 0.35 * len(top_posts)), dpi=150, layout="constrained")
    axes = figure.subplots()
    names = [t.post_id for t in reversed(top_posts)]
    axes.barh(names, [t.growth for t in reversed(top_posts)], color="#2e7d32")
    axes.set_xlabel("engagement gained this week")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


# --- rendering ----------------------------------------------------------------------------------------------------


def _finalize_html(value: Any) -> Any:
    # Every string printed into the page loses bidi overrides and control characters; autoescape then
    # escapes it (Markup, our own markup, passes through).
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean_text(value)
    return value


_MD_INLINE = re.compile(r"([\\`*_{}\[\]|~])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=]|\d+(?=[.)]))")


def md_escape(value: Any) -> str:
    """Text safe inside Markdown (and the HTML many Markdown renderers allow): one line, inline Markdown
    punctuation backslash-escaped (a link or image needs `[`, so `(` and `!` are harmless elsewhere), what
    would start a heading, list or quote escaped at the start, and <, > and & as entities."""
    if isinstance(value, Markup):
        return str(value)
    if not isinstance(value, str):
        return "" if value is None else str(value)
    text = " ".join(clean_text(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_line_start, text, count=1)


def _escape_line_start(match: re.Match[str]) -> str:
    lead, marker = match.group(1), match.group(2)
    if marker.isdigit():  # "12." starts an ordered list: escape the dot (a backslash before a digit is literal)
        return f"{lead}{marker}\\"
    return f"{lead}\\{marker}"


def _environment(markdown: bool) -> Environment:
    if markdown:
        return Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=False, finalize=md_escape, undefined=StrictUndefined,
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        )  # fmt: skip
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, finalize=_finalize_html, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip


def _context(report: WeeklyReport) -> dict[str, Any]:
    return {
        "r": report,
        "platform_names": PLATFORM_NAMES,
        "signed": signed,
        "no_earlier_snapshot": NO_EARLIER_SNAPSHOT,
        "generated_local": report.generated_at.astimezone(ZoneInfo(report.zone)).strftime("%a %-d %b %Y %H:%M"),
    }


def render_html(report: WeeklyReport) -> str:
    context = _context(report)
    context["mentions_chart"] = mentions_chart(report.mentions)
    context["growth_chart"] = growth_chart(report.top_posts)
    return _environment(markdown=False).get_template("weekly.html.j2").render(context)


def render_markdown(report: WeeklyReport) -> str:
    return _environment(markdown=True).get_template("weekly.md.j2").render(_context(report))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A spreadsheet-safe cell: text that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str):
        value = clean_text(value)
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


def _growth_cells(post: PostEngagement) -> list[Any]:
    """This week's gains, or empty cells when they are unknown (no snapshot before the week)."""
    if not post.growth_known:
        return [""] * 5
    return [post.likes_growth, post.reposts_growth, post.replies_growth, post.quotes_growth, post.growth]


def csv_tables(report: WeeklyReport) -> dict[str, list[list[Any]]]:
    """name -> rows (header first) for the CSV files."""
    m = report.mentions
    tables: dict[str, list[list[Any]]] = {
        "summary": [["figure", "this week", "previous week", "change"]]
        + [[c.label, c.this_week, c.previous_week, c.delta] for c in report.changes],
        "deliveries": [["post", "platform", "part", "planned", "outcome", "published", "reason", "url"]]
        + [[p.post_id, p.platform, p.part, p.due_local, p.outcome, p.published_local, p.reason, p.url]
           for p in report.problems],
        "engagement": [[
            "post", "platform", "published", "likes", "reposts", "replies", "quotes", "total",
            "likes this week", "reposts this week", "replies this week", "quotes this week", "gained this week",
            "summary", "url", "note",
        ]] + [[
            p.post_id, p.platform, p.published_local, p.likes, p.reposts, p.replies, p.quotes, p.total,
            *_growth_cells(p), p.summary, p.url, p.growth_note,
        ] for p in report.posts],
        "mentions_per_day": [["date", *[PLATFORM_NAMES.get(p, p) for p in m.platforms], "total"]]
        + [[d.isoformat(), *[m.per_day[p][i] for p in m.platforms], m.day_total(i)] for i, d in enumerate(m.days)],
        "accounts": [["accounts", "count"], ["mentioning the campaign", m.accounts], ["new", m.new_accounts],
                     ["returning", m.returning_accounts], ["replies to us", m.replies_to_us]]
        + [[f"{a.handle} ({a.platform})", a.mentions] for a in report.named_accounts],
        "examples": [["when", "platform", "account", "text", "url"]]
        + [[e.when_local, e.platform, e.handle, e.text, e.url] for e in report.examples],
    }  # fmt: skip
    return tables


def render_csv(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return buffer.getvalue()


def _write_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write next to the target and rename: a reader (or `campaign status`) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report(report: WeeklyReport, out_dir: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the report in each format into `out_dir`: <campaign>-<week>.html / .md, and the CSV tables as
    <campaign>-<week>-<table>.csv (UTF-8 with a BOM, which Excel needs to read UTF-8)."""
    written = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}: use {', '.join(FORMATS)}")
    # CSV and Markdown first: the HTML file is what `campaign status` looks for, so it lands last.
    if "csv" in formats:
        for name, rows in csv_tables(report).items():
            path = out_dir / f"{report.file_stem}-{name}.csv"
            _write_atomic(path, render_csv(rows), encoding="utf-8-sig")
            written.append(path)
    if "md" in formats:
        path = out_dir / f"{report.file_stem}.md"
        _write_atomic(path, render_markdown(report))
        written.append(path)
    if "html" in formats:
        path = out_dir / f"{report.file_stem}.html"
        _write_atomic(path, render_html(report))
        written.append(path)
    return written


# --- the campaign's settings, and the Monday report ------------------------------------------------------------


@dataclass(frozen=True)
class ReportSubject:
    slug: str
    name: str
    zone: str
    organisation_accounts: tuple[str, ...]


def report_subject(campaigns_dir: Path | None, slug: str) -> ReportSubject:
    """Name, zone and allow-list from campaign.yaml; a campaign without one is reported with no names at all."""
    if campaigns_dir is not None and (campaigns_dir / slug / "campaign.yaml").is_file():
        from content_calendar.campaign import load_campaign
        from content_calendar.model import CalendarError

        try:
            campaign = load_campaign(campaigns_dir / slug)
        except CalendarError:
            pass
        else:
            return ReportSubject(slug, campaign.name, campaign.timezone, campaign.organisation_accounts)
    return ReportSubject(slug, slug, DEFAULT_ZONE, ())


def weekly_report_for(
    store: Store,
    slug: str,
    week: IsoWeek,
    *,
    campaigns_dir: Path | None,
    include_handles: bool = False,
    now: datetime | None = None,
) -> WeeklyReport:
    subject = report_subject(campaigns_dir, slug)
    return build_weekly_report(
        store, slug, week, campaign_name=subject.name, organisation_accounts=subject.organisation_accounts,
        zone=subject.zone, include_handles=include_handles, now=now,
    )  # fmt: skip


REPORT_DUE = time(7, 0)  # Monday 07:00 local: last week's report is written


def report_path(reports_dir: Path, slug: str, week: IsoWeek) -> Path:
    return reports_dir / slug / f"{slug}-{week.label}.html"


def write_due_reports(
    store: Store, reports_dir: Path, campaigns: Sequence[str], now: datetime, *, campaigns_dir: Path | None
) -> list[Path]:
    """Last week's report for each campaign, once it is Monday 07:00 (campaign zone) or later and the report is
    not there yet: beat calls this every few minutes; it writes each report once and catches up after downtime."""
    written: list[Path] = []
    for slug in campaigns:
        subject = report_subject(campaigns_dir, slug)
        local_now = now.astimezone(ZoneInfo(subject.zone))
        this_monday = local_now.date() - timedelta(days=local_now.weekday())
        if local_now < datetime.combine(this_monday, REPORT_DUE, tzinfo=ZoneInfo(subject.zone)):
            this_monday -= timedelta(days=7)  # before 07:00 on Monday: the week before last is the latest due
        week = IsoWeek.containing(this_monday - timedelta(days=7))
        if report_path(reports_dir, slug, week).exists():
            continue
        report = build_weekly_report(
            store, slug, week, campaign_name=subject.name, organisation_accounts=subject.organisation_accounts,
            zone=subject.zone, now=now,
        )  # fmt: skip
        written += write_report(report, reports_dir / slug)
    return written
