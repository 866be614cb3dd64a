"""Migration 0002 matches the models on SQLite and PostgreSQL, and the storage path and the report give the
same answers on PostgreSQL as on SQLite (the driver-level insert, ON CONFLICT and LEAST on PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import scheduler.collection_models  # noqa: F401  (the collection tables on Base.metadata)
from scheduler.collection import CollectorKey, claim_collector, store_mentions
from scheduler.db import Store
from scheduler.models import Base
from scheduler.reports import IsoWeek, build_weekly_report
from tests.reports.builders import ORGS, known_week, mention, policy
from tests.support.postgres import PostgresServer


def schema_differences(store: Store) -> list[object]:
    with store.engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    assert schema_differences(Store(f"sqlite:///{tmp_path / 'c.db'}")) == []


@pytest.mark.integration
def test_postgresql_schema_storage_and_report(postgres_server: PostgresServer, tmp_path: Path) -> None:
    name = f"reports_{secrets.token_hex(4)}"
    postgres_server.create_database(name)
    store = Store(postgres_server.url(name, driver="psycopg"))
    try:
        assert schema_differences(store) == []
        known_week(store)
        sqlite_store = known_week(Store(f"sqlite:///{tmp_path / 'c.db'}"))
        week = IsoWeek.parse("2027-W05")
        now = datetime(2027, 2, 8, 7, tzinfo=UTC)
        on_postgres = build_weekly_report(store, "sasvaw-week", week, organisation_accounts=ORGS, now=now)
        on_sqlite = build_weekly_report(sqlite_store, "sasvaw-week", week, organisation_accounts=ORGS, now=now)
        assert on_postgres == on_sqlite
        assert on_postgres.mentions.total == 6 and on_postgres.mentions.new_accounts == 3

        # Duplicates counted from the driver's rowcount; first mention folded with LEAST.
        at = datetime(2027, 3, 1, tzinfo=UTC)
        batch = [mention(f"at://did:plc:z/app.bsky.feed.post/{i}", "zed", at + timedelta(hours=i)) for i in range(5)]
        first = store_mentions(store, policy(), batch)
        again = store_mentions(store, policy(), [*batch, mention("at://did:plc:z/app.bsky.feed.post/x", "zed",
                                                                at - timedelta(days=3))])  # fmt: skip
        assert (first.stored, first.duplicates, again.stored, again.duplicates) == (5, 0, 1, 5)
        with store.engine.connect() as connection:
            earliest = connection.exec_driver_sql(
                "SELECT first_mention_at FROM mention_authors WHERE author_key = "
                "(SELECT author_key FROM mentions WHERE created_at = %s)",
                (at,),
            ).scalar_one()
        assert earliest == at - timedelta(days=3)

        # Keeping handles fills one in on a mention stored without it, and never replaces one (the driver-level
        # UPDATE ... author_handle IS NULL), without counting it as new.
        kept = store_mentions(store, policy(keep_handles=True), batch[:2])
        renamed = mention("at://did:plc:z/app.bsky.feed.post/0", "zed-renamed", at)
        assert (kept.stored, kept.duplicates) == (0, 2)
        assert store_mentions(store, policy(keep_handles=True), [renamed]).duplicates == 1
        with store.engine.connect() as connection:
            named = connection.exec_driver_sql(
                "SELECT author_handle, count(*) FROM mentions WHERE author_handle LIKE 'zed%%' GROUP BY 1"
            ).all()
        assert named == [("zed.bsky.social", 2)]

        key = CollectorKey("sasvaw-week", "mentions", "bluesky", "https://pds.test")
        assert claim_collector(store, key, at, owner="a", lease=timedelta(minutes=5)).granted
        assert not claim_collector(store, key, at, owner="b", lease=timedelta(minutes=5)).granted
    finally:
        store.dispose()
        postgres_server.drop_database(name)
