"""The fault suite: the real engine of `campaign run` (scheduler/embedded.py's start_engine: a private Redis, Celery
beat, the posting and collection workers, supervised as `campaign run` supervises them) posting a calendar to the
Mastodon test server (tests/mastodon_server, its own process) and to the dry-run outbox (Bluesky), while each
scenario does its worst. On SQLite and on a private PostgreSQL (tests/support/postgres.py). Loopback only.

    python -m bench.chaos [--posts 200] [--spread 30] [--scenarios all|NAME,...] [--database sqlite|postgresql|both]

Scenarios:
  worker-kills       kill -9 of a worker (mostly the posting one, sometimes beat or the collection worker) every
                     2 to 5 s; the supervisor restarts it
  slow-server-kills  every Mastodon write takes 1 to 2.5 s, before or after storing the status; the posting worker
                     is killed while a Mastodon post is under way
  redis-loss         Redis killed three times while posts fall due, left down 1 to 3 s, restarted by the supervisor
                     (the third time empty): the workers must reconnect by themselves (their restarts are counted)
  tree-kill          Redis, beat and both workers killed at once, twice, and `campaign run` started again
  two-schedulers     two whole engines (each its own Redis) on one database
  platform-faults    one Mastodon write in five fails: 503, 429, 502 after storing, dropped before or after storing,
                     an answer after the client's timeout, and a late write that holds no lock on its key
  burst              every post due at the same instant; the Mastodon account's limits (60 posts per 5 minutes)
                     already full, freeing over the next half minute: the posts wait for their turns

Each post goes to the outbox; one in N also to Mastodon, at most 35 per scenario: our limiter admits 60 Mastodon
posts per 5 minutes, retries included, and a scenario lasts about a minute. Every tenth outbox-only post is a
two-part thread. For each scenario: deliveries planned, published exactly once (one copy where it was sent),
duplicates (extra copies, whether or not the engine deleted them afterwards), missing (no copy) and the latest
first copy relative to its planned time. Goal: 0 duplicates and 0 missing everywhere."""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select

from platforms.mastodon import MastodonAdapter
from platforms.outbox import read_outbox
from scheduler.db import Store
from scheduler.embedded import ChildProcess, Engine, start_engine
from scheduler.models import FINAL_STATES, Delivery, State
from scheduler.ratelimit import RateLimiter
from scheduler.settings import Settings, load_settings
from scheduler.sync import schedule_calendars
from tests.mastodon_server import MastodonControl, MastodonServerProcess, TestAccount
from tests.support.engine import calendar_input, campaign, post
from tests.support.faults import LogMark, wipe_redis_data
from tests.support.postgres import PostgresServer, private_postgres

MASTODON_POSTS = 35
MAX_RESTARTS = 1000  # the scenarios kill on purpose: the crash-loop guard would end them
STATUSES = "/api/v1/statuses"


@dataclass
class Result:
    scenario: str
    database: str
    planned: int = 0
    once: int = 0
    duplicates: int = 0
    deleted: int = 0  # of the duplicates, copies the engine deleted again
    missing: int = 0
    latest: float | None = None  # seconds after plan of the latest first copy
    restarts: int = 0  # worker and beat processes the supervisor started again
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.duplicates == 0 and self.missing == 0 and self.planned > 0


@dataclass
class Run:
    """One scenario under way: its settings, store, engines and the Mastodon account it posts to."""

    name: str
    settings: Settings
    store: Store
    mastodon: MastodonControl
    account: TestAccount
    rng: random.Random
    posts: int
    spread: float
    engines: list[Engine] = field(default_factory=list)
    retired: list[Engine] = field(default_factory=list)
    last_due: float = 0.0  # monotonic instant the last post falls due
    notes: list[str] = field(default_factory=list)
    afterwards: list[Callable[[], None]] = field(default_factory=list)  # once everything has settled

    def start(self, settings: Settings | None = None, *, ready: bool = True) -> Engine:
        """Start an engine, and (if `ready`) wait until both its workers are connected to Redis."""
        engine = start_engine(settings or self.settings, concurrency=4)
        self.engines.append(engine)
        workers = [self.child(name, engine) for name in ("publish", "collect")]
        if ready and not self.wait_until(partial(all_ready, workers), timeout=60):
            raise RuntimeError(f"the workers of {engine.logs} did not start within 60 s")
        return engine

    def stop(self) -> None:
        for engine in self.engines:
            engine.services.stop()

    def supervise(self) -> None:
        for engine in self.engines:
            engine.services.supervise_once(max_restarts=MAX_RESTARTS)

    def wait(self, seconds: float, *, supervised: bool = True) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if supervised:
                self.supervise()
            time.sleep(0.1)

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            self.supervise()
            time.sleep(0.1)
        return False

    def still_due(self) -> bool:
        """Posts still to fall due (give or take the claim window)."""
        return time.monotonic() < self.last_due

    def child(self, name: str, engine: Engine | None = None) -> ChildProcess:
        engine = engine or self.engines[0]
        return next(child for child in engine.services.children if child.name == name)

    def deliveries(self) -> list[Delivery]:
        with self.store.transaction() as session:
            return list(session.scalars(select(Delivery)))

    def restarts(self) -> int:
        return sum(child.restarts for engine in self.engines + self.retired for child in engine.services.children)


def settings_for(directory: Path, database_url: str, account: TestAccount, outbox: Path, **tuned: str) -> Settings:
    environ = {
        "CAMPAIGN_DATA_DIR": str(directory),
        "CAMPAIGN_DATABASE_URL": database_url,
        "CAMPAIGN_OUTBOX": str(outbox),
        "CAMPAIGN_TICK_SECONDS": "0.5",
        "CAMPAIGN_CLAIM_WINDOW_SECONDS": "3",
        "CAMPAIGN_LEASE_SECONDS": "6",
        "CAMPAIGN_PUBLISH_LEASE_SECONDS": "6",
        "CAMPAIGN_SETTLE_SECONDS": "5",  # past a late write (12 s) once the client gave up (10 s)
        "CAMPAIGN_COLLECT_SECONDS": "3600",
        "CAMPAIGN_ENGAGEMENT_SECONDS": "3600",
        "MASTODON_API_BASE_URL": account.base_url,
        "MASTODON_ACCESS_TOKEN": account.token,
        "BLUESKY_HANDLE": "",
        "BLUESKY_APP_PASSWORD": "",
        **tuned,
    }
    directory.mkdir(parents=True, exist_ok=True)
    return load_settings(environ, start=directory)


def schedule(run: Run, *, first: datetime | None = None, spread: float | None = None) -> None:
    """The run's posts, from `first` (in 3 s) over `spread` seconds (the run's; all at once when 0)."""
    count = run.posts
    spread = run.spread if spread is None else spread
    now = datetime.now(UTC)
    first = first or now + timedelta(seconds=3)
    every = max(1, -(-count // MASTODON_POSTS))
    posts = []
    for i in range(count):
        at = first + timedelta(seconds=spread * i / max(1, count - 1))
        to_mastodon = i % every == 0 and i // every < MASTODON_POSTS
        platforms = ("bluesky", "mastodon") if to_mastodon else ("bluesky",)
        thread = ("and a second part",) if not to_mastodon and i % 10 == 5 else ()
        posts.append(post(f"p{i:04d}", at, f"Post {i} of the chaos suite #ActOnIICSA", platforms=platforms,
                          thread=thread))  # fmt: skip
    directory = run.settings.data_dir
    camp = campaign(directory)
    schedule_calendars(run.store, [calendar_input(directory / "chaos.yaml", posts, camp=camp)], now, actor="chaos")
    run.last_due = time.monotonic() + (first - now).total_seconds() + spread


# ------------------------------------------------------------------------------------------------ the scenarios


def worker_kills(run: Run) -> None:
    schedule(run)
    kills = 0
    while run.still_due():
        run.wait(run.rng.uniform(2, 5))
        victim = run.child(run.rng.choice(["publish", "publish", "publish", "beat", "collect"]))
        if victim.alive():
            victim.kill()
            kills += 1
    run.notes.append(f"{kills} kills")


def slow_server_kills(run: Run) -> None:
    for _ in range(3 * MASTODON_POSTS):
        action = run.rng.choice(["delay", "delay_after"])
        run.mastodon.inject_fault(STATUSES, action, method="POST", delay=run.rng.uniform(1.0, 2.5))
    schedule(run)
    kills = 0
    while run.still_due():
        under_way = run.wait_until(
            lambda: any(d.platform == "mastodon" and d.state == State.PUBLISHING for d in run.deliveries()), timeout=10
        )
        worker = run.child("publish")
        if under_way and worker.alive():
            run.wait(run.rng.uniform(0.0, 1.0))
            worker.kill()
            kills += 1
        run.wait(run.rng.uniform(2, 4))
    run.notes.append(f"{kills} kills mid-call")


def redis_loss(run: Run) -> None:
    engine = run.engines[0]
    redis = engine.services.redis
    assert redis is not None
    workers = [run.child("publish"), run.child("collect")]
    pids = {child.name: child.pid for child in engine.services.children}
    schedule(run)
    met = 0
    for flushed in (False, False, True):
        run.wait(1 + run.rng.uniform(0.1, 0.2) * run.spread)
        marks = [LogMark(worker) for worker in workers]
        redis.kill()
        if flushed:
            wipe_redis_data(redis)
        run.wait(run.rng.uniform(1, 3), supervised=False)  # down a while before the supervisor sees it
        # Each outage meets connected workers: the next comes once both are back.
        met += run.wait_until(partial(all_reconnected, marks), timeout=40)
    same = {child.name: child.pid for child in engine.services.children} == pids
    run.notes.append(
        f"3 Redis losses (1 flushed), both workers connected again after {met}; "
        + ("no worker died" if same else "A WORKER DIED")
    )


def all_ready(workers: list[ChildProcess]) -> bool:
    return all(worker.log_path is not None and " ready." in worker.log_path.read_text() for worker in workers)


def all_reconnected(marks: list[LogMark]) -> bool:
    return all(mark.reconnected() for mark in marks)


def tree_kill(run: Run) -> None:
    schedule(run)
    for _ in range(2):
        run.wait(run.rng.uniform(4, 9))
        engine = run.engines.pop()
        for child in engine.services.children:
            child.kill()
        if engine.services.redis is not None:
            engine.services.redis.kill()
        if engine.services.lock is not None:
            engine.services.lock.release()  # what the system does for a `campaign run` killed with it
        run.retired.append(engine)
        run.wait(run.rng.uniform(0.5, 3))
        run.start(ready=False)
    run.notes.append("2 whole-tree kills")


def two_schedulers(run: Run) -> None:
    second = run.settings.data_dir.with_name(run.settings.data_dir.name + "-second")
    environ = run.settings.to_env() | {"CAMPAIGN_DATA_DIR": str(second)}
    second.mkdir(parents=True, exist_ok=True)
    run.start(load_settings(environ, start=second))
    schedule(run)
    run.notes.append("two engines")


def platform_faults(run: Run) -> None:
    late_write = {"action": "write_late", "delay": 12.0}  # the client gives up after 10 s
    kinds: list[dict[str, Any]] = [
        {"action": "error", "status": 503},
        {"action": "error", "status": 429, "retry_after": 2},
        {"action": "error_after", "status": 502},
        {"action": "drop_before"},
        {"action": "drop_after"},
        {"action": "delay_after", "delay": 11.0},
        late_write,
        late_write,
    ]
    passes = 0
    injected: dict[int, str] = {}  # fault rule id -> its kind
    for _ in range(3 * MASTODON_POSTS):  # a queue of rules, one per write to come: a fault, or passes
        if run.rng.random() >= 0.2:
            passes += 1
            continue
        if passes:
            run.mastodon.inject_fault(STATUSES, "delay", method="POST", count=passes, delay=0.0)
            passes = 0
        kind = run.rng.choice(kinds) if injected else late_write  # the first fault is always a late write
        rule = run.mastodon.inject_fault(STATUSES, method="POST", **kind)
        injected[rule["id"]] = f"{kind['action']} {kind.get('status', '')}".strip()
    schedule(run)

    def fired() -> None:
        unfired = {rule["id"] for rule in run.mastodon.pending_faults()}
        faulted = Counter(kind for rule_id, kind in injected.items() if rule_id not in unfired)
        writes = len(run.mastodon.request_log(path=STATUSES, method="POST"))
        run.notes.append(f"{faulted.total()} of {writes} Mastodon writes faulted: " + ", ".join(
            f"{count} {kind}" for kind, count in sorted(faulted.items())))  # fmt: skip

    run.afterwards.append(fired)


def burst(run: Run) -> None:
    """The account posted 60 times in the 5 minutes before the burst, the first of them 5 minutes less 5 s
    before it and the rest each half a second later: its window frees a place every half second from 5 s after
    the burst on, and the limiter holds every Mastodon post of the burst until its turn."""
    due = datetime.now(UTC) + timedelta(seconds=8)
    redis = run.engines[0].services.redis
    assert redis is not None
    limiter = RateLimiter(redis.url)
    account = MastodonAdapter(run.account.base_url, run.account.token).account
    try:
        for i in range(60):
            at = due - timedelta(minutes=5) + timedelta(seconds=5 + i / 2)
            limiter.acquire("mastodon", account, now=at, ticket=10**9 + i, planned=at, deadline=at + timedelta(hours=1))
    finally:
        limiter.close()
    schedule(run, first=due, spread=0)
    run.notes.append("the account's window full")


SCENARIOS: dict[str, Callable[[Run], None]] = {
    "worker-kills": worker_kills,
    "slow-server-kills": slow_server_kills,
    "redis-loss": redis_loss,
    "tree-kill": tree_kill,
    "two-schedulers": two_schedulers,
    "platform-faults": platform_faults,
    "burst": burst,
}


# ------------------------------------------------------------------------------------------------ the runner


@dataclass
class Database:
    """SQLite (a file per scenario) or a database per scenario on a private PostgreSQL server."""

    name: str
    server: PostgresServer | None = None

    def url(self, directory: Path, label: str) -> str:
        if self.server is None:
            return f"sqlite:///{directory / 'campaign.db'}"
        self.server.create_database(label)
        return self.server.url(label, driver="psycopg")

    def drop(self, label: str) -> None:
        if self.server is not None:
            self.server.drop_database(label)


def run_scenario(
    name: str,
    *,
    database: Database,
    mastodon: MastodonControl,
    workdir: Path,
    posts: int = 200,
    spread: float = 30.0,
    seed: int = 16,
    deadline: float = 150.0,
) -> Result:
    """Run one scenario on a fresh store, Redis and Mastodon account, wait (at most `deadline` seconds after the
    last post is due) until every delivery has settled, stop everything and count the copies."""
    started = time.monotonic()
    label = f"chaos_{name.replace('-', '_')}_{database.name}"
    directory = workdir / label
    mastodon.wait_for_late_writes(timeout=60)
    mastodon.reset()
    account = mastodon.create_account("campaign")
    url = database.url(directory, label)
    settings = settings_for(directory / "data", url, account, directory / "outbox.jsonl")
    rng = random.Random(f"{seed}-{name}-{database.name}")
    run = Run(name, settings, Store(url), mastodon, account, rng, posts, spread)
    result = Result(name, database.name)
    with ExitStack() as stack:
        stack.callback(run.store.dispose)
        stack.callback(run.stop)
        run.start()
        SCENARIOS[name](run)
        end = run.last_due + deadline
        settled = run.wait_until(lambda: all(d.state in FINAL_STATES for d in run.deliveries()), end - time.monotonic())
        if not settled:
            result.notes.append(f"not settled {deadline:.0f} s after the last was due")
        for step in run.afterwards:
            step()
        rows = run.deliveries()
        result.restarts = run.restarts()
    mastodon.wait_for_late_writes(timeout=60)
    tally(result, rows, read_outbox(directory / "outbox.jsonl"), mastodon.statuses("campaign", include_deleted=True))
    database.drop(label)
    result.notes += run.notes
    result.seconds = time.monotonic() - started
    return result


def tally(result: Result, rows: list[Delivery], outbox: list[dict[str, Any]], statuses: list[dict[str, Any]]) -> None:
    """Count each delivery's copies where it was sent: outbox lines (Bluesky) and statuses (Mastodon) carrying
    its idempotency key. A copy with a key no delivery has is a duplicate too."""
    copies: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)  # key -> (written at, deleted since)
    for entry in outbox:
        copies[entry["idempotency_key"]].append((datetime.fromisoformat(entry["written_at"]), False))
    for status in statuses:
        if status.get("idempotency_key"):
            copies[status["idempotency_key"]].append((datetime.fromisoformat(status["created_at"]), status["deleted"]))
    keys = {row.idempotency_key for row in rows}
    result.planned = len(rows)
    lags = []
    for row in rows:
        found = copies.get(row.idempotency_key, [])
        result.duplicates += max(0, len(found) - 1)
        result.deleted += sum(deleted for _, deleted in found)
        if all(deleted for _, deleted in found):  # none, or none left
            result.missing += 1
            continue
        result.once += len(found) == 1
        lags.append((min(at for at, _ in found) - row.due_at).total_seconds())
    for key, found in copies.items():
        if key not in keys:
            result.duplicates += len(found)
    result.latest = max(lags, default=None)


HEADER = (
    f"{'scenario':<18} {'database':<10} {'planned':>7} {'once':>5} {'duplicates':>10} {'deleted':>7} {'missing':>7} "
    f"{'latest':>8} {'restarts':>8} {'seconds':>7}  notes"
)


def row(result: Result) -> str:
    latest = "-" if result.latest is None else f"{result.latest:+.1f} s"
    return (
        f"{result.scenario:<18} {result.database:<10} {result.planned:>7} {result.once:>5} {result.duplicates:>10} "
        f"{result.deleted:>7} {result.missing:>7} {latest:>8} {result.restarts:>8} {result.seconds:>7.0f}  "
        + "; ".join(result.notes)
    )


def databases(choice: str, stack: ExitStack) -> Iterator[Database]:
    if choice in ("sqlite", "both"):
        yield Database("sqlite")
    if choice in ("postgresql", "both"):
        yield Database("postgresql", stack.enter_context(private_postgres()))


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200, help="posts per scenario")
    parser.add_argument("--spread", type=float, default=30.0, help="seconds over which they fall due")
    parser.add_argument("--scenarios", default="all", help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the data folders (logs) and print where")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="campaign-chaos-"))
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        mastodon = stack.enter_context(MastodonServerProcess())
        print(HEADER, flush=True)
        for database in databases(args.database, stack):
            for name in names:
                try:
                    result = run_scenario(
                        name,
                        database=database,
                        mastodon=mastodon,
                        workdir=workdir,
                        posts=args.posts,
                        spread=args.spread,
                        seed=args.seed,
                    )
                except Exception as error:  # one scenario's breakdown is a result too; the others still run
                    result = Result(name, database.name, notes=[f"ERROR {error!r}"])
                results.append(result)
                print(row(result), flush=True)
    clean = all(result.clean for result in results)
    print(f"goal: 0 duplicates and 0 missing in every scenario: {'PASS' if clean else 'FAIL'}")
    if args.keep:
        print(f"data folders and logs kept in {workdir}")
    return results


if __name__ == "__main__":
    main()
