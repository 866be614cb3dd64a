"""How the application writes times and platform names for people, the same in every face."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from content_calendar.model import PLATFORM_NAMES, RenderedPart


def local_time(instant: datetime | None, zone: str) -> str:
    """An instant as people read it in `zone`, with the zone's abbreviation: "Mon 01 Feb 2027 09:00 GMT"."""
    if instant is None:
        return "-"
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M %Z")


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


# --- what a preview explains (calendar show, the web post page) -------------------------------------------------

_URL = re.compile(r"(?<![\w@/])https?://[^\s<>]+[^\s<>.,;:!?)\"'’”]")
_MASTODON_HIDDEN = re.compile(r"https?://(?:www\.)?")
MASTODON_SHOWN_CHARACTERS = 30  # Mastodon shows a link without https:// and www., cut after 30 characters


def mastodon_shown_link(url: str) -> str:
    """A link as Mastodon's apps show it (and screen readers read it): no https:// or www., at most 30 characters."""
    rest = _MASTODON_HIDDEN.sub("", url, count=1)
    return rest if len(rest) <= MASTODON_SHOWN_CHARACTERS else rest[:MASTODON_SHOWN_CHARACTERS] + "…"


def link_notes(platform: str, parts: Sequence[RenderedPart]) -> list[str]:
    """How each link written out in the text is shown where the platform shortens it."""
    notes: list[str] = []
    for part in parts:
        where = "" if len(parts) == 1 else (" in the post" if part.part == 0 else f" in reply {part.part}")
        if platform == "bluesky":
            encoded = part.text.encode("utf-8")
            for facet in part.facets:
                shown = encoded[facet.byte_start : facet.byte_end].decode("utf-8", "replace")
                if facet.kind == "link" and shown != facet.value:
                    notes.append(
                        f'Bluesky shows the link {facet.value}{where} as "{shown}", and screen readers read '
                        "that; it opens the full address."
                    )
        elif platform == "mastodon":
            for url in _URL.findall(part.text):
                shown = mastodon_shown_link(url)
                if shown != url:
                    notes.append(
                        f'Mastodon shows the link {url}{where} as "{shown}", and screen readers read that; '
                        "it opens the full address (and counts as 23 characters)."
                    )
    return notes


def helpline_note(parts: Sequence[RenderedPart], helpline: str) -> str | None:
    """Where the helpline line went: at the end of the post, or as a reply when the post had no room for it."""
    helpline = helpline.strip()
    if not helpline:
        return None
    for part in parts:
        if part.text.rstrip().endswith(helpline):
            if part.part == 0:
                return "The helpline line is at the end of the post."
            return f"The helpline line is reply {part.part}: the post had no room for it."
    return None


def preview_notes(protected: Sequence[str], platform: str, parts: Sequence[RenderedPart], helpline: str) -> list[str]:
    """What a preview says under a platform's parts: what the campaign's topic protections added, where the
    helpline line went, and how shortened links are shown."""
    notes = [f"Added by the campaign {said}." for said in protected]
    where = helpline_note(parts, helpline)
    if where is not None:
        notes.append(where)
    return notes + link_notes(platform, parts)
