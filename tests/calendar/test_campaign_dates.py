"""The campaign's dates: campaign.yaml's `dates: {from, to}` and the warning for a post outside them, which
names the date in words and, where day and month could be swapped, the other reading."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from content_calendar.campaign import load_campaign
from content_calendar.model import CalendarError, CampaignDates
from content_calendar.validate import check_calendar
from tests.calendar.conftest import WriteCalendar
from tests.calendar.test_spreadsheets import write_xlsx

WEEK = "dates: {from: 2027-02-01, to: 2027-02-07}\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def week(campaign_dir: Path) -> Path:
    """The demo campaign, running 1 to 7 February 2027."""
    with (campaign_dir / "campaign.yaml").open("a", encoding="utf-8") as handle:
        handle.write(WEEK)
    return campaign_dir


def test_campaign_yaml_gives_the_window(week: Path) -> None:
    assert load_campaign(week).dates == CampaignDates(date(2027, 2, 1), date(2027, 2, 7))
    assert CampaignDates(date(2027, 2, 1), date(2027, 2, 7)).describe() == "1 to 7 February 2027"
    assert CampaignDates(date(2027, 1, 28), date(2027, 2, 3)).describe() == "28 January to 3 February 2027"
    assert CampaignDates(date(2026, 12, 28), date(2027, 1, 3)).describe() == "28 December 2026 to 3 January 2027"
    assert CampaignDates(date(2027, 2, 1), date(2027, 2, 1)).describe() == "1 February 2027"


def test_the_awareness_week_has_its_dates_and_its_calendars_are_inside_them() -> None:
    folder = ROOT / "campaigns" / "sasvaw-week"
    assert load_campaign(folder).dates == CampaignDates(date(2027, 2, 1), date(2027, 2, 7))
    for calendar in sorted((folder / "calendars").iterdir()):
        assert [p for p in check_calendar(calendar).problems if p.code == "outside-campaign-dates"] == []


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        ("dates: {from: 01/02/2027, to: 2027-02-07}", "`dates: from` is `01/02/2027`, which is not a date written"),
        ("dates: {from: 2027-02-30, to: 2027-03-07}", "`dates: from` is `2027-02-30`, which is not a real date"),
        ("dates: {from: 2027-02-07, to: 2027-02-01}", "`dates` ends (2027-02-01) before it starts (2027-02-07)"),
        ("dates: {from: 2027-02-01}", "`dates` has no `to`"),
        ("dates: {start: 2027-02-01, to: 2027-02-07}", "Unknown key `start`"),
        ("dates: 2027-02-01", "`dates` must give the first and last day"),
    ],
)
def test_a_bad_window_is_a_clear_error(campaign_dir: Path, dates: str, message: str) -> None:
    with (campaign_dir / "campaign.yaml").open("a", encoding="utf-8") as handle:
        handle.write(dates + "\n")
    with pytest.raises(CalendarError) as raised:
        load_campaign(campaign_dir)
    messages = [p.message for p in raised.value.problems]
    assert any(message in m for m in messages), messages
    assert all(p.line is not None for p in raised.value.problems)


def test_a_swapped_date_outside_the_week_is_a_warning_with_the_other_reading(
    week: Path, write_calendar: WriteCalendar
) -> None:
    path = write_calendar(
        "week.csv",
        "id,date,time,text\n"
        "launch,01/02/2027,09:00,Launch #DemoCampaign\n"
        "meant-third,02/03/2027,09:00,Meant as 3 February #DemoCampaign\n"
        "late,20/02/2027,09:00,After the week #DemoCampaign\n",
    )
    result = check_calendar(path)
    assert result.ok  # a warning: the post may be meant to go out after the week
    swapped, late = result.warnings
    assert (swapped.code, swapped.post_id, swapped.place) == (
        "outside-campaign-dates",
        "meant-third",
        "row 3, column B (date)",
    )
    assert swapped.message == "Tue 2 Mar 2027 is outside the campaign's dates (1 to 7 February 2027)."
    assert swapped.fix.startswith(
        "If you meant 3 February, write 03/02/2027 (day first) or 2027-02-03 instead of 02/03/2027"
    )
    assert late.message == "Sat 20 Feb 2027 is outside the campaign's dates (1 to 7 February 2027)."
    assert "If you meant" not in late.fix and "campaign.yaml" in late.fix


def test_a_yaml_post_outside_the_week(week: Path, write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "week.yaml",
        """
        posts:
          - id: in-week
            at: "2027-02-07 23:30"
            text: "Last evening #DemoCampaign"
          - id: slashed
            at: "02/03/2027 09:00"
            text: "Meant as 3 February #DemoCampaign"
        """,
    )
    (problem,) = check_calendar(path).warnings
    assert (problem.code, problem.post_id, problem.line, problem.place) == (
        "outside-campaign-dates",
        "slashed",
        6,
        None,
    )
    assert "If you meant 3 February, write 03/02/2027" in problem.fix


def test_a_date_cell_outside_the_week_suggests_the_spreadsheet_read_it_month_first(week: Path) -> None:
    path = write_xlsx(
        week / "calendars" / "week.xlsx",
        [
            ["id", "date", "time", "text"],
            ["cell", date(2027, 3, 2), time(9, 0), "Typed in a US spreadsheet #DemoCampaign"],
        ],
    )
    (problem,) = check_calendar(path).warnings
    assert problem.message == "Tue 2 Mar 2027 is outside the campaign's dates (1 to 7 February 2027)."
    assert problem.fix.startswith("If you meant 3 February, the spreadsheet read the date month first")


def test_no_window_no_warning(write_calendar: WriteCalendar) -> None:
    path = write_calendar("any.csv", "id,date,time,text\nlater,02/03/2027,09:00,Any day #DemoCampaign\n")
    assert check_calendar(path).problems == []
