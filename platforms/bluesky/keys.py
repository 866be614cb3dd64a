"""Names on Bluesky: record keys (TIDs) derived from a delivery, AT URIs, web URLs, and the createdAt of a
record, all computed from the delivery alone so that every attempt builds the same ones."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

PLATFORM = "bluesky"
POST = "app.bsky.feed.post"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
DEFAULT_SERVICE = "https://bsky.social"
WEB_APP = "https://bsky.app"

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_HASH_MICROSECOND_BITS = 20  # about 1.05 s: hash bits replace the low microseconds of the planned instant
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _tid(microseconds: int, clock_id: int) -> str:
    """13 characters of base32-sortable: 53 bits of microseconds since the epoch, then a 10-bit clock id."""
    value = ((microseconds & (2**53 - 1)) << 10) | (clock_id & 1023)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def record_key(idempotency_key: str, at: datetime) -> str:
    """The record key (a TID) of a delivery's post: the same for every attempt that may have written it.

    Its timestamp is the instant the delivery is written at (see PlatformAdapter.publish), with the low 20
    bits of microseconds (about a second) replaced by bits of a hash of the key, and its clock id is 10 more
    bits of that hash: two deliveries written within the same second (a thread's parts can be) collide with
    probability 2**-30.
    """
    if at.tzinfo is None:
        raise ValueError("the planned instant must be timezone-aware")
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:8], "big")
    clock_id = digest % 1024
    folded = (digest >> 10) & ((1 << _HASH_MICROSECOND_BITS) - 1)
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    micros = (micros >> _HASH_MICROSECOND_BITS << _HASH_MICROSECOND_BITS) | folded
    return _tid(micros, clock_id)


def created_at(at: datetime) -> str:
    """A record's createdAt from the delivery's write instant (never from the clock), so a retry builds the same
    record."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def post_uri(did: str, rkey: str, collection: str = POST) -> str:
    return f"at://{did}/{collection}/{rkey}"


def rkey_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def web_url(handle_or_did: str, uri: str, web: str = WEB_APP) -> str:
    """https://bsky.app/profile/<handle>/post/<rkey>."""
    return f"{web.rstrip('/')}/profile/{quote(handle_or_did, safe=':.')}/post/{rkey_of(uri)}"
