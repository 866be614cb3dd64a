"""What the core remembers of the Mastodon instance it posts to, so that a calendar is checked against that
instance's own limits without credentials or network.

Where the figures come from: the Mastodon adapter reads /api/v2/instance with the account's token (some
instances hide it from anonymous readers) before it first posts, again every ten minutes while posting, and on
`campaign accounts check`; each time it hands what it read to the recorder here, which keeps it in the
store (`settings` table, one row per instance). Every check of a calendar (`calendar validate` and `show`,
`schedule`, approving a file, `rehearse`, the demo, the web workspace's calendar page) then reads that row through
calendar_limits below: no token, no request, and the same answer offline and in CI. Asking
the instance anonymously at validate time was the other choice; it was not taken because validate must work
without network, and an instance in limited-federation mode refuses the anonymous read anyway.

Until the instance has been read once (or with no Mastodon account configured) the checks use
content_calendar's documented defaults (DEFAULT_LIMITS).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError

from content_calendar.model import DEFAULT_LIMITS, PlatformLimits
from scheduler.clock import Clock
from scheduler.db import Store, StoreUnavailable
from scheduler.errors import Refused
from scheduler.models import Setting

if TYPE_CHECKING:  # platforms.mastodon brings Mastodon.py: not loaded for checking a calendar
    from platforms.mastodon.instance import InstanceLimits

log = logging.getLogger(__name__)

_PREFIX = "instance:mastodon:"


def _key(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    host = (urlsplit(base_url if "://" in base_url else f"https://{base_url}").netloc or base_url).lower()
    key = _PREFIX + host
    return key if len(key) <= 64 else _PREFIX + hashlib.sha256(host.encode()).hexdigest()[:40]


class MastodonInstanceRecorder:
    """The callback the Mastodon adapter calls with the limits it has just read from `base_url`: keeps them in
    the store when they changed. The write is done by a thread of its own, so that posting never waits for the
    database (a worker that has a post's answer must not stand behind a busy store) and never fails for it: a
    store that cannot be written is logged, and tried again at the next read. `flush` waits for it (the Wiring
    does on close, so that `campaign accounts check` has kept what it read when it ends)."""

    def __init__(self, store: Store, clock: Clock, base_url: str):
        self._store, self._clock, self._key = store, clock, _key(base_url) if base_url.strip() else ""
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._written: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None

    def __call__(self, limits: InstanceLimits) -> None:
        facts = asdict(limits)
        with self._lock:
            if not self._key or facts == self._written or facts == self._pending:
                return
            self._pending = facts
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_pending, name="mastodon-instance-facts", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 5.0) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _write_pending(self) -> None:
        while True:
            with self._lock:
                facts, self._pending = self._pending, None
                if facts is None:
                    self._thread = None
                    return
            if self._write(facts):
                with self._lock:
                    self._written = facts

    def _write(self, facts: dict[str, Any]) -> bool:
        now = self._clock.now()
        value = json.dumps({**facts, "read_at": now.isoformat()}, sort_keys=True)
        try:
            with self._store.transaction() as session:
                row = session.get(Setting, self._key)
                if row is None:
                    session.add(Setting(key=self._key, value=value, updated_at=now))
                else:
                    row.value, row.updated_at = value, now
        except (SQLAlchemyError, StoreUnavailable, Refused) as error:
            log.warning("The Mastodon instance's limits could not be kept for checking calendars: %s", error)
            return False
        return True


def known_mastodon_instance(store: Store, base_url: str) -> dict[str, Any] | None:
    """What was last read from the instance at `base_url` (InstanceLimits' fields and `read_at`), or None:
    never read, no database yet, or a row that cannot be read."""
    if not base_url.strip():
        return None
    try:
        with store.transaction() as session:
            row = session.get(Setting, _key(base_url))
            value = row.value if row is not None else None
    except (SQLAlchemyError, StoreUnavailable, Refused):
        return None
    try:
        facts = json.loads(value) if value is not None else None
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None


# Said after a limit when the instance has not been read (or no Mastodon account is set up).
DEFAULT_SOURCE = "Mastodon's default; `campaign accounts check` reads your instance's own"
GIVEN_SOURCE = "the --mastodon-max-characters given"


def calendar_limits(store: Store, base_url: str, *, mastodon_max_characters: int | None = None) -> PlatformLimits:
    """The limits every check of a calendar uses (validate, show, schedule, approving a file, rehearse, the demo,
    the web workspace's calendar page): content_calendar's defaults with what the Mastodon instance at `base_url`
    last said of itself (characters a post, a link's weight, attachments, alt text, image and video sizes, video
    pixels and frame rate), each message naming where its limit came from. `mastodon_max_characters`, given by
    the person checking, wins over the instance's figure."""
    limits = replace(DEFAULT_LIMITS, mastodon_source=DEFAULT_SOURCE)
    facts = known_mastodon_instance(store, base_url)
    if facts is not None:
        limits = _with_facts(limits, facts, base_url)
    if mastodon_max_characters is not None:
        limits = replace(limits, mastodon_characters=mastodon_max_characters, mastodon_characters_source=GIVEN_SOURCE)
    return limits


def _with_facts(limits: PlatformLimits, facts: dict[str, Any], base_url: str) -> PlatformLimits:
    def number(name: str) -> int | None:
        value = facts.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    video = limits.mastodon_video
    video = replace(
        video,
        max_bytes=number("video_size_limit") or video.max_bytes,
        max_pixels=number("video_matrix_limit") or video.max_pixels,
        max_frame_rate=float(number("video_frame_rate_limit") or video.max_frame_rate or 0) or None,
    )
    return replace(
        limits,
        mastodon_characters=number("max_characters") or limits.mastodon_characters,
        mastodon_url_weight=number("characters_reserved_per_url") or limits.mastodon_url_weight,
        mastodon_attachments=number("max_media_attachments") or limits.mastodon_attachments,
        mastodon_alt_characters=number("description_limit") or limits.mastodon_alt_characters,
        mastodon_image_bytes=number("image_size_limit") or limits.mastodon_image_bytes,
        mastodon_video=video,
        mastodon_source=_source(facts, base_url),
    )


def _source(facts: dict[str, Any], base_url: str) -> str:
    """Says "the limit mastodon.social gave on 6 December 2026": the instance's name, and the day it was read (UTC)."""
    name = str(facts.get("domain") or "") or _key(base_url).removeprefix(_PREFIX)
    try:
        read = datetime.fromisoformat(str(facts.get("read_at"))).astimezone(UTC)
    except ValueError:
        return f"the limit {name} gave"
    return f"the limit {name} gave on {read.day} {read:%B %Y}"
