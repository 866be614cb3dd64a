"""A calendar as an iCalendar file (RFC 5545) for Outlook, Google Calendar and Apple Calendar.

One 15-minute VEVENT per post at its planned local time (DTSTART with the calendar's TZID and a matching
VTIMEZONE), its description holding exactly what each platform will receive, its CATEGORIES the platforms it
goes to. UIDs derive from campaign and post id, so re-importing an updated export updates events instead of
duplicating them (a spreadsheet row without an id has an id derived from its time and text, so editing those
makes it a new event). LAST-MODIFIED, DTSTAMP and SEQUENCE come from the newest modification time of what the
events are made of (the calendar file, campaign.yaml, the images), so a newer export carries a higher
SEQUENCE, as RFC 5545 asks of a revised event, and exporting unchanged files twice gives identical bytes.
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar as ICalendar
from icalendar import Event, Timezone, TimezoneDaylight, TimezoneStandard

from content_calendar.model import PLATFORM_NAMES, Calendar, Campaign, Post, RenderedPart

EVENT_DURATION = timedelta(minutes=15)
PRODID = "-//campaign-scheduler//content_calendar//EN"
_SUMMARY_CHARS = 60
# SEQUENCE counts seconds of LAST-MODIFIED since this instant: it grows with every newer export and stays an
# RFC 5545 INTEGER (under 2**31) until the 2080s.
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class _Transition:
    local_start: datetime  # naive wall-clock time of the change, in the offset before it (RFC 5545 DTSTART)
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool


def _transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[_Transition]:
    """Every change of UTC offset in the zone between 1 January first_year and 31 December last_year."""
    found: list[_Transition] = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        following = moment + step
        next_offset = following.astimezone(zone).utcoffset()
        if next_offset != offset:
            low, high = moment, following  # offset changes in (low, high]: narrow it to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            after = high.astimezone(zone)
            assert offset is not None and next_offset is not None
            found.append(
                _Transition(
                    local_start=(high + offset).replace(tzinfo=None),
                    offset_from=offset,
                    offset_to=next_offset,
                    name=after.tzname() or "",
                    daylight=bool(after.dst()),
                )
            )
            offset = next_offset
        moment = following
    return found


def _yearly_rule(starts: list[datetime]) -> dict[str, object] | None:
    """An RRULE producing exactly these dates (one a year, same month, weekday and time), if there is one."""
    if len(starts) < 2:
        return None
    first = starts[0]
    same = all(
        (s.month, s.weekday(), s.time()) == (first.month, first.weekday(), first.time()) and s.year == first.year + i
        for i, s in enumerate(starts)
    )
    if not same:
        return None
    weekday = _WEEKDAYS[first.weekday()]
    if all(s.day + 7 > month_calendar.monthrange(s.year, s.month)[1] for s in starts):
        return {"freq": "yearly", "bymonth": first.month, "byday": f"-1{weekday}"}
    ordinal = (first.day - 1) // 7 + 1
    if all((s.day - 1) // 7 + 1 == ordinal for s in starts):
        return {"freq": "yearly", "bymonth": first.month, "byday": f"{ordinal}{weekday}"}
    return None


def vtimezone(zone_name: str, first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE valid from first_year to last_year, with yearly RRULEs where the zone's rules allow.

    Changes are listed from the year before first_year, so the offset on 1 January is defined too.

    One STANDARD and one DAYLIGHT rule with RRULE is what Outlook understands best (it models a zone as
    a pair of yearly rules); irregular changes are listed with RDATE.
    """
    zone = ZoneInfo(zone_name)
    timezone = Timezone()
    timezone.add("tzid", zone_name)
    timezone.add("x-lic-location", zone_name)
    transitions = _transitions(zone, first_year - 1, last_year)
    if not transitions:
        start = datetime(first_year, 1, 1)
        observance: TimezoneDaylight | TimezoneStandard = TimezoneStandard()
        offset = start.replace(tzinfo=zone).utcoffset()
        observance.add("dtstart", start)
        observance.add("tzoffsetfrom", offset)
        observance.add("tzoffsetto", offset)
        observance.add("tzname", start.replace(tzinfo=zone).tzname() or zone_name)
        timezone.add_component(observance)
        return timezone
    groups: dict[tuple[bool, timedelta, timedelta, str], list[datetime]] = {}
    for change in transitions:
        key = (change.daylight, change.offset_from, change.offset_to, change.name)
        groups.setdefault(key, []).append(change.local_start)
    last_of_kind = {
        daylight: max(starts[-1] for (d, *_), starts in groups.items() if d == daylight)
        for daylight in {key[0] for key in groups}
    }
    for (daylight, offset_from, offset_to, name), starts in groups.items():
        observance = TimezoneDaylight() if daylight else TimezoneStandard()
        observance.add("dtstart", starts[0])
        observance.add("tzoffsetfrom", offset_from)
        observance.add("tzoffsetto", offset_to)
        observance.add("tzname", name)
        rule = _yearly_rule(starts)
        if rule is not None:
            if starts[-1] != last_of_kind[daylight]:  # a rule the zone stopped using
                rule["until"] = (starts[-1] - offset_from).replace(tzinfo=UTC)
            observance.add("rrule", rule)
        elif len(starts) > 1:
            observance.add("rdate", starts[1:])
        timezone.add_component(observance)
    return timezone


def event_uid(campaign_slug: str, post_id: str) -> str:
    return f"{post_id}@{campaign_slug}.campaign-scheduler"


def _summary(post: Post) -> str:
    first_line = next((line.strip() for line in post.text.splitlines() if line.strip()), "")
    if len(first_line) > _SUMMARY_CHARS:
        first_line = first_line[: _SUMMARY_CHARS - 1].rstrip() + "…"
    prefix = "[draft] " if post.status == "draft" else ""
    return f"{prefix}{post.id}: {first_line}" if first_line else f"{prefix}{post.id}"


def _describe_part(part: RenderedPart) -> list[str]:
    lines: list[str] = []
    if part.spoiler_text:
        lines.append(f"Content warning: {part.spoiler_text}")
    lines.append(part.text)
    encoded = part.text.encode("utf-8")
    for facet in part.facets:
        shown = encoded[facet.byte_start : facet.byte_end].decode("utf-8", "replace")
        if facet.kind == "link" and shown != facet.value:  # shortened on Bluesky: say where it leads
            lines.append(f"Link: {shown} <{facet.value}>")
    if part.labels:
        lines.append(f"Labels: {', '.join(part.labels)}")
    if part.link_card is not None:
        card = part.link_card
        lines.append(f"Link card: {card.title or card.url} <{card.url}>")
        if card.description:
            lines.append(f"  {card.description}")
    for number, image in enumerate(part.images, start=1):
        lines.append(f"Image {number} alt: {image.alt}")
    return lines


def _describe_platform(platform: str, parts: list[RenderedPart]) -> list[str]:
    name = PLATFORM_NAMES.get(platform, platform)
    root = parts[0]
    details = [f"{root.length}/{root.limit}"]
    if platform == "mastodon":
        details.append(root.visibility)
    if platform == "bluesky" and root.reply_rules is not None:
        details.append("replies: " + (", ".join(root.reply_rules) if root.reply_rules else "nobody"))
    lines = [f"=== {name} ({'; '.join(details)}) ==="]
    for part in parts:
        if part.part > 0:
            lines.append(f"--- reply {part.part} of {len(parts) - 1} ({part.length}/{part.limit}) ---")
        lines.extend(_describe_part(part))
    return lines


def _description(post: Post, rendered: Mapping[str, list[RenderedPart]] | None) -> str:
    status = "draft: checked and shown, never posted" if post.status == "draft" else "approved"
    lines = [f"Post {post.id} ({status})"]
    if not rendered:
        lines.extend(["", post.text])
        for number, image in enumerate(post.images, start=1):
            lines.append(f"Image {number} alt: {image.alt}")
    else:
        for platform, parts in rendered.items():
            if parts:
                lines.append("")
                lines.extend(_describe_platform(platform, parts))
    return "\n".join(lines)


def source_files(calendar: Calendar, campaign: Campaign | None) -> list[Path]:
    """The files an export is made of: the calendar, campaign.yaml (hashtags, helpline, settings) and every
    image the posts use (their replies' and link thumbnails included), each once."""
    paths = [calendar.path]
    if campaign is not None:
        paths.append(campaign.directory / "campaign.yaml")
    for post in calendar.posts:
        paths.extend(image.path for image in post.images)
        for part in post.thread:
            paths.extend(image.path for image in part.images)
        if post.link is not None and post.link.thumbnail is not None:
            paths.append(post.link.thumbnail.path)
    return list(dict.fromkeys(paths))


def last_modified(calendar: Calendar, campaign: Campaign | None) -> datetime:
    """The newest modification time (UTC, whole seconds) of the export's source files; files that cannot be
    read are left out (validation reports them); 1970-01-01 when none can."""
    newest: float | None = None
    for path in source_files(calendar, campaign):
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    if newest is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return datetime.fromtimestamp(int(newest), UTC)


def sequence_of(modified: datetime) -> int:
    """SEQUENCE for events last modified at `modified`: seconds since 2020, never negative."""
    return max(0, int((modified - _SEQUENCE_EPOCH).total_seconds()))


def to_ical(
    calendar: Calendar,
    rendered: Mapping[str, Mapping[str, list[RenderedPart]]],
    *,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> bytes:
    """The calendar as iCalendar bytes.

    LAST-MODIFIED is the newest modification time of the calendar file, campaign.yaml and the images used;
    SEQUENCE grows with it; DTSTAMP is `now` when given, else the same time, so exporting unchanged files
    twice gives identical bytes."""
    slug = campaign.slug if campaign is not None else calendar.campaign
    ical = ICalendar()
    ical.add("prodid", PRODID)
    ical.add("version", "2.0")
    ical.add("calscale", "GREGORIAN")
    ical.add("method", "PUBLISH")
    ical.add("x-wr-calname", f"{campaign.name if campaign is not None else slug}: {calendar.path.name}")
    ical.add("x-wr-timezone", calendar.timezone)
    try:
        zone: ZoneInfo | None = ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    modified = last_modified(calendar, campaign)
    stamp = now.astimezone(UTC) if now is not None else modified
    sequence = sequence_of(modified)
    years: list[int] = []
    for post in sorted(calendar.posts, key=lambda p: (p.at, p.id)):
        event = Event()
        event.add("uid", event_uid(slug, post.id))
        event.add("dtstamp", stamp)
        event.add("last-modified", modified)
        event.add("sequence", sequence)
        start = post.at.astimezone(zone) if zone is not None and post.at.tzinfo is not None else post.at
        event.add("dtstart", start)
        event.add("duration", EVENT_DURATION)
        event.add("summary", _summary(post))
        event.add("description", _description(post, rendered.get(post.id)))
        event.add("status", "TENTATIVE" if post.status == "draft" else "CONFIRMED")
        targets = post.targets()  # a platform the post skips (`mastodon: {skip: true}`) is not one it goes to
        if targets:
            event.add("categories", [PLATFORM_NAMES.get(p, p) for p in targets])
        if post.link is not None and post.link.url:
            event.add("url", post.link.url)
        ical.add_component(event)
        years.append(start.year)
    if zone is not None and years:
        # VTIMEZONE components come first, before the events that name them.
        ical.subcomponents.insert(0, vtimezone(calendar.timezone, min(years), max(years) + 1))
    return ical.to_ical()
