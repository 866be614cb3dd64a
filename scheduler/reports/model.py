"""The weekly report's words: the ISO week (Monday to Sunday in the campaign's zone) and the figures, lines and
tables a report is made of. Plain data: the store queries fill them (queries.py), rendering prints them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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

    def boundaries(self, zone: str = DEFAULT_TIMEZONE) -> list[datetime]:
        """Eight UTC instants: each local midnight from this Monday to the next (days are 23 or 25 hours
        long when the clocks change)."""
        tz = ZoneInfo(zone)
        return [datetime.combine(self.monday + timedelta(days=i), time(0), tzinfo=tz).astimezone(UTC) for i in range(8)]


def local_time(moment: datetime | None, zone: str) -> str:
    """An instant as people read it in the campaign's zone: "Mon 1 Feb 09:00" ("" for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %-d %b %H:%M")


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
    demo: bool = False  # made from a demo workspace's store (`campaign demo`): every figure is made up

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
