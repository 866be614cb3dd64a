"""What each platform will receive for a post, and its length as that platform counts it.

Lengths are exact grapheme counts (the `grapheme` library's Unicode rules) but cheap: a code point can only
join its neighbour into one grapheme when one of them is a combining/joining character (Extend, ZWJ,
SpacingMark, Prepend, Regional_Indicator, Hangul jamo/syllable, CR). Text without such characters has as
many graphemes as code points, so only the short stretches around them are handed to the slow counter.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import stat
from pathlib import Path

import grapheme

from content_calendar.facets import shorten_links
from content_calendar.mastodon_count import mastodon_countable_text
from content_calendar.model import (
    DEFAULT_LIMITS,
    Campaign,
    Image,
    LinkCard,
    PlatformLimits,
    PlatformOverride,
    Post,
    RenderedCaptions,
    RenderedImage,
    RenderedPart,
    RenderedVideo,
    Video,
)
from content_calendar.protections import helpline_as_reply

# --- grapheme counting ------------------------------------------------------------------------------

_JOINING_GROUPS = ("Prepend", "CR", "Extend", "Regional_Indicator", "SpacingMark", "L", "V", "T", "LV", "LVT", "ZWJ")
_HANGUL_SYLLABLES = (0xAC00, 0xD7A3)


def _joining_ranges() -> list[tuple[int, int]] | None:
    data_file = Path(grapheme.__file__).parent / "data" / "grapheme_break_property.json"
    try:
        data = json.loads(data_file.read_text(encoding="utf-8"))
        ranges = [_HANGUL_SYLLABLES, (0x0D, 0x0D)]
        for group in _JOINING_GROUPS:
            ranges.extend((c, c) for c in data[group]["single_chars"])
            ranges.extend((low, high) for low, high in data[group]["ranges"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for low, high in ranges:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _build_joining_runs() -> tuple[frozenset[str], re.Pattern[str]]:
    ranges = _joining_ranges()
    if ranges is None:  # grapheme's data moved: treat every non-ASCII character as joining (exact, slower)
        ranges = [(0x0D, 0x0D), (0x80, 0x10FFFF)]
        members: frozenset[str] = frozenset()
    else:
        members = frozenset(chr(c) for low, high in ranges for c in range(low, high + 1))
    bmp = "".join(f"\\u{low:04x}-\\u{min(high, 0xFFFF):04x}" for low, high in ranges if low <= 0xFFFF)
    # re tests a class of BMP ranges in constant time but walks a list of astral ranges one by one, so every
    # astral character (mostly emoji) is taken as possibly joining: a superset only costs an exact count more.
    return members, re.compile(f"[{bmp}\\U00010000-\\U0010ffff]+")


_JOINING_CHARS, _JOINING_RUN = _build_joining_runs()


@functools.lru_cache(maxsize=8192)
def _stretch_length(stretch: str) -> int:
    return grapheme.length(stretch)


def grapheme_count(text: str) -> int:
    """Exactly `grapheme.length(text)`, fast for text where graphemes are single code points."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    if _JOINING_CHARS and _JOINING_CHARS.isdisjoint(text):
        return len(text)
    # A run of joining characters with the plain character before and after it can be counted on its
    # own: between two plain characters there is always a grapheme break.
    count = len(text)
    stretch_start = stretch_end = -1
    for run in _JOINING_RUN.finditer(text):
        start, end = max(run.start() - 1, 0), min(run.end() + 1, len(text))
        if start < stretch_end:  # shares a plain character with the previous stretch
            stretch_end = end
            continue
        if stretch_end > 0:
            stretch = text[stretch_start:stretch_end]
            count -= len(stretch) - _stretch_length(stretch)
        stretch_start, stretch_end = start, end
    if stretch_end > 0:
        stretch = text[stretch_start:stretch_end]
        count -= len(stretch) - _stretch_length(stretch)
    return count


def bluesky_length(text: str) -> int:
    """Length as Bluesky counts it: graphemes (the byte limit is separate: len(text.encode()))."""
    return grapheme_count(text)


# Characters a URL may not end with in twitter-text's valid_url_path_ending_chars (closing ")" aside).
_URL_END_EXCLUDED = frozenset("()?!*\"'「」<>;:=,.$%[]~&|@’”»")


def mastodon_length(text: str, url_weight: int = 23, *, spoiler_text: str = "") -> int:
    """Length as Mastodon counts it: graphemes of spoiler_text + text, each link Mastodon recognises as
    `url_weight`, @user@domain as @user (content_calendar/mastodon_count.py)."""
    return grapheme_count(spoiler_text + mastodon_countable_text(text, url_weight))


# --- rendering --------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Line endings as LF and no surrounding blank space (YAML block scalars end with a newline)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


@functools.lru_cache(maxsize=4096)
def _sha256_of(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes, "" when it is missing or unreadable (validation reports that)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return ""
        # Cached by identity, size and times: many posts share an image, and hashing it each time is slow.
        return _sha256_of(str(path), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    except (OSError, ValueError):  # ValueError: a NUL in the name, which no file can have
        return ""


def _rendered_images(images: tuple[Image, ...], *, with_focus: bool) -> tuple[RenderedImage, ...]:
    return tuple(
        RenderedImage(str(image.path), image.alt, file_sha256(image.path), image.focus if with_focus else None)
        for image in images
    )


def _rendered_video(video: Video | None, *, with_captions: bool) -> RenderedVideo | None:
    if video is None:
        return None
    captions = tuple(RenderedCaptions(str(c.path), c.lang, file_sha256(c.path)) for c in video.captions)
    return RenderedVideo(str(video.path), video.alt, file_sha256(video.path), captions if with_captions else ())


def _contains_url(body: str, url: str) -> bool:
    """True when `url` (or it without a final "/") is in the text as a whole URL, not the start of a longer one."""
    for candidate in {url, url.rstrip("/")}:
        position = body.find(candidate)
        while position != -1:
            end = position + len(candidate)
            if end == len(body) or body[end].isspace() or body[end] in _URL_END_EXCLUDED:
                return True
            position = body.find(candidate, position + 1)
    return False


def _text_with_link(body: str, url: str) -> str:
    if _contains_url(body, url):
        return body
    return f"{body}\n\n{url}" if body else url


def _main_text(post: Post, override: PlatformOverride) -> str:
    return _clean(override.text if override.text is not None else post.text)


def _content_warning(post: Post, override: PlatformOverride) -> str:
    warning = override.content_warning if override.content_warning is not None else post.content_warning
    return (warning or "").strip()


def _with_helpline(body: str, post: Post, campaign: Campaign) -> str:
    helpline = campaign.helpline.strip()
    lines = [helpline] if post.helpline and helpline else []
    lines.extend(line for line in post.support_lines if line not in lines)
    return "\n\n".join([body, *lines] if body else lines)


def _thread_texts(post: Post, platform: str) -> list[tuple[str, tuple[Image, ...]]]:
    texts = []
    for part in post.thread:
        override = part.overrides.get(platform)
        if override is not None and override.skip:
            continue
        text = override.text if override is not None and override.text is not None else part.text
        texts.append((_clean(text), part.images))
    return texts


def _render_bluesky(post: Post, campaign: Campaign, limits: PlatformLimits) -> list[RenderedPart]:
    override = post.overrides.get("bluesky") or _NO_OVERRIDE
    body = _with_helpline(_main_text(post, override), post, campaign)
    # Bluesky has no content-warning field: the warning is a first line, on every part of the thread (as
    # Mastodon's spoiler_text is), because a reply is also read on its own (notifications, search, quotes).
    warning = _content_warning(post, override)
    warning_line = f"CW: {warning}\n\n" if warning else ""
    body = warning_line + body
    language = post.language or campaign.language
    langs = (language,) if language else ()
    labels = tuple(override.labels) if override.labels else ()
    allow_quotes = override.allow_quotes if override.allow_quotes is not None else campaign.allow_quotes
    reply_rules = override.reply_rules if override.reply_rules is not None else campaign.reply_rules
    card = None
    if post.link is not None:
        thumbnail = post.link.thumbnail
        card = LinkCard(
            post.link.url,
            post.link.title,
            post.link.description,
            _rendered_images((thumbnail,), with_focus=False)[0] if thumbnail is not None else None,
        )
    limit = limits.bluesky_graphemes
    gate = tuple(reply_rules) if reply_rules is not None else None
    parts = []
    texts = [(body, post.images), *((warning_line + reply, images) for reply, images in _thread_texts(post, "bluesky"))]
    for number, (written, images) in enumerate(texts):
        # Links are shown shortened, as the official client posts them (the facet keeps the full URI);
        # Bluesky's limits apply to that text.
        text, facets = shorten_links(written)
        parts.append(
            RenderedPart(
                campaign=campaign.slug,
                post_id=post.id,
                platform="bluesky",
                part=number,
                at=post.at,
                text=text,
                length=bluesky_length(text),
                limit=limit,
                images=_rendered_images(images, with_focus=False),
                video=_rendered_video(post.video, with_captions=True) if number == 0 else None,
                facets=facets,
                langs=langs,
                labels=labels,
                link_card=card if number == 0 else None,  # the card and the threadgate belong to the root
                reply_rules=gate if number == 0 else None,
                allow_quotes=allow_quotes,
            )
        )
    return parts


def _render_mastodon(post: Post, campaign: Campaign, limits: PlatformLimits) -> list[RenderedPart]:
    override = post.overrides.get("mastodon") or _NO_OVERRIDE
    body = _main_text(post, override)
    if post.link is not None and post.link.url:
        body = _text_with_link(body, post.link.url)
    body = _with_helpline(body, post, campaign)
    spoiler = _content_warning(post, override)
    visibility = override.visibility or campaign.mastodon_visibility
    language = post.language or campaign.language
    allow_quotes = override.allow_quotes if override.allow_quotes is not None else campaign.allow_quotes
    limit = limits.mastodon_characters
    weight = limits.mastodon_url_weight
    parts = []
    texts = [(body, post.images), *_thread_texts(post, "mastodon")]
    for number, (text, images) in enumerate(texts):
        parts.append(
            RenderedPart(
                campaign=campaign.slug,
                post_id=post.id,
                platform="mastodon",
                part=number,
                at=post.at,
                text=text,
                length=mastodon_length(text, weight, spoiler_text=spoiler),
                limit=limit,
                images=_rendered_images(images, with_focus=True),
                video=_rendered_video(post.video, with_captions=False) if number == 0 else None,
                allow_quotes=allow_quotes,
                spoiler_text=spoiler,
                visibility=visibility,
                language=language,
            )
        )
    return parts


_NO_OVERRIDE = PlatformOverride()
_RENDERERS = {"bluesky": _render_bluesky, "mastodon": _render_mastodon}


def render_post(
    post: Post, campaign: Campaign, limits: PlatformLimits = DEFAULT_LIMITS
) -> dict[str, list[RenderedPart]]:
    """For each target platform: part 0 (the post) and parts 1..n (its thread), exactly as sent.

    Platforms this module does not know are left out (validation reports them).
    """
    rendered: dict[str, list[RenderedPart]] = {}
    for platform in post.targets():
        renderer = _RENDERERS.get(platform)
        if renderer is not None:
            parts = renderer(post, campaign, limits)
            has_lines = (post.helpline and campaign.helpline.strip()) or post.support_lines
            if has_lines and parts[0].length > parts[0].limit:
                parts = _helpline_as_last_reply(post, campaign, limits, parts)
            rendered[platform] = parts
    return rendered


def _helpline_as_last_reply(
    post: Post, campaign: Campaign, limits: PlatformLimits, parts: list[RenderedPart]
) -> list[RenderedPart]:
    """The post is full with the helpline line: the line goes as the thread's last reply instead, when the post
    then fits (otherwise the post is too long anyway, and validation says so counting the helpline)."""
    moved = _RENDERERS[parts[0].platform](helpline_as_reply(post, campaign), campaign, limits)
    return moved if moved[0].length <= moved[0].limit else parts
