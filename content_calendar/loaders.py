"""Read calendar files (YAML, our CSV, Hootsuite and Sprout Social bulk sheets) into a `Calendar`.

Loading never raises for what a file says: every problem becomes a `Problem` with the file (as the user
gave it), the post id, the line and a fix. Posts are kept as far as they can be built so that one run of
validation reports everything.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content_calendar.campaign import (
    NULL_TAG,
    YamlDocument,
    did_you_mean,
    did_you_mean_timezone,
    find_campaign_dir,
    is_valid_slug,
    known_campaigns,
    load_campaign,
    mapping_entries,
    node_line,
    parse_yaml,
    read_text,
    slugify,
    zone_or_none,
)
from content_calendar.model import (
    BLUESKY_REPLY_RULES,
    BLUESKY_SELF_LABELS,
    MASTODON_VISIBILITIES,
    PLATFORMS,
    Calendar,
    CalendarError,
    Campaign,
    Image,
    Link,
    PlatformOverride,
    Post,
    Problem,
    ThreadPart,
)

SourceFormat = Literal["yaml", "csv", "hootsuite", "sprout"]

CALENDAR_KEYS = ("campaign", "timezone", "anchor", "defaults", "posts", "version")
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
    "thread",
    "bluesky",
    "mastodon",
)
DEFAULT_KEYS = ("platforms", "status", "content_warning", "language", "helpline", "bluesky", "mastodon")
BLUESKY_KEYS = ("text", "content_warning", "skip", "labels", "reply_rules", "allow_quotes")
MASTODON_KEYS = ("text", "content_warning", "skip", "visibility", "allow_quotes")
PART_KEYS = ("text", "images", "bluesky", "mastodon")
PART_PLATFORM_KEYS = ("text", "skip")
IMAGE_KEYS = ("file", "alt", "focus")
LINK_KEYS = ("url", "title", "description", "thumbnail")
STATUSES = ("approved", "draft")
OUR_CSV_COLUMNS = (
    "id",
    "date",
    "time",
    "platforms",
    "text",
    "bluesky_text",
    "mastodon_text",
    "content_warning",
    "link",
    "image",
    "image_alt",
    "status",
)
OUR_CSV_REQUIRED = ("date", "time", "text")
SPROUT_COLUMNS = ("date", "time_24hr", "message_text", "link")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_PLATFORM_SPLIT = re.compile(r"[;,/\s]+")
# The placeholder instant of a post whose time could not be read: it is still checked, never scheduled.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


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


# --- times -------------------------------------------------------------------------------------------

_ISO_AT = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp]\.?[Mm]\.?)?")
_RELATIVE_AT = re.compile(r"day\s+(-?\d+)(?:,?\s+(?:at\s+)?(.+))?", re.IGNORECASE)


class TimeError(ValueError):
    """A time that cannot be read; the message says what is wrong, `fix` what to write.

    For an ambiguous time, `choices` holds the wall-clock time and its two UTC offsets (first, second), so a
    reader can say how to pick one in its own file format.
    """

    def __init__(
        self, message: str, fix: str, code: str = "invalid-time", choices: tuple[datetime, str, str] | None = None
    ):
        super().__init__(message)
        self.fix = fix
        self.code = code
        self.choices = choices


_AT_FIX = 'Write the local time as "2027-02-01 09:00" (or "day 3 18:30" with an `anchor`).'


def _year(text: str, today: date | None) -> int:
    if len(text) == 4:
        return int(text)
    # Two-digit years (some spreadsheets save 01/02/27): the century that puts it nearest to today.
    reference = (today or date(2000, 1, 1)).year
    year = reference // 100 * 100 + int(text)
    if year > reference + 50:
        year -= 100
    elif year < reference - 50:
        year += 100
    return year


def us_order_date(text: str, today: date | None = None) -> date | None:
    """The date a slash date means in US month/day/year order, when it cannot be day/month/year (the middle
    number is over 12) but is a real date read month first, e.g. 02/13/2027; else None."""
    match = _UK_DATE.fullmatch(text.strip())
    if match is None or int(match[2]) <= 12:
        return None
    try:
        return date(_year(match[3], today), int(match[1]), int(match[2]))
    except ValueError:
        return None


def is_either_order_date(text: str) -> bool:
    """True for a slash date that is a different real date in each order, e.g. 02/03/2027."""
    match = _UK_DATE.fullmatch(text.strip())
    return match is not None and match[1] != match[2] and 1 <= int(match[1]) <= 12 and 1 <= int(match[2]) <= 12


def parse_date(text: str, today: date | None = None) -> date:
    """2027-02-01 or the UK 01/02/2027 (day first). Raises TimeError.

    A date that only makes sense month first (02/13/2027) is refused with the code `us-date-order`: it is
    never swapped, because the same sheet's 02/03/2027 would then be ambiguous too.
    """
    value = text.strip()
    # Spreadsheets sometimes save a date cell as "2027-02-01 00:00:00".
    value = re.sub(r"[ T]00:00(:00)?$", "", value)
    match = _ISO_DATE.fullmatch(value)
    us: date | None = None
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _UK_DATE.fullmatch(value)
        if match:
            us = us_order_date(value, today)
            if us is None:
                return date(_year(match[3], today), int(match[2]), int(match[1]))
    except ValueError as error:
        raise TimeError(
            f"`{text}` is not a real date ({error}).",
            "Dates are read as year-month-day (2027-02-01) or day/month/year (01/02/2027, UK order).",
        ) from None
    if us is not None:
        raise TimeError(
            f"`{text}` is not a day/month/year date (there is no month {us.day}): it is in US "
            f"month/day/year order ({us.day} {us:%B %Y}).",
            f"Dates are read day first (UK order): write {us:%d/%m/%Y} or {us:%Y-%m-%d}. Dates are never "
            "swapped automatically, so check the file's other slash dates too.",
            "us-date-order",
        )
    raise TimeError(f"`{text}` is not a date.", "Write the date as 2027-02-01 or 01/02/2027 (day/month/year).")


def parse_clock(text: str) -> time:
    """09:00, 9:00, 09:00:00, 9.00, 9:00 pm. Raises TimeError."""
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise TimeError(f"`{text}` is not a time of day.", "Write the time as 24-hour hh:mm, e.g. 09:00 or 18:30.")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            raise TimeError(f"`{text}` is not a time of day.", "With am/pm the hour is 1 to 12; or use 24-hour hh:mm.")
        hour = hour % 12 + (12 if match[4][0] in "pP" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise TimeError(f"`{text}` is not a time of day.", "Hours are 0-23 and minutes 0-59 (24-hour hh:mm).")
    return time(hour, minute, second)


_CLOCK_OFFSET = re.compile(r"(?P<clock>.*?\d)\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)", re.IGNORECASE)


def parse_clock_with_offset(text: str) -> tuple[time, tzinfo | None]:
    """A spreadsheet's time cell: parse_clock's forms, optionally with a UTC offset (01:30+01:00, 09:00Z), which
    says which of two equal wall-clock times is meant when the clocks go back. Raises TimeError."""
    match = _CLOCK_OFFSET.fullmatch(text.strip())
    if match is None:
        return parse_clock(text), None
    offset = match["offset"].upper()
    if re.fullmatch(r"-\d{1,2}[:.]\d{2}", offset) and re.search(r"\d[:.]\d{2}\s*$", match["clock"]):
        raise TimeError(
            f"`{text}` looks like a time range.", "Give the one time the post goes out, e.g. 09:00 (hh:mm, 24-hour)."
        )
    hours = int(offset[1:3]) if offset != "Z" else 0
    if offset != "Z" and (hours > (14 if offset[0] == "+" else 12) or int(offset.replace(":", "")[3:] or 0) > 59):
        raise TimeError(
            f"`{text}`: {offset} is not a UTC offset.", "Offsets run from -12:00 to +14:00, e.g. 01:30+01:00."
        )
    return parse_clock(match["clock"]), _offset(offset)


def _offset(text: str) -> tzinfo:
    from datetime import timezone

    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_at(text: str, today: date | None = None) -> tuple[datetime | None, tuple[int, time] | None]:
    """A post time: (naive-or-offset datetime, None) or (None, (day number, clock)) for "day N hh:mm"."""
    value = text.strip()
    match = _ISO_AT.fullmatch(value)
    if match:
        try:
            moment = datetime(
                int(match[1]), int(match[2]), int(match[3]), int(match[4]), int(match[5]), int(match[6] or 0)
            )
        except ValueError as error:
            raise TimeError(f"`{text}` is not a real date and time ({error}).", _AT_FIX) from None
        if match[7]:
            moment = moment.replace(tzinfo=_offset(match[7]))
        return moment, None
    relative = _RELATIVE_AT.fullmatch(value)
    if relative:
        day = int(relative[1])
        if day < 1:
            raise TimeError(f"`{text}`: days count from 1 (day 1 is the anchor date).", "Use day 1 or later.")
        if not relative[2]:
            raise TimeError(f"`{text}` has no time of day.", f'Add the time: "day {day} 09:00".')
        return None, (day, parse_clock(relative[2]))
    parts = value.split(None, 1)
    if parts and (_UK_DATE.fullmatch(parts[0]) or _ISO_DATE.fullmatch(parts[0])):
        if len(parts) == 1:
            raise TimeError(f"`{text}` is a date without a time of day.", f'Add the time: "{parts[0]} 09:00".')
        day_value = parse_date(parts[0], today)
        clock, offset = parse_clock_with_offset(parts[1])
        return datetime.combine(day_value, clock, tzinfo=offset), None
    raise TimeError(f"`{text}` is not a date and time.", _AT_FIX)


def _fmt_day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def _is_ambiguous(naive: datetime, zone: ZoneInfo) -> bool:
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and _exists(naive, zone)


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """The aware datetime of a wall-clock time in `zone`.

    Raises TimeError for a time that does not exist (clocks go forward) or happens twice (clocks go back):
    both are found by round-tripping fold=0 and fold=1 through UTC.
    """
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
    if first_utc == second_utc:
        return first
    first_ok = first_utc.astimezone(zone).replace(tzinfo=None) == naive
    second_ok = second_utc.astimezone(zone).replace(tzinfo=None) == naive
    when = f"{naive:%Y-%m-%d %H:%M}"
    minute = timedelta(minutes=1)
    if first_ok and second_ok:
        overlap = first.utcoffset() - second.utcoffset()  # type: ignore[operator]
        end = naive
        while _is_ambiguous(end, zone) and end - naive < timedelta(days=1):
            end += minute
        earlier, later = naive - overlap, naive + overlap
        return_offset = [_fmt_offset(first.utcoffset()), _fmt_offset(second.utcoffset())]
        raise TimeError(
            f"{when} is ambiguous in {zone.key}: clocks go back from {end:%H:%M} to {end - overlap:%H:%M} on "
            f"{_fmt_day(naive)}, so {naive:%H:%M} happens twice.",
            f"Use a time either side, e.g. {earlier:%H:%M} or {later:%H:%M}, or say which one with its UTC "
            f"offset: {when}{return_offset[0]} (the first) or {when}{return_offset[1]} (the second).",
            "ambiguous-time",
            (naive, return_offset[0], return_offset[1]),
        )
    gap = second.utcoffset() - first.utcoffset()  # type: ignore[operator]
    start = naive
    while not _exists(start - minute, zone) and naive - start < timedelta(days=1):
        start -= minute
    earlier, later = naive - gap, naive + gap
    raise TimeError(
        f"{when} does not exist in {zone.key}: clocks go forward from {start:%H:%M} to {start + gap:%H:%M} on "
        f"{_fmt_day(naive)}.",
        f"Use a time either side of the change, e.g. {earlier:%H:%M} or {later:%H:%M}.",
        "nonexistent-time",
    )


def _fmt_offset(offset: timedelta | None) -> str:
    total = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    return f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


def stable_id(prefix: str, at: datetime | None, text: str, line: int | None) -> str:
    """An id for a row that has none: derived from its time and text, so it survives re-exports."""
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:6]
    if at is None:
        return f"{prefix}-line{line}-{digest}"
    return f"{prefix}-{at:%Y%m%d}-{at:%H%M}-{digest}"


# --- the loader ---------------------------------------------------------------------------------------


class _Reader:
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
        self.problems.append(Problem("error", code, self.file, message, fix, post_id=post_id, line=line))

    def warning(self, code: str, message: str, fix: str, line: int | None = None, post_id: str | None = None) -> None:
        self.problems.append(Problem("warning", code, self.file, message, fix, post_id=post_id, line=line))

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
        chosen = name or (self.campaign.timezone if self.campaign else "Europe/London")
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
        written = f"{naive:%Y-%m-%d %H:%M}{_fmt_offset(moment.utcoffset())}"
        offsets = []
        for fold in (0, 1):
            candidate = naive.replace(tzinfo=self.zone, fold=fold)
            if candidate.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == naive:
                offsets.append(_fmt_offset(candidate.utcoffset()))
        offsets = list(dict.fromkeys(offsets))
        if offsets:
            reason = f"{self.zone.key} is at {' or '.join(offsets)} at that time"
        else:
            reason = f"{naive:%H:%M} does not exist in {self.zone.key} that day (the clocks go forward)"
        self.error(
            "offset-mismatch",
            f"`{written}` has a UTC offset that does not match {self.zone.key} ({reason}): it means "
            f"{local:%H:%M %Z} on {_fmt_day(local)} local time, not {naive:%H:%M}.",
            f"Write the local time without an offset: {local:%H:%M} if {local:%H:%M %Z} is right, else "
            f"{naive:%H:%M}. Times are {self.zone.key} clock times; an offset is only needed to say which of two "
            "equal times is meant when the clocks go back.",
            line,
            post_id,
        )

    def image(self, file: str, alt: str, focus: tuple[float, float] | None) -> Image:
        base = self.campaign.directory if self.campaign else self.path.parent.absolute()
        return Image(file=file, path=(base / file).resolve(), alt=alt, focus=focus)

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


# --- YAML --------------------------------------------------------------------------------------------


@dataclass
class _Defaults:
    platforms: tuple[str, ...] = PLATFORMS
    status: str | None = None
    content_warning: str | None = None
    language: str | None = None
    helpline: bool = False
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the same as PlatformOverride objects, shared by every post that does not override the platform
    platform_overrides: dict[str, PlatformOverride] = field(default_factory=dict)


class _YamlReader(_Reader):
    def __init__(self, path: Path, campaigns_roots: Sequence[Path], today: date | None, doc: YamlDocument):
        super().__init__(path, campaigns_roots, today)
        self.doc = doc

    # node helpers ------------------------------------------------------------------------------------

    def entries(
        self,
        node: MappingNode,
        where: str,
        known: Sequence[str],
        post_id: str | None = None,
    ) -> dict[str, tuple[int, Node]]:
        """key -> (line of the key, value node); unknown, repeated and credential-like keys are reported."""

        def report(code: str, message: str, fix: str, line: int) -> None:
            self.error(code, message, fix, line, post_id)

        return mapping_entries(self.doc, node, where, known, report)

    def text(self, node: Node, key: str, post_id: str | None) -> str | None:
        """A scalar as the text the user wrote (YAML 1.1 does not turn `yes` or `09:00` into other types)."""
        if isinstance(node, ScalarNode):
            if key == "text" and not node.style:
                self.check_comment_after(node, post_id)
            return None if node.tag == NULL_TAG else node.value
        self.error(
            "wrong-type",
            f"`{key}` must be a single piece of text, not a list or mapping.",
            f"Write `{key}: ...` with one value (use a `|` block for several lines).",
            node_line(node),
            post_id,
        )
        return None

    def check_comment_after(self, node: ScalarNode, post_id: str | None) -> None:
        """In unquoted YAML text, " #" starts a comment: `text: Act now #ActOnIICSA` loses its hashtag."""
        line = node.end_mark.line
        source = self.doc.lines()
        if line < len(source) and source[line][node.end_mark.column :].lstrip().startswith("#"):
            dropped = source[line][node.end_mark.column :].strip()
            self.warning(
                "text-comment",
                f"`{dropped}` after the text is a YAML comment, so it is not part of the post.",
                'Put the whole text in double quotes (text: "... #Hashtag") or use a `|` block.',
                line + 1,
                post_id,
            )

    def flag(self, node: Node, key: str, post_id: str | None) -> bool | None:
        value = self.doc.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool):
            return value
        self.error(
            "wrong-type",
            f"`{key}` must be true or false.",
            f"Write `{key}: true` or `{key}: false`.",
            node_line(node),
            post_id,
        )
        return None

    def string_list(self, node: Node, key: str, post_id: str | None) -> list[str] | None:
        if isinstance(node, ScalarNode):
            if node.tag == NULL_TAG:
                return []
            return [part for part in _PLATFORM_SPLIT.split(node.value) if part]
        if isinstance(node, SequenceNode) and all(isinstance(item, ScalarNode) for item in node.value):
            return [item.value for item in node.value]
        self.error(
            "wrong-type", f"`{key}` must be a list of names.", f"Write `{key}: [a, b]`.", node_line(node), post_id
        )
        return None

    # the document ------------------------------------------------------------------------------------

    def read(self) -> LoadedCalendar:
        root = self.doc.root
        if root is None:
            self.error("empty-file", "The file is empty.", "Write `campaign:`, `timezone:` and a list of `posts:`.", 1)
            return LoadedCalendar(self.file, None, None, self.problems)
        if not isinstance(root, MappingNode):
            self.error(
                "not-a-calendar",
                "The file is YAML but not a calendar: the top level must be a mapping "
                "with `campaign`, `timezone` and `posts`.",
                "See the calendar file format (v1).",
                node_line(root),
            )
            return LoadedCalendar(self.file, None, None, self.problems)
        top = self.entries(root, "the calendar", CALENDAR_KEYS)

        slug: str | None = None
        slug_line = top["campaign"][0] if "campaign" in top else None
        if "campaign" in top:
            slug = self.text(top["campaign"][1], "campaign", None)
        self.find_campaign(slug.strip() if slug else None, slug_line or 1)
        if not slug and self.campaign is not None:
            slug = self.campaign.slug

        tz_name = None
        tz_line = None
        if "timezone" in top:
            tz_line, tz_node = top["timezone"]
            tz_name = (self.text(tz_node, "timezone", None) or "").strip() or None
        self.set_zone(tz_name, tz_line)

        if "anchor" in top:
            line, node = top["anchor"]
            value = self.doc.value(node) if isinstance(node, ScalarNode) else None
            if isinstance(value, datetime):
                value = value.date()
            if isinstance(value, str):
                try:
                    value = parse_date(value, self.today)
                except TimeError as error:
                    self.error("invalid-anchor", f"Cannot read the anchor: {error}", error.fix, line)
                    value = None
            if isinstance(value, date):
                self.anchor = value
            elif value is not None or not isinstance(node, ScalarNode):
                self.error(
                    "invalid-anchor",
                    "`anchor` must be a date such as 2027-02-01.",
                    "Write `anchor: 2027-02-01` (the date of day 1).",
                    line,
                )

        defaults = self.read_defaults(top["defaults"][1]) if "defaults" in top else _Defaults()

        if "posts" not in top:
            self.error(
                "missing-posts", "The calendar has no `posts:` list.", "Add `posts:` with one entry per post.", 1
            )
        else:
            line, posts_node = top["posts"]
            if isinstance(posts_node, SequenceNode):
                for item in posts_node.value:
                    self.read_post(item, defaults)
            elif not (isinstance(posts_node, ScalarNode) and posts_node.tag == NULL_TAG):
                self.error(
                    "wrong-type",
                    "`posts` must be a list (each post starts with `- id: ...`).",
                    "Indent the posts under `posts:` and start each with '- '.",
                    line,
                )
        for merge_line, what in self.doc.merge_errors:
            self.error(
                "yaml-merge",
                f"A `<<:` merge cannot be applied: {what}.",
                "Merge only mappings: `<<: *anchor` where the anchor names a mapping.",
                merge_line,
            )
        return self.finish("yaml", slug or "")

    def read_defaults(self, node: Node) -> _Defaults:
        defaults = _Defaults()
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                "`defaults` must be a mapping of key: value.",
                "Write e.g. `defaults: {platforms: [bluesky, mastodon]}`.",
                node_line(node),
            )
            return defaults
        entries = self.entries(node, "defaults", DEFAULT_KEYS)
        if "platforms" in entries:
            line, value = entries["platforms"]
            names = self.string_list(value, "platforms", None)
            if names is not None:
                defaults.platforms = self.platforms(names, line, None)
        if "status" in entries:
            line, value = entries["status"]
            raw = self.text(value, "status", None)
            defaults.status = self.status(raw, line, None) if raw else None
        if "content_warning" in entries:
            raw = self.text(entries["content_warning"][1], "content_warning", None)
            defaults.content_warning = raw.strip() if raw and raw.strip() else None
        if "language" in entries:
            line, value = entries["language"]
            defaults.language = self.language((self.text(value, "language", None) or "").strip(), line, None)
        if "helpline" in entries:
            defaults.helpline = bool(self.flag(entries["helpline"][1], "helpline", None))
        for platform in PLATFORMS:
            if platform in entries:
                line, value = entries[platform]
                defaults.overrides[platform] = self.read_override(platform, value, line, None, top_level=True)
                defaults.platform_overrides[platform] = PlatformOverride(**defaults.overrides[platform])
        return defaults

    def read_override(
        self,
        platform: str,
        node: Node,
        line: int,
        post_id: str | None,
        *,
        top_level: bool,
    ) -> dict[str, Any]:
        """A `bluesky:` / `mastodon:` mapping as a dict of PlatformOverride fields."""
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                f'`{platform}` must be a mapping, e.g. {platform}: {{text: "..."}}.',
                f"Write {platform}'s settings as key: value pairs under `{platform}:`.",
                line,
                post_id,
            )
            return {}
        known = (BLUESKY_KEYS if platform == "bluesky" else MASTODON_KEYS) if top_level else PART_PLATFORM_KEYS
        entries = self.entries(node, f"`{platform}`", known, post_id)
        values: dict[str, Any] = {}
        for key, (key_line, value_node) in entries.items():
            if key in ("text", "content_warning"):
                raw = self.text(value_node, key, post_id)
                values[key] = (raw or "").strip()
            elif key in ("skip", "allow_quotes"):
                flag = self.flag(value_node, key, post_id)
                if flag is not None:
                    values[key] = flag
            elif key == "visibility":
                raw = (self.text(value_node, key, post_id) or "").strip()
                if raw in MASTODON_VISIBILITIES:
                    values[key] = raw
                else:
                    self.error(
                        "unknown-visibility",
                        f"Unknown Mastodon visibility `{raw}`.{did_you_mean(raw, MASTODON_VISIBILITIES)}",
                        f"Use one of: {', '.join(sorted(MASTODON_VISIBILITIES))}.",
                        key_line,
                        post_id,
                    )
            elif key in ("labels", "reply_rules"):
                names = self.string_list(value_node, key, post_id)
                if names is None:
                    continue
                allowed = BLUESKY_SELF_LABELS if key == "labels" else BLUESKY_REPLY_RULES
                good = []
                for name in names:
                    if name in allowed:
                        good.append(name)
                    else:
                        what = "self-label" if key == "labels" else "reply rule"
                        code = "unknown-label" if key == "labels" else "unknown-reply-rule"
                        extra = " ([] means nobody may reply)" if key == "reply_rules" else ""
                        self.error(
                            code,
                            f"Unknown Bluesky {what} `{name}`.{did_you_mean(name, allowed)}",
                            f"Use some of: {', '.join(sorted(allowed))}{extra}.",
                            key_line,
                            post_id,
                        )
                values[key] = tuple(good)
        return values

    def read_images(self, node: Node, line: int, post_id: str | None) -> tuple[list[Image], list[int | None]]:
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return [], []
        items = node.value if isinstance(node, SequenceNode) else None
        if items is None:
            self.error(
                "wrong-type",
                '`images` must be a list: each item `- {file: media/x.jpg, alt: "..."}`.',
                "Start each image with '- '.",
                line,
                post_id,
            )
            return [], []
        images: list[Image] = []
        lines: list[int | None] = []
        for item in items:
            image = self.read_image(item, post_id)
            if image is not None:
                images.append(image)
                lines.append(node_line(item))
        return images, lines

    def read_image(self, item: Node, post_id: str | None) -> Image | None:
        """`media/x.jpg` or `{file: media/x.jpg, alt: "...", focus: [x, y]}`."""
        item_line = node_line(item)
        if isinstance(item, ScalarNode):
            file, alt, focus = ("" if item.tag == NULL_TAG else item.value.strip()), "", None
        elif isinstance(item, MappingNode):
            entries = self.entries(item, "an image", IMAGE_KEYS, post_id)
            file = (self.text(entries["file"][1], "file", post_id) or "").strip() if "file" in entries else ""
            alt = (self.text(entries["alt"][1], "alt", post_id) or "").strip() if "alt" in entries else ""
            focus = self.read_focus(entries["focus"], post_id) if "focus" in entries else None
        else:
            self.error(
                "wrong-type",
                'An image must be `{file: media/x.jpg, alt: "..."}`.',
                "Give each image a file and alt text.",
                item_line,
                post_id,
            )
            return None
        if not file:
            self.error(
                "image-missing",
                "An image has no `file`.",
                "Add `file: media/<name>` (relative to the campaign folder).",
                item_line,
                post_id,
            )
            return None
        return self.image(file, alt, focus)

    def read_focus(self, entry: tuple[int, Node], post_id: str | None) -> tuple[float, float] | None:
        line, node = entry
        value = self.doc.value(node)
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and -1.0 <= v <= 1.0 for v in value)
        ):
            return float(value[0]), float(value[1])
        self.error(
            "invalid-focus",
            f"`focus` must be two numbers from -1 to 1, not {value!r}.",
            "Write `focus: [0.0, 0.5]` (x, y; 0,0 is the centre) or leave it out.",
            line,
            post_id,
        )
        return None

    def read_link(self, node: Node, line: int, post_id: str | None) -> Link | None:
        if isinstance(node, ScalarNode):
            url = "" if node.tag == NULL_TAG else node.value.strip()
            if self.link_problem(url, line, post_id):
                return None
            return Link(url=url)
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                '`link` must be `{url: "https://...", title: "..."}`.',
                "Write the link as a mapping with url, title and description.",
                line,
                post_id,
            )
            return None
        entries = self.entries(node, "`link`", LINK_KEYS, post_id)

        def field_text(key: str) -> str:
            return (self.text(entries[key][1], key, post_id) or "").strip() if key in entries else ""

        url = field_text("url")
        thumbnail = self.read_image(entries["thumbnail"][1], post_id) if "thumbnail" in entries else None
        if self.link_problem(url, entries["url"][0] if "url" in entries else line, post_id):
            return None
        return Link(url=url, title=field_text("title"), description=field_text("description"), thumbnail=thumbnail)

    def read_thread(self, node: Node, line: int, post_id: str | None) -> tuple[list[ThreadPart], list[PartLines]]:
        if not isinstance(node, SequenceNode):
            if not (isinstance(node, ScalarNode) and node.tag == NULL_TAG):
                self.error(
                    "wrong-type",
                    "`thread` must be a list of replies, each `- text: ...`.",
                    "Start each reply with '- text: '.",
                    line,
                    post_id,
                )
            return [], []
        parts: list[ThreadPart] = []
        part_lines: list[PartLines] = []
        for item in node.value:
            item_line = node_line(item)
            if isinstance(item, ScalarNode):
                parts.append(ThreadPart(text=item.value.strip(), line=item_line))
                part_lines.append(PartLines(item_line))
                continue
            if not isinstance(item, MappingNode):
                self.error(
                    "wrong-type", "A thread reply must be `- text: ...`.", "Give each reply a text.", item_line, post_id
                )
                continue
            entries = self.entries(item, "a thread reply", PART_KEYS, post_id)
            lines = PartLines(item_line, {key: entry[0] for key, entry in entries.items()})
            text = (self.text(entries["text"][1], "text", post_id) or "").strip() if "text" in entries else ""
            images: list[Image] = []
            if "images" in entries:
                images, lines.images = self.read_images(entries["images"][1], entries["images"][0], post_id)
            overrides: dict[str, PlatformOverride] = {}
            for platform in PLATFORMS:
                if platform in entries:
                    p_line, p_node = entries[platform]
                    values = self.read_override(platform, p_node, p_line, post_id, top_level=False)
                    overrides[platform] = PlatformOverride(**values)
            parts.append(ThreadPart(text=text, images=tuple(images), overrides=overrides, line=item_line))
            part_lines.append(lines)
        return parts, part_lines

    def read_post(self, node: Node, defaults: _Defaults) -> None:
        line = node.start_mark.line + 1
        if node.__class__ is not MappingNode:
            self.error(
                "not-a-post",
                "This item of `posts` is not a post (a mapping starting `- id: ...`).",
                "Write each post as `- id: ...` followed by `at:`, `text:` and so on, indented.",
                line,
            )
            return
        # The id first, so that every other problem of this post can name it.
        raw_id: str | None = None
        for key_node, value_node in self.doc.pairs(node):
            if key_node.__class__ is ScalarNode and key_node.value == "id":
                if value_node.__class__ is ScalarNode:
                    raw_id = None if value_node.tag == NULL_TAG else value_node.value.strip() or None
                else:
                    self.text(value_node, "id", None)
        entries = self.entries(node, "a post", POST_KEYS, raw_id)
        nodes = {key: entry[1] for key, entry in entries.items()}
        key_lines = {key: entry[0] for key, entry in entries.items()}
        lines = PostLines(line, raw_id, key_lines)

        if raw_id is None:
            self.error(
                "missing-id",
                "The post has no `id`.",
                "Add a short unique id such as `id: recs-01` (lowercase letters, digits, hyphens).",
                key_lines.get("id", line),
            )
            post_id = f"line-{line}"
        else:
            post_id = raw_id
            if not is_valid_slug(raw_id):
                self.error(
                    "invalid-id",
                    f"The id `{raw_id}` is not a valid id: ids are lowercase letters, digits and hyphens, "
                    "starting with a letter or digit, at most 64 characters.",
                    f"Use e.g. `id: {slugify(raw_id)}`.",
                    key_lines["id"],
                    raw_id,
                )

        at: datetime | None = None
        at_node = nodes.get("at")
        if at_node is None:
            self.error(
                "missing-time",
                "The post has no `at` (when to post it).",
                'Add e.g. `at: "2027-02-01 09:00"` (local time).',
                line,
                raw_id,
            )
        else:
            raw_at = at_node.value if at_node.__class__ is ScalarNode and at_node.tag != NULL_TAG else None
            if at_node.__class__ is not ScalarNode:
                self.text(at_node, "at", raw_id)
            elif raw_at is None or not raw_at.strip():
                self.error(
                    "missing-time",
                    "`at` is empty.",
                    'Write e.g. `at: "2027-02-01 09:00"` (local time).',
                    key_lines["at"],
                    raw_id,
                )
            else:
                at = self.resolve_at(raw_at, key_lines["at"], raw_id)
        lines.timed = at is not None

        text = ""
        text_node = nodes.get("text")
        if text_node is not None:
            if text_node.__class__ is ScalarNode:
                text = "" if text_node.tag == NULL_TAG else text_node.value.strip()
                if not text_node.style:  # plain (libyaml gives "", PyYAML None)
                    self.check_comment_after(text_node, raw_id)
            else:
                self.text(text_node, "text", raw_id)

        status = defaults.status or "approved"
        if "status" in nodes:
            status = self.status(self.text(nodes["status"], "status", raw_id), key_lines["status"], raw_id)

        platforms = defaults.platforms
        if "platforms" in nodes:
            names = self.string_list(nodes["platforms"], "platforms", raw_id)
            if names is not None:
                platforms = self.platforms(names, key_lines["platforms"], raw_id)
                if not names:
                    self.error(
                        "no-platforms",
                        "`platforms` is empty: the post would go nowhere.",
                        "List bluesky and/or mastodon, or leave `platforms` out for both.",
                        key_lines["platforms"],
                        raw_id,
                    )

        content_warning = defaults.content_warning
        if "content_warning" in nodes:
            raw = self.text(nodes["content_warning"], "content_warning", raw_id)
            content_warning = raw.strip() if raw and raw.strip() else None

        language = defaults.language
        if "language" in nodes:
            raw = (self.text(nodes["language"], "language", raw_id) or "").strip()
            language = self.language(raw, key_lines["language"], raw_id)

        helpline = defaults.helpline
        if "helpline" in nodes:
            flag = self.flag(nodes["helpline"], "helpline", raw_id)
            helpline = helpline if flag is None else flag

        link = self.read_link(nodes["link"], key_lines["link"], raw_id) if "link" in nodes else None

        images: list[Image] = []
        if "images" in nodes:
            images, lines.images = self.read_images(nodes["images"], key_lines["images"], raw_id)

        thread: list[ThreadPart] = []
        if "thread" in nodes:
            thread, lines.thread = self.read_thread(nodes["thread"], key_lines["thread"], raw_id)

        overrides: dict[str, PlatformOverride] = {}
        for platform in PLATFORMS:
            if platform in nodes:
                values = dict(defaults.overrides.get(platform, ()))
                values.update(
                    self.read_override(platform, nodes[platform], key_lines[platform], raw_id, top_level=True)
                )
                overrides[platform] = PlatformOverride(**values)
            elif platform in defaults.platform_overrides:
                overrides[platform] = defaults.platform_overrides[platform]

        self.posts.append(
            (
                Post(
                    id=post_id,
                    at=at or _NO_TIME,
                    text=text,
                    platforms=platforms,
                    status=status,  # type: ignore[arg-type]
                    content_warning=content_warning,
                    language=language,
                    link=link,
                    images=tuple(images),
                    thread=tuple(thread),
                    overrides=overrides,
                    helpline=helpline,
                    line=line,
                ),
                lines,
            )
        )


# --- CSV ---------------------------------------------------------------------------------------------

_HOOTSUITE_WHEN = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?")


def _header_name(cell: str) -> str:
    return re.sub(r"[\s()]+", "_", cell.strip().lower().lstrip("\ufeff")).strip("_")


_SHEET_NAMES = {"csv": "the sheet", "hootsuite": "Hootsuite's bulk sheet", "sprout": "Sprout Social's bulk sheet"}


_DATE_ORDER_FIX = {
    "csv": "Save the sheet with UK dates (dd/mm/yyyy) or ISO dates (2027-02-13): in a spreadsheet, format the "
    "date column as dd/mm/yyyy (or set the file's locale to English (UK)) before saving as CSV.",
    "hootsuite": "Save the sheet with UK dates (dd/mm/yyyy) in column A: this tool reads Hootsuite sheets day first.",
    "sprout": "Export the sheet with UK date order (dd/mm/yyyy) or write ISO dates (2027-02-13): Sprout Social reads "
    "dd/mm/yyyy or mm/dd/yyyy depending on its date-format setting, and this tool reads them day first.",
}


class _CsvReader(_Reader):
    kind: SourceFormat = "csv"  # which sheet this is, once the header has been read

    def __init__(self, path: Path, campaigns_roots: Sequence[Path], today: date | None):
        super().__init__(path, campaigns_roots, today)
        self.us_dates: list[int] = []  # lines whose date only makes sense month first
        self.either_order: list[tuple[int, str, date]] = []  # lines whose date reads either way (as read)

    def ambiguous_fix(self, error: TimeError) -> str:
        assert error.choices is not None
        naive, first, second = error.choices
        either_side = error.fix.split(", or say which one", 1)[0]
        if self.kind == "csv":
            return (
                f"{either_side}, or say which one by adding its UTC offset in the `time` column: "
                f"{naive:%H:%M}{first} (the first) or {naive:%H:%M}{second} (the second)."
            )
        return (
            f"{either_side}. ({_SHEET_NAMES[self.kind]} has no way to say which of the two is meant: an "
            f"offset such as {naive:%H:%M}{first} would be refused by its own import.)"
        )

    def read(self, text: str) -> LoadedCalendar:
        self.find_campaign(None, 1)
        self.set_zone(None, None)
        rows = self.rows(text)
        if rows is None:
            return LoadedCalendar(self.file, None, self.campaign, self.problems)
        slug = self.campaign.slug if self.campaign else ""
        if not rows:
            return self.finish("csv", slug)
        first_line, first = rows[0]
        names = [_header_name(cell) for cell in first]
        if "message_text" in names or "time_24hr" in names:
            self.kind = "sprout"
            self.read_sprout(names, rows[1:], first_line)
            return self.finish("sprout", slug)
        if first and _HOOTSUITE_WHEN.fullmatch(first[0].strip()):
            self.kind = "hootsuite"
            self.read_hootsuite(rows)
            return self.finish("hootsuite", slug)
        named = [name for name in names if name]
        known = sum(1 for name in named if name in OUR_CSV_COLUMNS)
        if "text" in names or (named and known >= 2 and known * 4 >= len(named) * 3):
            self.read_ours(names, rows[1:], first_line)
            return self.finish("csv", slug)
        self.error(
            "csv-header",
            f"The first row ({', '.join(cell.strip() for cell in first[:6])}) is not a header this tool knows.",
            f"Start the file with the header row {','.join(OUR_CSV_COLUMNS)} (only date, time and text are "
            "required); Sprout Social sheets (date,time_24hr,message_text,link) and Hootsuite sheets (no "
            "header, column A dd/mm/yyyy hh:mm, B message, C link) load as they are.",
            first_line,
        )
        return LoadedCalendar(self.file, None, self.campaign, self.problems)

    def rows(self, text: str) -> list[tuple[int, list[str]]] | None:
        """Non-blank rows with the physical line each starts on; None after a CSV syntax error."""
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows: list[tuple[int, list[str]]] = []
        line = 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((line, [cell.replace("\r\n", "\n") for cell in row]))
                line = reader.line_num + 1
        except csv.Error as error:
            self.error(
                "csv-syntax",
                f"The file is not valid CSV: {error}.",
                "Check the quotes on that row: a cell that contains a comma, a quote or a line break must "
                'be in double quotes, with inner quotes doubled ("").',
                line,
            )
            return None
        return rows

    def when(self, date_text: str, time_text: str, line: int, post_id: str | None) -> datetime | None:
        if not date_text.strip():
            self.error(
                "missing-time", "The row has no date.", "Fill in the date (2027-02-01 or 01/02/2027).", line, post_id
            )
            return None
        if not time_text.strip():
            self.error(
                "missing-time", "The row has no time.", "Fill in the time (24-hour hh:mm, e.g. 09:00).", line, post_id
            )
            return None
        try:
            clock, offset = parse_clock_with_offset(time_text)
            day = parse_date(date_text, self.today)
        except TimeError as error:
            fix = error.fix
            if error.code == "us-date-order":
                self.us_dates.append(line)
                fix = f"{_DATE_ORDER_FIX[self.kind]} Dates are never swapped automatically: check every row."
            what = "date" if error.code == "us-date-order" else "time"
            self.error(error.code, f"Cannot read the {what}: {error}", fix, line, post_id)
            return None
        if is_either_order_date(date_text):
            self.either_order.append((line, date_text.strip(), day))
        return self.in_zone(datetime.combine(day, clock, tzinfo=offset), line, post_id)

    def finish(self, source_format: SourceFormat, slug: str) -> LoadedCalendar:
        self.date_order_warning()
        return super().finish(source_format, slug)

    def date_order_warning(self) -> None:
        """When some rows are in US order, the rows whose dates read either way were probably misread."""
        if not self.us_dates or not self.either_order:
            return
        first_line, first_text, first_day = self.either_order[0]
        count = len(self.either_order)
        lines = ", ".join(str(line) for line, _, _ in self.either_order[:10])
        more = f" and {count - 10} more" if count > 10 else ""
        rows = f"Rows on lines {lines}{more} have dates" if count > 1 else f"The row on line {lines} has a date"
        self.warning(
            "date-order-ambiguous",
            f"{rows} that {'read' if count > 1 else 'reads'} either way ({first_text} was read day first, as "
            f"{first_day.day} {first_day:%B %Y}), but the date on line {self.us_dates[0]} is in US month/day order, so "
            f"{'these' if count > 1 else 'it'} may mean another day.",
            f"{_DATE_ORDER_FIX[self.kind]} Then check {'these rows' if count > 1 else 'that row'}.",
            first_line,
        )

    def add(
        self,
        *,
        post_id: str | None,
        generated_prefix: str | None,
        at: datetime | None,
        text: str,
        line: int,
        platforms: tuple[str, ...] = PLATFORMS,
        status: str = "approved",
        overrides: dict[str, PlatformOverride] | None = None,
        content_warning: str | None = None,
        link: Link | None = None,
        images: tuple[Image, ...] = (),
        image_line: bool = False,
    ) -> None:
        display_id = post_id
        generated = post_id is None and generated_prefix is not None
        if post_id is None:
            post_id = stable_id(generated_prefix or "row", at, text, line)
            display_id = post_id if generated_prefix else None
        lines = PostLines(line, display_id, {key: line for key in POST_KEYS}, [line] if image_line else [])
        lines.timed = at is not None
        lines.generated_id = generated
        self.posts.append(
            (
                Post(
                    id=post_id,
                    at=at or _NO_TIME,
                    text=text,
                    platforms=platforms,
                    status=status,  # type: ignore[arg-type]
                    content_warning=content_warning,
                    link=link,
                    images=images,
                    overrides=overrides or {},
                    line=line,
                ),
                lines,
            )
        )

    def read_ours(self, names: list[str], rows: list[tuple[int, list[str]]], header_line: int) -> None:
        for name in names:
            if name and name not in OUR_CSV_COLUMNS:
                self.error(
                    "unknown-column",
                    f"Unknown column `{name}`.{did_you_mean(name, OUR_CSV_COLUMNS)}",
                    f"Rename it to one of: {', '.join(OUR_CSV_COLUMNS)} (or delete the column).",
                    header_line,
                )
        missing = [column for column in OUR_CSV_REQUIRED if column not in names]
        if missing:
            self.error(
                "missing-column",
                f"The header has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}.",
                f"The header row must include date, time and text; all columns: {','.join(OUR_CSV_COLUMNS)}.",
                header_line,
            )
            return
        index = {name: position for position, name in enumerate(names) if name in OUR_CSV_COLUMNS}
        has_ids = "id" in index
        for line, row in rows:
            if len(row) > len(names) and any(cell.strip() for cell in row[len(names) :]):
                self.error(
                    "csv-row",
                    f"The row has {len(row)} cells but the header has {len(names)} columns.",
                    "Put cells containing commas in double quotes, or remove the extra cells.",
                    line,
                )

            def cell(column: str, row: list[str] = row) -> str:
                position = index.get(column)
                return row[position].strip() if position is not None and position < len(row) else ""

            raw_id = cell("id") or None
            if has_ids and raw_id is None:
                self.error(
                    "missing-id",
                    "The row has no id.",
                    "Fill in a unique id such as recs-01, or delete the id column to have ids derived "
                    "from each row's time and text.",
                    line,
                )
            elif raw_id is not None and not is_valid_slug(raw_id):
                self.error(
                    "invalid-id",
                    f"The id `{raw_id}` is not a valid id: ids are lowercase letters, digits and hyphens, "
                    "at most 64 characters.",
                    f"Use e.g. {slugify(raw_id)}.",
                    line,
                    raw_id,
                )
            at = self.when(cell("date"), cell("time"), line, raw_id)
            text = cell("text")
            overrides = {}
            for platform in PLATFORMS:
                specific = cell(f"{platform}_text")
                if specific:
                    overrides[platform] = PlatformOverride(text=specific)
            platform_names = [p for p in _PLATFORM_SPLIT.split(cell("platforms")) if p]
            platforms = self.platforms(platform_names, line, raw_id) if platform_names else PLATFORMS
            link = None
            if cell("link") and not self.link_problem(cell("link"), line, raw_id):
                link = Link(url=cell("link"))
            images: tuple[Image, ...] = ()
            if cell("image"):
                images = (self.image(cell("image"), cell("image_alt"), None),)
            elif cell("image_alt"):
                self.error(
                    "missing-image",
                    "The row has alt text but no image.",
                    "Fill in the image column (e.g. media/photo.jpg) or clear image_alt.",
                    line,
                    raw_id,
                )
            status = self.status(cell("status") or None, line, raw_id)
            self.add(
                post_id=raw_id if (raw_id or has_ids) else None,
                generated_prefix=None if has_ids else "csv",
                at=at,
                text=text,
                line=line,
                platforms=platforms,
                status=status,
                overrides=overrides,
                content_warning=cell("content_warning") or None,
                link=link,
                images=images,
                image_line=bool(images),
            )

    def read_sprout(self, names: list[str], rows: list[tuple[int, list[str]]], header_line: int) -> None:
        missing = [column for column in SPROUT_COLUMNS[:3] if column not in names]
        if missing:
            self.error(
                "missing-column",
                f"This Sprout Social sheet has no {', '.join(missing)} column.",
                f"A Sprout Social sheet needs the columns {','.join(SPROUT_COLUMNS)}.",
                header_line,
            )
            return
        ignored = [name for name in names if name and name not in SPROUT_COLUMNS]
        if ignored:
            self.warning(
                "ignored-column",
                f"Columns ignored: {', '.join(ignored)}.",
                "Only date, time_24hr, message_text and link are read from Sprout Social sheets; "
                "add images in a YAML calendar.",
                header_line,
            )
        index = {name: position for position, name in enumerate(names)}
        for line, row in rows:

            def cell(column: str, row: list[str] = row) -> str:
                position = index.get(column)
                return row[position].strip() if position is not None and position < len(row) else ""

            text = cell("message_text")
            at = self.when(cell("date"), cell("time_24hr"), line, None)
            link = None
            if cell("link") and not self.link_problem(cell("link"), line, None):
                link = Link(url=cell("link"))
            self.add(post_id=None, generated_prefix="sp", at=at, text=text, line=line, link=link)

    def read_hootsuite(self, rows: list[tuple[int, list[str]]]) -> None:
        for line, row in rows:
            when = row[0].strip() if row else ""
            date_text, _, time_text = when.partition(" ")
            at = self.when(date_text, time_text.strip(), line, None)
            text = row[1].strip() if len(row) > 1 else ""
            url = row[2].strip() if len(row) > 2 else ""
            link = None
            if url and not self.link_problem(url, line, None):
                link = Link(url=url)
            if len(row) > 3 and any(cell.strip() for cell in row[3:]):
                self.warning(
                    "ignored-column",
                    "Cells after column C are ignored.",
                    "Hootsuite sheets are read as A date and time, B message, C link.",
                    line,
                )
            self.add(post_id=None, generated_prefix="hs", at=at, text=text, line=line, link=link)


# --- entry points ------------------------------------------------------------------------------------


def load_calendar_detailed(
    path: Path | str, *, campaigns_roots: Sequence[Path] = (), today: date | None = None
) -> LoadedCalendar:
    """load_calendar plus the line map of every post (what validation needs)."""
    path = Path(path)
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        if not path.exists():  # say so first: "not a calendar file" would send the user looking at its name
            problem = Problem(
                "error",
                "file-not-found",
                file,
                "The file does not exist.",
                "Check the path (calendars are .yaml/.yml or .csv files).",
            )
        elif path.is_dir():
            problem = Problem(
                "error",
                "file-not-found",
                file,
                "This is a folder, not a file.",
                "Give the path of a calendar file (.yaml/.yml or .csv).",
            )
        else:
            problem = Problem(
                "error",
                "unsupported-file",
                file,
                f"`{path.name}` is not a calendar file.",
                "Calendars are .yaml/.yml or .csv files.",
            )
        return LoadedCalendar(file, None, None, [problem])
    text, problem = read_text(path, file)
    if problem is not None:
        return LoadedCalendar(file, None, None, [problem])
    assert text is not None
    if suffix == ".csv":
        return _CsvReader(path, campaigns_roots, today).read(text)
    doc, problem = parse_yaml(text, file)
    if problem is not None:
        return LoadedCalendar(file, None, None, [problem])
    assert doc is not None
    return _YamlReader(path, campaigns_roots, today, doc).read()


def load_calendar(
    path: Path | str, *, campaigns_roots: Sequence[Path] = (), today: date | None = None
) -> tuple[Calendar | None, Campaign | None, list[Problem]]:
    """Read a calendar file (.yaml/.yml, or .csv: ours, Hootsuite or Sprout Social, sniffed from the header).

    Returns the calendar (None when the file could not be read as one), its campaign (None when it was not
    found or its campaign.yaml has problems) and the problems found while loading. Posts whose time could
    not be read are left out of the calendar (their problems say why). `today` only settles the century of
    two-digit years in spreadsheet dates.
    """
    loaded = load_calendar_detailed(path, campaigns_roots=campaigns_roots, today=today)
    return loaded.calendar, loaded.campaign, loaded.problems
