"""Mention storage: which posts count as a campaign's mentions (MentionPolicy), and writing them once each,
private by default (MentionWriter, store_mentions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from content_calendar.model import DEFAULT_TIMEZONE
from platforms.base import Mention
from scheduler.collection.hashing import hash_key, keyed_hash, keyed_int
from scheduler.collection.names import account_names, clean_text, identities, tag_name
from scheduler.collection.sql import utc
from scheduler.db import Store
from scheduler.models import Delivery

WRITE_CHUNK = 500  # rows per INSERT batch (keeps bound parameters well under SQLite's limit)

_HASHTAG_IN_TEXT = re.compile(r"(?<![\w#&])#(\w+)")


@dataclass(frozen=True)
class MentionPolicy:
    """What counts as a mention of one campaign and what of it may be kept."""

    campaign: str
    tags: Mapping[str, str]  # tag_name -> the campaign's spelling ("#ItsNotOK")
    allow_listed: frozenset[str] = frozenset()  # comparable names (see identities) of organisation accounts
    own_accounts: frozenset[str] = frozenset()  # our own accounts: their posts are deliveries, not mentions
    keep_handles: bool = False  # keep third parties' handles (never their text) so --include-handles can name them
    zone: str = DEFAULT_TIMEZONE  # the campaign's zone: its weeks run Monday to Sunday there

    @classmethod
    def build(
        cls,
        campaign: str,
        hashtags: Iterable[str],
        *,
        organisation_accounts: Iterable[str] = (),
        own_accounts: Mapping[str, Iterable[str]] | None = None,
        keep_handles: bool = False,
        zone: str = DEFAULT_TIMEZONE,
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

    def matched_tag(self, mention: Mention) -> str | None:
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

    def _matched_tag(self, mention: Mention) -> str | None:
        # Platforms return the same few tag spellings over and over: remember each one's answer.
        cache = self._tag_answers
        for tag in mention.tags:
            spelling = cache.get(tag)
            if spelling is None:
                spelling = cache[tag] = self.policy.tags.get(tag_name(tag), "")
            if spelling:
                return spelling
        return self.policy.matched_tag(mention) if mention.text else None

    def _author(self, mention: Mention) -> tuple[int, bool, bool, str | None]:
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
        self, session: Session, mentions: Iterable[Mention], now: datetime
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

    def write(self, session: Session, mentions: Iterable[Mention], now: datetime) -> WriteResult:
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
    return row[2]


def _by_author(row: tuple[Any, ...]) -> int:
    return row[1]


def store_mentions(
    store: Store, policy: MentionPolicy, mentions: Iterable[Mention], *, now: datetime | None = None
) -> WriteResult:
    """Store a batch of mentions in one transaction (no collector state involved: backfills, tests, benches)."""
    writer = MentionWriter(store, policy)
    with store.transaction() as session:
        return writer.write(session, mentions, now or datetime.now(UTC))
