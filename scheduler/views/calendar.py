"""The calendar as comms officers plan in it: a week, a month, and what goes out in the next 48 hours, across
every campaign (or one), on every platform (or one). Each post in its campaign's own zone, its first words, its
platforms, its state in words (with the link once published and the reason when it is not well) and a warning
when the clocks change near it.

Read through a window of time only: deliveries by `ix_deliveries_due` (joined to their posts for the zone and
first words), so a page costs the same whether the store holds a month or ten years."""

from __future__ import annotations

import calendar as month_grid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS
from scheduler import approval, dispatch
from scheduler.db import Store
from scheduler.dispatch.operator_actions import first_words
from scheduler.display import platform_name
from scheduler.models import Delivery, Event, PostRecord, State
from scheduler.status import part_state
from scheduler.views.clock_changes import ClockChange, clock_change_near
from scheduler.views.text import web_address

# Most pressing first: a post shows the state of its most pressing part, so one failed part is never hidden.
STATES = (
    "failed", "missed", "trying again", "posting now", "awaiting approval", "scheduled", "published", "cancelled",
    "draft",
)  # fmt: skip
_RANK = {name: rank for rank, name in enumerate(STATES)}
AWAITING = "awaiting approval"
_WIDEST_OFFSET = timedelta(hours=14)  # no zone is further from UTC: a local day lies within this of its UTC day
UPCOMING_HOURS = 48
UPCOMING_BEFORE = timedelta(hours=1)  # the list starts a little before now: what is posting or just went out


def _pressing(words: Iterable[str]) -> str:
    return min(words, key=lambda word: _RANK.get(word, len(_RANK)))


@dataclass(frozen=True)
class PlatformLine:
    """One post on one platform: its state, the link once it is out, why it is not well."""

    platform: str
    state: str
    url: str | None = None  # only an http(s) address
    reason: str | None = None


@dataclass(frozen=True)
class PlatformGroup:
    names: str  # "Bluesky, Mastodon"
    state: str
    url: str | None = None
    reason: str | None = None

    @property
    def not_well(self) -> bool:
        return self.state in ("failed", "missed", "trying again")


@dataclass(frozen=True)
class CalendarItem:
    campaign: str
    post_id: str
    at: datetime  # when it goes (or went) out: its first part's time, or the planned time of a draft
    timezone: str
    summary: str  # its first line
    state: str  # one of STATES
    platforms: tuple[PlatformLine, ...]
    clock_change: ClockChange | None = None

    @property
    def local(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.timezone))

    @property
    def day(self) -> date:
        return self.local.date()

    @property
    def first_words(self) -> str:
        return first_words(self.summary, 60)

    @property
    def brief(self) -> str:
        return first_words(self.summary, 32)

    @property
    def alike(self) -> bool:
        """Every platform in the same state, with no link or reason to show: said in one line."""
        return len({line.state for line in self.platforms}) <= 1 and not any(
            line.url or line.reason for line in self.platforms
        )

    @property
    def platform_names(self) -> str:
        return ", ".join(platform_name(line.platform) for line in self.platforms)

    @property
    def groups(self) -> tuple[PlatformGroup, ...]:
        """The platforms said together where they stand alike ("Bluesky, Mastodon: missed: why"); one a line
        where each has its own link."""
        groups: list[PlatformGroup] = []
        for line in self.platforms:
            same = next((g for g in groups if not line.url and not g.url and (g.state, g.reason) ==
                         (line.state, line.reason)), None)  # fmt: skip
            if same is None:
                groups.append(PlatformGroup(platform_name(line.platform), line.state, line.url, line.reason))
            else:
                groups[groups.index(same)] = replace(same, names=f"{same.names}, {platform_name(line.platform)}")
        return tuple(groups)


@dataclass(frozen=True)
class CalendarDay:
    day: date
    items: tuple[CalendarItem, ...] = ()
    in_range: bool = True  # a day of the month shown (the grid's leading and trailing days are not)


@dataclass(frozen=True)
class Filters:
    campaign: str | None = None
    platform: str | None = None
    campaigns: tuple[str, ...] = ()  # what may be chosen
    platforms: tuple[str, ...] = PLATFORMS


@dataclass(frozen=True)
class CalendarPage:
    kind: Literal["week", "month"]
    first: date  # the first and last day of the week or month
    last: date
    weeks: tuple[tuple[CalendarDay, ...], ...]  # Monday to Sunday rows
    filters: Filters
    previous: date
    following: date
    today: date

    @property
    def items(self) -> list[CalendarItem]:
        return [item for week in self.weeks for day in week for item in day.items]

    @property
    def zones(self) -> list[str]:
        return sorted({item.timezone for item in self.items})


@dataclass(frozen=True)
class Upcoming:
    """What goes out next: from an hour ago to `hours` ahead."""

    now: datetime
    start: datetime
    end: datetime
    items: tuple[CalendarItem, ...]
    paused: bool = False
    pause_reason: str = ""
    hours: int = UPCOMING_HOURS
    timezones: tuple[str, ...] = field(default_factory=tuple)


# --- reading a window -----------------------------------------------------------------------------------


_COLUMNS = (
    Delivery.id, Delivery.post_pk, Delivery.platform, Delivery.part, Delivery.state, Delivery.attempts,
    Delivery.due_at, Delivery.remote_url, Delivery.last_error, PostRecord.campaign, PostRecord.post_id,
    PostRecord.timezone, PostRecord.summary, PostRecord.status,
)  # fmt: skip


def _window_rows(
    session: Session, start: datetime, end: datetime, campaign: str | None, platform: str | None
) -> Sequence[Any]:
    query = (
        select(*_COLUMNS)
        .join(PostRecord, PostRecord.id == Delivery.post_pk)
        .where(Delivery.due_at >= start, Delivery.due_at < end)
        # SQLite without statistics may prefer the identity index for a campaign filter, which reads all of
        # that campaign's history: the window is always the narrower read.
        .with_hint(Delivery, "INDEXED BY ix_deliveries_due", "sqlite")
    )
    if campaign:
        query = query.where(Delivery.campaign == campaign)
    if platform:
        query = query.where(Delivery.platform == platform)
    return session.execute(query).all()


def _draft_rows(session: Session, start: datetime, end: datetime, campaign: str | None) -> Sequence[PostRecord]:
    """Drafts have no parts to send, only their planned time."""
    query = (
        select(PostRecord)
        .where(PostRecord.status == "draft", PostRecord.planned_at >= start, PostRecord.planned_at < end)
        .with_hint(PostRecord, "INDEXED BY ix_posts_planned", "sqlite")
    )
    if campaign:
        query = query.where(PostRecord.campaign == campaign)
    return session.scalars(query).all()


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for begin in range(0, len(ids), size):
        yield ids[begin : begin + size]


def part_reasons(session: Session, parts: Iterable[tuple[int, str, int, str | None]]) -> dict[int, str]:
    """Why each part that is not well, or cancelled, is as it is: (id, state, attempts, last error) in. Failing
    or trying again: the last attempt's error; missed or cancelled: what was said when it became so."""
    wanted = {pid: (state, error) for pid, state, attempts, error in parts
              if part_state(state, attempts) in ("failed", "missed", "trying again", "cancelled")}  # fmt: skip
    said: dict[int, tuple[str | None, str]] = {}
    for chunk in _chunks(list(wanted)):
        rows = session.execute(
            select(Event.delivery_id, Event.to_state, Event.reason)
            .where(Event.delivery_id.in_(chunk), Event.to_state.is_not(None))
            .order_by(Event.id)
        ).all()
        for delivery_id, to_state, reason in rows:
            if delivery_id is not None:
                said[delivery_id] = (to_state, reason)
    reasons: dict[int, str] = {}
    for pid, (state, error) in wanted.items():
        to_state, recorded = said.get(pid, (None, ""))
        from_event = recorded if to_state == state and recorded else None
        found = (error or from_event) if state in (State.SCHEDULED, State.FAILED) else (from_event or error)
        if found:
            reasons[pid] = found
    return reasons


def awaiting_approval(session: Session, post_pks: Iterable[int]) -> set[int]:
    """The posts that need an approval they do not have yet, among `post_pks`: shown "awaiting approval"
    instead of "scheduled" (the rule is scheduler.approval's)."""
    return approval.awaiting(session, post_pks)


def _line(name: str, parts: list[Any], reasons: dict[int, str]) -> PlatformLine:
    """One platform of a post, its parts folded in one pass: the most pressing part's state and reason, and the
    link of the first part published."""
    state, rank, reason, first_out, url = "", len(_RANK) + 1, None, None, None
    for part in parts:
        word = part_state(part.state, part.attempts)
        placed = _RANK.get(word, len(_RANK))
        if placed < rank or (placed == rank and reason is None):
            state, rank, reason = word, placed, reasons.get(part.id) or (reason if placed == rank else None)
        if part.state == State.PUBLISHED and part.remote_url and (first_out is None or part.part < first_out):
            first_out, url = part.part, part.remote_url
    return PlatformLine(name, state, web_address(url) if url else None, reason)


def _items(
    session: Session, rows: Sequence[Any], drafts: Sequence[PostRecord], platform: str | None
) -> list[CalendarItem]:
    by_post: dict[int, dict[str, list[Any]]] = {}
    for row in rows:
        by_post.setdefault(row.post_pk, {}).setdefault(row.platform, []).append(row)
    reasons = part_reasons(session, ((r.id, r.state, r.attempts, r.last_error) for r in rows))
    waiting = awaiting_approval(session, by_post)
    items = []
    for pk, platforms in by_post.items():
        lines = tuple(_line(name, platforms[name], reasons) for name in sorted(platforms, key=_platform_order))
        if pk in waiting:  # nothing of it goes out until approved: no platform is simply "scheduled"
            lines = tuple(replace(line, state=AWAITING) if line.state == "scheduled" else line for line in lines)
        parts = [part for mine in platforms.values() for part in mine]
        head = parts[0]
        state = _post_state(head.status, [line.state for line in lines], pk in waiting)
        at = min(part.due_at for part in parts)
        zone = head.timezone or DEFAULT_TIMEZONE
        items.append(CalendarItem(head.campaign, head.post_id, at, zone, head.summary, state, lines,
                                  clock_change_near(at, zone)))  # fmt: skip
    for record in drafts:
        if record.id in by_post:
            continue  # once scheduled, now a draft: its cancelled parts already placed it
        zone = record.timezone or DEFAULT_TIMEZONE
        drafted = tuple(PlatformLine(name, "draft") for name in PLATFORMS if platform in (None, name))
        items.append(CalendarItem(record.campaign, record.post_id, record.planned_at, zone, record.summary,
                                  "draft", drafted, clock_change_near(record.planned_at, zone)))  # fmt: skip
    return sorted(items, key=lambda item: (item.at, item.campaign, item.post_id))


def _platform_order(name: str) -> tuple[int, str]:
    return (PLATFORMS.index(name) if name in PLATFORMS else len(PLATFORMS), name)


def _post_state(record_status: str, words: Sequence[str], waiting: bool) -> str:
    if record_status == "draft" and "published" not in words:
        return "draft"
    state = _pressing(words) if words else "cancelled"
    return AWAITING if waiting and state == "scheduled" else state


def read_window(
    store: Store, start: datetime, end: datetime, *, campaign: str | None = None, platform: str | None = None
) -> list[CalendarItem]:
    """Every post with a part due in [start, end) (and every draft planned then), folded, in time order."""
    with store.transaction() as session:
        rows = _window_rows(session, start, end, campaign, platform)
        drafts = _draft_rows(session, start, end, campaign)
        return _items(session, rows, drafts, platform)


def campaigns_known(store: Store) -> tuple[str, ...]:
    """The campaigns the schedule holds, found by stepping through the posts' (campaign, post id) index from one
    campaign to the next: a handful of index seeks, never a read of every post."""
    step = text(
        "WITH RECURSIVE names(name) AS ("
        " SELECT MIN(campaign) FROM posts"
        " UNION ALL SELECT (SELECT MIN(campaign) FROM posts WHERE campaign > names.name)"
        " FROM names WHERE names.name IS NOT NULL)"
        " SELECT name FROM names WHERE name IS NOT NULL"
    )
    with store.transaction() as session:
        return tuple(str(name) for name in session.scalars(step))


# --- the pages ------------------------------------------------------------------------------------------


def _days_between(first: date, last: date, items: list[CalendarItem], in_range: tuple[date, date]) -> list[CalendarDay]:
    by_day: dict[date, list[CalendarItem]] = defaultdict(list)
    for item in items:
        by_day[item.day].append(item)
    days = []
    current = first
    while current <= last:
        inside = in_range[0] <= current <= in_range[1]
        days.append(CalendarDay(current, tuple(by_day.get(current, ())) if inside else (), inside))
        current += timedelta(days=1)
    return days


def _local_window(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds holding every local day from `first` to `last` in any zone."""
    start = datetime.combine(first, time(), UTC) - _WIDEST_OFFSET
    return start, datetime.combine(last + timedelta(days=1), time(), UTC) + _WIDEST_OFFSET


def _in_days(items: list[CalendarItem], first: date, last: date) -> list[CalendarItem]:
    return [item for item in items if first <= item.day <= last]


def week_page(store: Store, day: date, today: date, filters: Filters) -> CalendarPage:
    monday = day - timedelta(days=day.weekday())
    sunday = monday + timedelta(days=6)
    start, end = _local_window(monday, sunday)
    items = _in_days(read_window(store, start, end, campaign=filters.campaign, platform=filters.platform),
                     monday, sunday)  # fmt: skip
    week = tuple(_days_between(monday, sunday, items, (monday, sunday)))
    return CalendarPage("week", monday, sunday, (week,), filters, monday - timedelta(days=7),
                        monday + timedelta(days=7), today)  # fmt: skip


def month_page(store: Store, year: int, month: int, today: date, filters: Filters) -> CalendarPage:
    first = date(year, month, 1)
    last = date(year, month, month_grid.monthrange(year, month)[1])
    start, end = _local_window(first, last)
    items = _in_days(read_window(store, start, end, campaign=filters.campaign, platform=filters.platform),
                     first, last)  # fmt: skip
    grid_first = first - timedelta(days=first.weekday())
    grid_last = last + timedelta(days=6 - last.weekday())
    days = _days_between(grid_first, grid_last, items, (first, last))
    weeks = tuple(tuple(days[i : i + 7]) for i in range(0, len(days), 7))
    previous = (first - timedelta(days=1)).replace(day=1)
    return CalendarPage("month", first, last, weeks, filters, previous, last + timedelta(days=1), today)


def upcoming(store: Store, now: datetime, *, hours: int = UPCOMING_HOURS) -> Upcoming:
    start, end = now - UPCOMING_BEFORE, now + timedelta(hours=hours)
    items = read_window(store, start, end)
    paused, reason = dispatch.pause_state(store)
    zones = tuple(sorted({item.timezone for item in items}))
    return Upcoming(now, start, end, tuple(items), paused, reason, hours, zones)
