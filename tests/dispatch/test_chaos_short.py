"""The fault suite (bench/chaos.py), short: two of its scenarios with a few posts each, through its own runner: the
real engine of `campaign run` against the Mastodon test server and the outbox. Workers killed with SIGKILL at
random moments on SQLite; Redis killed three times (once coming back empty) on PostgreSQL. Every delivery must
be on its platform exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import Database, Result, run_scenario
from tests.mastodon_server import MastodonControl
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def check(result: Result) -> None:
    assert result.planned > 0
    assert (result.duplicates, result.missing) == (0, 0), result
    assert result.once == result.planned, result


def test_workers_killed_at_random_moments_on_sqlite(mastodon_server: MastodonControl, tmp_path: Path) -> None:
    result = run_scenario(
        "worker-kills", database=Database("sqlite"), mastodon=mastodon_server, workdir=tmp_path, posts=12, spread=6
    )
    check(result)
    assert result.restarts >= 1, result  # a worker was killed, and the supervisor started it again


def test_redis_killed_and_flushed_on_postgresql(
    mastodon_server: MastodonControl, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    result = run_scenario(
        "redis-loss",
        database=Database("postgresql", postgres_server),
        mastodon=mastodon_server,
        workdir=tmp_path,
        posts=12,
        spread=6,
    )
    check(result)
    assert result.restarts == 0 and "no worker died" in result.notes[-1], result
