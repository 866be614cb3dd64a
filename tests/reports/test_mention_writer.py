"""One writer over several transactions (a collector's run, a backfill): re-reads of what it stored are counted
as duplicates without being written again, its memory of them is bounded, and the accounts of each week (in the
campaign's zone) are the ones the report counts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import scheduler.collection.mentions as mentions_module
from scheduler.collection import MentionPolicy, MentionWriter, hash_key, keyed_int
from scheduler.collection_models import MentionRecord
from scheduler.db import Store
from scheduler.reports import IsoWeek, build_weekly_report
from tests.reports.builders import mention, policy

MONDAY = datetime(2027, 2, 1, 9, tzinfo=UTC)  # 2027-W05 (London is on UTC in February)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'c.db'}")


def rows(store: Store) -> list[tuple[str, str | None]]:
    with store.transaction() as session:
        found = session.execute(select(MentionRecord.uri_key, MentionRecord.author_handle))
        return sorted(((uri_key, handle) for uri_key, handle in found), key=str)


def test_a_writer_counts_re_reads_of_what_it_stored_as_duplicates(store: Store) -> None:
    writer = MentionWriter(store, policy(keep_handles=True))
    page = [mention(f"at://did:plc:a/app.bsky.feed.post/{i}", "amy", MONDAY + timedelta(hours=i)) for i in range(3)]
    with store.transaction() as session:
        first = writer.write(session, page, MONDAY)
    stored = rows(store)
    renamed = mention("at://did:plc:a/app.bsky.feed.post/0", "amy-new", MONDAY, seen_on="https://other.test")
    with store.transaction() as session:
        again = writer.write(session, [*page, renamed, mention("at://did:plc:b/app.bsky.feed.post/9", "bo", MONDAY)],
                             MONDAY)  # fmt: skip
    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.fetched, again.stored, again.duplicates, again.ignored) == (5, 1, 4, 0)
    assert set(stored) < set(rows(store))  # nothing stored before changed: the handle kept is the first one
    # A new writer (the next run) finds them in the store instead, with the same tally.
    with store.transaction() as session:
        later = MentionWriter(store, policy()).write(session, page, MONDAY)
    assert (later.stored, later.duplicates) == (0, 3)


class Failed(Exception):
    pass


def test_a_writer_remembers_only_what_was_committed(store: Store) -> None:
    """A platform's sources share one writer: a page whose transaction failed is stored when read again."""
    writer = MentionWriter(store, policy())
    page = [mention(f"at://did:plc:a/app.bsky.feed.post/{i}", "amy", MONDAY + timedelta(days=i)) for i in range(2)]
    with pytest.raises(Failed), store.transaction() as session:
        writer.write(session, page, MONDAY)
        raise Failed
    with store.transaction() as session:
        again = writer.write(session, page, MONDAY)
    assert (again.stored, again.duplicates) == (2, 0)
    database = sqlite3.connect(str(store.sqlite_path))
    authors = database.execute("SELECT first_mention_at FROM mention_authors").fetchall()
    weeks = database.execute("SELECT count(*) FROM mention_author_weeks").fetchone()
    database.close()
    assert authors == [("2027-02-01 09:00:00.000000",)] and weeks == (1,)


def test_a_writer_forgets_past_its_bound_and_the_store_still_refuses_twice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mentions_module, "REMEMBERED_URIS", 4)
    writer = MentionWriter(store, policy())
    first, second = ([mention(f"at://did:plc:a/app.bsky.feed.post/{b}{i}", "amy", MONDAY) for i in range(3)]
                     for b in "xy")  # fmt: skip
    results = []
    for batch in (first, second, first):  # the second batch pushes the first out of the writer's memory
        with store.transaction() as session:
            results.append(writer.write(session, batch, MONDAY))
    assert [(r.stored, r.duplicates) for r in results] == [(3, 0), (3, 0), (0, 3)]
    assert len(rows(store)) == 6


def test_accounts_per_week_are_counted_from_the_mentions(store: Store) -> None:
    week = IsoWeek.parse("2027-W05")
    writer = MentionWriter(store, policy())
    with store.transaction() as session:
        writer.write(session, [
            mention("at://did:plc:a/app.bsky.feed.post/1", "amy", MONDAY - timedelta(days=3)),  # the week before
            mention("at://did:plc:a/app.bsky.feed.post/2", "amy", MONDAY),
            mention("at://did:plc:a/app.bsky.feed.post/3", "amy", MONDAY + timedelta(days=1)),
            mention("https://m.test/users/bo/statuses/4", "bo", MONDAY + timedelta(days=6, hours=14),
                    platform="mastodon", seen_on="https://m.test"),  # Sunday 23:00 in London: still this week
            mention("at://did:plc:c/app.bsky.feed.post/5", "cy", MONDAY + timedelta(days=7)),  # the week after
        ], MONDAY)  # fmt: skip
    report = build_weekly_report(store, "sasvaw-week", week, organisation_accounts=["napac.org.uk"], now=MONDAY)
    assert (report.mentions.total, report.mentions.accounts, report.mentions.new_accounts) == (3, 2, 1)
    assert (report.previous.mentions.accounts, report.previous.mentions.new_accounts) == (1, 1)


@pytest.mark.parametrize(
    "zone", ["Europe/London", "Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe", "Pacific/Chatham"]
)
def test_each_mentions_week_is_its_monday_in_the_campaigns_zone_across_clock_changes(store: Store, zone: str) -> None:
    """Weeks are worked out per UTC hour, not per mention: zones half an hour (or 45 minutes) off UTC, and one
    whose clocks move by half an hour, get the same weeks as each mention's own local date gives."""
    place = ZoneInfo(zone)
    policy = MentionPolicy.build("c", ("#ItsNotOK",), zone=zone)
    writer = MentionWriter(store, policy)
    expected = set()
    for start in (
        datetime(2027, 3, 20, tzinfo=UTC),
        datetime(2027, 9, 25, tzinfo=UTC),
        datetime(2027, 10, 25, tzinfo=UTC),
    ):
        batch = []
        for i in range(16 * 24 * 4):  # every 15 minutes (and 7 seconds) for 16 days, one author an hour
            at = start + timedelta(minutes=15 * i, seconds=7 * (i % 3))
            batch.append(mention(f"at://x/app.bsky.feed.post/{start:%m}-{i}", f"a{i // 4 % 50}", at))
            local = at.astimezone(place).date()
            expected.add((f"did:plc:a{i // 4 % 50}", local - timedelta(days=local.weekday())))
        with store.transaction() as session:
            writer.write(session, batch, start)
    key = hash_key(store)
    by_key = {keyed_int(key, f"bluesky:did:plc:a{n}"): f"did:plc:a{n}" for n in range(50)}
    database = sqlite3.connect(str(store.sqlite_path))
    weeks = database.execute("SELECT week_start, author_key FROM mention_author_weeks").fetchall()
    stored = {(by_key[author], date.fromisoformat(week)) for week, author in weeks}
    database.close()
    assert stored == expected
