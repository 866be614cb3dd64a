"""`campaign status` explains itself: one line a post (its parts and platforms folded), the state in words with
the reason, attempt count and next try of anything not well, times with their zone, and a header saying whether
the scheduler is running (its heartbeat, written by each tick) and who paused posting. `campaign schedule` is
quiet: a summary per campaign and its next post.

The store is driven through the application API with a FixedClock (ticks and publishes as beat and a worker make
them, on a real SQLite store and the real outbox adapter); what a person reads is the real CLI's output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler.api import Api, load_settings
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.models import Delivery, State
from tests.support.cli import cli_env, invoke
from tests.support.engine import Engine, started, wait_for, write_calendar, write_campaign

LONDON = ZoneInfo("Europe/London")


def shown(instant: datetime) -> str:
    """How a person reads an instant of a London campaign (the oracle: written here, not taken from the CLI)."""
    return instant.astimezone(LONDON).strftime("%a %d %b %Y %H:%M %Z")


def next_minute(delta: timedelta = timedelta()) -> datetime:
    moment = datetime.now(UTC) + delta + timedelta(minutes=1)
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    return cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))


@contextmanager
def core(now: datetime) -> Iterator[tuple[Api, FixedClock]]:
    """The application over the CLI's own store (the environment `env` set), on a clock that moves when told."""
    clock = FixedClock(now)
    app = Api.from_settings(load_settings(), clock=clock)
    try:
        yield app, clock
    finally:
        app.close()


def beat_and_work(app: Api) -> None:
    """One tick as beat makes it, then the claims published in this process as a worker would."""
    executor = app.inline_executor(worker="worker@test")
    app.tick(executor, actor="beat@test")
    executor.run_due()


def write_thread_calendar(folder: Path, at: datetime, *, post_id: str = "appeal") -> Path:
    """One post with two replies (three parts) to both platforms, and a single post an hour later."""
    local = at.astimezone(LONDON)
    later = local + timedelta(hours=1)
    path = folder / "calendars" / "thread.yaml"
    path.write_text(
        f"campaign: {folder.name}\ntimezone: Europe/London\nposts:\n"
        f"  - id: {post_id}\n    at: {local:%Y-%m-%d %H:%M}\n    text: 'Write to your MP #ActOnIICSA'\n"
        "    thread:\n      - text: 'Why it matters #ActOnIICSA'\n      - text: 'How to do it #ActOnIICSA'\n"
        f"  - id: single\n    at: {later:%Y-%m-%d %H:%M}\n    text: 'Support lines #ActOnIICSA'\n",
        encoding="utf-8",
    )
    return path


def lines_naming(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


# --- one line a post -------------------------------------------------------------------------------------


def test_a_thread_on_two_platforms_is_one_line_and_parts_gives_one_per_part_and_platform(
    env: dict[str, str], tmp_path: Path
) -> None:
    at = next_minute(timedelta(days=2))
    calendar = write_thread_calendar(write_campaign(tmp_path / "campaigns"), at)
    assert invoke("schedule", str(calendar))[0] == 0
    code, output = invoke("status")
    assert code == 0, output
    [line] = lines_naming(output, "demo/appeal")
    assert f"{shown(at)}  scheduled  demo/appeal  bluesky, mastodon (3 parts)" in line
    assert "Posts: 2 scheduled" in output
    code, output = invoke("status", "--parts")
    assert code == 0, output
    parts = lines_naming(output, "demo/appeal")
    assert len(parts) == 6
    assert {line.split("demo/appeal ")[1] for line in parts} == {
        f"{platform} part {n}" for platform in ("bluesky", "mastodon") for n in range(3)
    }
    report = json.loads(invoke("status", "--json")[1])
    [appeal] = [p for p in report["posts"] if p["post_id"] == "appeal"]
    assert appeal["status"] == "scheduled" and len(appeal["parts"]) == 6
    assert [(p["platform"], p["parts"]) for p in appeal["platforms"]] == [("bluesky", 3), ("mastodon", 3)]


def test_a_post_trying_again_shows_its_reason_attempts_and_next_try_in_its_zone(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outbox (the platforms' stand-in without credentials) cannot be written: a real failure of the
    # real adapter, met by the real publish path.
    blocked = tmp_path / "outbox-is-a-folder"
    blocked.mkdir()
    monkeypatch.setenv("CAMPAIGN_OUTBOX", str(blocked))
    at = next_minute()
    calendar = write_thread_calendar(write_campaign(tmp_path / "campaigns"), at)
    assert invoke("schedule", str(calendar))[0] == 0
    with core(at) as (app, _clock):
        beat_and_work(app)
    store = Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")
    with store.transaction() as session:
        first = session.scalars(
            select(Delivery).where(Delivery.post_id == "appeal", Delivery.platform == "mastodon", Delivery.part == 0)
        ).one()
    assert first.state == State.SCHEDULED and first.attempts == 1 and first.next_attempt_at is not None

    code, output = invoke("status")
    assert code == 0, output
    assert "Trying again" in output
    [line] = lines_naming(output, "demo/appeal")
    assert line.startswith(f"  {shown(at)}  trying again  demo/appeal  ")
    # Both platforms failed alike: said once, for both.
    assert f"  bluesky, mastodon: trying again (1 attempt so far), next try {shown(first.next_attempt_at)}: " in line
    assert "IsADirectoryError" in line  # the reason, in plain status (not only in --json)
    assert "Posts: 1 trying again, 1 scheduled" in output
    # --parts: the first part is the one that failed; the replies wait for it and are not "trying again".
    parts = lines_naming(invoke("status", "--parts")[1], "demo/appeal mastodon")
    assert parts[0].split("  ")[2] == "trying again" and "1 attempt so far" in parts[0]
    assert [line.split("  ")[2] for line in parts[1:]] == ["scheduled", "scheduled"]


def test_a_failed_post_names_the_platform_that_failed_and_links_the_one_that_went_out(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = next_minute()
    folder = write_campaign(tmp_path / "campaigns")
    calendar = write_calendar(folder, "cal.yaml", [("launch", at, "We launch today #ActOnIICSA")])
    assert invoke("schedule", str(calendar))[0] == 0
    with core(at) as (app, _clock):
        beat_and_work(app)
    store = Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")
    with store.transaction() as session:
        mastodon = session.scalars(select(Delivery).where(Delivery.platform == "mastodon")).one()
        mastodon.state, mastodon.attempts, mastodon.last_error = State.FAILED, 5, "the instance said 503"
    code, output = invoke("status")
    assert code == 0, output
    [line] = lines_naming(output, "demo/launch")
    assert line.startswith(f"  {shown(at)}  failed  demo/launch  ")
    assert "mastodon: failed after 5 attempts: the instance said 503" in line
    assert "bluesky file://" in line and "(dry run: in the outbox, not posted)" in line
    assert "Failed (`campaign retry POST_ID` after fixing the cause)" in output


# --- the scheduler's heartbeat ----------------------------------------------------------------------------


def test_the_heartbeat_is_written_by_each_tick_and_read_as_running_stopped_or_never_started(
    env: dict[str, str], tmp_path: Path
) -> None:
    start = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    with core(start) as (app, clock):
        assert app.heartbeat().state == "never started"
        assert app.status().scheduler.state == "never started"
        beat_and_work(app)
        beat = app.heartbeat()
        assert (beat.state, beat.started_at, beat.last_check_at, beat.by) == ("running", start, start, "beat@test")
        clock.advance(timedelta(seconds=5))
        beat_and_work(app)
        beat = app.heartbeat()
        assert (beat.state, beat.started_at, beat.last_check_at) == ("running", start, start + timedelta(seconds=5))
        clock.advance(timedelta(minutes=10))
        beat = app.heartbeat()
        assert (beat.state, beat.last_check_at) == ("stopped", start + timedelta(seconds=5))
        assert app.status().to_json()["scheduler"]["state"] == "stopped"
        beat_and_work(app)  # started again after a gap: a new run
        assert app.heartbeat().started_at == clock.now()


def test_the_status_header_says_whether_the_scheduler_runs(env: dict[str, str], tmp_path: Path) -> None:
    calendar = write_calendar(write_campaign(tmp_path / "campaigns"), "cal.yaml", [("one", next_minute(), "Hi")])
    assert invoke("schedule", str(calendar))[0] == 0
    code, output = invoke("status")
    assert code == 0 and "Scheduler: never started" in output and "`campaign run`" in output

    earlier = datetime.now(UTC) - timedelta(minutes=10)
    with core(earlier) as (app, _clock):
        beat_and_work(app)
    code, output = invoke("status")
    assert f"Scheduler: not running (last seen {shown(earlier)})" in output
    assert json.loads(invoke("status", "--json")[1])["scheduler"]["state"] == "stopped"

    now = datetime.now(UTC)
    with core(now) as (app, clock):
        beat_and_work(app)  # the gap since the last check starts a new run
        clock.advance(timedelta(seconds=5))
        beat_and_work(app)
    code, output = invoke("status")
    assert f"Scheduler: running since {shown(now)}; last checked the schedule {shown(now + timedelta(seconds=5))}" in (
        output
    )
    scheduler = json.loads(invoke("status", "--json")[1])["scheduler"]
    assert scheduler["state"] == "running" and scheduler["started_at"] == now.isoformat()


def test_a_pause_says_who_paused_why_and_since_when(env: dict[str, str], tmp_path: Path) -> None:
    calendar = write_calendar(write_campaign(tmp_path / "campaigns"), "cal.yaml", [("one", next_minute(), "Hi")])
    assert invoke("schedule", str(calendar))[0] == 0
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    assert invoke("pause", "--reason", "news story breaking", "--wait", "1")[0] == 0
    code, output = invoke("status")
    assert code == 0, output
    [line] = lines_naming(output, "PAUSED")
    assert line.startswith("PAUSED: news story breaking (paused by ") and "@" in line
    assert any(f"since {shown(before + timedelta(minutes=m))}" in line for m in (0, 1))
    pause = json.loads(invoke("status", "--json")[1])["pause"]
    assert pause["reason"] == "news story breaking" and "@" in pause["by"] and pause["since"]
    assert invoke("resume")[0] == 0
    assert "PAUSED" not in invoke("status")[1]


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_beat_tick_on_a_celery_worker_writes_the_heartbeat(engine: Engine) -> None:
    store = Store(engine.database_url)  # the schema, before the worker's first tick needs it
    settings = load_settings(engine.env(), dotenv_path=engine.directory / "none.env")
    app = Api.from_settings(settings)
    try:
        assert app.heartbeat().state == "never started"
        with contextmanager(started)([engine.worker(), engine.beat()]):
            beat = wait_for(lambda: app.heartbeat() if app.heartbeat().running else None, timeout=60,
                            what="a tick's heartbeat")  # fmt: skip
            assert beat.by is not None and beat.by.startswith("beat@")
            assert beat.tick_seconds == 0.5 and beat.started_at is not None and beat.started_at <= beat.last_check_at
            first = beat.last_check_at
            wait_for(lambda: app.heartbeat().last_check_at != first, timeout=30, what="the next tick's heartbeat")
            assert app.heartbeat().started_at == beat.started_at  # one run: no gap between the ticks
    finally:
        app.close()
        store.dispose()


# --- schedule is quiet -----------------------------------------------------------------------------------


def test_schedule_prints_a_summary_per_campaign_and_the_next_post(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    first = next_minute(timedelta(days=3))
    posts = [(f"p{i}", first + timedelta(hours=i), f"Post number {i} of the week #ActOnIICSA") for i in range(4)]
    calendar = write_calendar(folder, "cal.yaml", posts)
    code, output = invoke("schedule", str(calendar))
    assert code == 0, output
    assert "demo: 4 added, 0 changed, 0 unchanged, 0 cancelled" in output
    assert f"next post: {shown(first)}  p0  “Post number 0 of the week #ActOnIICSA”" in output
    assert "bluesky part 0" not in output  # no line per part unless asked

    # p0 changed, p1 and p2 as they were, p3 removed, p4 new.
    changed = [("p0", first, "Post number 0, reworded #ActOnIICSA"), *posts[1:3],
               ("p4", first + timedelta(days=1), "A new one #ActOnIICSA")]  # fmt: skip
    write_calendar(folder, "cal.yaml", changed)
    code, output = invoke("schedule", str(calendar))
    assert code == 0, output
    assert "demo: 1 added, 1 changed, 2 unchanged, 1 cancelled" in output
    assert f"next post: {shown(first)}  p0  “Post number 0, reworded #ActOnIICSA”" in output

    code, output = invoke("schedule", "--verbose", str(calendar))
    assert code == 0 and "demo: 0 added, 0 changed, 4 unchanged, 0 cancelled" in output
    write_calendar(folder, "cal.yaml", [*changed, ("p5", first, "Another #ActOnIICSA")])
    code, output = invoke("schedule", "--verbose", str(calendar))
    assert "added  demo/p5 bluesky part 0" in output and "added  demo/p5 mastodon part 0" in output
    assert "demo: 1 added, 0 changed, 4 unchanged, 0 cancelled" in output
