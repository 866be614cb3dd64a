"""Test support for the engine: build calendars as model objects, a real Redis, real worker/beat processes."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from content_calendar.model import Calendar, Campaign, Post, ThreadPart
from content_calendar.render import render_post
from scheduler.embedded import ChildProcess, EmbeddedRedis, beat_process, celery_env, worker_process
from scheduler.sync import CalendarInput

LONDON = ZoneInfo("Europe/London")


def post(
    post_id: str,
    at: datetime,
    text: str | None = None,
    *,
    platforms: Sequence[str] = ("bluesky", "mastodon"),
    thread: Sequence[str] = (),
    status: str = "approved",
) -> Post:
    return Post(
        id=post_id,
        at=at,
        text=text or f"Post {post_id} #ActOnIICSA",
        platforms=tuple(platforms),
        status=status,  # type: ignore[arg-type]
        thread=tuple(ThreadPart(text=f"{t} #ActOnIICSA") for t in thread),
    )


def campaign(directory: Path, *, slug: str = "test-campaign", grace: timedelta = timedelta(minutes=30)) -> Campaign:
    return Campaign(slug=slug, name="Test", directory=directory, hashtags=("#ActOnIICSA",), misfire_grace=grace)


def calendar_input(path: Path, posts: Sequence[Post], *, camp: Campaign) -> CalendarInput:
    calendar = Calendar(path=path, campaign=camp.slug, timezone="Europe/London", posts=tuple(posts))
    return CalendarInput(calendar, camp, {p.id: render_post(p, camp) for p in posts})


def wait_for(condition: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Engine:
    """A data dir, a database, a real Redis and the environment worker/beat processes run with."""

    directory: Path
    redis: EmbeddedRedis
    database_url: str
    outbox: Path

    def env(self, **overrides: str) -> dict[str, str]:
        values = {
            "CAMPAIGN_DATA_DIR": str(self.directory),
            "CAMPAIGN_DATABASE_URL": self.database_url,
            "CAMPAIGN_REDIS_URL": self.redis.url,
            "CAMPAIGN_OUTBOX": str(self.outbox),
            "CAMPAIGN_TICK_SECONDS": "0.5",
            "CAMPAIGN_CLAIM_WINDOW_SECONDS": "3",
            "CAMPAIGN_LEASE_SECONDS": "6",
            "CAMPAIGN_PUBLISH_LEASE_SECONDS": "6",
            "CAMPAIGN_SETTLE_SECONDS": "1",  # the test servers write at once: the backoff (2.5 s and up) decides
            "BLUESKY_HANDLE": "",
            "BLUESKY_APP_PASSWORD": "",
            "MASTODON_API_BASE_URL": "",
            "MASTODON_ACCESS_TOKEN": "",
        }
        values.update(overrides)
        return celery_env(values)

    def worker(self, name: str = "w1", *, concurrency: int = 4, **overrides: str) -> ChildProcess:
        return worker_process(
            self.env(**overrides),
            name=name,
            concurrency=concurrency,
            log_path=self.directory / f"{name}.log",
            loglevel="INFO",
        )

    def beat(self, name: str = "beat", **overrides: str) -> ChildProcess:
        child = beat_process(
            self.env(**overrides),
            schedule_file=self.directory / f"{name}-schedule",
            log_path=self.directory / f"{name}.log",
        )
        child.name = name
        return child


def started(children: Sequence[ChildProcess]) -> Iterator[None]:
    for child in children:
        child.start()
    try:
        yield
    finally:
        for child in children:
            child.kill()


def redis_dir(base: Path) -> Path:
    path = base / "redis"
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_campaign(root: Path, slug: str = "demo", *, grace_minutes: int = 30) -> Path:
    """A campaign folder with campaign.yaml and an empty calendars/ folder; returns the folder."""
    folder = root / slug
    (folder / "calendars").mkdir(parents=True, exist_ok=True)
    (folder / "campaign.yaml").write_text(
        f"slug: {slug}\nname: Demo\nhashtags: ['#ActOnIICSA']\ntimezone: Europe/London\n"
        f"misfire_grace_minutes: {grace_minutes}\nhelpline: 'NAPAC 0808 801 0331'\n",
        encoding="utf-8",
    )
    return folder


def write_calendar(folder: Path, name: str, posts: Sequence[tuple[str, datetime, str]]) -> Path:
    """A YAML calendar of (id, local time, text) posts to both platforms."""
    lines = [f"campaign: {folder.name}", "timezone: Europe/London", "posts:"]
    for post_id, at, text in posts:
        local = at.astimezone(LONDON)
        lines += [f"  - id: {post_id}", f"    at: {local:%Y-%m-%d %H:%M:%S}", f"    text: {text!r}"]
    path = folder / "calendars" / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def database_held(engine: Engine) -> Iterator[Callable[[int], str]]:
    """Hold SQLite's write lock: a worker that has written to a platform blocks before recording it, so a
    fault test can kill it at exactly that point. Yields the state of a delivery (by id) read through the
    holding connection: the store as it is at that point, which neither a worker nor beat (a tick re-arming a
    lease that ran out meanwhile) can change until the lock is let go."""
    connection = sqlite3.connect(engine.database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
    connection.execute("BEGIN IMMEDIATE")

    def state_of(delivery_id: int) -> str:
        row = connection.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return str(row[0]) if row else "(no such delivery)"

    try:
        yield state_of
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@contextmanager
def running_engine(base: Path) -> Iterator[Engine]:
    """A data dir with a real Redis (append-only), a SQLite store and an outbox, for worker/beat processes."""
    redis = EmbeddedRedis(redis_dir(base), persistent=True)
    redis.start()
    try:
        yield Engine(base, redis, f"sqlite:///{base / 'campaign.db'}", base / "outbox.jsonl")
    finally:
        redis.stop()
