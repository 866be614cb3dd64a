"""A calendar as an iCalendar file (RFC 5545) for Outlook, Google Calendar and Apple Calendar.

One 15-minute VEVENT per post at its planned local time (DTSTART with the calendar's TZID and a matching
VTIMEZONE), its description holding exactly what each platform will receive. UIDs derive from campaign and
post id, so re-importing an updated export updates events instead of duplicating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar as ICalendar
from icalendar import Event

from content_calendar.model import Calendar, Campaign, Post, RenderedPart

EVENT_DURATION = timedelta(minutes=15)
PRODID = "-//campaign-scheduler//content_calendar//EN"
_SUMMARY_CHARS = 60
_PLATFORM_NAMES = {"bluesky": "Bluesky", "mastodon": "Mastodon"}


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
    name = _PLATFORM_NAMES.get(platform, platform)
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


def _stamp(calendar: Calendar, now: datetime | None) -> datetime:
    if now is not None:
        return now.astimezone(UTC)
    try:
        return datetime.fromtimestamp(calendar.path.stat().st_mtime, UTC).replace(microsecond=0)
    except OSError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def to_ical(
    calendar: Calendar,
    rendered: Mapping[str, Mapping[str, list[RenderedPart]]],
    *,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> bytes:
    """The calendar as iCalendar bytes. DTSTAMP is `now`, else the calendar file's modification time, so
    exporting an unchanged file twice gives identical bytes."""
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
    stamp = _stamp(calendar, now)
    years: list[int] = []
    for post in sorted(calendar.posts, key=lambda p: (p.at, p.id)):
        event = Event()
        event.add("uid", event_uid(slug, post.id))
        event.add("dtstamp", stamp)
        start = post.at.astimezone(zone) if zone is not None and post.at.tzinfo is not None else post.at
        event.add("dtstart", start)
        event.add("duration", EVENT_DURATION)
        event.add("summary", _summary(post))
        event.add("description", _description(post, rendered.get(post.id)))
        event.add("status", "TENTATIVE" if post.status == "draft" else "CONFIRMED")
        event.add("categories", [_PLATFORM_NAMES.get(p, p) for p in post.platforms])
        if post.link is not None and post.link.url:
            event.add("url", post.link.url)
        ical.add_component(event)
        years.append(start.year)
    if years:
        # Only the transitions around the posts: a short VTIMEZONE that every client reads the same way.
        ical.add_missing_timezones(first_date=date(min(years) - 1, 1, 1), last_date=date(max(years) + 1, 12, 31))
    return ical.to_ical()
