"""The store queries that gather one campaign's week: deliveries, engagement of our posts, mentions, and the
weekly report built from them.

Figures are aggregated in SQL (the week's mentions are never loaded into memory; a covering index answers
the counts) and the few rows that are listed (deliveries, our posts, allow-listed examples) are small.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, select

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS
from scheduler.collection import account_names
from scheduler.collection_models import (
    CollectorState,
    EngagementSnapshot,
    MentionAuthor,
    MentionAuthorWeek,
    MentionRecord,
)
from scheduler.db import Store
from scheduler.demo_flag import is_demo
from scheduler.models import Delivery, Event, PostRecord, State
from scheduler.reports.campaign import build_campaign_report, first_week
from scheduler.reports.engagement import engagement, top_posts
from scheduler.reports.model import (
    Change,
    DataTimes,
    DeliveryFigures,
    DeliveryLine,
    Example,
    IsoWeek,
    MentionFigures,
    NamedAccount,
    PostEngagement,
    WeekFigures,
    WeeklyReport,
    local_time,
)
from scheduler.reports.posts import ON_TIME, people_rows, troubles, went_out
from scheduler.reports.summary import summary_sentences

EXAMPLES = 10


def _delivery_figures(store: Store, campaign: str, start: datetime, end: datetime) -> DeliveryFigures:
    figures = DeliveryFigures()
    # The week holds the posts the calendar planned in it, and lateness is measured from the calendar's time:
    # a retry or `post-now` moves a delivery's due time, never the plan.
    statement = (
        select(Delivery.state, Delivery.dry_run, PostRecord.planned_at, Delivery.published_at, PostRecord.id)
        .join(PostRecord, PostRecord.id == Delivery.post_pk)
        .where(PostRecord.campaign == campaign, PostRecord.planned_at >= start, PostRecord.planned_at < end)
    )
    posts: set[int] = set()
    with store.transaction() as session:
        for state, dry_run, due_at, published_at, post_pk in session.execute(statement):
            if state == State.CANCELLED:
                figures.cancelled += 1
                continue
            figures.planned += 1
            posts.add(post_pk)
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
    figures.posts = len(posts)
    return figures


def _delivery_lines(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> list[DeliveryLine]:
    """Deliveries of the week that were late, missed, failed, still pending, or dry runs."""
    with store.transaction() as session:
        deliveries = session.execute(
            select(Delivery, PostRecord.planned_at)
            .join(PostRecord, PostRecord.id == Delivery.post_pk)
            .where(PostRecord.campaign == campaign, PostRecord.planned_at >= start, PostRecord.planned_at < end)
            .where(Delivery.state != State.CANCELLED)
            .order_by(PostRecord.planned_at, Delivery.post_id, Delivery.platform, Delivery.part)
        ).all()
        lines = []
        for d, planned in deliveries:
            late = d.published_at is not None and d.published_at - planned > ON_TIME
            if d.state == State.PUBLISHED and not late and not d.dry_run:
                continue
            reason = d.last_error or ""
            if d.state == State.PUBLISHED and d.dry_run:
                outcome = "dry run"
                reason = "no credentials: written to the dry-run outbox, not posted" + (f"; {reason}" if reason else "")
            elif d.state == State.PUBLISHED:
                outcome = "late"
                assert d.published_at is not None
                minutes = int((d.published_at - planned).total_seconds() // 60)
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
                    local_time(planned, zone),
                    outcome,
                    local_time(d.published_at, zone),
                    reason,
                    d.remote_url or "",
                )
            )
    return lines


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

    weeks = (MentionFigures(previous.days(), [], {p: [0] * 7 for p in PLATFORMS}),
             MentionFigures(week.days(), [], {p: [0] * 7 for p in PLATFORMS}))  # fmt: skip
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
        figures.platforms = [p for p in figures.per_day if p in PLATFORMS or any(figures.per_day[p])]
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
        NamedAccount(handle or "", platform, count)  # never None: the query asks for handles
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
            examples.append(Example(platform, handle or "", local_time(created_at, zone), text or "", url or ""))
        if len(examples) == EXAMPLES:
            break
    return examples


def _week_figures(
    store: Store, campaign: str, week: IsoWeek, zone: str, mentions: MentionFigures
) -> tuple[WeekFigures, list[PostEngagement]]:
    bounds = week.boundaries(zone)
    posts = engagement(store, campaign, bounds[0], bounds[7], zone)
    deliveries = _delivery_figures(store, campaign, bounds[0], bounds[7])
    return WeekFigures(deliveries, mentions, sum(p.growth for p in posts if p.growth_known)), posts


def build_weekly_report(
    store: Store,
    campaign: str,
    week: IsoWeek,
    *,
    campaign_name: str | None = None,
    organisation_accounts: Iterable[str] = (),
    zone: str = DEFAULT_TIMEZONE,
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
        top_posts=top_posts(posts),
        named_accounts=_named_accounts(store, campaign, start, end, allowed, include_handles),
        examples=_examples(store, campaign, start, end, allowed, zone),
        demo=is_demo(store),
    )
    report.changes = _changes(figures, previous)
    report.people = people_rows(store, campaign, posts)
    report.went_out = went_out(store, campaign, start, end, zone)
    report.troubles = troubles(store, campaign, start, end, zone)
    report.summary = summary_sentences(report)
    report.data_times = _data_times(store, campaign, start, end, zone)
    began = first_week(store, campaign, zone)
    if began is not None and began < week:  # the campaign so far: only once it is more than this one week
        known = {w: {p: m.platform_total(p) for p in m.per_day}
                 for w, m in ((week, this_mentions), (week.previous(), previous_mentions))}  # fmt: skip
        report.campaign_so_far = build_campaign_report(store, campaign, began, week, campaign_name=campaign_name,
                                                       zone=zone, now=report.generated_at,
                                                       known_mentions=known)  # fmt: skip
    return report


def _data_times(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> DataTimes:
    with store.transaction() as session:
        snapshot = session.scalar(
            select(func.max(EngagementSnapshot.taken_at)).where(
                EngagementSnapshot.campaign == campaign, EngagementSnapshot.taken_at < end
            )
        )
        mention = session.scalar(
            select(func.max(MentionRecord.created_at)).where(
                MentionRecord.campaign == campaign, MentionRecord.created_at >= start, MentionRecord.created_at < end
            )
        )
        collections = session.execute(
            select(CollectorState.platform, CollectorState.source, CollectorState.last_success_at)
            .where(CollectorState.campaign == campaign, CollectorState.kind == "mentions")
            .order_by(CollectorState.platform, CollectorState.source)
        ).all()
    return DataTimes(
        local_time(snapshot, zone),
        local_time(mention, zone),
        tuple((platform, source or "search", local_time(at, zone) or "never") for platform, source, at in collections),
    )


def _changes(this: WeekFigures, before: WeekFigures) -> list[Change]:
    pairs = [
        ("Posts planned", this.deliveries.posts, before.deliveries.posts),
        ("Parts sent to platforms", this.deliveries.planned, before.deliveries.planned),
        ("of which on time", this.deliveries.on_time, before.deliveries.on_time),
        ("of which late", this.deliveries.late, before.deliveries.late),
        ("of which missed", this.deliveries.missed, before.deliveries.missed),
        ("of which failed", this.deliveries.failed, before.deliveries.failed),
        ("Dry runs (outbox only, not posted)", this.deliveries.dry_run, before.deliveries.dry_run),
        ("Engagement gained (likes, reposts, replies, quotes)", this.engagement_growth, before.engagement_growth),
        ("Mentions", this.mentions.total, before.mentions.total),
        ("Mentions replying to us", this.mentions.replies_to_us, before.mentions.replies_to_us),
        ("Accounts mentioning the campaign", this.mentions.accounts, before.mentions.accounts),
        ("of which new", this.mentions.new_accounts, before.mentions.new_accounts),
        ("of which returning", this.mentions.returning_accounts, before.mentions.returning_accounts),
    ]
    return [Change(label, now, then) for label, now, then in pairs]
