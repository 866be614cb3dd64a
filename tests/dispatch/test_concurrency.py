"""Several processes ticking at once over the same store never claim a delivery twice: SQLite (BEGIN
IMMEDIATE, guarded updates) and PostgreSQL (FOR UPDATE SKIP LOCKED), with real processes."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from scheduler import dispatch
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy
from scheduler.models import Delivery, State
from scheduler.sync import schedule_calendars
from tests.support.engine import LONDON, calendar_input, campaign, post
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
POSTS = 60  # x 2 platforms = 120 deliveries


def _ticker(url: str, now_iso: str, queue: multiprocessing.Queue, rounds: Any, claims: Any) -> None:  # type: ignore[type-arg]
    store = Store(url, migrate_schema=False)
    policy = DispatchPolicy(claim_batch=7)
    claimed: list[int] = []
    seen = 0
    while True:
        # Every ticker is connected and has counted the last round's claims: they tick together, so they really
        # race for the store (SQLite's write lock, PostgreSQL's row locks) every round.
        rounds.wait(60)
        result = dispatch.tick(store, datetime.fromisoformat(now_iso), policy, actor="racer")
        claimed.extend(c.delivery_id for c in result.claimed)
        with claims.get_lock():
            claims.value += len(result.claimed)
        rounds.wait(60)  # every ticker has ticked and counted: all read the same total, and stop together
        if claims.value == seen:
            break  # a round in which nobody claimed anything
        seen = claims.value
    store.dispose()
    queue.put(claimed)


def race(url: str, tmp_path: Path, processes: int = 4) -> list[list[int]]:
    store = Store(url)
    posts = [post(f"p{i}", T0) for i in range(POSTS)]
    schedule_calendars(store, [calendar_input(tmp_path / "c.yaml", posts, camp=campaign(tmp_path))], T0, actor="t")
    store.dispose()
    # Fresh processes (not forks of this one, with its threads and connections), made by a forkserver that has
    # imported this module once: each ticker starts in milliseconds instead of importing everything again.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    queue = context.Queue()
    rounds = context.Barrier(processes)
    claims = context.Value("i", 0)
    now = (T0 + timedelta(seconds=1)).isoformat()
    workers = [context.Process(target=_ticker, args=(url, now, queue, rounds, claims)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    return results


def check(results: list[list[int]], url: str) -> None:
    everything = [i for claimed in results for i in claimed]
    assert len(everything) == len(set(everything)), "a delivery was claimed by two tickers"
    assert len(everything) == POSTS * 2
    assert sum(1 for claimed in results if claimed) >= 2, "the tickers did not actually race"
    store = Store(url, migrate_schema=False)
    with store.transaction() as session:
        assert session.scalar(select(func.count()).where(Delivery.state == State.CLAIMED)) == POSTS * 2
    store.dispose()


def test_concurrent_ticks_on_sqlite_never_double_claim(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    check(race(url, tmp_path), url)


def test_concurrent_ticks_on_postgresql_skip_locked_never_double_claim(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    postgres_server.create_database("race")
    url = postgres_server.url("race", driver="psycopg")
    check(race(url, tmp_path), url)
