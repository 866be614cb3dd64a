"""One path of limits for every check of a calendar: validate, show, schedule, approving a file, rehearse, the demo
and the web workspace's calendar page all check against scheduler.instance_facts.calendar_limits (content_calendar's
defaults with what our Mastodon instance last said of itself), never against the defaults alone."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACES_AND_CORE = ("scheduler", "workers", "cli", "web")
CHECKS = {"check_calendar", "check_calendars", "schedule_paths"}  # content_calendar's and scheduler.calendars'


def _modules() -> list[Path]:
    return sorted(
        p for package in FACES_AND_CORE for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts
    )


def test_every_check_of_a_calendar_is_given_the_cores_limits() -> None:
    """A bare call of a checking function (not the Api's own methods, which take the core's limits themselves)
    passes `limits=`; the defaults are named only where the core folds the instance's figures into them."""
    unlimited, defaults = [], []
    for path in _modules():
        where = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else ""
            if isinstance(node, ast.Call) and name in CHECKS and all(k.arg != "limits" for k in node.keywords):
                unlimited.append(f"{where}:{node.lineno} {name}")
            if isinstance(node, ast.Name) and node.id == "DEFAULT_LIMITS" and where != "scheduler/instance_facts.py":
                defaults.append(f"{where}:{node.lineno}")
    assert unlimited == []
    assert defaults == []
