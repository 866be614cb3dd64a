"""End to end and under faults: a real Redis, real Celery worker and beat processes (started and killed by
pid), a real SQLite store and the outbox adapter. Every test checks the outbox holds each delivery exactly
once and the store agrees."""

from __future__ import annotations

import ast
import fcntl
import re
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from platforms.outbox import read_outbox
from scheduler.api import pause_and_drain
from scheduler.clock import SystemClock
from scheduler.db import Store
from scheduler.embedded import ChildProcess, Services
from scheduler.models import Delivery, Event, State
from scheduler.sync import schedule_calendars
from tests.support.engine import Engine, calendar_input, campaign, database_held, post, started, wait_for
from tests.support.worker_stacks import wait_until_blocked_recording

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def schedule_burst(
    engine: Engine,
    count: int,
    *,
    first_in: float,
    spread: float,
    thread: tuple[str, ...] = (),
    platforms: tuple[str, ...] = ("bluesky", "mastodon"),
) -> Store:
    store = Store(engine.database_url)
    now = datetime.now(UTC)
    step = spread / max(1, count - 1)
    posts = [
        post(f"p{i:03d}", now + timedelta(seconds=first_in + i * step), thread=thread, platforms=platforms)
        for i in range(count)
    ]
    camp = campaign(engine.directory, grace=timedelta(minutes=30))
    schedule_calendars(store, [calendar_input(engine.directory / "cal.yaml", posts, camp=camp)], now, actor="test")
    return store


def log_size(child: ChildProcess) -> int:
    assert child.log_path is not None
    return child.log_path.stat().st_size


def log_since(child: ChildProcess, offset: int) -> str:
    assert child.log_path is not None
    with child.log_path.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def tick_done_since(worker: ChildProcess, offset: int) -> dict[str, int] | None:
    """What the first tick the worker received after `offset` in its log returned, once it has finished."""
    text = log_since(worker, offset)
    received = re.search(r"Task campaign\.tick\[([0-9a-f-]+)\] received", text)
    if received is None:
        return None
    done = re.search(rf"Task campaign\.tick\[{received[1]}\] succeeded in \S+: (\{{.*\}})", text)
    return ast.literal_eval(done[1]) if done else None


def up_and_ticking(workers: list[ChildProcess], beats: list[ChildProcess]) -> bool:
    """Every worker is consuming (Celery's "ready.") and every beat has sent a tick: what a test schedules after, so
    that how long processes take to start on a loaded machine does not decide what the test exercises."""
    return all(re.search(r"@\S+ ready\.", log_since(w, 0)) for w in workers) and all(
        "Sending due task tick" in log_since(b, 0) for b in beats
    )


def received(worker: ChildProcess, task: str, offset: int = 0) -> int:
    """How many `task` messages the worker has taken from the broker since `offset` in its log."""
    return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] received", log_since(worker, offset)))


def all_deliveries(store: Store) -> list[Delivery]:
    with store.transaction() as session:
        return list(session.scalars(select(Delivery)))


def published_count(store: Store) -> int:
    return sum(1 for d in all_deliveries(store) if d.state == State.PUBLISHED)


def assert_exactly_once(engine: Engine, store: Store) -> None:
    deliveries = all_deliveries(store)
    entries = read_outbox(engine.outbox)
    counts = Counter(e["idempotency_key"] for e in entries)
    duplicates = {k: n for k, n in counts.items() if n > 1}
    assert not duplicates, f"posted more than once: {duplicates}"
    assert set(counts) == {d.idempotency_key for d in deliveries}, "some deliveries never reached the outbox"
    not_published = [(d.post_id, d.platform, d.part, d.state) for d in deliveries if d.state != State.PUBLISHED]
    assert not not_published, f"not published: {not_published}"


def test_end_to_end_every_delivery_reaches_the_outbox_exactly_once_in_order(engine: Engine) -> None:
    store = schedule_burst(engine, 12, first_in=3, spread=3, thread=("second part", "third part"))
    total = len(all_deliveries(store))
    assert total == 12 * 2 * 3
    with contextmanager(started)([engine.worker(), engine.beat()]):
        wait_for(lambda: published_count(store) == total, timeout=60, what=f"{total} deliveries published")
    assert_exactly_once(engine, store)
    entries = read_outbox(engine.outbox)
    by_post: dict[tuple[str, str], list[int]] = {}
    for entry in entries:
        by_post.setdefault((entry["post_id"], entry["platform"]), []).append(entry["part"])
    assert all(parts == [0, 1, 2] for parts in by_post.values()), "thread parts out of order"
    for d in all_deliveries(store):
        assert d.dry_run and d.remote_url and d.published_at is not None
        if d.part == 0:
            assert d.published_at >= d.due_at  # never early
    with store.transaction() as session:
        chain = session.scalars(select(Event.to_state).where(Event.delivery_id == 1).order_by(Event.id)).all()
    assert chain == [State.SCHEDULED, State.CLAIMED, State.PUBLISHING, State.PUBLISHED]


def test_worker_killed_between_claim_and_publish_loses_nothing(engine: Engine) -> None:
    Store(engine.database_url)  # the schema, before any process uses the database
    # The claim window covers the whole burst from the moment it is scheduled, so one tick claims all ten about
    # four seconds before the first is due: room for a loaded machine to deliver the tasks before the kill. Their
    # leases run out three seconds after their time (the replacement is up by then: it starts at the kill).
    doomed = {"CAMPAIGN_CLAIM_WINDOW_SECONDS": "6", "CAMPAIGN_LEASE_SECONDS": "3"}
    worker, beat = engine.worker("doomed", **doomed), engine.beat()
    with contextmanager(started)([worker, beat]):
        wait_for(lambda: up_and_ticking([worker], [beat]), timeout=60, what="the worker and beat up")
        store = schedule_burst(engine, 10, first_in=4, spread=1, platforms=("mastodon",))
        # The worker now holds ETA tasks for claimed deliveries that are not due yet: all ten taken from the
        # broker (a task still queued there would go to the replacement, which would publish it without the
        # lease running out, and this test would prove nothing about that delivery).
        wait_for(
            lambda: (
                sum(d.state == State.CLAIMED for d in all_deliveries(store)) == 10
                and received(worker, "campaign.publish") == 10
            ),
            timeout=30,
            what="all ten claimed and their tasks held by the worker",
        )
        worker.kill()
        assert not read_outbox(engine.outbox)
        replacement = engine.worker("replacement")
        with contextmanager(started)([replacement]):
            wait_for(lambda: published_count(store) == 10, timeout=60, what="ten published after the kill")
    assert_exactly_once(engine, store)
    with store.transaction() as session:
        rearmed = session.scalars(select(Event).where(Event.action == "lease-expired")).all()
    assert len(rearmed) == 10


def test_killed_mid_publish_after_the_write_retry_finds_the_post_without_reposting(engine: Engine) -> None:
    """The hard case, three times over at once: the platform stored each post, the worker died before recording
    any of them. The outbox's file lock and SQLite's write lock, both held by the test, stop the worker's three
    publish tasks at exactly that point (proven from its thread stacks); then it is killed with SIGKILL."""
    store = Store(engine.database_url)
    camp = campaign(engine.directory)
    at = datetime.now(UTC) + timedelta(seconds=1)
    posts = [post(f"victim{n}", at, platforms=("mastodon",)) for n in range(3)]
    schedule_calendars(
        store, [calendar_input(engine.directory / "cal.yaml", posts, camp=camp)], datetime.now(UTC), actor="test"
    )
    fast = {"CAMPAIGN_PUBLISH_LEASE_SECONDS": "3", "CAMPAIGN_LEASE_SECONDS": "3"}
    with contextmanager(started)([engine.beat(**fast)]):
        worker = engine.worker("victim", concurrency=3, **fast)
        with open(engine.outbox.with_name(engine.outbox.name + ".lock"), "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            worker.start()
            try:

                def three_publishing() -> list[Delivery] | None:
                    found = [d for d in all_deliveries(store) if d.state == State.PUBLISHING]
                    return found if len(found) == 3 else None

                victims = wait_for(three_publishing, timeout=30, what="the three deliveries being published")
                assert sorted(d.post_id for d in victims) == ["victim0", "victim1", "victim2"]
                with database_held(engine) as state_of:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)  # the adapter writes their lines ...
                    keys = {d.idempotency_key for d in victims}
                    wait_for(
                        lambda: keys <= {e["idempotency_key"] for e in read_outbox(engine.outbox)},
                        timeout=30,
                        what="the adapter's three writes",
                    )
                    # ... and each task is now blocked recording its outcome: proven from the stacks, killed there
                    wait_until_blocked_recording(worker, deliveries=3)
                    worker.kill()
                    assert [state_of(d.id) for d in victims] == [State.PUBLISHING] * 3
            finally:
                worker.kill()
        with contextmanager(started)([engine.worker("survivor", **fast)]):
            wait_for(lambda: published_count(store) == 3, timeout=60, what="the victims published after the kill")
    assert_exactly_once(engine, store)
    with store.transaction() as session:
        found = session.scalars(
            select(Event.delivery_id).where(Event.reason.like("found the earlier attempt's post%"))
        ).all()
    assert sorted(found) == sorted(d.id for d in victims)


def test_two_beats_at_once_never_claim_the_same_delivery_twice(engine: Engine) -> None:
    Store(engine.database_url)  # the schema, before any process uses the database
    workers, beats = [engine.worker("w1"), engine.worker("w2")], [engine.beat("beat1"), engine.beat("beat2")]
    with contextmanager(started)([*workers, *beats]):
        # Both beats are sending ticks before the burst is scheduled, so they tick side by side for all of it
        # (however long a loaded machine takes to start them).
        wait_for(lambda: up_and_ticking(workers, beats), timeout=60, what="both workers and both beats up")
        offsets = {beat.name: log_size(beat) for beat in beats}
        store = schedule_burst(engine, 30, first_in=3, spread=4)
        wait_for(lambda: published_count(store) == 60, timeout=60, what="60 published")
        ticks_sent = {
            beat.name: log_since(beat, offsets[beat.name]).count("Scheduler: Sending due task tick") for beat in beats
        }
    assert_exactly_once(engine, store)
    with store.transaction() as session:
        claims = Counter(session.scalars(select(Event.delivery_id).where(Event.action == "claim")).all())
    assert set(claims.values()) == {1}, "a delivery was claimed twice"
    # The burst lasts seven seconds at least (the last post is due then, and none goes out early); at a tick every
    # half second, each beat sends about fourteen in that time.
    assert all(sent >= 4 for sent in ticks_sent.values()), f"both beats should send ticks throughout: {ticks_sent}"


def test_redis_killed_and_restarted_during_a_burst_loses_nothing(engine: Engine) -> None:
    """Supervised as `campaign run` supervises them (docker-compose: `restart: unless-stopped`): kombu's Redis
    transport sometimes ends the worker with "Unrecoverable error" when the broker vanishes (celery/kombu
    #582), so the supervisor restarts it, and the leases in the database re-arm what the lost tasks held."""
    store = schedule_burst(engine, 40, first_in=2, spread=6)
    worker, beat = engine.worker(), engine.beat()
    services = Services(redis=None, children=[worker, beat])
    for child in services.children:
        child.start()
    try:
        wait_for(lambda: published_count(store) >= 10, timeout=30, what="the burst under way")
        worker_log, beat_log = log_size(worker), log_size(beat)
        engine.redis.kill()
        # Redis stays down until both have met the outage: the worker has lost its broker connection (or died of
        # it), and beat has failed to send a tick.
        wait_for(
            lambda: (
                ("Connection to broker lost" in log_since(worker, worker_log) or not worker.alive())
                and "Couldn't apply scheduled task tick" in log_since(beat, beat_log)
            ),
            timeout=30,
            what="the worker and beat to meet the outage",
        )
        engine.redis.start()
        wait_for(
            lambda: not services.supervise_once() and published_count(store) == 80,
            timeout=90,
            what="all 80 published after the restart",
        )
    finally:
        for child in services.children:
            child.kill()
    assert_exactly_once(engine, store)


def test_nothing_goes_out_after_pause_returns(engine: Engine) -> None:
    store = schedule_burst(engine, 40, first_in=2, spread=6)
    claim_window = timedelta(seconds=float(engine.env()["CAMPAIGN_CLAIM_WINDOW_SECONDS"]))
    worker = engine.worker()
    with contextmanager(started)([worker, engine.beat()]):
        wait_for(lambda: published_count(store) >= 10, timeout=30, what="the burst under way")
        still_busy = pause_and_drain(store, SystemClock(), reason="breaking news", actor="test")
        returned_at = datetime.now(UTC)
        assert still_busy == 0
        published_at_pause = published_count(store)
        assert published_at_pause < 80
        # The rest of the burst falls due while paused: the publish task of every claimed delivery runs and is
        # held ...
        wait_for(
            lambda: not [d for d in all_deliveries(store) if d.state in (State.CLAIMED, State.PUBLISHING)],
            timeout=30,
            what="every claimed delivery's publish task run and held",
        )
        # ... and once all the rest is within the claim window, a tick runs and claims nothing.
        last_due = max(d.due_at for d in all_deliveries(store) if d.state != State.PUBLISHED)
        wait_for(
            lambda: datetime.now(UTC) >= last_due - claim_window, timeout=30, what="the rest within the claim window"
        )
        worker_log = log_size(worker)
        tick = wait_for(lambda: tick_done_since(worker, worker_log), timeout=30, what="a tick after that")
        assert tick["claimed"] == 0, tick
        assert published_count(store) == published_at_pause
        late = [e for e in read_outbox(engine.outbox) if datetime.fromisoformat(e["written_at"]) > returned_at]
        assert not late, f"{len(late)} posts went out after pause returned"
        from scheduler import dispatch

        dispatch.resume(store, datetime.now(UTC), actor="test")
        wait_for(lambda: published_count(store) == 80, timeout=60, what="the rest after resume")
    assert_exactly_once(engine, store)
