"""What the checks of one calendar share: the loaded file, the limits, the clock, and the problems found."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from content_calendar.loaders import LoadedCalendar
from content_calendar.model import Campaign, PlatformLimits, Problem, RenderedPart


class CheckContext:
    def __init__(self, loaded: LoadedCalendar, limits: PlatformLimits, now: datetime | None):
        self.loaded = loaded
        self.file = loaded.file
        self.limits = limits
        self.now = now
        self.source = loaded.calendar.source_format if loaded.calendar is not None else "yaml"
        self.problems: list[Problem] = list(loaded.problems)
        self.rendered: dict[str, dict[str, list[RenderedPart]]] = {}
        campaign = loaded.campaign
        # Rendering needs a campaign; without one (already an error) lengths are still worth checking.
        self.render_campaign = campaign or Campaign(
            slug=loaded.calendar.campaign if loaded.calendar else "",
            name="",
            directory=Path(self.file).parent.absolute(),
            hashtags=(),
        )

    def add(self, severity: str, code: str, message: str, fix: str, line: int | None, post_id: str | None) -> None:
        self.problems.append(Problem(severity, code, self.file, message, fix, post_id=post_id, line=line))  # type: ignore[arg-type]
