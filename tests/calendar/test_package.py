"""The package's public names, and that the model can be imported without the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import content_calendar


def test_every_public_name_resolves() -> None:
    assert set(content_calendar.__all__) == set(content_calendar._EXPORTS)
    for name in content_calendar.__all__:
        assert getattr(content_calendar, name) is not None
    assert content_calendar.check_calendar.__module__ == "content_calendar.validate"


def test_importing_the_model_does_not_import_pillow_or_icalendar() -> None:
    code = "import sys, content_calendar.model; print('PIL' in sys.modules, 'icalendar' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.split() == ["False", "False"]
