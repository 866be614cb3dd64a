"""What every part of the application API stands on: the wiring, its settings and clock."""

from __future__ import annotations

from pathlib import Path

from scheduler.clock import Clock
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
