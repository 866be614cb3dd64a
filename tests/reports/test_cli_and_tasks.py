"""`campaign report weekly` and `campaign collect` through Click, and the `collect` queue's Celery tasks run by a
real worker process (real Redis, started and stopped by pid) that consumes only that queue."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from celery import Celery
from click.testing import CliRunner
from sqlalchemy import select

from cli.common import keep
from cli.reports import collect, report
from scheduler.api import Api, latest_report
from scheduler.clock import FixedClock
from scheduler.collection_models import CollectorRun
from scheduler.db import Store
from scheduler.embedded import ChildProcess, EmbeddedRedis, celery_env
from scheduler.models import State
from scheduler.reports import IsoWeek
from tests.reports.builders import StoreBuilder, known_week
from tests.support.engine import redis_dir, wait_for

REPO = Path(__file__).resolve().parents[2]


def environment(tmp_path: Path, campaigns: Path | None = None) -> dict[str, str]:
    return {
        "CAMPAIGN_DATA_DIR": str(tmp_path / "data"),
        "CAMPAIGN_DATABASE_URL": f"sqlite:///{tmp_path / 'campaign.db'}",
        "CAMPAIGN_CAMPAIGNS_DIR": str(campaigns or REPO / "campaigns"),
        "CAMPAIGN_REPORTS_DIR": str(tmp_path / "reports"),
        "BLUESKY_HANDLE": "",
        "BLUESKY_APP_PASSWORD": "",
        "MASTODON_API_BASE_URL": "",
        "MASTODON_ACCESS_TOKEN": "",
    }


def without_instances(campaigns: Path) -> Path:
    """The shipped sasvaw-week campaign in `campaigns`, without its mastodon_instances: with no Mastodon account
    those are read over the network (tests/mastodon_adapter/test_collect_without_account.py reads one)."""
    shutil.copytree(REPO / "campaigns" / "sasvaw-week", campaigns / "sasvaw-week",
                    ignore=shutil.ignore_patterns("calendars", "media"))  # fmt: skip
    yaml = campaigns / "sasvaw-week" / "campaign.yaml"
    yaml.write_text(re.sub(r"^mastodon_instances:\n(  - .*\n)+", "", yaml.read_text(), flags=re.MULTILINE))
    return campaigns


MONDAY = datetime(2027, 2, 8, 7, tzinfo=UTC)  # 07:00 on the Monday after 2027-W05 (London: UTC in winter)


def at(now: datetime) -> click.Group:
    """`campaign report ...` with the application's clock fixed at `now` (the weeks of the test data are 2027)."""

    @click.group()
    def root() -> None:
        keep(Api.from_settings(clock=FixedClock(now)))

    root.add_command(report)
    return root


def test_report_weekly_writes_each_format(tmp_path: Path) -> None:
    known_week(Store(f"sqlite:///{tmp_path / 'campaign.db'}"))
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(at(MONDAY), ["report", "weekly", "--campaign", "sasvaw-week", "--week", "2027-W05",
                                        "--format", "md", "--format", "csv", "-o", str(out)],
                           env=environment(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{out / 'sasvaw-week-2027-W05.md'}" in result.output
    markdown = (out / "sasvaw-week-2027-W05.md").read_text()
    # The campaign's name and allow-list come from campaigns/sasvaw-week/campaign.yaml.
    assert markdown.startswith("# National Sexual Abuse and Sexual Violence Awareness Week: week of Mon 1 Feb 2027")
    assert "| napac.org.uk | Bluesky | 1 |" in markdown
    assert not (out / "sasvaw-week-2027-W05.html").exists()
    assert (out / "sasvaw-week-2027-W05-summary.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    # Without --campaign and -o: every campaign in the store, into the reports folder `campaign status` reads.
    result = runner.invoke(at(MONDAY), ["report", "weekly", "--week", "2027-W05"], env=environment(tmp_path))
    assert result.exit_code == 0, result.output
    assert latest_report(tmp_path / "reports") == tmp_path / "reports" / "sasvaw-week" / "sasvaw-week-2027-W05.html"


def test_report_weekly_refuses_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(report, ["weekly", "--week", "2027-W60", "--campaign", "x"], env=environment(tmp_path))
    assert bad.exit_code == 2 and "2027 has no ISO week 60" in bad.output
    missing = runner.invoke(report, ["weekly"], env=environment(tmp_path))
    assert missing.exit_code == 1 and "There is no schedule in" in missing.output  # and none was created
    assert not (tmp_path / "campaign.db").exists()
    Store(f"sqlite:///{tmp_path / 'campaign.db'}").dispose()  # a workspace whose schedule is still empty
    empty = runner.invoke(report, ["weekly"], env=environment(tmp_path))
    assert empty.exit_code == 1 and "The store has no campaigns yet" in empty.output


def test_report_weekly_takes_a_date_or_last_and_writes_nothing_for_a_week_without_data(tmp_path: Path) -> None:
    known_week(Store(f"sqlite:///{tmp_path / 'campaign.db'}"))
    runner = CliRunner()
    env = environment(tmp_path)
    out = tmp_path / "out"
    for week in ("2027-02-03", "last", "2027-02-07"):  # a date means the week holding it; last, the last full week
        result = runner.invoke(at(MONDAY), ["report", "weekly", "--week", week, "--format", "md", "-o", str(out),
                                            "--json"], env=env)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert '"week": "2027-W05"' in result.output
    future = runner.invoke(at(MONDAY), ["report", "weekly", "--week", "2027-W07", "-o", str(tmp_path / "future")],
                           env=env)  # fmt: skip
    assert future.exit_code == 1 and "Week 2027-W07 (Monday 15 February 2027" in future.output
    assert "has not started yet: nothing written." in future.output
    empty = runner.invoke(at(MONDAY), ["report", "weekly", "--week", "2026-12-02", "-o", str(tmp_path / "empty")],
                          env=env)  # fmt: skip
    assert empty.exit_code == 1 and "sasvaw-week has no data for week 2026-W49" in empty.output
    assert not (tmp_path / "future").exists() and not (tmp_path / "empty").exists()
    bad = runner.invoke(at(MONDAY), ["report", "weekly", "--week", "soon"], env=env)
    assert bad.exit_code == 2 and "`soon` is not a week: write 2027-W05, a date such as 2027-02-01" in bad.output


def test_a_campaign_yaml_that_cannot_be_read_stops_its_report(tmp_path: Path) -> None:
    known_week(Store(f"sqlite:///{tmp_path / 'campaign.db'}"))
    campaigns = without_instances(tmp_path / "campaigns")
    yaml = campaigns / "sasvaw-week" / "campaign.yaml"
    yaml.write_text(yaml.read_text() + "\ntimezone: Mars/Olympus_Mons\n")
    result = CliRunner().invoke(at(MONDAY), ["report", "weekly", "--week", "2027-W05", "-o", str(tmp_path / "out")],
                                env=environment(tmp_path, campaigns))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "campaign.yaml" in result.output and "The report of sasvaw-week was not made" in result.output
    assert not (tmp_path / "out").exists()  # no report in London time without the organisation's names


def test_collect_without_credentials_says_so_and_skips(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    b = StoreBuilder(store)
    pk = b.post("p1", datetime.now(UTC) - timedelta(hours=2))
    b.delivery(pk, "p1", "bluesky", datetime.now(UTC) - timedelta(hours=2), State.PUBLISHED,
               published=datetime.now(UTC) - timedelta(hours=2))  # fmt: skip
    campaigns = without_instances(tmp_path / "campaigns")
    result = CliRunner().invoke(collect, ["--campaign", "sasvaw-week", "--since", "2027-02-01"],
                                env=environment(tmp_path, campaigns))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "Bluesky has no credentials (set BLUESKY_HANDLE and BLUESKY_APP_PASSWORD): its collectors are skipped."
        in result.output
    )
    assert "sasvaw-week mastodon (mentions): skipped: Mastodon has no credentials" in result.output
    assert "sasvaw-week bluesky (engagement): skipped: Bluesky has no credentials" in result.output
    with store.transaction() as session:
        outcomes = {(r.platform, r.kind, r.outcome) for r in session.execute(select(CollectorRun)).scalars()}
    assert outcomes == {("bluesky", "mentions", "skipped"), ("mastodon", "mentions", "skipped"),
                        ("bluesky", "engagement", "skipped")}  # fmt: skip
    bad = CliRunner().invoke(collect, ["--since", "last tuesday"], env=environment(tmp_path))
    assert bad.exit_code == 2 and "is not a date" in bad.output


# --- the Celery tasks, in a real worker ---------------------------------------------------------------------


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(redis_dir(tmp_path), persistent=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def collect_worker(env: dict[str, str], log: Path) -> ChildProcess:
    """A worker for the `collect` queue only, loading workers.collect_tasks (the lead adds it to the app's
    `include`; -I does the same here)."""
    args = [
        sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", "collect", "-I", "workers.collect_tasks",
        "--pool", "threads", "--concurrency", "2", "-n", "collect@%h", "--without-gossip", "--without-mingle",
        "--loglevel", "INFO",
    ]  # fmt: skip
    return ChildProcess("collect-worker", args, celery_env(env), log)


@pytest.mark.integration
@pytest.mark.slow
def test_collect_queue_tasks_in_a_real_worker(tmp_path: Path, redis: EmbeddedRedis) -> None:
    campaigns = without_instances(tmp_path / "campaigns")
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    known_week(store)
    env = {**environment(tmp_path, campaigns), "CAMPAIGN_REDIS_URL": redis.url}
    worker = collect_worker(env, tmp_path / "worker.log")
    worker.start()
    client = Celery(broker=redis.url)
    try:
        # The worker runs on the real clock: the weeks it reports are the last two, each given a post.
        now = datetime.now(ZoneInfo("Europe/London"))
        monday = now.date() - timedelta(days=now.weekday())
        if now.hour < 7 and now.weekday() == 0:
            monday -= timedelta(days=7)
        due = IsoWeek.containing(monday - timedelta(days=7))
        builder = StoreBuilder(store)
        for week in (due.previous(), due):
            planned = datetime.combine(week.monday, datetime.min.time(), ZoneInfo("Europe/London")) + timedelta(hours=9)
            pk = builder.post(f"post-{week.label}", planned.astimezone(UTC))
            builder.delivery(pk, f"post-{week.label}", "bluesky", planned.astimezone(UTC), State.PUBLISHED,
                             published=planned.astimezone(UTC))  # fmt: skip
        # A given week, now.
        client.send_task("campaign.report_weekly", kwargs={"week": due.previous().label}, queue="collect")
        chosen = tmp_path / "reports" / "sasvaw-week" / f"sasvaw-week-{due.previous().label}.html"
        wait_for(chosen.exists, timeout=60, what=f"{chosen} written by the worker")
        # With no arguments, as beat calls it: last week's report, since it is due, with its PDF beside it.
        client.send_task("campaign.report_weekly", queue="collect")
        expected = tmp_path / "reports" / "sasvaw-week" / f"sasvaw-week-{due.label}.html"
        pdf = expected.with_suffix(".pdf")
        wait_for(lambda: expected.exists() and pdf.exists(), timeout=90, what=f"{expected} and {pdf} written")

        # Beat's collection calls fan out one task per campaign and platform; without credentials each says so.
        client.send_task("campaign.collect_mentions", queue="collect")
        client.send_task("campaign.collect_engagement", queue="collect")

        def recorded() -> set[tuple[str, str, str]] | None:
            with store.transaction() as session:
                rows = {(r.platform, r.kind, r.outcome) for r in session.execute(select(CollectorRun)).scalars()}
            return rows if len(rows) == 4 else None

        assert wait_for(recorded, timeout=60, what="the collectors' skip records") == {
            ("bluesky", "mentions", "skipped"), ("mastodon", "mentions", "skipped"),
            ("bluesky", "engagement", "skipped"), ("mastodon", "engagement", "skipped"),
        }  # fmt: skip
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert "campaign.collect_mentions" in log and "ERROR" not in log, log[-3000:]


def test_latest_report_goes_by_the_iso_week_in_the_name_per_campaign(tmp_path: Path) -> None:
    import os

    reports = tmp_path / "reports"
    files = {
        "sasvaw-week/sasvaw-week-2027-W05.html": 100,
        "sasvaw-week/sasvaw-week-2026-W52.html": 400,  # an older week, rewritten last
        "sasvaw-week/sasvaw-week-2027-W05.md": 500,  # not the HTML report
        "act-on-iicsa/act-on-iicsa-2027-W03.html": 300,
        "act-on-iicsa/notes.html": 600,  # not a weekly report
    }
    for name, modified in files.items():
        path = reports / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<html></html>")
        os.utime(path, (modified, modified))
    assert latest_report(reports, "sasvaw-week") == reports / "sasvaw-week" / "sasvaw-week-2027-W05.html"
    assert latest_report(reports, "act-on-iicsa") == reports / "act-on-iicsa" / "act-on-iicsa-2027-W03.html"
    assert latest_report(reports) == reports / "sasvaw-week" / "sasvaw-week-2027-W05.html"  # the latest week
    assert latest_report(reports, "other") is None
    assert latest_report(tmp_path / "missing") is None
