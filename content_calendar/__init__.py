"""The calendar format: model, loaders, validation, per-platform rendering and iCalendar export.

Pure: reads files only; no network, no database, no clock except a `now` passed in. The public names are
re-exported here and imported on first use, so `import content_calendar.model` stays light (no Pillow,
no icalendar) for code that needs only the types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # model
    **{
        name: "content_calendar.model"
        for name in (
            "BLUESKY_REPLY_RULES",
            "BLUESKY_SELF_LABELS",
            "DEFAULT_LIMITS",
            "MASTODON_VISIBILITIES",
            "PLATFORMS",
            "Calendar",
            "CalendarError",
            "Campaign",
            "Facet",
            "Image",
            "Link",
            "LinkCard",
            "PlatformLimits",
            "PlatformOverride",
            "Post",
            "Problem",
            "RenderedImage",
            "RenderedPart",
            "ThreadPart",
        )
    },
    "find_campaign_dir": "content_calendar.campaign",
    "load_campaign": "content_calendar.campaign",
    "load_calendar": "content_calendar.loaders",
    "CheckResult": "content_calendar.validate",
    "check_calendar": "content_calendar.validate",
    "cross_file_problems": "content_calendar.validate",
    "detect_facets": "content_calendar.facets",
    "bluesky_length": "content_calendar.render",
    "mastodon_length": "content_calendar.render",
    "render_post": "content_calendar.render",
    "ImageProblem": "content_calendar.images",
    "PreparedImage": "content_calendar.images",
    "SUPPORTED_IMAGE_SUFFIXES": "content_calendar.images",
    "prepare_image": "content_calendar.images",
    "to_ical": "content_calendar.ical",
}

__all__ = [
    "BLUESKY_REPLY_RULES",
    "BLUESKY_SELF_LABELS",
    "DEFAULT_LIMITS",
    "MASTODON_VISIBILITIES",
    "PLATFORMS",
    "SUPPORTED_IMAGE_SUFFIXES",
    "Calendar",
    "CalendarError",
    "Campaign",
    "CheckResult",
    "Facet",
    "Image",
    "ImageProblem",
    "Link",
    "LinkCard",
    "PlatformLimits",
    "PlatformOverride",
    "Post",
    "PreparedImage",
    "Problem",
    "RenderedImage",
    "RenderedPart",
    "ThreadPart",
    "bluesky_length",
    "check_calendar",
    "cross_file_problems",
    "detect_facets",
    "find_campaign_dir",
    "load_calendar",
    "load_campaign",
    "mastodon_length",
    "prepare_image",
    "render_post",
    "to_ical",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'content_calendar' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from content_calendar.campaign import find_campaign_dir, load_campaign
    from content_calendar.facets import detect_facets
    from content_calendar.ical import to_ical
    from content_calendar.images import SUPPORTED_IMAGE_SUFFIXES, ImageProblem, PreparedImage, prepare_image
    from content_calendar.loaders import load_calendar
    from content_calendar.model import (
        BLUESKY_REPLY_RULES,
        BLUESKY_SELF_LABELS,
        DEFAULT_LIMITS,
        MASTODON_VISIBILITIES,
        PLATFORMS,
        Calendar,
        CalendarError,
        Campaign,
        Facet,
        Image,
        Link,
        LinkCard,
        PlatformLimits,
        PlatformOverride,
        Post,
        Problem,
        RenderedImage,
        RenderedPart,
        ThreadPart,
    )
    from content_calendar.render import bluesky_length, mastodon_length, render_post
    from content_calendar.validate import CheckResult, check_calendar, cross_file_problems
