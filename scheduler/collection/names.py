"""Comparable forms of what collection matches on: hashtags without '#' and case-folded, every name of an
account (handle, DID, acct@host), and user text without bidi overrides or control characters."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_BIDI_AND_CONTROLS = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def tag_name(tag: str) -> str:
    """The comparable form of a hashtag: no '#', case-folded (#ItsNotOK, #ItsNotOk and #itsnotok are one)."""
    return tag.strip().lstrip("#").casefold()


def search_tags(tags: Iterable[str]) -> list[str]:
    """The distinct hashtags to ask a platform for, without '#', first spelling of each kept."""
    seen: dict[str, str] = {}
    for tag in tags:
        name = tag_name(tag)
        if name and name not in seen:
            seen[name] = tag.strip().lstrip("#")
    return list(seen.values())


def _host(url: str) -> str:
    try:
        return (urlsplit(url if "//" in url else f"https://{url}").hostname or "").lower()
    except ValueError:
        return ""


def identities(platform: str, handle: str, *, author_id: str = "", seen_on: str = "") -> set[str]:
    """Every comparable name of one account: `alice.bsky.social`, a DID, `alice@mastodon.social` (a local
    Mastodon acct gains the host it was read on; an ActivityPub uri .../users/alice gives one too). `author_id`
    must be an identity the platform vouches for (a DID, an account's ActivityPub uri), never a profile URL."""
    names: set[str] = set()
    clean = handle.strip().lstrip("@").lower()
    if clean:
        names.add(clean)
        if platform == "mastodon" and "@" not in clean and seen_on:
            names.add(f"{clean}@{_host(seen_on)}")
    if author_id:
        names.add(author_id.strip().lower())
        if platform == "mastodon":
            parts = urlsplit(author_id.strip())
            match = re.fullmatch(r"/(?:users/|@)([^/]+)/?", parts.path or "")
            if match and parts.hostname:
                names.add(f"{match.group(1).lower()}@{parts.hostname.lower()}")
    return names


def account_names(platform: str, handles: Iterable[str]) -> frozenset[str]:
    """Configured handles (campaign.yaml, settings) in the comparable form of `identities`."""
    names: set[str] = set()
    for handle in handles:
        names |= identities(platform, handle)
    return frozenset(names)


def clean_text(value: str) -> str:
    """User text without bidi overrides/isolates and control characters (newlines and tabs kept)."""
    return _BIDI_AND_CONTROLS.sub("", value)
