"""Template filters for the calendar and post pages, for text that comes from a calendar or a platform: escaped,
with the invisible characters that turn text around shown as what they are instead of applied; times and days
in a campaign's own zone."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

# The embedding, override and isolate controls and the direction marks (as scheduler.views.text names them).
_DIRECTION_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _marker(match: re.Match[str]) -> str:
    char = match.group()
    name = unicodedata.name(char, "direction control").lower()
    return f'<span class="hidden-char" title="A hidden character: {name}">[U+{ord(char):04X}]</span>'


def inert(text: object) -> Markup:
    """The text escaped, each direction control replaced by a visible "[U+202E]" (so it reorders nothing)."""
    escaped = str(escape("" if text is None else str(text)))
    return Markup(_DIRECTION_CONTROLS.sub(_marker, escaped))


def code_spans(text: object) -> Markup:
    """Text as `inert` makes it, with each `backticked` stretch (a fix's what-to-write) shown as code."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(inert(text))))


def plain(text: object) -> str:
    """For places that take no markup (a page title, an option, an attribute): each direction control written
    as "[U+202E]" (autoescape still escapes the rest)."""
    return _DIRECTION_CONTROLS.sub(lambda match: f"[U+{ord(match.group()):04X}]", "" if text is None else str(text))


def clock(instant: datetime | None, zone: str) -> str:
    """ "09:00 GMT": the time of day in the zone, with its abbreviation."""
    return "-" if instant is None else instant.astimezone(ZoneInfo(zone)).strftime("%H:%M %Z")


def local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


def day_name(day: date) -> str:
    """ "Mon 1 Feb" """
    return f"{day:%a} {day.day} {day:%b}"


def long_day(day: date) -> str:
    """ "Monday 1 February 2027" """
    return f"{day:%A} {day.day} {day:%B %Y}"


def path_part(value: object) -> str:
    """A piece of a path on this site (a campaign or a post id), every character but letters and digits quoted."""
    return quote(str(value), safe="")


FILTERS: dict[str, Any] = {
    "inert": inert,
    "code_spans": code_spans,
    "plain": plain,
    "clock": clock,
    "local_date": local_date,
    "day_name": day_name,
    "long_day": long_day,
    "path_part": path_part,
}
