"""The application API's rehearsals and demo workspace (a mixin of scheduler.api.Api): playing calendars on a fast
clock where nothing reaches a platform, and the made-up workspace `campaign demo` builds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scheduler.api_base import ApiBase
from scheduler.demo_flag import DEMO_LABEL, is_demo
from scheduler.errors import Refused

__all__ = ["DEMO_LABEL", "DemoApi"]

if TYPE_CHECKING:  # they drive an Api of their own, so they are imported when used
    from scheduler.demo import DemoWorkspace
    from scheduler.rehearse import Rehearsal, RehearsalPlan, RehearsedDelivery


class DemoApi(ApiBase):
    def rehearse(
        self,
        paths: Sequence[Path],
        *,
        speed: float,
        start: datetime | None = None,
        real_gaps: bool = False,
        on_plan: Callable[[RehearsalPlan], None] = lambda _p: None,
        on_delivery: Callable[[RehearsedDelivery], None] = lambda _d: None,
        max_real_seconds: float | None = None,
    ) -> Rehearsal:
        """Play calendars on a fast clock through this application's own engine, on a rehearsal store and
        outbox of its own (under the data folder): the real schedule is untouched, nothing is posted. Quiet
        gaps are skipped unless `real_gaps`; `on_plan` hears what will be played (and how long it will take)
        before it starts."""
        from scheduler.rehearse import rehearse

        settings = self.settings
        if (unplaced := settings.unplaced()) is not None:  # nothing said where the data folder is
            raise unplaced
        directory = settings.data_dir / "rehearsals" / self.clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        return rehearse(
            paths, speed=speed, start=start, settings=settings, limits=self.calendar_limits(), directory=directory,
            on_plan=on_plan, on_delivery=on_delivery, max_real_seconds=max_real_seconds, real_gaps=real_gaps,
        )  # fmt: skip

    def is_demo(self) -> bool:
        """Whether this workspace is a demo (`campaign demo`): its data is made up, and every face says so."""
        return is_demo(self.wiring.store)

    def refuse_in_demo(self, doing: str) -> None:
        if self.is_demo():
            raise Refused(
                f"This is a demo workspace (made-up data), so {doing} is off here: no real data mixes with the "
                "made-up. Run it in your own workspace."
            )

    def build_demo(self, folder: Path, *, on_step: Callable[[str], None] = lambda _s: None) -> DemoWorkspace:
        """Make `folder` a demo workspace of its own: the awareness week rehearsed into its outbox, and a week
        of made-up mentions and engagement, all marked as demo data. A folder with anything else in it is
        refused; a demo is made afresh."""
        from scheduler.demo import build_demo, shipped_campaign

        source = shipped_campaign(self.settings.campaigns_dir)
        return build_demo(folder, source=source, on_step=on_step)
