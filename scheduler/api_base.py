"""What every part of the application API stands on: the wiring, its settings and clock."""

from __future__ import annotations

from pathlib import Path

from content_calendar.model import PlatformLimits
from scheduler.clock import Clock
from scheduler.instance_facts import calendar_limits
from scheduler.settings import Settings
from scheduler.wiring import Wiring


class ApiBase:
    def __init__(self, wiring: Wiring):
        self.wiring = wiring

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    @property
    def clock(self) -> Clock:
        return self.wiring.clock

    def close(self) -> None:
        self.wiring.close()

    def campaigns_roots(self, campaigns_dir: Path | None = None) -> list[Path]:
        if campaigns_dir is not None:
            return [campaigns_dir]
        default = self.settings.campaigns_dir
        return [default] if default.is_dir() else []

    def calendar_limits(self, *, mastodon_max_characters: int | None = None) -> PlatformLimits:
        """The limits every check of a calendar here uses: the defaults with what our Mastodon instance last said
        of itself, as the store keeps it since the adapter last read it (scheduler/instance_facts.py): no
        credentials, no request. `mastodon_max_characters`, given by the person checking, wins."""
        return calendar_limits(
            self.wiring.store, self.settings.mastodon_api_base_url, mastodon_max_characters=mastodon_max_characters
        )
