"""A post's text as the apps show it, in segments a page can print safely: plain text, links (with the address
only when it is http or https), hashtags and mentions. Bluesky's come from the facets we will send (UTF-8 byte
offsets into the text, so the bytes are sliced, never the characters); Mastodon's as the server finds them when
the post arrives. Also the words for who may reply and quote, and the hidden characters that turn text around."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from content_calendar.model import Facet

Kind = Literal["text", "link", "tag", "mention"]

# Embedding, override and isolate controls, and the direction marks: invisible, yet they reorder what follows.
DIRECTION_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def web_address(url: str) -> str | None:
    """The address when it may be a link on our pages (http or https, with a host); None for anything else
    (javascript:, data:, a relative path, an address with spaces or control characters)."""
    if not url or _UNSAFE_IN_URL.search(url) or DIRECTION_CONTROLS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


@dataclass(frozen=True)
class Segment:
    text: str  # as shown
    kind: Kind = "text"
    target: str = ""  # a link's full address, a tag without '#', a handle without '@'

    @property
    def href(self) -> str | None:
        return web_address(self.target) if self.kind == "link" else None


def bluesky_segments(text: str, facets: Iterable[Facet]) -> tuple[Segment, ...]:
    """The text cut at its facets' byte offsets. A facet that overlaps an earlier one, runs past the text or
    cuts a character in two is left as plain text (the rest still shows)."""
    data = text.encode("utf-8")
    segments: list[Segment] = []
    position = 0
    for facet in sorted(facets, key=lambda f: (f.byte_start, f.byte_end)):
        start, end = facet.byte_start, facet.byte_end
        if start < position or end > len(data) or start >= end:
            continue
        try:
            before, inside = data[position:start].decode("utf-8"), data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if before:
            segments.append(Segment(before))
        segments.append(Segment(inside, facet.kind, facet.value))
        position = end
    if position < len(data):
        segments.append(Segment(data[position:].decode("utf-8", errors="replace")))
    return tuple(segments)


# Mastodon links http(s) addresses, #hashtags and @mentions when the post arrives, and shows a link without its
# scheme and "www.", cut to 30 characters with "…".
_MASTODON_ENTITY = re.compile(
    r"(?P<url>https?://[^\s<>\"]+)"
    r"|(?<![\w/&])#(?P<tag>\w*[^\W\d]\w*)"
    r"|(?<![\w/=])@(?P<mention>\w+(?:[.-]\w+)*(?:@[\w-]+(?:\.[\w-]+)+)?)",
    re.IGNORECASE,
)
_URL_END = ".,;:!?'\")]"
MASTODON_SHOWN_URL = 30


def mastodon_link_text(url: str) -> str:
    shown = re.sub(r"^https?://(www\.)?", "", url, flags=re.IGNORECASE)
    return shown if len(shown) <= MASTODON_SHOWN_URL else shown[:MASTODON_SHOWN_URL] + "…"


def mastodon_segments(text: str) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    position = 0
    for match in _MASTODON_ENTITY.finditer(text):
        start, end = match.span()
        if match.group("url"):
            url = match.group("url")
            while url and url[-1] in _URL_END and not (url[-1] == ")" and url.count("(") >= url.count(")")):
                url = url[:-1]
            end = start + len(url)
            entity = Segment(mastodon_link_text(url), "link", url)
        elif match.group("tag"):
            entity = Segment(match.group(), "tag", match.group("tag"))
        else:
            entity = Segment(match.group(), "mention", match.group("mention"))
        if start < position:
            continue
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(entity)
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return tuple(segments)


def hidden_characters(*texts: str) -> tuple[str, ...]:
    """The direction controls in the texts, named once each: "U+202E (RIGHT-TO-LEFT OVERRIDE)"."""
    found = sorted({char for text in texts for char in DIRECTION_CONTROLS.findall(text)})
    return tuple(f"U+{ord(char):04X} ({unicodedata.name(char, 'direction control')})" for char in found)


_REPLIERS = {
    "mentioned": "people mentioned in the post",
    "following": "people the account follows",
    "followers": "the account's followers",
}


def who_may_reply(rules: tuple[str, ...] | None) -> str:
    """Bluesky's reply settings in words (the root's threadgate)."""
    if rules is None:
        return "Everybody can reply."
    if not rules:
        return "Nobody can reply."
    names = [_REPLIERS.get(rule, rule) for rule in rules]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Only {listed} can reply."


def who_may_quote(allow: bool, platform: str) -> str:
    if platform == "mastodon":
        return "Anyone can quote it." if allow else "Only the account can quote it."
    return "Quote posts are allowed." if allow else "Quote posts are off."


VISIBILITY_WORDS = {
    "public": "Public",
    "unlisted": "Quiet public (not in public timelines)",
    "private": "Followers only",
    "direct": "Private mention",
}
