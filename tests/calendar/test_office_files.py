"""Spreadsheet files made by a real office suite: LibreOffice turns one CSV into an .xlsx and an .ods workbook (date
and time cells, as a UK user's spreadsheet holds them) and into Excel's "Unicode text" (UTF-16, tab-separated),
and each loads to the same posts, with its problems named by row and column.

The files are made once and kept in tests/.cache/libreoffice/ (a conversion takes a second or two). Without
LibreOffice these tests skip on a developer's machine and fail under CI (CI=true), where scripts/bootstrap
installs it.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from content_calendar.validate import check_calendar

LONDON = ZoneInfo("Europe/London")
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "libreoffice"
SOURCE = (
    "id,date,time,platforms,text\n"
    'launch,01/02/2027,09:00,bluesky;mastodon,"Two\nlines #DemoCampaign"\n'
    "third,03/02/2027,18:30,,Third of February #DemoCampaign\n"
    "\n"
    "bad-time,04/02/2027,9am-ish,,Bad time #DemoCampaign\n"
)
# LibreOffice's CSV import: comma, double quotes, UTF-8 (76), from row 1, English (UK) (2057) so that 03/02/2027
# is 3 February, and numbers, dates and times detected (real cells). For "Unicode text" every column stays
# text, as a UK Excel user's sheet shows it, and is written as UTF-16 (65535) with tabs (9).
AS_CELLS = "CSV:44,34,76,1,,2057,false,true"
AS_TEXT = "CSV:44,34,76,1,1/2/2/2/3/2/4/2/5/2,2057"
CONVERSIONS = {
    "xlsx": (AS_CELLS, "xlsx"),
    "ods": (AS_CELLS, "ods"),
    "txt": (AS_TEXT, "txt:Text - txt - csv (StarCalc):9,34,65535"),
}


def _missing(reason: str) -> None:
    """Fail under CI (a missing install step must not pass silently), skip on a developer's machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (scripts/bootstrap test installs libreoffice-calc-nogui)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def office_files() -> dict[str, Path]:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        _missing("LibreOffice (soffice) is not installed")
    assert soffice is not None
    key = hashlib.sha256(repr((SOURCE, CONVERSIONS)).encode()).hexdigest()[:16]
    folder = CACHE / key
    wanted = {kind: folder / f"week.{kind}" for kind in CONVERSIONS}
    if all(path.is_file() for path in wanted.values()):
        return wanted
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        source = Path(work) / "week.csv"
        source.write_text(SOURCE, encoding="utf-8")
        profile = (CACHE / "profile").as_uri()  # its own profile: never the user's, never locked by their office
        for kind, (infilter, target) in CONVERSIONS.items():
            out = Path(work) / kind
            command = [soffice, f"-env:UserInstallation={profile}", "--headless", "--norestore"]
            command += [f"--infilter={infilter}", "--convert-to", target, "--outdir", str(out), str(source)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
            made = out / f"week.{kind}"
            if done.returncode != 0 or not made.is_file():
                _missing(f"LibreOffice could not convert the CSV to .{kind}: {done.stderr.strip() or done.stdout}")
        folder.mkdir(exist_ok=True)
        for kind in CONVERSIONS:
            os.replace(Path(work) / kind / f"week.{kind}", wanted[kind])
    return wanted


@pytest.mark.parametrize("kind", sorted(CONVERSIONS))
def test_files_saved_by_libreoffice_load_with_their_rows_and_columns(
    kind: str, office_files: dict[str, Path], campaign_dir: Path
) -> None:
    path = campaign_dir / "calendars" / office_files[kind].name
    shutil.copy(office_files[kind], path)
    if kind == "txt":
        assert path.read_bytes().startswith(codecs.BOM_UTF16_LE)  # really Excel's "Unicode text" shape
    result = check_calendar(path)
    assert result.calendar is not None and result.calendar.source_format == "csv"
    launch, third = result.calendar.posts
    assert (launch.id, launch.text, launch.platforms) == ("launch", "Two\nlines #DemoCampaign", ("bluesky", "mastodon"))
    assert launch.at == datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
    # a workbook shows this date cell month first (02/03/27): its value, 3 February, is what is read
    assert (third.at, third.line) == (datetime(2027, 2, 3, 18, 30, tzinfo=LONDON), 3)
    (problem,) = result.problems
    assert (problem.code, problem.post_id, problem.line) == ("invalid-time", "bad-time", 5)
    assert problem.place == "row 5, column C (time)"
