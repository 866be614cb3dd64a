"""One post, one file: the same post id in two calendar files of a campaign is an error naming both files and
where in them, when both are checked together, and a refusal at `schedule` when the store has the post from
another file that still has it (a copy of a calendar no longer moves its posts silently). Moving a post on
purpose still works: delete it from the old file first."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from content_calendar.model import DEFAULT_LIMITS
from content_calendar.validate import check_calendar, cross_file_problems
from scheduler.calendars import schedule_paths
from scheduler.db import Store
from scheduler.models import Delivery, PostRecord
from scheduler.sync import SyncRefused
from tests.calendar.conftest import WriteCalendar
from tests.support.cli import cli_env, invoke

NOW = datetime(2031, 1, 1, 9, 0, tzinfo=UTC)
SHEET = (
    "id,date,time,text\n"
    "launch,01/02/2031,09:00,Launch #DemoCampaign\n"
    "support,01/02/2031,12:00,Support lines #DemoCampaign\n"
)
YAML = """
posts:
  - id: evening
    at: "2031-02-01 18:00"
    text: "Evening #DemoCampaign"
  - id: support
    at: "2031-02-02 12:00"
    text: "Support lines again #DemoCampaign"
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


def _schedule(store: Store, *paths: Path) -> None:
    schedule_paths(store, list(paths), now=NOW, campaigns_roots=[], actor="test", limits=DEFAULT_LIMITS)


def _sources(store: Store) -> dict[str, str]:
    with store.transaction() as session:
        return {r.post_id: Path(r.source).name for r in session.scalars(select(PostRecord))}


def _deliveries(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def test_checked_together_the_error_names_both_files_and_places(write_calendar: WriteCalendar) -> None:
    sheet = write_calendar("day1.csv", SHEET)
    plan = write_calendar("week.yaml", YAML)
    (problem,) = cross_file_problems([check_calendar(sheet), check_calendar(plan)])
    assert (problem.code, problem.file, problem.post_id, problem.line) == ("duplicate-id", str(plan), "support", 5)
    assert f"is also used in {sheet}, row 3, another calendar of the campaign demo-campaign" in problem.message
    assert problem.format().startswith(f"{plan}:5: post support: error:")
    (other_way,) = cross_file_problems([check_calendar(plan), check_calendar(sheet)])
    assert other_way.place == "row 3" and f"also used in {plan}:5," in other_way.message


def test_scheduling_a_copy_of_a_calendar_is_refused_and_writes_nothing(
    store: Store, write_calendar: WriteCalendar
) -> None:
    original = write_calendar("day1.csv", SHEET)
    _schedule(store, original)
    before = _deliveries(store)
    copy = original.with_name("day1 (copy).csv")
    shutil.copy(original, copy)
    with pytest.raises(SyncRefused) as refused:
        _schedule(store, copy)
    reasons = refused.value.reasons
    assert len(reasons) == 2
    assert reasons[0].startswith(f"{copy}, row 2: post launch: this post is already scheduled from ")
    assert f"{original.resolve()}, row 2, and that file still has it" in reasons[0]
    assert "delete it from day1.csv first" in reasons[0]
    assert _sources(store) == {"launch": "day1.csv", "support": "day1.csv"} and _deliveries(store) == before


def test_a_post_moved_on_purpose_moves(store: Store, write_calendar: WriteCalendar) -> None:
    sheet = write_calendar("day1.csv", SHEET)
    _schedule(store, sheet)
    plan = write_calendar("week.yaml", YAML)
    with pytest.raises(SyncRefused) as refused:
        _schedule(store, plan)  # `support` is still in day1.csv
    (reason,) = refused.value.reasons
    assert reason.startswith(f"{plan}:5: post support: this post is already scheduled from {sheet.resolve()}, row 3")
    sheet.write_text(SHEET.replace("support,01/02/2031,12:00,Support lines #DemoCampaign\n", ""), encoding="utf-8")
    _schedule(store, plan)  # deleted from the old file: it moves
    assert _sources(store) == {"launch": "day1.csv", "support": "week.yaml", "evening": "week.yaml"}
    _schedule(store, sheet, plan)  # and both files together agree
    assert _sources(store)["support"] == "week.yaml"


def test_a_calendar_renamed_takes_its_posts_along(store: Store, write_calendar: WriteCalendar) -> None:
    sheet = write_calendar("day1.csv", SHEET)
    _schedule(store, sheet)
    renamed = sheet.rename(sheet.with_name("monday.csv"))
    _schedule(store, renamed)  # the old file is gone: nothing to keep the posts there
    assert _sources(store) == {"launch": "monday.csv", "support": "monday.csv"}


def test_campaign_schedule_of_a_copy_exits_non_zero_naming_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_calendar: WriteCalendar
) -> None:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))
    original = write_calendar("day1.csv", SHEET)
    code, output = invoke("schedule", str(original))
    assert code == 0, output
    copy = original.with_name("copy.csv")
    shutil.copy(original, copy)
    code, output = invoke("schedule", str(copy))
    assert code == 1, output
    assert f"{copy}, row 2: post launch: this post is already scheduled from" in output
    assert "day1.csv, row 2" in output and "Traceback" not in output
