"""The corpus of broken calendars: each file must produce exactly the problems expected.yaml lists.

Also: the CLI exits 1 for each calendar with an error (0 for warning-only ones), and export-ical writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cli.calendar import calendar
from content_calendar.model import PlatformLimits, Problem
from content_calendar.validate import check_calendar

BROKEN = Path(__file__).parent / "broken"
CAMPAIGNS = BROKEN / "campaigns"
CALENDAR_SUFFIXES = {".yaml", ".yml", ".csv"}


def _cases() -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load((BROKEN / "expected.yaml").read_text(encoding="utf-8"))["cases"]
    cases = {}
    for name, spec in raw.items():
        cases[name] = spec if isinstance(spec, dict) else {"problems": spec}
    return cases


CASES = _cases()


def _check(name: str) -> tuple[Path, list[Problem]]:
    spec = CASES[name]
    path = CAMPAIGNS / name
    now = datetime.fromisoformat(spec["now"]) if "now" in spec else None
    limits = PlatformLimits(**spec.get("limits", {}))
    return path, check_calendar(path, now=now, limits=limits).problems


def test_every_corpus_file_has_an_expectation_and_vice_versa() -> None:
    on_disk = {
        str(path.relative_to(CAMPAIGNS)) for path in CAMPAIGNS.glob("*/calendars/*") if path.suffix in CALENDAR_SUFFIXES
    }
    assert on_disk == set(CASES)
    with_errors = [name for name, spec in CASES.items() if any(p[0] == "error" for p in spec["problems"])]
    assert len(with_errors) >= 30


def _fix_fragment(entry: list[Any]) -> str | None:
    """An entry may end with {fix: "..."}: a fragment the problem's fix must contain."""
    return entry[-1]["fix"] if isinstance(entry[-1], dict) else None


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_calendar_reports_exactly_the_expected_problems(name: str) -> None:
    path, problems = _check(name)
    expected = [entry[:-1] if _fix_fragment(entry) is not None else entry for entry in CASES[name]["problems"]]
    fixes = [_fix_fragment(entry) for entry in CASES[name]["problems"]]

    def file_of(entry: list[Any]) -> str:
        return str(CAMPAIGNS / entry[5]) if len(entry) > 5 else str(path)

    def order(item: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple("" if value is None else str(value) for value in item)

    got = sorted(((p.severity, p.code, p.post_id, p.line, p.file) for p in problems), key=order)
    want = sorted(((e[0], e[1], e[2], e[3], file_of(e)) for e in expected), key=order)
    assert got == want, "\n".join(p.format() for p in problems)
    for entry, fix in zip(expected, fixes, strict=True):
        key = (entry[0], entry[1], entry[2], entry[3], file_of(entry))
        matching = [p for p in problems if (p.severity, p.code, p.post_id, p.line, p.file) == key]
        assert any(entry[4] in p.message for p in matching), (entry, [p.message for p in matching])
        if fix is not None:
            assert any(entry[4] in p.message and fix in p.fix for p in matching), (fix, [p.fix for p in matching])
    for problem in problems:
        assert problem.message.strip() and problem.fix.strip(), problem
        assert "never-here" not in problem.format()  # the secret in badcamp/campaign.yaml is never repeated


@pytest.mark.parametrize("name", sorted(name for name, spec in CASES.items() if "limits" not in spec))
def test_cli_validate_and_export_refuse_broken_calendars(name: str, tmp_path: Path) -> None:
    spec = CASES[name]
    has_errors = any(entry[0] == "error" for entry in spec["problems"])
    path = str(CAMPAIGNS / name)
    runner = CliRunner()
    now = spec.get("now", "2027-01-01T00:00:00+00:00")
    args = ["validate", path, "--now", now]
    result = runner.invoke(calendar, args)
    assert result.exit_code == (1 if has_errors else 0), result.output
    for entry in spec["problems"]:
        assert f"[{entry[1]}]" in result.output

    output = tmp_path / "out.ics"
    exported = runner.invoke(calendar, ["export-ical", path, "-o", str(output)])
    if has_errors:
        assert exported.exit_code == 1
        assert "Not exported" in exported.output
        assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left behind
    else:
        assert exported.exit_code == 0, exported.output
        assert output.read_bytes().startswith(b"BEGIN:VCALENDAR")
