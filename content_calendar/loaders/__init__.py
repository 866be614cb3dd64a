"""Read calendar files (YAML; our sheet, Hootsuite's and Sprout Social's as CSV, tab-separated text, .xlsx or
.ods) into a `Calendar`.

Loading never raises for what a file says: every problem becomes a `Problem` with the file (as the user
gave it), the post id, the line and a fix. Posts are kept as far as they can be built so that one run of
validation reports everything.

The package's modules follow the seams of that work: `times` (dates, clock times, "day N", zones and clock
changes), `base` (the reader the formats share, the line map and `LoadedCalendar`), `yaml_fields` and
`yaml_calendar` (the YAML calendar), `sheet_files` (spreadsheet files as numbered rows of cells) and
`csv_sheets` (our sheet, Hootsuite's and Sprout Social's).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from content_calendar.loaders.base import LoadedCalendar, PartLines, PostLines, SheetPlaces, SourceFormat
from content_calendar.loaders.csv_sheets import SheetReader, looks_known, stable_id
from content_calendar.loaders.sheet_files import (
    SHEET_SUFFIXES,
    TEXT_SUFFIXES,
    is_text_sheet,
    read_text_sheet,
    read_workbook,
)
from content_calendar.loaders.times import (
    TimeError,
    is_either_order_date,
    localize,
    parse_at,
    parse_clock,
    parse_clock_with_offset,
    parse_date,
    us_order_date,
)
from content_calendar.loaders.yaml_calendar import YamlReader
from content_calendar.model import Calendar, Campaign, Problem
from content_calendar.yaml_source import parse_yaml, read_text

__all__ = [
    "CALENDAR_SUFFIXES",
    "LoadedCalendar",
    "PartLines",
    "PostLines",
    "SheetPlaces",
    "SourceFormat",
    "TimeError",
    "is_calendar_file",
    "is_either_order_date",
    "load_calendar",
    "load_calendar_detailed",
    "localize",
    "parse_at",
    "parse_clock",
    "parse_clock_with_offset",
    "parse_date",
    "stable_id",
    "us_order_date",
]

CALENDAR_SUFFIXES = (".yaml", ".yml", *SHEET_SUFFIXES)
_KINDS = "Calendars are .yaml/.yml files or spreadsheets (.csv, .tsv, .xlsx, .ods, or .txt saved as Unicode text)"


def is_calendar_file(path: Path) -> bool:
    """Whether a file found in a folder is a calendar: a calendar's suffix, not an office suite's lock file
    (~$plan.xlsx, .~lock.plan.ods#), and for .txt a spreadsheet saved as text rather than notes."""
    if path.suffix.lower() not in CALENDAR_SUFFIXES or path.name.startswith(("~$", ".~lock.")) or not path.is_file():
        return False
    return path.suffix.lower() != ".txt" or is_text_sheet(path, looks_known)


def load_calendar_detailed(
    path: Path | str, *, campaigns_roots: Sequence[Path] = (), today: date | None = None
) -> LoadedCalendar:
    """load_calendar plus the line map of every post (what validation needs)."""
    path = Path(path)
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in CALENDAR_SUFFIXES or (
        suffix == ".txt" and path.is_file() and not is_text_sheet(path, looks_known)
    ):
        if not path.exists():  # say so first: "not a calendar file" would send the user looking at its name
            unusable = Problem(
                "error",
                "file-not-found",
                file,
                "The file does not exist.",
                f"Check the path ({_KINDS[0].lower()}{_KINDS[1:]}).",
            )
        elif path.is_dir():
            unusable = Problem(
                "error",
                "file-not-found",
                file,
                "This is a folder, not a file.",
                "Give the path of a calendar file (.yaml/.yml, .csv, .tsv, .txt, .xlsx or .ods).",
            )
        else:
            resave = " (save it as .xlsx or as CSV UTF-8)" if suffix in (".xls", ".numbers", ".xlsm", ".fods") else ""
            if suffix == ".txt":
                resave = (
                    " (a .txt file is read when it is a sheet saved as text: a header row with cells separated by tabs)"
                )
            unusable = Problem(
                "error", "unsupported-file", file, f"`{path.name}` is not a calendar file.", f"{_KINDS}.{resave}"
            )
        return LoadedCalendar(file, None, None, [unusable])
    if suffix in SHEET_SUFFIXES:
        reader = SheetReader(path, campaigns_roots, today)
        if suffix in TEXT_SUFFIXES:
            sheet = read_text_sheet(path, file, looks_known)
        else:
            sheet = read_workbook(path, file, looks_known)
        if isinstance(sheet, Problem):
            return LoadedCalendar(file, None, None, [sheet])
        return reader.read(sheet)
    text, problem = read_text(path, file)
    if problem is not None:
        return LoadedCalendar(file, None, None, [problem])
    assert text is not None
    doc, problem = parse_yaml(text, file)
    if problem is not None:
        return LoadedCalendar(file, None, None, [problem])
    assert doc is not None
    return YamlReader(path, campaigns_roots, today, doc).read()


def load_calendar(
    path: Path | str, *, campaigns_roots: Sequence[Path] = (), today: date | None = None
) -> tuple[Calendar | None, Campaign | None, list[Problem]]:
    """Read a calendar file (.yaml/.yml, or a spreadsheet: ours, Hootsuite's or Sprout Social's, told apart by its
    first row, as .csv, .tsv, .txt, .xlsx or .ods).

    Returns the calendar (None when the file could not be read as one), its campaign (None when it was not
    found or its campaign.yaml has problems) and the problems found while loading. Posts whose time could
    not be read are left out of the calendar (their problems say why). `today` only settles the century of
    two-digit years in spreadsheet dates.
    """
    loaded = load_calendar_detailed(path, campaigns_roots=campaigns_roots, today=today)
    return loaded.calendar, loaded.campaign, loaded.problems
