"""Spreadsheets as they come: the separator a European Excel uses (semicolons), tab-separated text and Excel's
"Unicode text" (UTF-16), Google Sheets' CSV export, and .xlsx and .ods workbooks read with their own date and
time cells; every problem named by the row a person sees and the cell's column ("row 4, column C (time)")."""

from __future__ import annotations

import codecs
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from content_calendar.loaders import is_calendar_file, load_calendar
from content_calendar.model import PLATFORMS, Problem
from content_calendar.validate import check_calendar
from tests.calendar.conftest import WriteCalendar

LONDON = ZoneInfo("Europe/London")
HEADER = ["id", "date", "time", "platforms", "text"]


def _codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def write_xlsx(
    path: Path, rows: list[list[Any]], *, sheet: str = "Posts", extra: dict[str, list[list[Any]]] | None = None
) -> Path:
    """A workbook as Excel writes one: date cells shown month first (a US display), time cells as times."""
    book = openpyxl.Workbook()
    worksheet = book.active
    assert worksheet is not None
    worksheet.title = sheet
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is None:
                continue
            cell = worksheet.cell(row=number, column=column, value=value)
            if isinstance(value, datetime):
                cell.number_format = "mm/dd/yyyy hh:mm"
            elif isinstance(value, date):
                cell.number_format = "mm/dd/yyyy"
            elif isinstance(value, time):
                cell.number_format = "hh:mm"
    for name, other_rows in (extra or {}).items():
        other = book.create_sheet(name)
        for row in other_rows:
            other.append(row)
    book.save(path)
    return path


def write_ods(path: Path, rows: list[list[Any]], *, sheet: str = "Posts") -> Path:
    """An OpenDocument spreadsheet: date and time cells with their values (displayed month first), a cell's
    lines as paragraphs, and blank rows folded into one repeated row as LibreOffice writes them."""
    document = OpenDocumentSpreadsheet()
    table = Table(name=sheet)
    blank = 0
    for row in rows:
        if not row:
            blank += 1
            continue
        if blank:
            table.addElement(TableRow(numberrowsrepeated=blank))
            blank = 0
        element = TableRow()
        for value in row:
            element.addElement(_ods_cell(value))
        table.addElement(element)
    document.spreadsheet.addElement(table)
    document.save(str(path))
    return path


def _ods_cell(value: Any) -> TableCell:
    if value is None:
        return TableCell()
    if isinstance(value, datetime):
        cell = TableCell(valuetype="date", datevalue=f"{value:%Y-%m-%dT%H:%M:%S}")
        cell.addElement(P(text=f"{value:%m/%d/%Y %H:%M}"))
    elif isinstance(value, date):
        cell = TableCell(valuetype="date", datevalue=f"{value:%Y-%m-%d}")
        cell.addElement(P(text=f"{value:%m/%d/%Y}"))
    elif isinstance(value, time):
        cell = TableCell(valuetype="time", timevalue=f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S")
        cell.addElement(P(text=f"{value:%H:%M}"))
    elif isinstance(value, int | float):
        cell = TableCell(valuetype="float", value=value)
        cell.addElement(P(text=str(value)))
    else:
        cell = TableCell(valuetype="string")
        for line in str(value).split("\n"):
            cell.addElement(P(text=line))
    return cell


WRITERS = {"xlsx": write_xlsx, "ods": write_ods}


# --- text sheets -------------------------------------------------------------------------------------


def test_a_semicolon_csv_from_a_european_excel_loads(write_calendar: WriteCalendar) -> None:
    content = (
        "id;date;time;platforms;text\r\n"
        'launch;01/02/2027;09:00;bluesky, mastodon;"Hello, world; it starts #DemoCampaign"\r\n'
        "second;2027-02-02;18:30;;Two #DemoCampaign\r\n"
    )
    path = write_calendar("euro.csv", ("\ufeff" + content).encode("utf-8"))
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None
    launch, second = calendar.posts
    assert (launch.id, launch.text, launch.platforms) == ("launch", "Hello, world; it starts #DemoCampaign", PLATFORMS)
    assert launch.at == datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
    assert (second.id, second.line, second.at) == ("second", 3, datetime(2027, 2, 2, 18, 30, tzinfo=LONDON))


def test_an_unknown_header_says_which_separator_it_was_read_with(write_calendar: WriteCalendar) -> None:
    path = write_calendar("odd.csv", "when;what;where\n01/02/2027 09:00;x;y\n")
    _, _, problems = load_calendar(path)
    assert _codes(problems) == ["csv-header"]
    assert "(when, what, where)" in problems[0].message and "separated by semicolons" in problems[0].message
    assert problems[0].format().startswith(f"{path}, row 1: error:")


def test_a_hootsuite_sheet_with_semicolons_is_still_hootsuite(write_calendar: WriteCalendar) -> None:
    path = write_calendar("hs.csv", "01/02/2027 09:00;Hello, friends #DemoCampaign;https://example.org/a\n")
    calendar, _, problems = load_calendar(path)
    assert problems == [] and calendar is not None and calendar.source_format == "hootsuite"
    post = calendar.posts[0]
    assert post.text == "Hello, friends #DemoCampaign" and post.link is not None


def test_tab_separated_and_excel_unicode_text_load_as_they_are(
    write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    rows = [
        "\t".join(HEADER),
        'launch\t01/02/2027\t09:00\tbluesky\t"Two\r\nlines #DemoCampaign"',
        "second\t03/02/2027\t18:30\t\tTab-free text, with commas; and semicolons #DemoCampaign",
    ]
    text = "\r\n".join(rows) + "\r\n"
    tsv = write_calendar("week.tsv", text)
    # Excel's "Unicode text": UTF-16 (little-endian) with a byte order mark, tabs between cells, CRLF
    unicode_text = write_calendar("week.txt", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    for path in (tsv, unicode_text):
        calendar, _, problems = load_calendar(path)
        assert problems == [], path
        assert calendar is not None
        launch, second = calendar.posts
        assert (launch.text, launch.platforms, launch.line) == ("Two\nlines #DemoCampaign", ("bluesky",), 2)
        assert second.at == datetime(2027, 2, 3, 18, 30, tzinfo=LONDON) and second.line == 3
        assert is_calendar_file(path)
    notes = campaign_dir / "calendars" / "notes.txt"
    notes.write_text("Ideas for next year: ask the survivors' panel first.\n", encoding="utf-8")
    assert not is_calendar_file(notes)  # notes are not a calendar, and a folder's check leaves them out
    _, _, problems = load_calendar(notes)
    assert _codes(problems) == ["unsupported-file"]


def test_google_sheets_csv_export_loads_as_it_is(write_calendar: WriteCalendar) -> None:
    # CRLF between rows, LF inside a quoted cell, 24-hour times with seconds, empty trailing columns
    content = (
        "id,date,time,platforms,text,,\r\n"
        'launch,01/02/2027,9:00:00,bluesky,"First line\nsecond line #DemoCampaign",,\r\n'
        "later,02/02/2027,18:30:00,,Later #DemoCampaign,,\r\n"
    )
    path = write_calendar("export.csv", content.encode("utf-8"))
    calendar, _, problems = load_calendar(path)
    assert problems == [] and calendar is not None
    launch, later = calendar.posts
    assert launch.text == "First line\nsecond line #DemoCampaign"
    assert launch.at == datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
    assert later.at == datetime(2027, 2, 2, 18, 30, tzinfo=LONDON) and later.line == 3


def test_a_quoted_cell_with_line_breaks_does_not_shift_the_rows_after_it(write_calendar: WriteCalendar) -> None:
    content = (
        "id,date,time,text\n"
        'first,01/02/2027,09:00,"One\ntwo\nthree #DemoCampaign"\n'
        "second,01/02/2027,10:00,Fine #DemoCampaign\n"
        "third,01/02/2027,9am-ish,Bad time #DemoCampaign\n"
    )
    path = write_calendar("multi.csv", content)
    result = check_calendar(path)
    (problem,) = result.problems
    # line 6 of the file, row 4 of the spreadsheet
    assert (problem.code, problem.post_id, problem.line) == ("invalid-time", "third", 4)
    assert problem.place == "row 4, column C (time)"
    assert problem.format().startswith(f"{path}, row 4, column C (time): post third: error: Cannot read the time")


def test_sheet_problems_name_the_row_and_column(write_calendar: WriteCalendar) -> None:
    content = (
        "id,date,time,text,link,status\n"
        "a,31/02/2027,09:00,Bad date #DemoCampaign,,\n"
        "b,01/02/2027,09:00,Bad link #DemoCampaign,ftp://x,\n"
        "c,01/02/2027,09:00,Bad status #DemoCampaign,,maybe\n"
        "d,01/02/2027,09:00,,,\n"
    )
    path = write_calendar("cells.csv", content)
    places = {(p.code, p.place) for p in check_calendar(path).problems}
    assert places == {
        ("invalid-time", "row 2, column B (date)"),
        ("link-invalid-url", "row 3, column E (link)"),
        ("invalid-status", "row 4, column F (status)"),
        ("empty-text", "row 5"),
    }


def test_a_duplicate_in_a_sheet_names_rows(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "dupes.csv", "id,date,time,text\nx,01/02/2027,09:00,A #DemoCampaign\nx,01/02/2027,10:00,B #DemoCampaign\n"
    )
    (problem,) = check_calendar(path).problems
    assert problem.code == "duplicate-id" and problem.place == "row 3, column A (id)"
    assert "(first on row 2)" in problem.message


# --- workbooks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_workbook_uses_its_own_date_and_time_cells(kind: str, campaign_dir: Path) -> None:
    path = WRITERS[kind](
        campaign_dir / "calendars" / f"week.{kind}",
        [
            HEADER,
            # shown as 02/03/2027 (month first) but the cell holds 3 February: the value is what counts
            ["launch", date(2027, 2, 3), time(9, 0), "bluesky", "Two\nlines #DemoCampaign"],
            [],
            ["typed", "01/02/2027", "18:30", "", "Typed as text, read day first #DemoCampaign"],
            ["numbered", date(2027, 2, 4), time(12, 15), "", 2027],
        ],
    )
    calendar, _, problems = load_calendar(path)
    assert problems == [], [p.format() for p in problems]
    assert calendar is not None
    launch, typed, numbered = calendar.posts
    assert (launch.at, launch.text, launch.platforms, launch.line) == (
        datetime(2027, 2, 3, 9, 0, tzinfo=LONDON),
        "Two\nlines #DemoCampaign",
        ("bluesky",),
        2,
    )
    assert (typed.at, typed.line) == (datetime(2027, 2, 1, 18, 30, tzinfo=LONDON), 4)  # the blank row 3 counts
    assert numbered.id == "numbered" and numbered.text == "2027"  # a number cell's text has no ".0"


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_workbook_names_the_cell_of_a_problem(kind: str, campaign_dir: Path) -> None:
    path = WRITERS[kind](
        campaign_dir / "calendars" / f"bad.{kind}",
        [
            ["ID", "Date", "Time", "Platforms", "Text"],
            ["ok", date(2027, 2, 1), time(9, 0), "", "Fine #DemoCampaign"],
            ["no-date", "", time(9, 0), "", "No date #DemoCampaign"],
            ["bad-time", date(2027, 2, 1), "half nine", "", "Bad time #DemoCampaign"],
            ["bad-platform", date(2027, 2, 1), time(10, 0), "myspace", "Old #DemoCampaign"],
            ["serial", 46422, time(10, 0), "", "A date cell formatted as a number #DemoCampaign"],
        ],
    )
    problems = check_calendar(path).problems
    assert [(p.code, p.post_id, p.place) for p in problems] == [
        ("missing-time", "no-date", "row 3, column B (Date)"),
        ("invalid-time", "bad-time", "row 4, column C (Time)"),
        ("unknown-platform", "bad-platform", "row 5, column D (Platforms)"),
        ("invalid-time", "serial", "row 6, column B (Date)"),
    ]
    assert "holds the number 46422, not a date" in problems[3].message
    assert f"{path}, row 4, column C (Time): post bad-time: error: Cannot read the time" in problems[1].format()


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_hootsuite_and_sprout_sheets_in_workbooks(kind: str, campaign_dir: Path) -> None:
    hootsuite = WRITERS[kind](
        campaign_dir / "calendars" / f"hootsuite.{kind}",
        [[datetime(2027, 2, 1, 9, 0), "Hello #DemoCampaign", "https://example.org/a"]],
    )
    calendar, _, problems = load_calendar(hootsuite)
    assert problems == [] and calendar is not None and calendar.source_format == "hootsuite"
    assert calendar.posts[0].at == datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
    sprout = WRITERS[kind](
        campaign_dir / "calendars" / f"sprout.{kind}",
        [
            ["Date", "Time (24hr)", "Message Text", "Link"],
            [date(2027, 2, 2), time(14, 5), "Sprout #DemoCampaign", "https://example.org/b"],
            [date(2027, 2, 2), "25:00", "Bad #DemoCampaign", ""],
        ],
    )
    calendar, _, problems = load_calendar(sprout)
    assert calendar is not None and calendar.source_format == "sprout"
    assert calendar.posts[0].at == datetime(2027, 2, 2, 14, 5, tzinfo=LONDON)
    assert [(p.code, p.place) for p in problems] == [("invalid-time", "row 3, column B (Time (24hr))")]


def test_a_workbook_reads_the_calendar_sheet_and_says_which(campaign_dir: Path) -> None:
    path = write_xlsx(
        campaign_dir / "calendars" / "book.xlsx",
        [["Read me first: one row per post."]],
        sheet="Instructions",
        extra={
            "Week 1": [HEADER, ["a", date(2027, 2, 1), time(9, 0), "", "One #DemoCampaign"]],
            "Week 2": [HEADER, ["b", date(2027, 2, 8), time(9, 0), "", "Two #DemoCampaign"]],
        },
    )
    calendar, _, problems = load_calendar(path)
    assert calendar is not None and [p.id for p in calendar.posts] == ["a"]
    assert _codes(problems) == ["ignored-sheet"]
    assert '"Week 2"' in problems[0].message and '"Week 1"' in problems[0].message
    bad = write_xlsx(
        campaign_dir / "calendars" / "bad-book.xlsx",
        [HEADER, ["x", date(2027, 2, 1), "noon?", "", "x"]],
        extra={"Notes": [["n"]]},
    )
    problems = check_calendar(bad).problems
    assert [p.place for p in problems if p.code == "invalid-time"] == ['sheet "Posts", row 2, column C (time)']


def test_a_damaged_or_renamed_workbook_is_reported_not_raised(campaign_dir: Path) -> None:
    fake = campaign_dir / "calendars" / "renamed.xlsx"
    fake.write_text("id,date,time,text\n", encoding="utf-8")
    _, _, problems = load_calendar(fake)
    assert _codes(problems) == ["file-unreadable"] and "save it again" in problems[0].fix
    lock = campaign_dir / "calendars" / "~$renamed.xlsx"
    lock.write_bytes(b"\x00" * 165)
    assert not is_calendar_file(lock)  # Excel's owner file while the workbook is open
    _, _, problems = load_calendar(campaign_dir / "calendars" / "old.xls")
    assert _codes(problems) == ["file-not-found"]
    (campaign_dir / "calendars" / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    _, _, problems = load_calendar(campaign_dir / "calendars" / "old.xls")
    assert _codes(problems) == ["unsupported-file"] and "save it as .xlsx" in problems[0].fix


def test_a_workbook_without_a_calendar_sheet_says_what_its_first_row_is(campaign_dir: Path) -> None:
    path = write_xlsx(
        campaign_dir / "calendars" / "plan.xlsx",
        [],
        sheet="Cover",
        extra={"Plan": [["When", "What"], [date(2027, 2, 1), "Launch"]]},
    )
    _, _, problems = load_calendar(path)
    assert _codes(problems) == ["csv-header"] and "(When, What)" in problems[0].message
    assert problems[0].place == 'sheet "Plan", row 1'
