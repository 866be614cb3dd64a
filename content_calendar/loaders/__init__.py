"""Read calendar files (YAML, our CSV, Hootsuite and Sprout Social bulk sheets) into a `Calendar`.

Loading never raises for what a file says: every problem becomes a `Problem` with the file (as the user
gave it), the post id, the line and a fix. Posts are kept as far as they can be built so that one run of
validation reports everything.

The package's modules follow the seams of that work: `times` (dates, clock times, "day N", zones and clock
changes), `base` (the reader the formats share, the line map and `LoadedCalendar`), `yaml_fields` and
`yaml_calendar` (the YAML calendar), `csv_sheets` (our CSV, Hootsuite and Sprout Social sheets).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from content_calendar.loaders.base import LoadedCalendar, PartLines, PostLines, SourceFormat
from content_calendar.loaders.csv_sheets import CsvReader, stable_id
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
    "LoadedCalendar",
    "PartLines",
    "PostLines",
    "SourceFormat",
    "TimeError",
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


def load_calendar_detailed(
    path: Path | str, *, campaigns_roots: Sequence[Path] = (), today: date | None = None
) -> LoadedCalendar:
    """load_calendar plus the line map of every post (what validation needs)."""
    path = Path(path)
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        if not path.exists():  # say so first: "not a calendar file" would send the user looking at its name
            unusable = Problem(
                "error",
                "file-not-found",
                file,
                "The file does not exist.",
                "Check the path (calendars are .yaml/.yml or .csv files).",
            )
        elif path.is_dir():
            unusable = Problem(
                "error",
                "file-not-found",
                file,
                "This is a folder, not a file.",
                "Give the path of a calendar file (.yaml/.yml or .csv).",
            )
        else:
            unusable = Problem(
                "error",
                "unsupported-file",
                file,
                f"`{path.name}` is not a calendar file.",
                "Calendars are .yaml/.yml or .csv files.",
            )
        return LoadedCalendar(file, None, None, [unusable])
    text, problem = read_text(path, file)
    if problem is not None:
        return LoadedCalendar(file, None, None, [problem])
    assert text is not None
    if suffix == ".csv":
        return CsvReader(path, campaigns_roots, today).read(text)
    doc, problem = parse_yaml(text, file)
    if problem is not None:
        return LoadedCalendar(file, None, None, [problem])
    assert doc is not None
    return YamlReader(path, campaigns_roots, today, doc).read()


def load_calendar(
    path: Path | str, *, campaigns_roots: Sequence[Path] = (), today: date | None = None
) -> tuple[Calendar | None, Campaign | None, list[Problem]]:
    """Read a calendar file (.yaml/.yml, or .csv: ours, Hootsuite or Sprout Social, sniffed from the header).

    Returns the calendar (None when the file could not be read as one), its campaign (None when it was not
    found or its campaign.yaml has problems) and the problems found while loading. Posts whose time could
    not be read are left out of the calendar (their problems say why). `today` only settles the century of
    two-digit years in spreadsheet dates.
    """
    loaded = load_calendar_detailed(path, campaigns_roots=campaigns_roots, today=today)
    return loaded.calendar, loaded.campaign, loaded.problems
