"""Storage of what the collectors bring back: mentions (once each, private by default), the collectors' cursors,
back-off and leases, engagement snapshots of our own posts, and a record of every run.

The collectors themselves live in scheduler/collecting.py; everything here is plain store access that the CLI,
the Celery tasks, the tests and the benchmarks call alike.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scheduler.collection_models import (
    CollectorRun,
    CollectorState,
    EngagementSnapshot,
)
from scheduler.db import Store
from scheduler.models import Delivery, Setting, State

MENTIONS = "mentions"
ENGAGEMENT = "engagement"
HASH_KEY_SETTING = "collection.hash_key"
HASH_BYTES = 16  # 128 bits: no collisions at any realistic volume, a small index
WRITE_CHUNK = 500  # rows per INSERT batch (keeps bound parameters well under SQLite's limit)

_BIDI_AND_CONTROLS = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_HASHTAG_IN_TEXT = re.compile(r"(?<![\w#&])#(\w+)")


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- hashtags and identities ---------------------------------------------------------------------------


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


class MentionLike(Protocol):
    """What a platform adapter gives for a post (platforms.base.Mention has these fields)."""

    platform: str
    uri: str
    url: str
    author_handle: str
    author_id: str
    text: str
    created_at: datetime
    tags: tuple[str, ...]
    in_reply_to_uri: str | None
    seen_on: str


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


# --- the per-installation hashing key -------------------------------------------------------------------

_hash_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def hash_key(store: Store) -> bytes:
    """The secret the store keys its hashes with (made once per database). A plain SHA-256 of a public DID
    could be reversed by hashing every known DID; a keyed hash cannot without this key."""
    cached = _hash_keys.get(store.engine)
    if cached is not None:
        return cached
    with store.transaction() as session:
        session.execute(
            _insert_ignore(store, Setting, ["key"]).values(
                key=HASH_KEY_SETTING, value=secrets.token_hex(32), updated_at=datetime.now(UTC)
            )
        )
        value = session.execute(select(Setting.value).where(Setting.key == HASH_KEY_SETTING)).scalar_one()
    key = bytes.fromhex(value)
    _hash_keys[store.engine] = key
    return key


def keyed_hash(key: bytes, value: str) -> str:
    """Keyed BLAKE2b (a MAC by design, several times faster than HMAC-SHA256 on this hot path)."""
    return hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=HASH_BYTES).hexdigest()


def keyed_int(key: bytes, value: str) -> int:
    """A keyed 64-bit hash as a signed integer (fits BIGINT): for account keys, which are only counted."""
    digest = hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=8, person=b"author").digest()
    return int.from_bytes(digest, "big", signed=True)


def _insert_ignore(store: Store, model: Any, conflict_columns: Sequence[str]) -> Any:
    if store.dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))


# --- mentions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MentionPolicy:
    """What counts as a mention of one campaign and what of it may be kept."""

    campaign: str
    tags: Mapping[str, str]  # tag_name -> the campaign's spelling ("#ItsNotOK")
    allow_listed: frozenset[str] = frozenset()  # comparable names (see identities) of organisation accounts
    own_accounts: frozenset[str] = frozenset()  # our own accounts: their posts are deliveries, not mentions
    keep_handles: bool = False  # keep third parties' handles (never their text) so --include-handles can name them
    zone: str = "Europe/London"  # the campaign's zone: its weeks run Monday to Sunday there

    @classmethod
    def build(
        cls,
        campaign: str,
        hashtags: Iterable[str],
        *,
        organisation_accounts: Iterable[str] = (),
        own_accounts: Mapping[str, Iterable[str]] | None = None,
        keep_handles: bool = False,
        zone: str = "Europe/London",
    ) -> MentionPolicy:
        tags: dict[str, str] = {}
        for tag in hashtags:
            tags.setdefault(tag_name(tag), tag if tag.startswith("#") else f"#{tag}")
        orgs = list(organisation_accounts)
        allow = account_names("bluesky", orgs) | account_names("mastodon", orgs)
        own: set[str] = set()
        for platform, handles in (own_accounts or {}).items():
            own |= account_names(platform, handles)
        return cls(campaign, tags, frozenset(allow), frozenset(own), keep_handles, zone)

    def matched_tag(self, mention: MentionLike) -> str | None:
        """The campaign hashtag the post uses (from its tag facets / tag list, or its text), else None."""
        for tag in mention.tags:
            spelling = self.tags.get(tag_name(tag))
            if spelling:
                return spelling
        for found in _HASHTAG_IN_TEXT.findall(mention.text or ""):
            spelling = self.tags.get(found.casefold())
            if spelling:
                return spelling
        return None


@dataclass
class WriteResult:
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0  # not a campaign hashtag, or one of our own posts

    def add(self, other: WriteResult) -> None:
        self.fetched += other.fetched
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.ignored += other.ignored


@dataclass
class _OurPosts:
    """Our published posts on one platform, by every reference a platform may use for them."""

    by_ref: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, platform: str) -> _OurPosts:
        rows = session.execute(
            select(Delivery.id, Delivery.remote_id, Delivery.remote_uri, Delivery.remote_url).where(
                Delivery.platform == platform, Delivery.remote_id.is_not(None), Delivery.dry_run.is_(False)
            )
        )
        ours = cls()
        for delivery_id, *refs in rows:
            for ref in refs:
                if ref:
                    ours.by_ref[ref] = delivery_id
        return ours


class MentionWriter:
    """Turns adapter mentions into stored rows for one campaign: filters by hashtag, drops our own posts,
    hashes identities, keeps text only for allow-listed accounts, and inserts each mention once.

    This is the hot path of collection and backfill, so rows go to the driver's executemany as tuples
    (see bench/ingest.py); the column list below must follow MentionRecord."""

    _COLUMNS = (
        "campaign", "platform", "uri_key", "author_key", "created_at", "collected_at", "seen_on", "matched_tag",
        "reply_to_delivery_id", "allow_listed", "author_handle", "uri", "url", "text",
    )  # fmt: skip

    def __init__(self, store: Store, policy: MentionPolicy):
        self.store = store
        self.policy = policy
        self._key = hash_key(store)
        self._ours: dict[str, _OurPosts] = {}
        # author (platform, id, handle, seen_on) -> (author_key, own, allowed, handle to keep)
        self._authors: dict[tuple[str, str, str, str], tuple[int, bool, bool, str | None]] = {}
        self._tag_answers: dict[str, str] = {}
        # author_key -> the earliest mention time already written to mention_authors by this writer
        self._first_written: dict[int, Any] = {}
        self._zone = ZoneInfo(policy.zone)
        self._weeks_written: set[tuple[int, date]] = set()  # (author_key, week) pairs this writer has written
        self._postgres = store.dialect == "postgresql"
        marks = ", ".join(["%s" if self._postgres else "?"] * len(self._COLUMNS))
        self._insert_sql = (
            f"INSERT INTO mentions ({', '.join(self._COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT (campaign, uri_key) DO NOTHING"
        )
        earliest = "LEAST" if self._postgres else "min"  # SQLite's two-argument min() is the scalar minimum
        marks = ", ".join(["%s" if self._postgres else "?"] * 4)
        self._authors_sql = (
            f"INSERT INTO mention_authors (campaign, author_key, platform, first_mention_at) VALUES ({marks}) "
            "ON CONFLICT (campaign, author_key) DO UPDATE SET first_mention_at = "
            f"{earliest}(mention_authors.first_mention_at, excluded.first_mention_at)"
        )
        # Keeping handles: a mention stored before (by a run that did not keep them) gains its handle now, and a
        # handle already stored is never replaced: author_handle = COALESCE(author_handle, the new one). A
        # separate UPDATE rather than ON CONFLICT DO UPDATE, so the insert's rowcount still tells new from
        # already stored.
        mark = "%s" if self._postgres else "?"
        self._handles_sql = (
            f"UPDATE mentions SET author_handle = {mark} "
            f"WHERE campaign = {mark} AND uri_key = {mark} AND author_handle IS NULL"
        )
        self._weeks_sql = (
            f"INSERT INTO mention_author_weeks (campaign, week_start, author_key, platform) VALUES ({marks}) "
            "ON CONFLICT (campaign, week_start, author_key) DO NOTHING"
        )

    def _time(self, moment: datetime) -> Any:
        """`moment` (aware, UTC) as the driver gets it."""
        if self._postgres:
            return moment
        # The text SQLAlchemy's SQLite DateTime (hence UTCDateTime) stores, so both read and compare alike.
        text = moment.replace(tzinfo=None).isoformat(" ")
        return text if len(text) > 19 else f"{text}.000000"

    def _day(self, day: date) -> Any:
        return day if self._postgres else day.isoformat()  # SQLAlchemy's SQLite Date is ISO text

    def _matched_tag(self, mention: MentionLike) -> str | None:
        # Platforms return the same few tag spellings over and over: remember each one's answer.
        cache = self._tag_answers
        for tag in mention.tags:
            spelling = cache.get(tag)
            if spelling is None:
                spelling = cache[tag] = self.policy.tags.get(tag_name(tag), "")
            if spelling:
                return spelling
        return self.policy.matched_tag(mention) if mention.text else None

    def _author(self, mention: MentionLike) -> tuple[int, bool, bool, str | None]:
        cache_key = (mention.platform, mention.author_id, mention.author_handle, mention.seen_on)
        known = self._authors.get(cache_key)
        if known is None:
            policy = self.policy
            names = identities(
                mention.platform, mention.author_handle, author_id=mention.author_id, seen_on=mention.seen_on
            )
            allowed = bool(names & policy.allow_listed)
            author_key = keyed_int(self._key, f"{mention.platform}:{mention.author_id or mention.author_handle}")
            handle = mention.author_handle.lstrip("@")[:255] if (allowed or policy.keep_handles) else None
            known = self._authors[cache_key] = (author_key, bool(names & policy.own_accounts), allowed, handle)
        return known

    def prepare(
        self, session: Session, mentions: Iterable[MentionLike], now: datetime
    ) -> tuple[list[tuple[Any, ...]], dict[int, tuple[Any, str]], set[tuple[int, date, str]], WriteResult]:
        """Rows to insert (distinct by URI), each author's earliest mention in them, the (author, week) pairs
        they add, and the tally so far."""
        result = WriteResult()
        rows: dict[str, tuple[Any, ...]] = {}
        earliest: dict[int, tuple[Any, str]] = {}
        weeks: set[tuple[int, date, str]] = set()
        policy = self.policy
        zone = self._zone
        collected_at = self._time(utc(now))
        for mention in mentions:
            result.fetched += 1
            tag = self._matched_tag(mention)
            if not tag:
                result.ignored += 1
                continue
            platform = mention.platform
            ours = self._ours.get(platform)
            if ours is None:
                ours = self._ours[platform] = _OurPosts.load(session, platform)
            author_key, own, allowed, handle = self._author(mention)
            if own or mention.uri in ours.by_ref:
                result.ignored += 1
                continue
            uri_key = keyed_hash(self._key, mention.uri)
            if uri_key in rows:
                result.duplicates += 1
                continue
            moment = mention.created_at if mention.created_at.tzinfo is UTC else utc(mention.created_at)
            created_at = self._time(moment)
            local_day = moment.astimezone(zone).date()
            week = local_day - timedelta(days=local_day.weekday())
            if (author_key, week) not in self._weeks_written:
                weeks.add((author_key, week, platform))
            rows[uri_key] = (
                policy.campaign,
                platform,
                uri_key,
                author_key,
                created_at,
                collected_at,
                (mention.seen_on or "")[:255],
                tag,
                ours.by_ref.get(mention.in_reply_to_uri) if mention.in_reply_to_uri else None,
                allowed,
                handle,
                mention.uri if allowed else None,
                mention.url if allowed else None,
                clean_text(mention.text) if allowed else None,
            )
            # A mention seen again has the same time, so folding every row in keeps first_mention_at exact.
            first = earliest.get(author_key)
            if first is None or created_at < first[0]:
                earliest[author_key] = (created_at, platform)
        return list(rows.values()), earliest, weeks, result

    def write(self, session: Session, mentions: Iterable[MentionLike], now: datetime) -> WriteResult:
        """Insert in the caller's transaction; duplicates (already stored, or twice in this batch) are counted."""
        rows, earliest, weeks, result = self.prepare(session, mentions, now)
        if not rows:
            return result
        # In key order: each B-tree is then filled left to right, touching each page once per batch.
        rows.sort(key=_by_uri_key)
        cursor = session.connection().connection.cursor()
        try:
            stored = 0
            for start in range(0, len(rows), WRITE_CHUNK):
                cursor.executemany(self._insert_sql, rows[start : start + WRITE_CHUNK])
                stored += cursor.rowcount
            if self.policy.keep_handles:
                handles = [(row[10], row[0], row[2]) for row in rows if row[10] is not None]
                for start in range(0, len(handles), WRITE_CHUNK):
                    cursor.executemany(self._handles_sql, handles[start : start + WRITE_CHUNK])
            campaign = self.policy.campaign
            written = self._first_written
            authors = []
            for key, (at, platform) in earliest.items():
                known = written.get(key)
                if known is None or at < known:
                    authors.append((campaign, key, platform, at))
            authors.sort(key=_by_author)
            for start in range(0, len(authors), WRITE_CHUNK):
                cursor.executemany(self._authors_sql, authors[start : start + WRITE_CHUNK])
            pairs = sorted((campaign, self._day(week), key, platform) for key, week, platform in weeks)
            for start in range(0, len(pairs), WRITE_CHUNK):
                cursor.executemany(self._weeks_sql, pairs[start : start + WRITE_CHUNK])
        finally:
            cursor.close()
        # Remembered only once written. A failed transaction ends the collector's run, and the writer with it.
        for _campaign, key, _platform, at in authors:
            written[key] = at
        self._weeks_written.update((key, week) for key, week, _platform in weeks)
        result.stored += stored
        result.duplicates += len(rows) - stored
        return result


def _by_uri_key(row: tuple[Any, ...]) -> str:
    return row[2]  # type: ignore[no-any-return]


def _by_author(row: tuple[Any, ...]) -> int:
    return row[1]  # type: ignore[no-any-return]


def store_mentions(
    store: Store, policy: MentionPolicy, mentions: Iterable[MentionLike], *, now: datetime | None = None
) -> WriteResult:
    """Store a batch of mentions in one transaction (no collector state involved: backfills, tests, benches)."""
    writer = MentionWriter(store, policy)
    with store.transaction() as session:
        return writer.write(session, mentions, now or datetime.now(UTC))


# --- collector state: cursor, lease, back-off -----------------------------------------------------------


@dataclass(frozen=True)
class CollectorKey:
    campaign: str
    kind: str  # MENTIONS | ENGAGEMENT
    platform: str
    source: str = ""

    def describe(self) -> str:
        where = f" {self.source}" if self.source else ""
        return f"{self.campaign} {self.platform}{where} ({self.kind})"


@dataclass(frozen=True)
class Claim:
    """The outcome of asking to run a collector now."""

    key: CollectorKey
    state_id: int
    granted: bool
    cursor: str | None = None
    consecutive_failures: int = 0
    reason: str = ""  # why not granted
    next_attempt_at: datetime | None = None


class LeaseLost(RuntimeError):
    """Another run took this collector over (our lease expired): stop without writing."""


def _state_row(session: Session, key: CollectorKey) -> CollectorState | None:
    return session.execute(
        select(CollectorState).where(
            CollectorState.campaign == key.campaign,
            CollectorState.kind == key.kind,
            CollectorState.platform == key.platform,
            CollectorState.source == key.source,
        )
    ).scalar_one_or_none()


def claim_collector(
    store: Store, key: CollectorKey, now: datetime, *, owner: str, lease: timedelta, ignore_backoff: bool = False
) -> Claim:
    """Take the collector for `lease` unless another run holds it or it is backing off after a failure.
    A guarded UPDATE, so two workers (or a worker and `campaign collect`) never read the same cursor at once."""
    with store.transaction() as session:
        session.execute(
            _insert_ignore(store, CollectorState, ["campaign", "kind", "platform", "source"]).values(
                campaign=key.campaign,
                kind=key.kind,
                platform=key.platform,
                source=key.source,
                consecutive_failures=0,
            )
        )
        row = _state_row(session, key)
        assert row is not None
        guard = [
            CollectorState.id == row.id,
            or_(CollectorState.lease_until.is_(None), CollectorState.lease_until < now),
        ]
        if not ignore_backoff:
            guard.append(or_(CollectorState.next_attempt_at.is_(None), CollectorState.next_attempt_at <= now))
        taken = session.execute(
            update(CollectorState)
            .where(and_(*guard))
            .values(lease_owner=owner, lease_until=now + lease, last_run_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.refresh(row)
        if taken == 1:
            return Claim(key, row.id, True, row.cursor, row.consecutive_failures)
        if row.lease_until is not None and row.lease_until >= now:
            reason = f"another run holds it until {row.lease_until:%H:%M:%S} UTC"
        else:
            reason = f"backing off after {row.consecutive_failures} failure(s): {row.last_error or 'unknown error'}"
        return Claim(key, row.id, False, row.cursor, row.consecutive_failures, reason, row.next_attempt_at)


def advance_cursor(
    session: Session, claim: Claim, owner: str, cursor: str | None, now: datetime, *, lease: timedelta | None = None
) -> None:
    """Move the cursor in the caller's transaction (the one holding the page's mentions), and extend the
    lease, if we still hold it; otherwise raise LeaseLost so the transaction rolls back."""
    values: dict[str, Any] = {"cursor": cursor, "cursor_updated_at": now}
    if lease is not None:
        values["lease_until"] = now + lease
    changed = session.execute(
        update(CollectorState)
        .where(CollectorState.id == claim.state_id, CollectorState.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise LeaseLost(f"lost the lease on {claim.key.describe()}; another run continues it")


def store_mention_page(
    store: Store,
    writer: MentionWriter,
    claim: Claim,
    owner: str,
    mentions: Sequence[MentionLike],
    cursor: str | None,
    now: datetime,
    *,
    lease: timedelta | None = None,
) -> WriteResult:
    """One page: its mentions and the cursor after it, in one transaction, so a crash between pages neither
    loses a page nor reads it twice."""
    with store.transaction() as session:
        advance_cursor(session, claim, owner, cursor, now, lease=lease)
        return writer.write(session, mentions, now)


@dataclass
class RunRecord:
    key: CollectorKey
    started_at: datetime
    actor: str = ""
    pages: int = 0
    result: WriteResult = field(default_factory=WriteResult)


def finish_collector(
    store: Store,
    claim: Claim,
    owner: str,
    run: RunRecord,
    now: datetime,
    *,
    outcome: str = "ok",
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Release the lease and record the run. A failure sets the back-off (`retry_at`) and keeps the message."""
    failed = outcome in ("failed", "rate_limited")
    with store.transaction() as session:
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if failed:
            values.update(
                consecutive_failures=CollectorState.consecutive_failures + 1,
                next_attempt_at=retry_at,
                last_error=error,
            )
        else:
            values.update(consecutive_failures=0, next_attempt_at=None, last_error=None, last_success_at=now)
        session.execute(
            update(CollectorState)
            .where(CollectorState.id == claim.state_id, CollectorState.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.add(
            CollectorRun(
                campaign=run.key.campaign,
                kind=run.key.kind,
                platform=run.key.platform,
                source=run.key.source,
                started_at=run.started_at,
                finished_at=now,
                outcome=outcome,
                pages=run.pages,
                fetched=run.result.fetched,
                stored=run.result.stored,
                duplicates=run.result.duplicates,
                ignored=run.result.ignored,
                error=error,
                retry_at=retry_at,
                actor=run.actor[:128],
            )
        )


def record_skip(store: Store, key: CollectorKey, now: datetime, reason: str, *, actor: str = "") -> None:
    """A run that could not happen (no credentials), kept so `campaign status` and the logs can say why. A skip
    repeating the previous one only moves its time, so a beat every few minutes does not fill the table."""
    with store.transaction() as session:
        last = session.execute(
            select(CollectorRun)
            .where(
                CollectorRun.campaign == key.campaign,
                CollectorRun.kind == key.kind,
                CollectorRun.platform == key.platform,
                CollectorRun.source == key.source,
            )
            .order_by(CollectorRun.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None and last.outcome == "skipped" and last.error == reason:
            last.finished_at = now
            return
        session.add(
            CollectorRun(
                campaign=key.campaign,
                kind=key.kind,
                platform=key.platform,
                source=key.source,
                started_at=now,
                finished_at=now,
                outcome="skipped",
                error=reason,
                actor=actor[:128],
            )
        )


def collector_states(store: Store, campaign: str | None = None) -> list[CollectorState]:
    with store.transaction() as session:
        statement = select(CollectorState).order_by(
            CollectorState.campaign, CollectorState.kind, CollectorState.platform, CollectorState.source
        )
        if campaign:
            statement = statement.where(CollectorState.campaign == campaign)
        return list(session.execute(statement).scalars())


def recent_runs(store: Store, campaign: str | None = None, limit: int = 20) -> list[CollectorRun]:
    with store.transaction() as session:
        statement = select(CollectorRun).order_by(CollectorRun.id.desc()).limit(limit)
        if campaign:
            statement = statement.where(CollectorRun.campaign == campaign)
        return list(session.execute(statement).scalars())


# --- engagement snapshots --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotPolicy:
    """Hourly for the first week after publication, daily to day 30, then never."""

    hourly_for: timedelta = timedelta(days=7)
    daily_until: timedelta = timedelta(days=30)
    hourly: timedelta = timedelta(hours=1)
    daily: timedelta = timedelta(days=1)
    # A beat that fires every few minutes should not drift a snapshot late by one whole period.
    slack: timedelta = timedelta(minutes=5)

    def interval(self, age: timedelta) -> timedelta | None:
        if age < self.hourly_for:
            return self.hourly
        if age < self.daily_until:
            return self.daily
        return None

    def due(self, published_at: datetime, last_taken: datetime | None, now: datetime) -> bool:
        interval = self.interval(now - published_at)
        if interval is None:
            return False
        return last_taken is None or now - last_taken >= interval - self.slack


@dataclass(frozen=True)
class DuePost:
    delivery_id: int
    remote_id: str
    published_at: datetime
    last_taken: datetime | None


def posts_due_for_snapshot(
    store: Store, campaign: str, platform: str, now: datetime, policy: SnapshotPolicy | None = None
) -> list[DuePost]:
    """Our published posts (not dry runs) whose next snapshot is due, oldest publication first."""
    policy = policy or SnapshotPolicy()
    last_taken = (
        select(EngagementSnapshot.delivery_id, func.max(EngagementSnapshot.taken_at).label("last_taken"))
        .where(EngagementSnapshot.campaign == campaign, EngagementSnapshot.platform == platform)
        .group_by(EngagementSnapshot.delivery_id)
        .subquery()
    )
    statement = (
        select(Delivery.id, Delivery.remote_id, Delivery.published_at, last_taken.c.last_taken)
        .outerjoin(last_taken, last_taken.c.delivery_id == Delivery.id)
        .where(
            Delivery.campaign == campaign,
            Delivery.platform == platform,
            Delivery.state == State.PUBLISHED,
            Delivery.dry_run.is_(False),
            Delivery.remote_id.is_not(None),
            Delivery.published_at.is_not(None),
            Delivery.published_at > now - policy.daily_until,
        )
        .order_by(Delivery.published_at, Delivery.id)
    )
    with store.transaction() as session:
        rows = session.execute(statement).all()
    due = []
    for delivery_id, remote_id, published_at, taken in rows:
        taken = utc(taken) if isinstance(taken, datetime) else (_parse_time(taken) if taken else None)
        if policy.due(published_at, taken, now):
            due.append(DuePost(delivery_id, remote_id, published_at, taken))
    return due


def _parse_time(value: str) -> datetime:
    # SQLite returns an aggregate over a typed column as its stored text.
    return utc(datetime.fromisoformat(value))


class EngagementLike(Protocol):
    remote_id: str
    likes: int
    reposts: int
    replies: int
    quotes: int


def store_snapshots(
    store: Store,
    campaign: str,
    platform: str,
    due: Sequence[DuePost],
    counts: Iterable[EngagementLike],
    now: datetime,
) -> int:
    """Append one snapshot per post the platform answered for; returns how many were written."""
    by_remote = {post.remote_id: post.delivery_id for post in due}
    rows = []
    for item in counts:
        delivery_id = by_remote.pop(item.remote_id, None)
        if delivery_id is None:
            continue
        rows.append(
            {
                "delivery_id": delivery_id,
                "campaign": campaign,
                "platform": platform,
                "taken_at": now,
                "likes": int(item.likes),
                "reposts": int(item.reposts),
                "replies": int(item.replies),
                "quotes": int(getattr(item, "quotes", 0) or 0),
            }
        )
    if rows:
        with store.transaction() as session:
            session.execute(EngagementSnapshot.__table__.insert(), rows)
    return len(rows)


# --- what exists -----------------------------------------------------------------------------------------


def campaigns_in_store(store: Store) -> list[str]:
    """Campaigns the store knows of: scheduled posts or collectors."""
    with store.transaction() as session:
        names = set(session.execute(select(Delivery.campaign).distinct()).scalars())
        names |= set(session.execute(select(CollectorState.campaign).distinct()).scalars())
    return sorted(names)
