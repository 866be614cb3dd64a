"""Mention storage: which posts count as a campaign's mentions (MentionPolicy), and writing them once each,
private by default (MentionWriter, store_mentions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from content_calendar.model import DEFAULT_TIMEZONE
from platforms.base import Mention
from scheduler.collection.hashing import hash_key, keyed_hasher, keyed_int
from scheduler.collection.names import account_names, clean_text, identities, tag_name
from scheduler.collection.sql import utc
from scheduler.db import Store
from scheduler.models import Delivery

WRITE_CHUNK = 500  # rows per INSERT batch (keeps bound parameters well under SQLite's limit)
REMEMBERED_URIS = 200_000  # a writer's memory of the URIs it stored (about 100 bytes each)
ONE_HOUR = timedelta(hours=1)
ONE_WEEK = timedelta(days=7)

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


def _our_posts(session: Session, platform: str) -> dict[str, int]:
    """Our published posts on one platform, by every reference a platform may use for them."""
    rows = session.execute(
        select(Delivery.id, Delivery.remote_id, Delivery.remote_uri, Delivery.remote_url).where(
            Delivery.platform == platform, Delivery.remote_id.is_not(None), Delivery.dry_run.is_(False)
        )
    )
    ours: dict[str, int] = {}
    for delivery_id, *refs in rows:
        for ref in refs:
            if ref:
                ours[ref] = delivery_id
    return ours


class MentionWriter:
    """Turns adapter mentions into stored rows for one campaign: filters by hashtag, drops our own posts,
    hashes identities, keeps text only for allow-listed accounts, and inserts each mention once.

    This is the hot path of collection and backfill, so rows go to the driver's executemany as tuples
    (see bench/ingest.py); the column list below must follow MentionRecord. Most mentions leave five columns
    NULL (reply, handle, URI, URL, text): they go through a statement without them (_PLAIN), as sqlite3 binds
    each None (and each bool) through its adapter look-up, a quarter of the insert's time when every row had
    them."""

    _COLUMNS = (
        "campaign", "platform", "uri_key", "author_key", "created_at", "collected_at", "seen_on", "matched_tag",
        "reply_to_delivery_id", "allow_listed", "author_handle", "uri", "url", "text",
    )  # fmt: skip
    _PLAIN = (*_COLUMNS[:8], "allow_listed")  # a row of these: no reply to us, no handle, hence no text either

    def __init__(self, store: Store, policy: MentionPolicy):
        self.store = store
        self.policy = policy
        self._key = hash_key(store)
        self._uri_hasher = keyed_hasher(self._key)
        self._ours: dict[str, dict[str, int]] = {}  # platform -> our posts there, by every reference
        # author (platform, id, handle, seen_on) -> (author_key, own, allowed as bound, handle to keep)
        self._authors: dict[tuple[str, str, str, str], tuple[int, bool, int, str | None]] = {}
        self._platforms: dict[int, str] = {}  # author_key -> platform
        self._tag_answers: dict[tuple[str, ...], str] = {}  # a post's tags -> the campaign's spelling, or ""
        # author_key -> the earliest mention time already written to mention_authors by this writer
        self._first_written: dict[int, Any] = {}
        self._zone = ZoneInfo(policy.zone)
        self._hour_weeks: dict[datetime, date | None] = {}  # a UTC hour's start -> its week (None: two)
        self._weeks_written: set[tuple[int, date]] = set()  # (author_key, week) pairs this writer has written
        # URIs this writer has stored (or found stored): a re-read of one (another instance, a page read again)
        # is a duplicate without a trip to the database. Bounded: past the bound it starts again.
        self._stored: set[str] = set()
        self._postgres = store.dialect == "postgresql"
        self._insert_sql, self._plain_sql = (
            f"INSERT INTO mentions ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s' if self._postgres else '?'] * len(columns))}) "
            "ON CONFLICT (campaign, uri_key) DO NOTHING"
            for columns in (self._COLUMNS, self._PLAIN)
        )
        marks = ", ".join(["%s" if self._postgres else "?"] * 4)
        self._authors_sql = (
            f"INSERT INTO mention_authors (campaign, author_key, platform, first_mention_at) VALUES ({marks}) "
            "ON CONFLICT (campaign, author_key) DO UPDATE SET first_mention_at = excluded.first_mention_at "
            "WHERE excluded.first_mention_at < mention_authors.first_mention_at"
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

    def forget_our_posts(self) -> None:
        """Read our published posts again at the next write (a long-running writer sees posts published since)."""
        self._ours.clear()

    def _time(self, moment: datetime) -> Any:
        """`moment` (aware, UTC) as the driver gets it."""
        if self._postgres:
            return moment
        # The text SQLAlchemy's SQLite DateTime (hence UTCDateTime) stores, so both read and compare alike.
        return moment.isoformat(" ", "microseconds")[:26]

    def _tag_from_facets(self, tags: tuple[str, ...]) -> str:
        spelling = ""
        for tag in tags:
            spelling = self.policy.tags.get(tag_name(tag), "")
            if spelling:
                break
        self._tag_answers[tags] = spelling
        return spelling

    def _author(self, cache_key: tuple[str, str, str, str]) -> tuple[int, bool, int, str | None]:
        platform, author_id, handle, seen_on = cache_key
        policy = self.policy
        names = identities(platform, handle, author_id=author_id, seen_on=seen_on)
        allowed = bool(names & policy.allow_listed)
        author_key = keyed_int(self._key, f"{platform}:{author_id or handle}")
        kept = handle.lstrip("@")[:255] if (allowed or policy.keep_handles) else None
        flag = allowed if self._postgres else int(allowed)  # an int binds directly; SQLite stores 0 or 1 alike
        known = self._authors[cache_key] = (author_key, bool(names & policy.own_accounts), flag, kept)
        self._platforms[author_key] = platform
        return known

    def _week(self, moment: datetime) -> date:
        local = moment.astimezone(self._zone)
        return local.date() - timedelta(days=local.weekday())

    def _hour_week(self, hour: datetime) -> date | None:
        """The week of every instant of the UTC hour starting at `hour`, or None when it holds two weeks or two
        UTC offsets."""
        if hour in self._hour_weeks:
            return self._hour_weeks[hour]
        last = hour + ONE_HOUR - timedelta(microseconds=1)
        same = hour.astimezone(self._zone).utcoffset() == last.astimezone(self._zone).utcoffset()
        week = self._week(hour) if same and self._week(hour) == self._week(last) else None
        self._hour_weeks[hour] = week
        return week

    def _row_week(self, created_at: Any) -> date:
        moment = _utc(created_at)
        return self._hour_week(moment.replace(minute=0, second=0, microsecond=0)) or self._week(moment)

    def _new_weeks(self, rows: list[tuple[Any, ...]], earliest: dict[int, Any]) -> set[tuple[int, date]]:
        """The (author_key, week) pairs of these rows that this writer has not written yet (`earliest`: each
        author's first time in them). When every UTC hour from the rows' first time to their last lies in one
        week, so does every row, and each author has that week alone: a page, or a backfill's batch of a few
        days, costs a few look-ups rather than one per row."""
        at = itemgetter(4)  # created_at
        first = _utc(min(earliest.values())).replace(minute=0, second=0, microsecond=0)
        span = _utc(max(map(at, rows))) - first
        if span < ONE_WEEK + ONE_HOUR:  # a week has 169 hours when its clocks go back
            weeks = {self._hour_week(first + hours * ONE_HOUR) for hours in range(int(span / ONE_HOUR) + 1)}
            week = weeks.pop()
            if week is not None and not weeks:
                return {(author_key, week) for author_key in earliest} - self._weeks_written
        return {(row[3], self._row_week(at(row))) for row in rows} - self._weeks_written

    def prepare(
        self, session: Session, mentions: Iterable[Mention], now: datetime
    ) -> tuple[dict[str, tuple[Any, ...]], dict[int, Any], WriteResult]:
        """Rows to insert (distinct by URI, none this writer has stored already), each author's earliest mention
        time in them, and the tally so far."""
        # Per mention only look-ups, one keyed hash and the row itself: the answers for a tag list and for an
        # author are worked out once each and remembered.
        rows: dict[str, tuple[Any, ...]] = {}  # by URI
        earliest: dict[int, Any] = {}  # author_key -> created_at
        policy = self.policy
        campaign = policy.campaign
        collected_at = self._time(utc(now))
        tag_answers = self._tag_answers
        authors = self._authors
        ours_by_platform = self._ours
        stored = self._stored
        postgres = self._postgres
        hasher = self._uri_hasher.copy
        fetched = ignored = duplicates = 0
        for mention in mentions:
            fetched += 1
            tags = mention.tags
            tag = tag_answers.get(tags)
            if tag is None:
                tag = self._tag_from_facets(tags)
            if not tag:
                found = policy.matched_tag(mention) if mention.text else None
                if found is None:
                    ignored += 1
                    continue
                tag = found
            platform = mention.platform
            ours = ours_by_platform.get(platform)
            if ours is None:
                ours = ours_by_platform[platform] = _our_posts(session, platform)
            cache_key = (platform, mention.author_id, mention.author_handle, mention.seen_on)
            author_key, own, allowed, handle = authors.get(cache_key) or self._author(cache_key)
            uri = mention.uri
            if own or uri in ours:
                ignored += 1
                continue
            if uri in rows or uri in stored:
                duplicates += 1
                continue
            moment = mention.created_at
            if moment.tzinfo is not UTC:
                moment = utc(moment)
            created_at = moment if postgres else moment.isoformat(" ", "microseconds")[:26]
            digest = hasher()
            digest.update(uri.encode())
            reply_to = mention.in_reply_to_uri
            reply = ours.get(reply_to) if reply_to else None
            seen_on = (mention.seen_on or "")[:255]
            if reply is None and handle is None:
                rows[uri] = (campaign, platform, digest.hexdigest(), author_key, created_at, collected_at, seen_on, tag,
                             allowed)  # fmt: skip
            else:
                rows[uri] = (
                    campaign,
                    platform,
                    digest.hexdigest(),
                    author_key,
                    created_at,
                    collected_at,
                    seen_on,
                    tag,
                    reply,
                    allowed,
                    handle,
                    uri if allowed else None,
                    mention.url if allowed else None,
                    clean_text(mention.text) if allowed else None,
                )
            # A mention seen again has the same time, so folding every row in keeps first_mention_at exact.
            first = earliest.get(author_key)
            if first is None or created_at < first:
                earliest[author_key] = created_at
        return rows, earliest, WriteResult(fetched=fetched, duplicates=duplicates, ignored=ignored)

    def _remember(
        self, by_uri: dict[str, Any], authors: list[tuple[str, int, str, Any]], weeks: set[tuple[int, date]]
    ) -> None:
        for _campaign, key, _platform, at in authors:
            self._first_written[key] = at
        self._weeks_written |= weeks
        if len(self._stored) + len(by_uri) > REMEMBERED_URIS:
            self._stored.clear()
        self._stored.update(by_uri)

    def write(self, session: Session, mentions: Iterable[Mention], now: datetime) -> WriteResult:
        """Insert in the caller's transaction; duplicates (already stored, or twice in this batch) are counted."""
        by_uri, earliest, result = self.prepare(session, mentions, now)
        if not by_uri:
            return result
        # In key order: each B-tree is then filled left to right, touching each page once per batch.
        rows = sorted(by_uri.values(), key=itemgetter(2))  # uri_key
        campaign = self.policy.campaign
        written = self._first_written
        platforms = self._platforms
        authors = [
            (campaign, key, platforms[key], at)
            for key, at in earliest.items()
            if key not in written or at < written[key]
        ]
        authors.sort(key=itemgetter(1))  # author_key
        new_weeks = self._new_weeks(rows, earliest)
        day = (lambda week: week) if self._postgres else date.isoformat  # SQLAlchemy's SQLite Date is ISO text
        pairs = sorted((campaign, day(week), key, platforms[key]) for key, week in new_weeks)
        cursor = session.connection().connection.cursor()
        try:
            stored = 0
            narrow = len(self._PLAIN)
            plain = [row for row in rows if len(row) == narrow]
            full = [row for row in rows if len(row) > narrow] if len(plain) < len(rows) else []
            for sql, some in ((self._plain_sql, plain), (self._insert_sql, full)):
                for start in range(0, len(some), WRITE_CHUNK):
                    cursor.executemany(sql, some[start : start + WRITE_CHUNK])
                    stored += cursor.rowcount
            if self.policy.keep_handles:
                handles = [(row[10], row[0], row[2]) for row in full if row[10] is not None]
                for start in range(0, len(handles), WRITE_CHUNK):
                    cursor.executemany(self._handles_sql, handles[start : start + WRITE_CHUNK])
            for start in range(0, len(authors), WRITE_CHUNK):
                cursor.executemany(self._authors_sql, authors[start : start + WRITE_CHUNK])
            for start in range(0, len(pairs), WRITE_CHUNK):
                cursor.executemany(self._weeks_sql, pairs[start : start + WRITE_CHUNK])
        finally:
            cursor.close()
        # Remembered once committed: a platform's sources share one writer, and one source's failed transaction
        # must not leave the next believing its rows stored.
        event.listen(session, "after_commit", lambda _: self._remember(by_uri, authors, new_weeks), once=True)
        result.stored += stored
        result.duplicates += len(rows) - stored
        return result


def _utc(created_at: Any) -> datetime:
    """A row's created_at (a datetime, or SQLite's text) as an aware UTC datetime."""
    return created_at if isinstance(created_at, datetime) else datetime.fromisoformat(created_at).replace(tzinfo=UTC)


def store_mentions(
    store: Store, policy: MentionPolicy, mentions: Iterable[Mention], *, now: datetime | None = None
) -> WriteResult:
    """Store a batch of mentions in one transaction (no collector state involved: backfills, tests, benches)."""
    writer = MentionWriter(store, policy)
    with store.transaction() as session:
        return writer.write(session, mentions, now or datetime.now(UTC))
