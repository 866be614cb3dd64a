"""The core's small pieces, called directly: the executor, the one redactor, settings, refusals at a face."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from click.testing import CliRunner

from cli.common import CampaignGroup
from scheduler.api import Api, Refused, UsageRefused
from scheduler.clock import FixedClock
from scheduler.dispatch import Claim
from scheduler.executor import InlineExecutor
from scheduler.publishing import Outcome
from scheduler.redaction import Redactor
from scheduler.settings import load_settings

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


def test_inline_executor_runs_due_claims_in_time_order_with_their_follow_ups() -> None:
    clock = FixedClock(NOW)
    ran: list[int] = []

    def publish(delivery_id: int, executor: InlineExecutor) -> Outcome:
        ran.append(delivery_id)
        if delivery_id == 1:  # a thread's first part makes its second due now
            executor.submit([Claim(2, clock.now())])
        return Outcome(delivery_id, "published")

    executor = InlineExecutor(clock, publish)
    executor.submit([Claim(3, NOW + timedelta(seconds=5)), Claim(1, NOW), Claim(4, NOW + timedelta(hours=1))])
    assert [claim.delivery_id for claim, _ in executor.run_due()] == [1, 2]
    assert executor.next_at == NOW + timedelta(seconds=5) and len(executor) == 2
    clock.advance(timedelta(seconds=5))
    executor.run_due()
    assert ran == [1, 2, 3] and len(executor) == 1


def test_one_redactor_strips_every_secret_the_settings_hold(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "CAMPAIGN_DATA_DIR": str(tmp_path),
            "CAMPAIGN_DATABASE_URL": "postgresql+psycopg://campaign:p%40ss-word@db.example/campaign",
            "CAMPAIGN_REDIS_URL": "redis://:redis-secret@127.0.0.1:6379/0",
            "BLUESKY_HANDLE": "us.test",
            "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop",
            "MASTODON_API_BASE_URL": "https://social.example",
            "MASTODON_ACCESS_TOKEN": "token-0123456789",
        },
        dotenv_path=tmp_path / "none.env",
    )
    redact = Redactor.for_settings(settings)
    text = "connect p@ss-word p%40ss-word redis-secret abcd-efgh-ijkl-mnop token-0123456789 failed"
    assert redact(text) == "connect ******** ******** ******** ******** ******** failed"
    # The CLI, the workers and the web face all get this one through the wiring (a local database here: the
    # store connects when built).
    local = replace(settings, database_url=f"sqlite:///{tmp_path / 'campaign.db'}")
    api = Api.from_settings(local)
    try:
        assert api.wiring.redact("redis-secret token-0123456789 abcd-efgh-ijkl-mnop") == "******** " * 2 + "********"
    finally:
        api.close()


def test_settings_defaults_are_written_once_and_tuned_by_the_environment(tmp_path: Path) -> None:
    quiet = load_settings({"CAMPAIGN_DATA_DIR": str(tmp_path)}, dotenv_path=tmp_path / "none.env")
    assert (quiet.tick_seconds, quiet.collect_seconds, quiet.timezone) == (5.0, 300.0, "Europe/London")
    tuned = load_settings(
        {"CAMPAIGN_DATA_DIR": str(tmp_path), "CAMPAIGN_TICK_SECONDS": "1.5", "CAMPAIGN_MAX_ATTEMPTS": "3"},
        dotenv_path=tmp_path / "none.env",
    )
    assert (tuned.tick_seconds, tuned.max_attempts) == (1.5, 3)
    # What a child process is given reproduces the same settings.
    again = load_settings(tuned.to_env(), dotenv_path=tmp_path / "none.env")
    assert again == tuned


def test_a_refusal_is_its_lines_and_its_exit_code_at_every_command() -> None:
    @click.group(cls=CampaignGroup)
    def main() -> None:
        pass

    @main.command()
    def wrong() -> None:
        raise UsageRefused("The folder x has no calendar files in it: name one that does.")

    @main.command()
    def refused() -> None:
        raise Refused("Nothing was scheduled.", "Fix the errors above.")

    runner = CliRunner()
    usage = runner.invoke(main, ["wrong"])
    assert usage.exit_code == 2 and "no calendar files" in usage.output and "Traceback" not in usage.output
    plain = runner.invoke(main, ["refused"])
    assert plain.exit_code == 1 and plain.output.splitlines() == ["Nothing was scheduled.", "Fix the errors above."]
