"""Calendar files as the application sees them: folders expanded, every file checked together (ids are unique
across a campaign's files), and the sync of a clean set into the store in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from content_calendar.campaign import CAMPAIGN_FILE
from content_calendar.loaders import is_calendar_file
from content_calendar.model import PlatformLimits, Problem
from content_calendar.validate import CheckResult, check_calendar, cross_file_problems
from scheduler.capacity import rate_limit_warnings
from scheduler.db import Store
from scheduler.errors import Refused, UsageRefused
from scheduler.sync import CalendarInput, SyncReport, schedule_calendars

CALENDAR_SUFFIXES = (".yaml", ".yml", ".csv", ".tsv", ".txt", ".xlsx", ".ods")  # .txt: a sheet saved as text


def calendar_files(paths: Iterable[Path]) -> list[Path]:
    """The paths given, with folders expanded to the calendar files inside them (campaign.yaml excluded).

    A file reached twice (named twice, inside a folder also given, or by a relative and an absolute path) is
    checked once, under the first spelling: checking it twice would report its ids as used in two files.
    A folder with no calendar file in it is a usage error, not an empty success."""
    files: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in CALENDAR_SUFFIXES and p.name != CAMPAIGN_FILE and is_calendar_file(p)
            )
            if not found:
                raise UsageRefused(
                    f"The folder {path} has no calendar files ({', '.join(CALENDAR_SUFFIXES)}) in it: "
                    "name a calendar file or a folder that holds some."
                )
        else:
            found = [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files


@dataclass
class CheckedCalendars:
    results: list[CheckResult]
    inputs: list[CalendarInput]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]


def check_calendars(
    paths: Sequence[Path],
    *,
    now: datetime | None,
    campaigns_roots: Sequence[Path],
    limits: PlatformLimits,
    secrets: Sequence[str] = (),
) -> CheckedCalendars:
    """Check every calendar (folders expanded) and the ids across them; each cross-file problem is also kept
    with the result of the file it is in, so a face can show problems file by file. A calendar holding one of
    `secrets` (the configured passwords and tokens) is refused without repeating it."""
    results = [
        check_calendar(path, now=now, limits=limits, campaigns_roots=list(campaigns_roots), secrets=secrets)
        for path in calendar_files(paths)
    ]
    across = cross_file_problems(results)
    for result in results:
        result.problems.extend(p for p in across if p.file == str(result.path))
    inputs = [
        CalendarInput(result.calendar, result.campaign, result.rendered)
        for result in results
        if result.ok and result.calendar is not None and result.campaign is not None
    ]
    problems = [problem for result in results for problem in result.problems]
    return CheckedCalendars(results, inputs, problems)


class CalendarRefused(Refused):
    """Calendars with errors: nothing is scheduled. `problems` keeps them for a face that shows more."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(
            *(p.format() for p in self.problems),
            "Nothing was scheduled: fix the errors above and run `campaign schedule` again.",
        )


@dataclass
class Scheduled:
    report: SyncReport
    warnings: list[Problem]


def schedule_paths(
    store: Store,
    paths: Sequence[Path],
    *,
    now: datetime,
    campaigns_roots: Sequence[Path],
    actor: str,
    limits: PlatformLimits,
    secrets: Sequence[str] = (),
) -> Scheduled:
    """Validate every calendar, then sync them all in one transaction. Any error: nothing is written."""
    checked = check_calendars(paths, now=now, campaigns_roots=campaigns_roots, limits=limits, secrets=secrets)
    if checked.errors:
        raise CalendarRefused(checked.errors)
    report = schedule_calendars(store, checked.inputs, now, actor=actor)
    return Scheduled(report, checked.warnings + rate_limit_warnings(store, checked.inputs, now))
