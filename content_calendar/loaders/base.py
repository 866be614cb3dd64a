"""What every calendar reader shares: the line map of posts, the result of a load, and `CalendarReader`
(campaign and zone lookup, times in the zone, links, statuses, platforms, languages) that the YAML and CSV
readers build on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from content_calendar.campaign import (
    did_you_mean_timezone,
    find_campaign_dir,
    known_campaigns,
    load_campaign,
    zone_or_none,
)
from content_calendar.loaders.times import TimeError, format_day, format_offset, localize, parse_at
from content_calendar.model import (
    DEFAULT_TIMEZONE,
    PLATFORMS,
    Calendar,
    CalendarError,
    Campaign,
    Image,
    Post,
    Problem,
)
from content_calendar.yaml_source import did_you_mean

SourceFormat = Literal["yaml", "csv", "hootsuite", "sprout"]

POST_KEYS = (
    "id",
    "at",
    "status",
    "text",
    "platforms",
    "content_warning",
    "language",
    "helpline",
    "link",
    "images",
    "video",
    "thread",
    "bluesky",
    "mastodon",
    "topics",
)
STATUSES = ("approved", "draft")
TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # what a safeguarding hold names: lower case, digits, hyphens
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
PLATFORM_SPLIT = re.compile(r"[;,/\s]+")
# The placeholder instant of a post whose time could not be read: it is still checked, never scheduled.
NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


# --- where things are in the file --------------------------------------------------------------------


@dataclass
class PartLines:
    line: int | None
    keys: dict[str, int] = field(default_factory=dict)
    images: list[int | None] = field(default_factory=list)


@dataclass
class PostLines:
    """Line numbers of one post and its parts, for validation messages."""

    line: int | None
    display_id: str | None  # the id as written (None when it had none)
    keys: dict[str, int] = field(default_factory=dict)
    images: list[int | None] = field(default_factory=list)
    thread: list[PartLines] = field(default_factory=list)
    timed: bool = True  # False when `at` could not be read (the post is then not in Calendar.posts)
    generated_id: bool = False  # a spreadsheet row without an id: display_id was derived from time and text
    row: int | None = None  # a spreadsheet's own row number (the header is row 1), for messages that name a cell
    date_written: str | None = None  # the post's date as the file writes it in text (e.g. 02/03/2027)
    date_cell: bool = False  # the date came from a spreadsheet's date cell, not from text

    def at(self, key: str) -> int | None:
        return self.keys.get(key, self.line)


@dataclass
class LoadedCalendar:
    """Everything a load found: the calendar (posts with a usable time), the campaign, the problems, and
    every post that could be built (with its lines), including those without a usable time."""

    file: str
    calendar: Calendar | None
    campaign: Campaign | None
    problems: list[Problem]
    posts: list[tuple[Post, PostLines]] = field(default_factory=list)
    sheet: SheetPlaces | None = None  # a spreadsheet: how its rows and columns are named in messages


@dataclass
class SheetPlaces:
    """How a spreadsheet's cells are named in messages: "row 4, column C (time)", with the sheet's name in a
    workbook of several sheets. A row is the number a person sees in the spreadsheet (the header is row 1)."""

    columns: dict[str, tuple[int, str]] = field(default_factory=dict)  # post key -> (column index, header)
    name: str | None = None

    def place(self, row: int | None, column: str | int | None = None, header: str = "") -> str | None:
        """`column` is a post key (date, time, text, ...) or a column's index (with its `header`)."""
        if row is None:
            return None
        where = f"row {row}"
        if isinstance(column, str) and column in self.columns:
            column, header = self.columns[column]
        if isinstance(column, int):
            where += f", column {column_letter(column)}" + (f" ({header})" if header else "")
        return f'sheet "{self.name}", {where}' if self.name else where


def column_letter(index: int) -> str:
    """A, B, ..., Z, AA, AB, ... for the column at `index` (0 is A)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


class CalendarReader:
    """Shared state and checks for one calendar file."""

    def __init__(self, path: Path, campaigns_roots: Sequence[Path], today: date | None):
        self.path = path
        self.file = str(path)
        self.roots = tuple(Path(r) for r in campaigns_roots)
        self.today = today
        self.problems: list[Problem] = []
        self.campaign: Campaign | None = None
        self.zone: ZoneInfo | None = None
        self.anchor: date | None = None
        self.posts: list[tuple[Post, PostLines]] = []

    def error(self, code: str, message: str, fix: str, line: int | None = None, post_id: str | None = None) -> None:
        self.problems.append(
            Problem("error", code, self.file, message, fix, post_id=post_id, line=line, place=self.place(code, line))
        )

    def warning(self, code: str, message: str, fix: str, line: int | None = None, post_id: str | None = None) -> None:
        self.problems.append(
            Problem("warning", code, self.file, message, fix, post_id=post_id, line=line, place=self.place(code, line))
        )

    def place(self, code: str, line: int | None) -> str | None:
        """Where a problem is, in words, when a line number alone would not say it (spreadsheets)."""
        return None

    # campaign --------------------------------------------------------------------------------------

    def find_campaign(self, slug: str | None, line: int | None) -> None:
        directory = find_campaign_dir(self.path, slug, self.roots)
        if directory is None:
            known = known_campaigns(self.roots)
            if slug:
                listing = f" Known campaigns: {', '.join(known)}." if known else ""
                self.error(
                    "unknown-campaign",
                    f"No campaign folder `{slug}` (with a campaign.yaml) was found above the file or in "
                    f"{', '.join(str(r) for r in self.roots) or 'any campaigns folder'}.{did_you_mean(slug, known)}",
                    f"Fix `campaign:` or create campaigns/{slug}/campaign.yaml, or point --campaigns-dir "
                    f"(CAMPAIGN_CAMPAIGNS_DIR) at the folder that holds it.{listing}",
                    line,
                )
            else:
                self.error(
                    "no-campaign",
                    "The file does not say which campaign it belongs to, and no campaign.yaml was found in "
                    "the folders above it.",
                    "Keep the file under campaigns/<slug>/calendars/ (YAML files may instead say `campaign: <slug>`).",
                    line,
                )
            return
        try:
            self.campaign = load_campaign(directory)
        except CalendarError as error:
            self.problems.extend(error.problems)

    def set_zone(self, name: str | None, line: int | None) -> None:
        chosen = name or (self.campaign.timezone if self.campaign else DEFAULT_TIMEZONE)
        zone = zone_or_none(chosen)
        if zone is None:
            self.error(
                "unknown-timezone",
                f"Unknown timezone `{chosen}`.{did_you_mean_timezone(chosen)}",
                "Use an IANA zone name such as Europe/London.",
                line,
            )
        self.zone = zone

    def resolve_at(self, raw: str, line: int | None, post_id: str | None) -> datetime | None:
        try:
            moment, relative = parse_at(raw, self.today)
        except TimeError as error:
            self.error(error.code, f"Cannot read the time: {error}", error.fix, line, post_id)
            return None
        if relative is not None:
            day, clock = relative
            if self.anchor is None:
                self.error(
                    "relative-without-anchor",
                    f"`{raw}` counts days from the anchor, but the calendar has no `anchor`.",
                    "Add `anchor: 2027-02-01` (the date of day 1) at the top of the file, or write the date.",
                    line,
                    post_id,
                )
                return None
            moment = datetime.combine(self.anchor + timedelta(days=day - 1), clock)
        assert moment is not None
        return self.in_zone(moment, line, post_id)

    def in_zone(self, moment: datetime, line: int | None, post_id: str | None) -> datetime | None:
        """A wall-clock time (or one with an explicit offset) in the calendar's zone; None when it has none,
        or the time does not exist or is ambiguous there (reported)."""
        if self.zone is None:
            return None
        if moment.tzinfo is not None:
            local = moment.astimezone(self.zone)
            if local.replace(tzinfo=None) != moment.replace(tzinfo=None):
                self.offset_mismatch(moment, local, line, post_id)
            return local
        try:
            return localize(moment, self.zone)
        except TimeError as error:
            fix = self.ambiguous_fix(error) if error.choices is not None else error.fix
            self.error(error.code, str(error), fix, line, post_id)
            return None

    def ambiguous_fix(self, error: TimeError) -> str:
        """How to pick one of the two instants of an ambiguous time, in this file's format."""
        return error.fix

    def offset_mismatch(self, moment: datetime, local: datetime, line: int | None, post_id: str | None) -> None:
        """An explicit UTC offset that is not the zone's at that wall-clock time: an error, because the post
        would go out at another local time than the one written (a typed range such as 09:00-10:00 reads as
        09:00 at UTC-10:00)."""
        assert self.zone is not None
        naive = moment.replace(tzinfo=None)
        written = f"{naive:%Y-%m-%d %H:%M}{format_offset(moment.utcoffset())}"
        offsets = []
        for fold in (0, 1):
            candidate = naive.replace(tzinfo=self.zone, fold=fold)
            if candidate.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == naive:
                offsets.append(format_offset(candidate.utcoffset()))
        offsets = list(dict.fromkeys(offsets))
        if offsets:
            reason = f"{self.zone.key} is at {' or '.join(offsets)} at that time"
        else:
            reason = f"{naive:%H:%M} does not exist in {self.zone.key} that day (the clocks go forward)"
        self.error(
            "offset-mismatch",
            f"`{written}` has a UTC offset that does not match {self.zone.key} ({reason}): it means "
            f"{local:%H:%M %Z} on {format_day(local)} local time, not {naive:%H:%M}.",
            f"Write the local time without an offset: {local:%H:%M} if {local:%H:%M %Z} is right, else "
            f"{naive:%H:%M}. Times are {self.zone.key} clock times; an offset is only needed to say which of two "
            "equal times is meant when the clocks go back.",
            line,
            post_id,
        )

    def image(self, file: str, alt: str, focus: tuple[float, float] | None) -> Image:
        base = self.campaign.directory if self.campaign else self.path.parent.absolute()
        try:
            path = (base / file).resolve()
        except ValueError:  # a NUL in the name: the check reports it, and nothing can open it
            path = base / file
        return Image(file=file, path=path, alt=alt, focus=focus)

    def link_problem(self, url: str, line: int | None, post_id: str | None) -> bool:
        """Report a bad link URL; True when it was bad."""
        if not url:
            self.error(
                "link-missing-url",
                "The link has no `url`.",
                'Add the address: link: {url: "https://..."} or remove the link.',
                line,
                post_id,
            )
            return True
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
            self.error(
                "link-invalid-url",
                f"The link `{url}` is not an http(s) address.",
                "Use a full address starting with https://.",
                line,
                post_id,
            )
            return True
        return False

    def status(self, raw: str | None, line: int | None, post_id: str | None) -> Literal["approved", "draft"]:
        value = (raw or "approved").strip().lower()
        if value == "approved":
            return "approved"
        if value != "draft":
            self.error(
                "invalid-status",
                f"Unknown status `{raw}`.{did_you_mean(value, STATUSES)}",
                "Use `approved` (it will be posted) or `draft` (checked and shown, never posted). "
                "It is treated as a draft until then.",
                line,
                post_id,
            )
        return "draft"

    def platforms(self, values: Sequence[str], line: int | None, post_id: str | None) -> tuple[str, ...]:
        chosen: list[str] = []
        for raw in values:
            name = raw.strip().lower()
            if not name:
                continue
            if name in PLATFORMS:
                if name not in chosen:
                    chosen.append(name)
            else:
                self.error(
                    "unknown-platform",
                    f"Unknown platform `{raw}`.{did_you_mean(name, PLATFORMS)}",
                    f"Use {' and/or '.join(PLATFORMS)}.",
                    line,
                    post_id,
                )
        return tuple(chosen)

    def topics(self, values: Sequence[str], line: int | None, post_id: str | None) -> tuple[str, ...]:
        """Topic names (for safeguarding holds), lower-cased, each once; a name that is not one is reported."""
        chosen: list[str] = []
        for raw in values:
            name = raw.strip().lstrip("#").strip().lower()
            if not name:
                continue
            if TOPIC_NAME.fullmatch(name):
                if name not in chosen:
                    chosen.append(name)
            else:
                self.error(
                    "invalid-topic",
                    f"`{raw.strip()}` is not a topic name: topics are letters, digits and hyphens (at most 64).",
                    f"Write it as e.g. `{re.sub(r'[^a-z0-9]+', '-', name).strip('-') or 'inquiry-news'}`.",
                    line,
                    post_id,
                )
        return tuple(chosen)

    def language(self, value: str | None, line: int | None, post_id: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _LANGUAGE.fullmatch(value):
            self.error(
                "invalid-language",
                f"`{value}` is not a language code.",
                "Use an ISO 639 code such as en or cy (Welsh).",
                line,
                post_id,
            )
            return None
        return value

    def finish(self, source_format: SourceFormat, slug: str) -> LoadedCalendar:
        zone_name = self.zone.key if self.zone is not None else "UTC"
        posts = tuple(post for post, lines in self.posts if lines.timed)
        calendar = Calendar(
            path=self.path,
            campaign=slug,
            timezone=zone_name,
            posts=posts,
            anchor=self.anchor,
            source_format=source_format,
        )
        return LoadedCalendar(self.file, calendar, self.campaign, self.problems, self.posts)
