"""One error family for what the application refuses to do. A face catches `Refused` once, shows its lines as
they are and exits with its code; nothing was changed."""

from __future__ import annotations


class Refused(Exception):
    """A request the application will not carry out, with what to do about it. `lines` are shown to a person
    as they are; nothing was changed."""

    exit_code: int = 1

    def __init__(self, *lines: str) -> None:
        self.lines: tuple[str, ...] = tuple(line for line in lines if line)
        super().__init__("\n".join(self.lines))


class UsageRefused(Refused):
    """The command itself was used wrongly (a folder without calendars, an unknown option value)."""

    exit_code = 2


class NotFound(Refused):
    """What was named does not exist (a post id, a campaign, a workspace)."""
