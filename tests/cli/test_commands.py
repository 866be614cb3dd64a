"""The engine's commands through Click's runner, on a real SQLite store in a temp data dir; and `campaign run`
as a real process: Redis, worker and beat started by it, stopped cleanly by Ctrl-C, resumed by a second run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cli.engine import extra_processes
from cli.serve import answers
from platforms.outbox import read_outbox
from scheduler.api import Api
from scheduler.db import Store
from scheduler.models import Delivery, Event, State
from tests.support.cli import cli_env, invoke
from tests.support.engine import wait_for, write_calendar, write_campaign
from tests.support.postgres import free_loopback_port

FUTURE = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    return cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))


def deliveries(env: dict[str, str]) -> list[Delivery]:
    store = Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")
    with store.transaction() as session:
        return list(session.scalars(select(Delivery)))


def test_schedule_is_all_or_nothing_when_one_calendar_is_broken(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    good = write_calendar(folder, "good.yaml", [("one", FUTURE, "Fine #ActOnIICSA")])
    broken = write_calendar(folder, "broken.yaml", [("two", FUTURE, "")])
    code, output = invoke("schedule", str(good), str(broken))
    assert code == 1
    assert "broken.yaml" in output and "two" in output and "Nothing was scheduled" in output
    assert deliveries(env) == []


def test_schedule_twice_changes_nothing_and_says_dry_run(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    calendar = write_calendar(
        folder, "cal.yaml", [("one", FUTURE, "Hello #ActOnIICSA"), ("two", FUTURE, "Bye #ActOnIICSA")]
    )
    code, output = invoke("schedule", str(calendar))
    assert code == 0 and "demo: 2 added, 0 changed, 0 unchanged, 0 cancelled" in output
    assert "Dry run for bluesky, mastodon" in output
    code, output = invoke("schedule", str(calendar))
    assert code == 0 and "demo: 0 added, 0 changed, 2 unchanged, 0 cancelled" in output


def test_status_json_pause_cancel_retry_are_recorded(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    calendar = write_calendar(
        folder, "cal.yaml", [("one", FUTURE, "Hello #ActOnIICSA"), ("two", FUTURE, "Bye #ActOnIICSA")]
    )
    invoke("schedule", str(calendar))
    code, output = invoke("status", "--json")
    report = json.loads(output[output.index("{") : output.rindex("}") + 1])
    assert code == 0 and report["counts"] == {"scheduled": 4} and not report["paused"]
    assert {(d["post_id"], d["platform"]) for d in report["upcoming"]} == {
        ("one", "bluesky"),
        ("one", "mastodon"),
        ("two", "bluesky"),
        ("two", "mastodon"),
    }

    assert invoke("pause", "--reason", "news", "--wait", "1")[0] == 0
    code, output = invoke("status")
    assert "PAUSED: news" in output
    assert invoke("resume")[0] == 0

    code, output = invoke("cancel", "one", "--yes")
    assert code == 0 and "Cancelled one: 2 parts will not be posted." in output
    code, output = invoke("retry", "two", "--yes")
    assert code == 1 and "Nothing to retry for two" in output
    code, output = invoke("cancel", "nope", "--yes")
    assert code == 1 and "no scheduled post 'nope'" in output

    store = Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")
    with store.transaction() as session:
        actions = Counter(session.scalars(select(Event.action)))
        missed = session.scalars(select(Delivery).where(Delivery.post_id == "two")).all()
        for delivery in missed:
            delivery.state = State.MISSED
    assert actions["pause"] == 1 and actions["resume"] == 1 and actions["cancel"] == 2
    code, output = invoke("retry", "two", "--yes")
    assert code == 0 and "two: 2 parts on bluesky, mastodon go out late" in output
    assert {d.state for d in deliveries(env) if d.post_id == "two"} == {State.SCHEDULED}


def test_rehearse_plays_a_calendar_into_its_own_outbox_and_leaves_the_schedule_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    posts = [(f"p{i}", FUTURE + timedelta(hours=6 * i), f"Post {i} #ActOnIICSA") for i in range(4)]
    calendar = write_calendar(folder, "cal.yaml", posts)
    code, output = invoke("rehearse", str(calendar), "--speed", "200000")
    assert code == 0, output
    assert "Rehearsal done: 8 published, 0 missed, 0 failed." in output
    assert "Mon 01 Feb 2027 09:00 GMT planned" in output
    outbox = Path(output.rsplit("Outbox: ", 1)[1].strip())
    entries = read_outbox(outbox)
    assert len(entries) == 8 and len({e["idempotency_key"] for e in entries}) == 8
    assert deliveries(env) == []  # the real schedule is untouched
    code, output = invoke("outbox", "--path", str(outbox), "--tail", "0")
    assert code == 0 and output.count("#ActOnIICSA") == 8
    code, output = invoke("outbox", "--path", str(outbox) + "l")  # a typo is an error, not an empty outbox
    assert code == 2 and "does not exist" in output and "empty" not in output


@pytest.mark.integration
@pytest.mark.slow
def test_run_posts_on_time_serves_the_workspace_stops_cleanly_on_ctrl_c_and_resumes(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    soon = datetime.now(UTC) + timedelta(seconds=6)
    calendar = write_calendar(folder, "cal.yaml", [("soon", soon, "Going out now #ActOnIICSA")])
    child_env = {**os.environ, **env, "CAMPAIGN_TICK_SECONDS": "1", "PYTHONUNBUFFERED": "1"}
    port = free_loopback_port()
    command = [sys.executable, "-m", "cli.main", "run", str(calendar), "--web-port", str(port)]
    workspace = f"http://127.0.0.1:{port}"
    first = subprocess.Popen(command, env=child_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    outbox = Path(env["CAMPAIGN_DATA_DIR"]) / "outbox.jsonl"
    try:
        wait_for(lambda: len(read_outbox(outbox)) == 2, timeout=60, what="both platforms' posts in the outbox")
        wait_for(lambda: answers("127.0.0.1", port), timeout=30, what="the web workspace")
        login_page = httpx.get(f"{workspace}/", follow_redirects=True, timeout=10)
        assert login_page.status_code == 200 and "Sign in" in login_page.text
    finally:
        first.send_signal(signal.SIGINT)
        output = first.communicate(timeout=60)[0].decode()
    assert first.returncode == 0, output
    assert f"The web workspace is at {workspace}/" in output
    signed_in_as = re.search(r"First start: sign in as (\S+) with the password (\S+) \(shown once", output)
    assert signed_in_as, output
    assert "Stopping: the web workspace, beat, then the worker" in output and "Stopped. Nothing is lost" in output
    assert not answers("127.0.0.1", port)  # stopped with the rest
    redis_log = Path(env["CAMPAIGN_DATA_DIR"]) / "redis" / "redis.log"
    assert "ready to exit" in redis_log.read_text() or "Redis is now ready to exit" in redis_log.read_text()

    # Add a post and start again: the first one is not posted again, the new one goes out; the password shown
    # once signs in (and is not shown again).
    later = datetime.now(UTC) + timedelta(seconds=6)
    write_calendar(
        folder, "cal.yaml", [("soon", soon, "Going out now #ActOnIICSA"), ("next", later, "And this #ActOnIICSA")]
    )
    second = subprocess.Popen(command, env=child_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(read_outbox(outbox)) == 4, timeout=60, what="the new post in the outbox")
        wait_for(lambda: answers("127.0.0.1", port), timeout=30, what="the web workspace")
        with httpx.Client(base_url=workspace, timeout=10, follow_redirects=True) as browser:
            name, password = signed_in_as.groups()
            home = browser.post("/login", data={"name": name, "password": password})
            assert home.status_code == 200 and "/login" not in str(home.url), home.text
            assert "Going out now" in browser.get("/calendar").text  # this week, published
    finally:
        second.send_signal(signal.SIGINT)
        output = second.communicate(timeout=60)[0].decode()
    assert second.returncode == 0, output
    assert "Sign in with your name and password" in output and password not in output
    keys = Counter(e["idempotency_key"] for e in read_outbox(outbox))
    assert set(keys.values()) == {1}
    store = Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")
    with store.transaction() as session:
        assert session.scalar(select(func.count()).where(Delivery.state == State.PUBLISHED)) == 4


def test_post_now_goes_through_the_same_idempotent_path_and_never_posts_twice(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    calendar = write_calendar(folder, "cal.yaml", [("urgent", FUTURE, "Now please #ActOnIICSA")])
    invoke("schedule", str(calendar))
    code, output = invoke("post-now", "urgent", "--platform", "mastodon", "--yes")
    assert code == 0 and "\npublished: urgent mastodon" in output
    outbox = Path(env["CAMPAIGN_DATA_DIR"]) / "outbox.jsonl"
    assert [(e["post_id"], e["platform"]) for e in read_outbox(outbox)] == [("urgent", "mastodon")]
    code, output = invoke("post-now", "urgent", "--platform", "mastodon")
    assert code == 0 and "skipped" in output and "already published" in output
    assert len(read_outbox(outbox)) == 1
    states = {d.platform: d.state for d in deliveries(env)}
    assert states == {"mastodon": State.PUBLISHED, "bluesky": State.SCHEDULED}
    code, output = invoke("post-now", "missing", "--platform", "bluesky")
    assert code == 1 and "run `campaign schedule` first" in output


def test_accounts_check_without_credentials_reports_dry_run(env: dict[str, str]) -> None:
    code, output = invoke("accounts", "check")
    assert code == 0
    assert "bluesky: dry run (no credentials)" in output and "mastodon: dry run (no credentials)" in output


def test_status_names_failing_collectors_and_the_latest_report(env: dict[str, str], tmp_path: Path) -> None:
    from scheduler.collection_models import CollectorState

    store = Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")
    with store.transaction() as session:
        session.add(
            CollectorState(
                campaign="demo",
                kind="mentions",
                platform="mastodon",
                source="https://m.example",
                consecutive_failures=2,
                last_error="429 Too many requests",
                next_attempt_at=FUTURE,
            )
        )
    from scheduler.reports import IsoWeek, report_path

    reports = Path(env["CAMPAIGN_DATA_DIR"]) / "reports"
    report = report_path(reports, "demo", IsoWeek.parse("2027-W05"))
    older = report_path(reports, "demo", IsoWeek.parse("2027-W04"))
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    older.write_text("<html></html>")  # rewritten after the latest: still not the latest
    code, output = invoke("status")
    assert code == 0
    assert "demo mentions mastodon https://m.example: 2 failure(s)" in output and "429 Too many requests" in output
    assert f"Latest weekly report: {report}" in output
    other = report_path(reports, "other", IsoWeek.parse("2027-W09"))
    other.parent.mkdir()
    other.write_text("<html></html>")
    assert f"Latest weekly report: {other}" in invoke("status")[1]
    assert f"Latest weekly report: {report}" in invoke("status", "--campaign", "demo")[1]


def test_run_starts_a_listener_beside_the_scheduler_only_when_a_relay_is_set(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUESKY_RELAY", "")
    assert [p.name for p in extra_processes(Api.from_settings(), 8000)] == ["web"]
    monkeypatch.setenv("BLUESKY_RELAY", "https://relay.example")
    web, listener = extra_processes(Api.from_settings(), 8000)
    assert web.name == "web" and listener.name == "listen"
    assert listener.args[1:] == ("-m", "cli.main", "listen", "--supervised")  # waits, not ends, with nothing to do
    assert [p.name for p in extra_processes(Api.from_settings(), None)] == ["listen"]  # --no-web
