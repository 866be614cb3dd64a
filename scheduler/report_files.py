"""The weekly reports on disk: which is the latest (by the ISO week in its name)."""

from __future__ import annotations

import re
from pathlib import Path

_REPORT_NAME = re.compile(r"(?P<campaign>[a-z0-9][a-z0-9-]*)-(?P<year>\d{4})-W(?P<week>\d{2})\.html")


def latest_report(reports_dir: Path, campaign: str | None = None) -> Path | None:
    """The weekly report of the latest ISO week, read from its name (<campaign>-<year>-W<week>.html), of one
    campaign when given. Not the newest file: a report rewritten for an older week, or another campaign's
    report, must not hide the latest one. Files named otherwise are not weekly reports."""
    if not reports_dir.is_dir():
        return None
    best: tuple[tuple[int, int, float], Path] | None = None
    for path in reports_dir.glob("**/*.html"):
        found = _REPORT_NAME.fullmatch(path.name)
        if found is None or (campaign is not None and found["campaign"] != campaign):
            continue
        try:
            modified = path.stat().st_mtime  # only to choose between campaigns' reports of the same week
        except OSError:
            continue
        key = (int(found["year"]), int(found["week"]), modified)
        if best is None or key > best[0]:
            best = (key, path)
    return best[1] if best else None
