"""How the application writes times and platform names for people, the same in every face."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from content_calendar.model import PLATFORM_NAMES


def local_time(instant: datetime | None, zone: str) -> str:
    """An instant as people read it in `zone`, with the zone's abbreviation: "Mon 01 Feb 2027 09:00 GMT"."""
    if instant is None:
        return "-"
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M %Z")


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)
