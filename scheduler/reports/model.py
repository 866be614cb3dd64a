"""The weekly report's words: the ISO week (Monday to Sunday in the campaign's zone) and the figures, lines and
tables a report is made of. Plain data: the store queries fill them (queries.py), rendering prints them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from content_calendar.model import DEFAULT_TIMEZONE

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
    def last_complete(cls, now: datetime, zone: str = DEFAULT_TIMEZONE) -> IsoWeek:
        """The most recent Monday-to-Sunday week that has ended, in `zone`."""
        today = now.astimezone(ZoneInfo(zone)).date()
        return cls.containing(today - timedelta(days=7))

    @classmethod
    def chosen(cls, text: str | None, now: datetime, zone: str = DEFAULT_TIMEZONE) -> IsoWeek:
        """The week a person asked for: an ISO week (2027-W05), a date (2027-02-01: the week holding it), or
        `last` (and nothing: the last full week, in `zone`)."""
        value = (text or "").strip()
        if not value or value.lower() == "last":
            return cls.last_complete(now, zone)
        if _WEEK.match(value):
            return cls.parse(value)
        try:
            return cls.containing(date.fromisoformat(value))
        except ValueError:
            raise ValueError(
                f"`{value}` is not a week: write 2027-W05, a date such as 2027-02-01 (the week holding it), or last."
            ) from None

    def started(self, now: datetime, zone: str = DEFAULT_TIMEZONE) -> bool:
        return self.monday <= now.astimezone(ZoneInfo(zone)).date()

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def week_of(self) -> str:
        """The week as people read it: "week of Mon 1 Feb 2027" (the ISO code stays in file names and the CLI)."""
        return f"week of {self.monday:%a %-d %b %Y}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    def previous(self) -> IsoWeek:
        return IsoWeek.containing(self.monday - timedelta(days=7))

    def boundaries(self, zone: str = DEFAULT_TIMEZONE) -> list[datetime]:
        """Eight UTC instants: each local midnight from this Monday to the next (days are 23 or 25 hours
        long when the clocks change)."""
        tz = ZoneInfo(zone)
        return [datetime.combine(self.monday + timedelta(days=i), time(0), tzinfo=tz).astimezone(UTC) for i in range(8)]


def local_time(moment: datetime | None, zone: str) -> str:
    """An instant as people read it in the campaign's zone, with the zone's abbreviation: "Mon 1 Feb 09:00 GMT"
    ("" for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %-d %b %H:%M %Z")


# --- the figures ----------------------------------------------------------------------------------------------


@dataclass
class DeliveryFigures:
    planned: int = 0  # parts due on platforms in the week (one a post's part on one platform), not cancelled
    posts: int = 0  # posts (calendar entries) with a part not cancelled, whatever their parts and platforms
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
        return Markup(f"+{value:,}")
    if value < 0:
        return Markup(f"\u2212{-value:,}")
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
            return f"{signed(self.delta)} ({growth_words(self.this_week, self.previous_week)})"
        return str(signed(self.delta))


def growth_words(this: int, before: int) -> str:
    """A change people can read: a percentage up to +200% (+35%, \u221212%), and above it how many times as many
    ("17.6 times as many"): "+1664%" is hard to take in."""
    if before > 0 and this > 3 * before:
        ratio = this / before
        figure = f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.1f}".removesuffix(".0")
        return f"{figure} times as many"
    return f"{signed(round(100 * (this - before) / before))}%"


@dataclass
class WeekFigures:
    deliveries: DeliveryFigures
    mentions: MentionFigures
    engagement_growth: int


@dataclass(frozen=True)
class PlatformGain:
    """One post on one platform in "What people did": what it gained (None: not measured, or no count before
    the week to measure from), its counts at the week's end, and the live post."""

    platform: str
    gained: int | None
    total: int
    url: str


@dataclass(frozen=True)
class PostRow:
    """One post in "What people did": named by its first words, platforms side by side."""

    post_id: str
    name: str
    published_local: str
    thumbnail: str  # a data: URI of a small copy of its first image, or ""
    platforms: dict[str, PlatformGain]

    @property
    def gained(self) -> int:
        return sum(p.gained or 0 for p in self.platforms.values())

    @property
    def total(self) -> int:
        return sum(p.total for p in self.platforms.values())


@dataclass(frozen=True)
class SentLine:
    """Where one post went on one platform: when it went out (its first part), or what became of it."""

    platform: str
    state: str  # on time | late | missed | failed | cancelled | dry run | not yet sent
    when_local: str
    url: str

    @property
    def went_out(self) -> bool:
        return self.state in ("on time", "late")


@dataclass(frozen=True)
class OutRow:
    """One post in "What went out": the calendar's planned time (never a retry's), and each platform's."""

    post_id: str
    name: str
    planned_local: str
    platforms: dict[str, SentLine]

    @property
    def state(self) -> str:
        states = {s.state for s in self.platforms.values()}
        return states.pop() if len(states) == 1 else "mixed"


@dataclass(frozen=True)
class Trouble:
    """One thing that went wrong in "What went wrong": what, to which post and where, who, why and when."""

    what: str  # failed | missed | held | cancelled | paused | resumed
    post: str  # the post's first words ("" for a pause)
    platforms: str
    who: str
    why: str
    when_local: str


@dataclass(frozen=True)
class DataTimes:
    """When the data a report is made from was gathered (for its method section), in the campaign's zone."""

    last_snapshot: str  # the last engagement count taken before the week ended ("" for none)
    last_mention: str  # the newest mention in the week
    collections: tuple[tuple[str, str, str], ...] = ()  # (platform, where it is read, last read without error)


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
    people: list[PostRow] = field(default_factory=list)  # What people did, most gained first
    went_out: list[OutRow] = field(default_factory=list)  # What went out, by planned time
    troubles: list[Trouble] = field(default_factory=list)  # What went wrong, by time
    summary: list[str] = field(default_factory=list)  # the plain-English sentences the report opens with
    data_times: DataTimes = field(default_factory=lambda: DataTimes("", ""))
    campaign_so_far: Any = None  # a CampaignReport from the campaign's first week to this one (campaign.py)
    demo: bool = False  # made from a demo workspace's store (`campaign demo`): every figure is made up

    @property
    def deliveries(self) -> DeliveryFigures:
        return self.figures.deliveries

    @property
    def mentions(self) -> MentionFigures:
        return self.figures.mentions

    @property
    def planned_posts(self) -> list[OutRow]:
        """The week's posts the calendar planned and that were not cancelled everywhere."""
        return [row for row in self.went_out if row.state != "cancelled"]

    @property
    def posts_out(self) -> int:
        """Posts that went out on at least one platform (dry runs are not posted)."""
        return sum(1 for row in self.planned_posts if any(s.went_out for s in row.platforms.values()))

    @property
    def posts_on_time(self) -> int:
        """Posts that went out on time on every platform they were not cancelled on."""
        return sum(
            1
            for row in self.planned_posts
            if all(s.state == "on time" for s in row.platforms.values() if s.state != "cancelled")
        )

    @property
    def problems_to_look_at(self) -> int:
        return sum(1 for t in self.troubles if t.what != "resumed")

    @property
    def has_data(self) -> bool:
        """Anything to report: a post planned, a post's engagement tracked, a mention or a pause."""
        return bool(self.went_out or any(p.tracked for p in self.posts) or self.mentions.total or self.troubles)

    @property
    def unnamed_accounts(self) -> int:
        named = {(a.platform, a.handle.lower()) for a in self.named_accounts}
        return max(0, self.mentions.accounts - len(named))

    @property
    def title(self) -> str:
        return f"{self.campaign_name}: {self.week.week_of}"

    @property
    def period(self) -> str:
        return f"Monday {self.start_local:%-d %B %Y} to Sunday {self.end_local:%-d %B %Y} ({self.zone})"

    @property
    def file_stem(self) -> str:
        return f"{self.campaign}-{self.week.label}"
