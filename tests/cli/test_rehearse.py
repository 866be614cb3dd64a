"""`campaign rehearse` as people follow it: a header (campaigns, the window in their zone, the speed, an estimate
made from the posts' times, the speed and the skip rule), quiet gaps skipped unless --real-gaps, each part's
planned and actual time with its zone, a summary, and --json. Through Click's runner, on the real engine."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from platforms.outbox import read_outbox
from scheduler.rehearse import GAP_PAUSE, WORK_SECONDS
from tests.support.cli import cli_env, invoke
from tests.support.engine import write_calendar, write_campaign

MONDAY = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # 09:00 GMT
WEEK = timedelta(days=7)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    return cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))


@pytest.fixture
def gap_calendar(env: dict[str, str], tmp_path: Path) -> Path:
    """Two posts on Monday morning, then nothing for a week, then one more: six parts on two platforms."""
    folder = write_campaign(tmp_path / "campaigns")
    posts = [
        ("first", MONDAY, "First #ActOnIICSA"),
        ("second", MONDAY + timedelta(seconds=30), "Second #ActOnIICSA"),
        ("after-the-gap", MONDAY + WEEK, "A week later #ActOnIICSA"),
    ]
    return write_calendar(folder, "gap.yaml", posts)


def rehearse_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["rehearse", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_week_long_gap_is_skipped_and_the_header_says_so_with_an_honest_estimate(gap_calendar: Path) -> None:
    began = time.monotonic()
    code, output = invoke("rehearse", str(gap_calendar))
    took = time.monotonic() - began
    assert code == 0, output
    # At the default speed the week would take over ten minutes: skipped, it takes seconds.
    assert took < 60, f"the week's gap was played, not skipped ({took:.0f} s)"
    lines = output.splitlines()
    assert lines[0] == (
        "Rehearsing demo: 3 posts (6 parts), from Mon 01 Feb 2027 09:00 GMT to Mon 08 Feb 2027 09:00 GMT "
        "(Europe/London)."
    )
    assert lines[1] == (
        "Speed: 1000 times real time. Quiet gaps are skipped: each wait for the next post lasts at most 1 second, "
        "then the clock jumps to it (--real-gaps plays them at this speed: about 10 minutes)."
    )
    estimate = re.fullmatch(r"Estimated real time: about (\d+) seconds?\. Nothing reaches any platform\.", lines[2])
    assert estimate, lines[2]
    # A minute from the start to the first post, 30 s to the second (0.03 s at this speed), a week to the third
    # (cut to a second), and the posting itself.
    expected = 0.06 + 0.03 + GAP_PAUSE + 6 * WORK_SECONDS
    assert int(estimate.group(1)) == round(expected)
    # Each part: its planned and actual time, each with its zone.
    assert re.search(r"^Mon 01 Feb 2027 09:00 GMT planned, out 09:00:0\d GMT \(\+\d\.\d{3} s\)  bluesky  demo/first$",
                     output, re.MULTILINE)  # fmt: skip
    assert re.search(r"^Mon 08 Feb 2027 09:00 GMT planned, out 09:00:0\d GMT .* mastodon demo/after-the-gap$",
                     output, re.MULTILINE)  # fmt: skip
    assert "Rehearsal done: 6 published, 0 missed, 0 failed." in output
    assert re.search(r"^Largest lag: \+\d\.\d{3} s \(demo/[a-z-]+ on (Bluesky|Mastodon)\)\.$", output, re.MULTILINE)
    assert re.search(r"^Took about \d+ seconds? \(estimated about \d+ seconds?\)\.$", output, re.MULTILINE)
    outbox = Path(output.rsplit("Outbox: ", 1)[1].strip())
    assert len(read_outbox(outbox)) == 6
    assert f"See what would have been sent: campaign outbox --path {outbox} --tail 0" in output


def test_real_gaps_play_the_gap_at_speed_and_the_estimate_says_how_long(gap_calendar: Path) -> None:
    speed = 200_000  # a week is 3 real seconds
    began = time.monotonic()
    shown = rehearse_json(str(gap_calendar), "--real-gaps", "--speed", str(speed))
    took = time.monotonic() - began
    header, summary = shown["header"], shown["summary"]
    whole = (WEEK + timedelta(minutes=1)).total_seconds() / speed  # from a minute before the first post
    assert header["quiet_gaps"] == "played" and header["pause_seconds"] is None
    assert header["estimated_seconds"] == pytest.approx(whole + 6 * WORK_SECONDS, abs=0.1)
    assert took >= whole and summary["real_seconds"] >= whole  # the week was waited through, at speed
    assert summary["published"] == 6


def test_json_is_one_object_with_the_header_each_part_and_the_summary(gap_calendar: Path) -> None:
    shown = rehearse_json(str(gap_calendar))
    assert sorted(shown) == ["header", "posts", "summary"]
    header = shown["header"]
    window = {"first": "2027-02-01T09:00:00+00:00", "last": "2027-02-08T09:00:00+00:00"}
    assert header["campaigns"] == [{"campaign": "demo", "timezone": "Europe/London", "posts": 3, "parts": 6, **window}]
    assert (header["speed"], header["quiet_gaps"], header["pause_seconds"]) == (1000.0, "skipped", GAP_PAUSE)
    assert header["estimated_seconds_with_real_gaps"] == pytest.approx(604.86 + 6 * WORK_SECONDS, abs=0.1)
    assert header["estimated_seconds"] == pytest.approx(0.09 + GAP_PAUSE + 6 * WORK_SECONDS, abs=0.1)
    posts = shown["posts"]
    assert [(p["post_id"], p["platform"]) for p in posts] == [
        ("first", "bluesky"), ("first", "mastodon"), ("second", "bluesky"), ("second", "mastodon"),
        ("after-the-gap", "bluesky"), ("after-the-gap", "mastodon"),
    ]  # fmt: skip
    for post in posts:
        planned, actual = datetime.fromisoformat(post["planned"]), datetime.fromisoformat(post["actual"])
        assert post["result"] == "published" and timedelta(0) <= actual - planned < timedelta(seconds=30)
        assert post["lag_seconds"] == pytest.approx((actual - planned).total_seconds(), abs=0.001)
    summary = shown["summary"]
    assert (summary["published"], summary["missed"], summary["failed"], summary["not_played"]) == (6, 0, 0, 0)
    assert summary["largest_lag_seconds"] == max(p["lag_seconds"] for p in posts)
    assert summary["largest_lag"]["lag_seconds"] == summary["largest_lag_seconds"]
    assert len(read_outbox(Path(summary["outbox"]))) == 6


def test_a_post_past_its_grace_at_the_start_is_shown_missed_and_the_rehearsal_exits_1(gap_calendar: Path) -> None:
    code, output = invoke("rehearse", str(gap_calendar), "--start", "2027-02-01T12:00")
    assert code == 1, output
    assert re.search(r"^Mon 01 Feb 2027 09:00 GMT planned, not posted \(missed\)  bluesky  demo/first$", output,
                     re.MULTILINE)  # fmt: skip
    assert "Rehearsal done: 2 published, 4 missed, 0 failed." in output


def test_summer_time_is_shown_as_bst(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    calendar = write_calendar(
        folder, "spring.yaml", [("spring", datetime(2027, 4, 1, 8, 0, tzinfo=UTC), "Hi #ActOnIICSA")]
    )
    code, output = invoke("rehearse", str(calendar), "--speed", "1e6")
    assert code == 0, output
    assert "from Thu 01 Apr 2027 09:00 BST to Thu 01 Apr 2027 09:00 BST (Europe/London)" in output
    assert "Thu 01 Apr 2027 09:00 BST planned, out 09:00:0" in output


def test_a_speed_of_nothing_is_refused(gap_calendar: Path) -> None:
    code, output = invoke("rehearse", str(gap_calendar), "--speed", "0")
    assert code == 2 and "--speed" in output and "more than 0" in output
