"""The collectors' storage path, cursors, back-off and leases, and the engagement schedule.

The platform side here is a small in-test ReadAdapter (a list of posts paged like Bluesky's search, or like a
Mastodon hashtag timeline); everything on our side (collectors, storage, cursors, leases) is the real code on a
real SQLite store. The same paths against the real adapters and local servers are in test_collect_e2e.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from content_calendar.model import Campaign
from platforms.base import (
    CredentialsError,
    Engagement,
    Mention,
    MentionPage,
    PermanentError,
    RateLimited,
    TransientError,
)
from scheduler.clock import FixedClock
from scheduler.collecting import (
    CollectOptions,
    MentionSource,
    NotConfigured,
    collect_engagement,
    collect_mentions,
)
from scheduler.collection import (
    MENTIONS,
    CollectorKey,
    LeaseLost,
    MentionWriter,
    advance_cursor,
    claim_collector,
    hash_key,
    keyed_hash,
    keyed_int,
    posts_due_for_snapshot,
    store_mentions,
)
from scheduler.collection_models import CollectorRun, CollectorState, EngagementSnapshot, MentionRecord
from scheduler.db import Store
from scheduler.models import State
from scheduler.settings import load_settings
from scheduler.wiring import Adapters
from tests.reports.builders import StoreBuilder, mention, policy
from workers.app import beat_schedule

NOW = datetime(2027, 2, 3, 12, tzinfo=UTC)
CAMPAIGN = Campaign(
    slug="sasvaw-week", name="SASVAW", directory=Path("."), hashtags=("#ItsNotOK",),
    hashtag_variants=("#ItsNotOk", "#itsnotokay"), accounts={"bluesky": "ours.bsky.social"},
    organisation_accounts=("napac.org.uk",), mastodon_instances=("https://a.test", "https://b.test"),
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


# --- the in-test platform side -----------------------------------------------------------------------------------


@dataclass
class SearchLike:
    """Bluesky's searchPosts: newest first, `since` honoured, an opaque cursor, None when exhausted."""

    posts: list[Mention] = field(default_factory=list)
    page_size: int = 100
    calls: list[tuple[datetime | None, str | None]] = field(default_factory=list)
    fail_on_call: dict[int, Exception] = field(default_factory=dict)

    def read(self, tags: Sequence[str], since: datetime | None, cursor: str | None) -> MentionPage:
        self.calls.append((since, cursor))
        if len(self.calls) in self.fail_on_call:
            raise self.fail_on_call[len(self.calls)]
        newest_first = sorted((p for p in self.posts if since is None or p.created_at >= since),
                              key=lambda p: p.created_at, reverse=True)  # fmt: skip
        offset = int(cursor.removeprefix("off:")) if cursor else 0
        page = newest_first[offset : offset + self.page_size]
        more = offset + self.page_size < len(newest_first)
        return MentionPage(page, f"off:{offset + self.page_size}" if more else None)


@dataclass
class TimelineLike:
    """A Mastodon hashtag timeline: oldest first from a position; the position comes back after every call."""

    posts: list[Mention] = field(default_factory=list)
    page_size: int = 40
    calls: list[tuple[datetime | None, str | None]] = field(default_factory=list)

    def read(self, tags: Sequence[str], since: datetime | None, cursor: str | None) -> MentionPage:
        self.calls.append((since, cursor))
        position = int(cursor) if cursor else -1
        ordered = [
            (i, p) for i, p in enumerate(self.posts) if i > position and (since is None or p.created_at >= since)
        ]
        page = ordered[: self.page_size]
        return MentionPage([p for _, p in page], str(page[-1][0] if page else position))


@dataclass
class Provider:
    sources: list[MentionSource]
    counts: dict[str, Engagement] = field(default_factory=dict)
    engagement_calls: list[list[str]] = field(default_factory=list)

    def mention_sources(self, campaign: Campaign, platform: str) -> list[MentionSource]:
        found = [s for s in self.sources if s.platform == platform]
        if not found:
            raise NotConfigured(f"{platform} has no credentials")
        return found

    def engagement_reader(self, platform: str) -> Provider:
        return self

    def engagement(self, remote_ids: Sequence[str]) -> list[Engagement]:
        self.engagement_calls.append(list(remote_ids))
        return [self.counts[r] for r in remote_ids if r in self.counts]

    def own_accounts(self, campaign: Campaign, platform: str) -> list[str]:
        return ["ours.bsky.social"]


def sweep_source(search: SearchLike) -> MentionSource:
    return MentionSource("bluesky", "https://pds.test", "sweep", search.read, ("ItsNotOK",))


def timeline_source(timeline: TimelineLike, instance: str) -> MentionSource:
    return MentionSource("mastodon", instance, "position", timeline.read, ("ItsNotOK",))


def posts(count: int, *, start: datetime, prefix: str = "p", platform: str = "bluesky") -> list[Mention]:
    return [
        mention(f"at://did:plc:a{i % 7}/app.bsky.feed.post/{prefix}{i}" if platform == "bluesky"
                else f"https://a.test/users/u{i % 7}/statuses/{prefix}{i}",
                f"a{i % 7}", start + timedelta(minutes=i), platform=platform)
        for i in range(count)
    ]  # fmt: skip


def stored(store: Store) -> int:
    with store.transaction() as session:
        return len(session.execute(select(MentionRecord.id)).all())


def runs(store: Store) -> list[CollectorRun]:
    with store.transaction() as session:
        return list(session.execute(select(CollectorRun).order_by(CollectorRun.id)).scalars())


def collect(store: Store, provider: Provider, clock: FixedClock, platform: str = "bluesky", **options: object):  # type: ignore[no-untyped-def]
    return collect_mentions(store, CAMPAIGN, platform, provider, clock=clock, owner="test", **options)  # type: ignore[arg-type]


# --- mentions ----------------------------------------------------------------------------------------------------


def test_sweeps_store_each_mention_once_across_pages_and_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    search = SearchLike(posts(250, start=NOW - timedelta(days=2)))
    clock = FixedClock(NOW)
    [first] = collect(Store(url), Provider([sweep_source(search)]), clock)
    assert (first.outcome, first.pages, first.result.stored, first.result.duplicates) == ("ok", 3, 250, 0)
    assert [c[1] for c in search.calls] == [None, "off:100", "off:200"]
    assert search.calls[0][0] == NOW - CollectOptions().initial_lookback

    # A restart (a new Store and provider): the next sweep reads down only to where the last one began.
    clock.advance(timedelta(minutes=5))
    search.posts += posts(3, start=NOW + timedelta(minutes=1), prefix="new")
    search.calls.clear()
    restarted = Store(url)
    [second] = collect(restarted, Provider([sweep_source(search)]), clock)
    assert search.calls == [(NOW - CollectOptions().overlap, None)]
    assert (second.result.stored, second.result.duplicates, second.pages) == (3, 0, 1)
    assert stored(restarted) == 253


def test_a_crash_between_pages_resumes_the_sweep_without_rereading(store: Store) -> None:
    search = SearchLike(posts(250, start=NOW - timedelta(days=2)), fail_on_call={2: TransientError("timed out")})
    clock = FixedClock(NOW)
    [broken] = collect(store, Provider([sweep_source(search)]), clock)
    assert (broken.outcome, broken.result.stored, broken.detail) == ("failed", 100, "timed out")
    assert broken.retry_at == NOW + CollectOptions().backoff_base
    clock.advance(timedelta(minutes=1))
    search.calls.clear()
    search.fail_on_call.clear()
    [resumed] = collect(store, Provider([sweep_source(search)]), clock)
    assert [c[1] for c in search.calls] == ["off:100", "off:200"]  # from the page after the last stored one
    assert (resumed.outcome, resumed.result.stored, resumed.result.duplicates) == ("ok", 150, 0)
    assert stored(store) == 250
    assert [(r.outcome, r.stored, r.error) for r in runs(store)] == [("failed", 100, "timed out"), ("ok", 150, None)]


def test_a_sweep_that_cannot_be_resumed_is_read_again_from_its_start(store: Store) -> None:
    search = SearchLike(posts(150, start=NOW - timedelta(days=2)))
    clock = FixedClock(NOW)
    [partial] = collect(store, Provider([sweep_source(search)]), clock, options=CollectOptions(max_calls=1))
    assert partial.result.stored == 100
    expired = PermanentError("Bluesky refused the search cursor (InvalidRequest)")
    for _ in range(3):
        search.fail_on_call = {len(search.calls) + 1: expired}
        [failed] = collect(store, Provider([sweep_source(search)]), clock)
        assert failed.outcome == "failed" and search.calls[-1][1] == "off:100"
        assert failed.retry_at is not None
        clock.set(failed.retry_at)
    search.calls.clear()
    [again] = collect(store, Provider([sweep_source(search)]), clock)
    assert [c[1] for c in search.calls] == [None, "off:100"]  # from the newest post, down to the same `since`
    assert search.calls[0][0] == NOW - CollectOptions().initial_lookback
    assert (again.outcome, again.result.stored, again.result.duplicates) == ("ok", 50, 100)


def test_a_backfill_from_a_later_date_still_reads_down_to_the_stored_cursor(store: Store) -> None:
    """`campaign collect --since` after collection stopped for a while: a `since` later than where the stored
    cursor would read down to must not skip what lies between (the cursor moves to now afterwards)."""
    search = SearchLike(posts(2, start=NOW - timedelta(hours=2)))
    clock = FixedClock(NOW)
    collect(store, Provider([sweep_source(search)]), clock)  # the cursor now reads down to NOW - overlap next
    search.posts += posts(1, start=NOW + timedelta(hours=1), prefix="gap")  # while nothing collected
    search.posts += posts(1, start=NOW + timedelta(hours=3), prefix="recent")
    clock.set(NOW + timedelta(hours=4))
    search.calls.clear()
    [backfill] = collect(store, Provider([sweep_source(search)]), clock, since=NOW + timedelta(hours=2))
    assert search.calls[0][0] == NOW - CollectOptions().overlap  # the earlier of the two
    assert (backfill.result.stored, stored(store)) == (2, 4)
    # The regular collection goes on from the backfill's start: nothing was left behind.
    clock.advance(timedelta(minutes=5))
    search.calls.clear()
    [after] = collect(store, Provider([sweep_source(search)]), clock)
    assert search.calls[0][0] == NOW + timedelta(hours=4) - CollectOptions().overlap
    assert after.result.stored == 0

    # A backfill from further back than the cursor reads from there.
    search.calls.clear()
    collect(store, Provider([sweep_source(search)]), clock, since=NOW - timedelta(days=3))
    assert search.calls[0][0] == NOW - timedelta(days=3)


def test_a_backfill_interrupting_a_sweep_reads_down_to_that_sweep_s_floor(store: Store) -> None:
    search = SearchLike(posts(150, start=NOW - timedelta(days=2)))
    clock = FixedClock(NOW)
    collect(store, Provider([sweep_source(search)]), clock, options=CollectOptions(max_calls=1))  # 100 of 150
    search.calls.clear()
    [backfill] = collect(store, Provider([sweep_source(search)]), clock, since=NOW - timedelta(hours=1))
    assert search.calls[0] == (NOW - CollectOptions().initial_lookback, None)  # the interrupted sweep's floor
    assert (backfill.result.stored, stored(store)) == (50, 150)


def test_positions_and_instances_one_status_seen_twice_is_one_mention(store: Store) -> None:
    shared = posts(50, start=NOW - timedelta(hours=5), platform="mastodon")
    a = TimelineLike(shared[:30] + posts(5, start=NOW - timedelta(hours=1), prefix="a", platform="mastodon"))
    b = TimelineLike(shared[10:] + posts(4, start=NOW - timedelta(hours=1), prefix="b", platform="mastodon"))
    provider = Provider([timeline_source(a, "https://a.test"), timeline_source(b, "https://b.test")])
    clock = FixedClock(NOW)
    outcomes = collect(store, provider, clock, platform="mastodon")
    assert [(o.key.source, o.result.stored, o.result.duplicates) for o in outcomes] == [
        ("https://a.test", 35, 0),
        ("https://b.test", 24, 20),  # statuses 10..29 came through a.test first
    ]
    assert stored(store) == 59
    # The position is kept: the next run asks each instance for what is after it, and gets nothing new.
    a.calls.clear()
    clock.advance(timedelta(minutes=5))
    outcomes = collect(store, provider, clock, platform="mastodon")
    assert a.calls == [(NOW + timedelta(minutes=5) - CollectOptions().initial_lookback, "34")]
    assert [o.result.stored for o in outcomes] == [0, 0]


def test_hashtags_match_case_insensitively_with_variants_and_nothing_else(store: Store) -> None:
    builder = StoreBuilder(store)
    pk = builder.post("p1", NOW - timedelta(days=1))
    ours = builder.delivery(
        pk,
        "p1",
        "bluesky",
        NOW - timedelta(days=1),
        State.PUBLISHED,
        published=NOW - timedelta(days=1),
        remote_id="at://did:plc:ours/app.bsky.feed.post/p1",
    )
    at = NOW - timedelta(hours=1)
    offered = [
        mention("at://x/app.bsky.feed.post/1", "a", at, tags=("itsnotok",)),  # facet, lower case
        mention("at://x/app.bsky.feed.post/2", "b", at, tags=(), text="#ItsNotOk in text"),
        mention("at://x/app.bsky.feed.post/3", "c", at, tags=(), text="ITSNOTOK: #ITSNOTOK"),
        mention("at://x/app.bsky.feed.post/4", "d", at, tags=("ItsNotOkay",)),  # a variant, other case
        mention("at://x/app.bsky.feed.post/5", "e", at, tags=(), text="reply #ItsNotOK",
                reply_to="at://did:plc:ours/app.bsky.feed.post/p1"),
        mention("at://x/app.bsky.feed.post/6", "f", at, tags=("ItsNotOKAY2",), text="#ItsNotOKAY2"),  # another tag
        mention("at://x/app.bsky.feed.post/7", "g", at, tags=(), text="ItsNotOK without a hash"),
        mention("at://x/app.bsky.feed.post/8", "h", at, tags=(), text="mail#ItsNotOK is not a tag"),
        mention("at://x/app.bsky.feed.post/9", "ours.bsky.social", at),  # our own account
        mention("at://did:plc:ours/app.bsky.feed.post/p1", "someone", at),  # our own post, by URI
    ]  # fmt: skip
    result = store_mentions(store, policy(), offered)
    assert (result.fetched, result.stored, result.ignored) == (10, 5, 5)
    with store.transaction() as session:
        rows = session.execute(select(MentionRecord.uri_key, MentionRecord.matched_tag,
                                      MentionRecord.reply_to_delivery_id)).all()  # fmt: skip
    key = hash_key(store)
    by_post = {uri_key: (tag, reply) for uri_key, tag, reply in rows}
    assert by_post == {
        keyed_hash(key, "at://x/app.bsky.feed.post/1"): ("#ItsNotOK", None),
        keyed_hash(key, "at://x/app.bsky.feed.post/2"): ("#ItsNotOK", None),
        keyed_hash(key, "at://x/app.bsky.feed.post/3"): ("#ItsNotOK", None),
        keyed_hash(key, "at://x/app.bsky.feed.post/4"): ("#itsnotokay", None),
        keyed_hash(key, "at://x/app.bsky.feed.post/5"): ("#ItsNotOK", ours),
    }


def test_only_allow_listed_accounts_keep_text_handle_and_uri(store: Store) -> None:
    store_mentions(store, policy(), [
        mention("at://did:plc:napac/app.bsky.feed.post/1", "napac.org.uk", NOW, text="Call NAPAC #ItsNotOK"),
        mention("https://m.test/users/Survivor/statuses/1", "Survivor", NOW, platform="mastodon",
                text="my story #ItsNotOK", seen_on="https://m.test"),
    ])  # fmt: skip
    database = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    rows = database.execute("SELECT author_handle, text, uri, url, allow_listed, uri_key, author_key "
                            "FROM mentions ORDER BY allow_listed DESC").fetchall()  # fmt: skip
    everything = "\n".join(database.iterdump())
    database.close()
    assert rows[0][:5] == ("napac.org.uk", "Call NAPAC #ItsNotOK", "at://did:plc:napac/app.bsky.feed.post/1",
                           "https://web.test/1", 1)  # fmt: skip
    assert rows[1][:5] == (None, None, None, None, 0)
    assert "survivor" not in everything.lower() and "my story" not in everything
    key = hash_key(store)
    assert rows[1][5] == keyed_hash(key, "https://m.test/users/Survivor/statuses/1")
    assert rows[1][6] == keyed_int(key, "mastodon:https://mastodon.test/users/Survivor")
    # The key is the store's own: another store hashes the same account differently.
    assert hash_key(Store(store.url)) == key


def test_first_mention_of_an_account_is_the_earliest_even_when_read_out_of_order(store: Store) -> None:
    store_mentions(store, policy(), [mention("at://x/app.bsky.feed.post/late", "amy", NOW)])
    store_mentions(store, policy(), [mention("at://x/app.bsky.feed.post/early", "amy", NOW - timedelta(days=9))])
    store_mentions(store, policy(), [mention("at://x/app.bsky.feed.post/later", "amy", NOW + timedelta(days=1))])
    database = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    assert database.execute("SELECT first_mention_at FROM mention_authors").fetchall() == [
        ((NOW - timedelta(days=9)).strftime("%Y-%m-%d %H:%M:%S.%f"),)
    ]
    database.close()


def handles(store: Store) -> list[str | None]:
    with store.transaction() as session:
        return sorted(session.execute(select(MentionRecord.author_handle)).scalars(), key=str)


def test_campaign_yaml_keep_handles_is_honoured_by_the_regular_collection(store: Store) -> None:
    from dataclasses import replace

    search = SearchLike(posts(3, start=NOW - timedelta(hours=1)))
    # Private by default: beat's call (no keep_handles argument) keeps no third party's handle.
    collect(store, Provider([sweep_source(search)]), FixedClock(NOW))
    assert handles(store) == [None, None, None]
    # The campaign opts in: the same call, as beat makes it, keeps the handles of what it reads.
    keeping = replace(CAMPAIGN, keep_handles=True)
    search.posts += posts(1, start=NOW + timedelta(minutes=1), prefix="later")
    clock = FixedClock(NOW + timedelta(minutes=5))
    [outcome] = collect_mentions(store, keeping, "bluesky", Provider([sweep_source(search)]), clock=clock,
                                 owner="beat")  # fmt: skip
    assert outcome.result.stored == 1
    assert handles(store) == [None, None, None, "a0.bsky.social"]
    # A backfill over the earlier mentions fills in their handles; the tally still tells new from stored.
    [backfill] = collect_mentions(store, keeping, "bluesky", Provider([sweep_source(search)]), clock=clock,
                                  owner="cli", since=NOW - timedelta(days=1))  # fmt: skip
    assert (backfill.result.stored, backfill.result.duplicates) == (0, 4)
    assert handles(store) == ["a0.bsky.social", "a0.bsky.social", "a1.bsky.social", "a2.bsky.social"]
    with store.transaction() as session:
        assert session.execute(select(MentionRecord.text).where(MentionRecord.text.is_not(None))).all() == []


def test_keeping_handles_fills_a_missing_handle_and_never_replaces_one(store: Store) -> None:
    first = mention("at://did:plc:amy/app.bsky.feed.post/1", "amy.bsky.social", NOW)
    assert store_mentions(store, policy(), [first]).stored == 1
    assert handles(store) == [None]
    assert store_mentions(store, policy(keep_handles=True), [first]).duplicates == 1
    assert handles(store) == ["amy.bsky.social"]
    renamed = mention("at://did:plc:amy/app.bsky.feed.post/1", "amy-new.bsky.social", NOW)
    assert store_mentions(store, policy(keep_handles=True), [renamed]).duplicates == 1
    assert handles(store) == ["amy.bsky.social"]  # COALESCE(existing, new)
    assert store_mentions(store, policy(), [renamed]).duplicates == 1
    assert handles(store) == ["amy.bsky.social"]  # a run that keeps none removes none either


def test_writer_columns_follow_the_model() -> None:
    columns = [c.name for c in MentionRecord.__table__.columns if c.name != "id"]
    assert sorted(MentionWriter._COLUMNS) == sorted(columns)


# --- failure, back-off, leases, skipping ----------------------------------------------------------------------


def test_rate_limit_backs_off_to_its_reset_and_records_why(store: Store) -> None:
    search = SearchLike(posts(5, start=NOW - timedelta(hours=1)))
    reset = NOW + timedelta(minutes=15)
    search.fail_on_call = {1: RateLimited("Bluesky rate limit: wait until 12:15", reset_at=reset)}
    provider = Provider([sweep_source(search)])
    clock = FixedClock(NOW)
    [limited] = collect(store, provider, clock)
    assert (limited.outcome, limited.retry_at) == ("rate_limited", reset)
    clock.advance(timedelta(minutes=5))
    [waiting] = collect(store, provider, clock)
    assert waiting.outcome == "busy" and "backing off after 1 failure(s): Bluesky rate limit" in waiting.detail
    assert len(search.calls) == 1  # nothing was asked while backing off
    clock.set(reset)
    [after] = collect(store, provider, clock)
    assert (after.outcome, after.result.stored) == ("ok", 5)
    assert [(r.outcome, r.error, r.retry_at) for r in runs(store)] == [
        ("rate_limited", "Bluesky rate limit: wait until 12:15", reset),
        ("ok", None, None),
    ]
    with store.transaction() as session:
        state = session.execute(select(CollectorState)).scalar_one()
    assert (state.consecutive_failures, state.next_attempt_at, state.last_error) == (0, None, None)


def test_failures_back_off_exponentially_and_credentials_longer(store: Store) -> None:
    search = SearchLike(posts(1, start=NOW))
    provider = Provider([sweep_source(search)])
    clock = FixedClock(NOW)
    waits = []
    for attempt in range(3):
        search.fail_on_call = {len(search.calls) + 1: ConnectionError("network unreachable")}
        [outcome] = collect(store, provider, clock)
        assert outcome.outcome == "failed" and outcome.detail == "ConnectionError: network unreachable"
        assert outcome.retry_at is not None
        waits.append(outcome.retry_at - clock.now())
        clock.set(outcome.retry_at)
        del attempt
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    search.fail_on_call = {len(search.calls) + 1: CredentialsError("The app password was revoked: make a new one")}
    [denied] = collect(store, provider, clock)
    assert denied.outcome == "failed" and denied.retry_at == clock.now() + timedelta(minutes=30)


def test_errors_are_stored_without_secrets(store: Store) -> None:
    search = SearchLike(posts(1, start=NOW), fail_on_call={1: RuntimeError("GET /?access_token=s3cret-token failed")})
    [outcome] = collect(store, Provider([sweep_source(search)]), FixedClock(NOW),
                        redact=lambda text: text.replace("s3cret-token", "********"))  # fmt: skip
    assert outcome.detail == "RuntimeError: GET /?access_token=******** failed"
    assert runs(store)[0].error == outcome.detail
    database = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    assert "s3cret" not in "\n".join(database.iterdump())


def test_a_lease_keeps_two_runs_of_one_collector_apart(store: Store) -> None:
    key = CollectorKey("sasvaw-week", MENTIONS, "bluesky", "https://pds.test")
    held = claim_collector(store, key, NOW, owner="worker-a", lease=timedelta(minutes=10))
    assert held.granted
    search = SearchLike(posts(3, start=NOW))
    [busy] = collect(store, Provider([sweep_source(search)]), FixedClock(NOW + timedelta(minutes=1)))
    assert busy.outcome == "busy" and "another run holds it" in busy.detail and search.calls == []
    # worker-a died; after its lease another run takes over, and worker-a can no longer write.
    [taken] = collect(store, Provider([sweep_source(search)]), FixedClock(NOW + timedelta(minutes=11)))
    assert taken.outcome == "ok" and taken.result.stored == 3
    with store.transaction() as session, pytest.raises(LeaseLost):
        advance_cursor(session, held, "worker-a", '{"page": "stale"}', NOW + timedelta(minutes=12))


def test_platforms_without_credentials_are_skipped_and_say_so(store: Store, tmp_path: Path) -> None:
    settings = load_settings({"CAMPAIGN_DATA_DIR": str(tmp_path)}, dotenv_path=tmp_path / "none.env")
    adapters = Adapters(settings)
    clock = FixedClock(NOW)
    # Listed instances are read even without a Mastodon account (tests/mastodon_adapter/
    # test_collect_without_account.py): without them, there is nothing to read.
    unlisted = replace(CAMPAIGN, mastodon_instances=())
    for platform, words in (("bluesky", "BLUESKY_HANDLE"), ("mastodon", "MASTODON_ACCESS_TOKEN")):
        for _ in range(3):
            [skipped] = collect_mentions(store, unlisted, platform, adapters, clock=clock, owner="test")
            assert skipped.outcome == "skipped" and words in skipped.detail
            clock.advance(timedelta(minutes=5))
    # One record per platform, not one per beat.
    assert [(r.platform, r.outcome) for r in runs(store)] == [("bluesky", "skipped"), ("mastodon", "skipped")]


def test_beat_schedule_for_the_lead(tmp_path: Path) -> None:
    settings = load_settings({"CAMPAIGN_DATA_DIR": str(tmp_path)}, dotenv_path=tmp_path / "none.env")
    schedule = beat_schedule(settings)
    assert {name: (e["task"], e["schedule"], e["options"]["queue"]) for name, e in schedule.items()} == {
        "tick": ("campaign.tick", 5.0, "publish"),
        "collect-mentions": ("campaign.collect_mentions", 300.0, "collect"),
        "collect-engagement": ("campaign.collect_engagement", 600.0, "collect"),
        "report-weekly": ("campaign.report_weekly", 600.0, "collect"),
        "alerts": ("campaign.alerts", 60.0, "collect"),
    }


# --- engagement -------------------------------------------------------------------------------------------------


def test_engagement_snapshot_schedule(store: Store) -> None:
    b = StoreBuilder(store)
    ages = {
        "fresh": (timedelta(hours=1), None),  # never measured: due
        "hourly-recent": (timedelta(days=2), timedelta(minutes=30)),  # measured 30 min ago: not due
        "hourly-due": (timedelta(days=2), timedelta(minutes=56)),  # within the 5 minute slack of an hour: due
        "daily-recent": (timedelta(days=10), timedelta(hours=23)),  # after a week, daily: not due
        "daily-due": (timedelta(days=10), timedelta(hours=24)),
        "too-old": (timedelta(days=31), timedelta(days=2)),  # after 30 days: never
    }
    remote = {}
    for name, (age, last) in ages.items():
        pk = b.post(name, NOW - age)
        remote[name] = b.delivery(pk, name, "bluesky", NOW - age, State.PUBLISHED, published=NOW - age)
        if last is not None:
            b.snapshot(remote[name], "bluesky", f"bluesky-remote-{name}-0", NOW - last, 1, 0, 0)
    pk = b.post("dry", NOW - timedelta(hours=2))
    b.delivery(pk, "dry", "bluesky", NOW - timedelta(hours=2), State.PUBLISHED, published=NOW, dry_run=True)
    pk = b.post("failed", NOW - timedelta(hours=2))
    b.delivery(pk, "failed", "bluesky", NOW - timedelta(hours=2), State.FAILED)
    pk = b.post("other-platform", NOW - timedelta(hours=2))
    b.delivery(pk, "other-platform", "mastodon", NOW - timedelta(hours=2), State.PUBLISHED, published=NOW)
    due = posts_due_for_snapshot(store, "sasvaw-week", "bluesky", NOW)
    assert sorted(d.remote_id for d in due) == sorted(
        f"bluesky-remote-{n}-0" for n in ("fresh", "hourly-due", "daily-due")
    )


def test_engagement_is_batched_and_kept_as_a_time_series(store: Store) -> None:
    b = StoreBuilder(store)
    ids = []
    for index in range(250):
        pk = b.post(f"p{index}", NOW - timedelta(hours=3))
        ids.append(b.delivery(pk, f"p{index}", "bluesky", NOW - timedelta(hours=3), State.PUBLISHED,
                              published=NOW - timedelta(hours=3)))  # fmt: skip
    provider = Provider([], counts={f"bluesky-remote-p{i}-0": Engagement(f"bluesky-remote-p{i}-0", i, 1, 2, 3)
                                    for i in range(250)})  # fmt: skip
    clock = FixedClock(NOW)
    first = collect_engagement(store, "sasvaw-week", "bluesky", provider, clock=clock, owner="test")
    assert (first.outcome, first.snapshots, first.pages) == ("ok", 250, 3)
    assert [len(c) for c in provider.engagement_calls] == [100, 100, 50]
    clock.advance(timedelta(minutes=20))
    assert collect_engagement(store, "sasvaw-week", "bluesky", provider, clock=clock, owner="test").snapshots == 0
    provider.counts["bluesky-remote-p7-0"] = Engagement("bluesky-remote-p7-0", 70, 8, 9, 10)
    clock.advance(timedelta(minutes=40))
    assert collect_engagement(store, "sasvaw-week", "bluesky", provider, clock=clock, owner="test").snapshots == 250
    with store.transaction() as session:
        series = session.execute(
            select(EngagementSnapshot.taken_at, EngagementSnapshot.likes, EngagementSnapshot.quotes)
            .where(EngagementSnapshot.delivery_id == ids[7]).order_by(EngagementSnapshot.taken_at)
        ).all()  # fmt: skip
    assert series == [(NOW, 7, 3), (NOW + timedelta(hours=1), 70, 10)]


def test_engagement_failure_backs_off_and_does_not_touch_deliveries(store: Store) -> None:
    b = StoreBuilder(store)
    pk = b.post("p", NOW - timedelta(hours=2))
    b.delivery(pk, "p", "bluesky", NOW - timedelta(hours=2), State.PUBLISHED, published=NOW - timedelta(hours=2))

    class Failing(Provider):
        def engagement(self, remote_ids: Sequence[str]) -> list[Engagement]:
            raise TransientError("Bluesky answered 502: try again later")

    outcome = collect_engagement(store, "sasvaw-week", "bluesky", Failing([]), clock=FixedClock(NOW), owner="t")
    assert (outcome.outcome, outcome.detail) == ("failed", "Bluesky answered 502: try again later")
    with store.transaction() as session:
        state = session.execute(select(CollectorState)).scalar_one()
    assert state.next_attempt_at == NOW + timedelta(minutes=1) and state.kind == "engagement"
