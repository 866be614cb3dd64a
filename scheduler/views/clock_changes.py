"""Clock changes a person planning posts must hear about: a post on the day its zone's clocks change, or within an
hour of the change (the evening before a change at midnight, say). Said in words: which way the clocks go, when,
and what the clock reads after."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NEAR = timedelta(hours=1)


@dataclass(frozen=True)
class ClockChange:
    """The one instant on a local day when the zone's offset from UTC changes."""

    zone: str
    day: date  # the local day the clock reads once it has changed
    at: datetime  # the instant (UTC)
    before: timedelta  # offset from UTC just before
    after: timedelta  # and just after

    @property
    def forward(self) -> bool:
        return self.after > self.before

    def describe(self) -> str:
        """ "Clocks go forward 1 hour on Sun 28 Mar 2027 at 01:00 GMT (it becomes 02:00 BST)." """
        zone = ZoneInfo(self.zone)
        just_before = (self.at - timedelta(microseconds=1)).astimezone(zone)
        wall = just_before + timedelta(microseconds=1)  # what the clock would read had it not changed
        after = self.at.astimezone(zone)
        amount = _amount(abs(self.after - self.before))
        way = "forward" if self.forward else "back"
        at = f"{wall:%H:%M} {just_before:%Z}"
        if wall.date() == after.date():
            said = f"Clocks go {way} {amount} on {after:%a %d %b %Y} at {at} (it becomes {after:%H:%M %Z})"
        else:  # a change at midnight: the clock reads another day once it has changed
            said = (f"Clocks go {way} {amount} at {at} on the night of {just_before:%a %d %b %Y} "
                    f"(it becomes {after:%H:%M %Z} on {after:%a %d %b})")  # fmt: skip
        if not self.forward:
            said += f": the clock reads {after:%H:%M} to {wall:%H:%M} twice"
        return said + "."


def _amount(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def change_on(zone_name: str, day: date) -> ClockChange | None:
    """The clock change between the local midnights that begin and end `day` in `zone_name`, if there is one
    (found to the second by halving the day)."""
    zone = ZoneInfo(zone_name)
    start, end = _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)
    before, after = start.astimezone(zone).utcoffset(), end.astimezone(zone).utcoffset()
    if before is None or after is None or before == after:
        return None
    low, high = start, end  # the offset at `low` is `before`, at `high` it is not
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    at = high.replace(microsecond=0)
    return ClockChange(zone_name, at.astimezone(zone).date(), at, before, after)


def clock_change_near(instant: datetime, zone_name: str) -> ClockChange | None:
    """The clock change a post at `instant` should warn of: one on its local day, or within an hour of it."""
    local_day = instant.astimezone(ZoneInfo(zone_name)).date()
    for day in (local_day, local_day - timedelta(days=1), local_day + timedelta(days=1)):
        change = change_on(zone_name, day)
        if change is not None and (change.day == local_day or abs(change.at - instant) <= NEAR):
            return change
    return None
