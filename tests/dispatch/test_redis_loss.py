"""Losing Redis never kills a worker (celery/kombu#582): a real redis-server killed with SIGKILL, left down until
every worker has failed to reconnect to it, and started again on the same socket (once with its data, once
empty); the posting and collection workers and beat are the same processes before and after, and every post
scheduled before and after goes out exactly once. And when a child does die while Redis is gone, the supervisor
restarts it without counting it toward a crash loop."""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from platforms.outbox import read_outbox
from scheduler.db import Store
from scheduler.embedded import ChildProcess, CrashLoop, EmbeddedRedis, Services, worker_process
from scheduler.models import Delivery, State
from scheduler.redis_urls import for_redis_py
from scheduler.sync import schedule_calendars
from tests.support.engine import Engine, calendar_input, campaign, post, redis_dir, started, wait_for
from tests.support.faults import LogMark, wipe_redis_data

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def schedule(engine: Engine, store: Store, prefix: str, count: int, *, first_in: float, spread: float) -> None:
    now = datetime.now(UTC)
    posts = [
        post(f"{prefix}{i:02d}", now + timedelta(seconds=first_in + spread * i / max(1, count - 1)))
        for i in range(count)
    ]
    camp = campaign(engine.directory)
    schedule_calendars(store, [calendar_input(engine.directory / f"{prefix}.yaml", posts, camp=camp)], now, actor="t")


def deliveries(store: Store) -> list[Delivery]:
    with store.transaction() as session:
        return list(session.scalars(select(Delivery)))


def outage(engine: Engine, store: Store, workers: list[ChildProcess], *, flushed: bool) -> None:
    """Kill Redis while the posting worker holds claimed posts not yet due as ETA tasks (unacknowledged messages
    to give back: what ended it with "Unrecoverable error" before), leave it down until every worker has failed
    to reconnect twice, start it again (empty if `flushed`), and wait until every worker is connected again."""
    wait_for(
        lambda: any(d.state == State.CLAIMED and d.due_at > datetime.now(UTC) for d in deliveries(store)),
        timeout=30,
        what="claimed posts waiting in the worker",
    )
    marks = [LogMark(worker) for worker in workers]
    engine.redis.kill()
    if flushed:
        wipe_redis_data(engine.redis)
    wait_for(
        lambda: living(workers) and all(mark.failed_reconnects() >= 2 for mark in marks),
        timeout=30,
        what="every worker failing to reconnect twice (Redis down for seconds)",
    )
    engine.redis.start()
    wait_for(
        lambda: living(workers) and all(mark.reconnected() for mark in marks),
        timeout=30,
        what="every worker reconnected",
    )


def living(workers: list[ChildProcess]) -> bool:
    dead = [worker.name for worker in workers if not worker.alive()]
    assert not dead, f"{', '.join(dead)} died when Redis went: see its log"
    return True


def test_workers_and_beat_outlive_redis_killed_restarted_and_flushed(engine: Engine) -> None:
    store = Store(engine.database_url)
    schedule(engine, store, "before", 30, first_in=2, spread=20)
    env = engine.env()
    publish = worker_process(env, name="publish", queues=("publish",), log_path=engine.directory / "publish.log")
    collect = worker_process(
        env, name="collect", queues=("collect",), concurrency=2, log_path=engine.directory / "collect.log"
    )
    beat = engine.beat()
    with contextmanager(started)([publish, collect, beat]):
        pids = {child.name: child.pid for child in (publish, collect, beat)}
        outage(engine, store, [publish, collect], flushed=False)
        outage(engine, store, [publish, collect], flushed=True)
        schedule(engine, store, "after", 10, first_in=2, spread=3)
        total = len(deliveries(store))
        assert total == 2 * 40
        wait_for(
            lambda: sum(d.state == State.PUBLISHED for d in deliveries(store)) == total,
            timeout=120,
            what=f"all {total} published",
        )
        assert all(child.alive() for child in (publish, collect, beat))
        assert {child.name: child.pid for child in (publish, collect, beat)} == pids
    for child in (publish, collect):
        assert child.log_path is not None
        log = child.log_path.read_text(errors="replace")
        assert "Unrecoverable error" not in log
        assert log.count("Connection to broker lost") >= 2
    copies = Counter(entry["idempotency_key"] for entry in read_outbox(engine.outbox))
    assert copies == Counter({d.idempotency_key: 1 for d in deliveries(store)})


def settled(services: Services, child: ChildProcess, now: float) -> bool:
    """Nothing to restart, and the child running."""
    return services.supervise_once(now=now, max_restarts=3) == [] and child.alive()


def dies_without_redis(redis: EmbeddedRedis) -> ChildProcess:
    """A child that lives as long as Redis answers it (as a worker killed by the broker's loss would)."""
    code = (
        "import sys, time, redis\n"
        f"client = redis.Redis.from_url({for_redis_py(redis.url)!r}, socket_timeout=1)\n"
        "while True:\n"
        "    try:\n"
        "        client.ping()\n"
        "    except redis.RedisError:\n"
        "        sys.exit(1)\n"
        "    time.sleep(0.02)\n"
    )
    return ChildProcess("worker", [sys.executable, "-c", code], {}, None)


def test_a_child_that_dies_with_redis_is_restarted_without_counting_toward_a_crash_loop(tmp_path: Path) -> None:
    """Twelve outages of an external Redis (CAMPAIGN_REDIS_URL), each killing the child, with a crash loop at three
    restarts: none counts. Then the child dies with Redis there, and that one counts."""
    redis = EmbeddedRedis(redis_dir(tmp_path), persistent=False)
    redis.start()
    child = dies_without_redis(redis)
    services = Services(redis=None, children=[child], broker_url=redis.url)
    child.start()
    now = 1000.0
    try:
        for _ in range(12):
            assert services.supervise_once(now=now, max_restarts=3) == []  # alive: seen running
            redis.kill()
            assert child.process is not None
            child.process.wait(10)
            now += 1
            assert services.supervise_once(now=now, max_restarts=3) == []  # noticed with Redis down: waits
            redis.start()
            now += 120  # past any back-off, well within the ten-minute window
            assert services.supervise_once(now=now, max_restarts=3) == ["worker"]
            wait_for(partial(settled, services, child, now), timeout=10, what="the restarted child running")
        assert child.backoff.recent == [] and len(child.backoff.excused) >= 4
        for _ in range(3):  # Redis is there: these are crashes
            child.kill()
            while services.supervise_once(now=now, max_restarts=3) != ["worker"]:
                now += 1
        child.kill()
        with pytest.raises(CrashLoop, match="worker process was restarted 3 times"):
            for _ in range(200):
                now += 1
                services.supervise_once(now=now, max_restarts=3)
    finally:
        child.kill()
        redis.stop()


def test_the_embedded_redis_dying_excuses_the_children_it_took_with_it(tmp_path: Path) -> None:
    """`campaign run`'s own Redis: the supervisor restarts it, then the child that died with it, uncounted."""
    redis = EmbeddedRedis(redis_dir(tmp_path), persistent=False)
    redis.start()
    child = dies_without_redis(redis)
    services = Services(redis=redis, children=[child])
    child.start()
    try:
        now = 1000.0
        assert services.supervise_once(now=now) == []
        redis.kill()
        assert child.process is not None
        child.process.wait(10)
        restarted: list[str] = []
        for _ in range(20):
            now += 1
            restarted += services.supervise_once(now=now)
        assert restarted == ["redis", "worker"]
        assert child.alive() and child.backoff.recent == [] and len(child.backoff.excused) == 1
        assert len(services.redis_backoff.recent) == 1  # Redis's own death does count
    finally:
        child.kill()
        redis.stop()
