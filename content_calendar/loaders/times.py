"""Post times as people write them: dates (ISO or UK day first), clock times, "day N hh:mm" and UTC offsets,
and the clock changes that make a wall-clock time missing or ambiguous in a zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

_ISO_AT = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp]\.?[Mm]\.?)?")
_RELATIVE_AT = re.compile(r"day\s+(-?\d+)(?:,?\s+(?:at\s+)?(.+))?", re.IGNORECASE)


class TimeError(ValueError):
    """A time that cannot be read; the message says what is wrong, `fix` what to write.

    For an ambiguous time, `choices` holds the wall-clock time and its two UTC offsets (first, second), so a
    reader can say how to pick one in its own file format.
    """

    def __init__(
        self, message: str, fix: str, code: str = "invalid-time", choices: tuple[datetime, str, str] | None = None
    ):
        super().__init__(message)
        self.fix = fix
        self.code = code
        self.choices = choices


_AT_FIX = 'Write the local time as "2027-02-01 09:00" (or "day 3 18:30" with an `anchor`).'
# The date library's reasons in plain words.
_OUT_OF_RANGE = {
    "day is out of range for month": "that month has no such day",
    "month must be in 1..12": "months go from 1 to 12",
    "hour must be in 0..23": "hours go from 0 to 23",
    "minute must be in 0..59": "minutes go from 0 to 59",
    "second must be in 0..59": "seconds go from 0 to 59",
}


def _in_words(error: ValueError) -> str:
    return _OUT_OF_RANGE.get(str(error), "there is no such day or time")


def _year(text: str, today: date | None) -> int:
    if len(text) == 4:
        return int(text)
    # Two-digit years (some spreadsheets save 01/02/27): the century that puts it nearest to today.
    reference = (today or date(2000, 1, 1)).year
    year = reference // 100 * 100 + int(text)
    if year > reference + 50:
        year -= 100
    elif year < reference - 50:
        year += 100
    return year


def us_order_date(text: str, today: date | None = None) -> date | None:
    """The date a slash date means in US month/day/year order, when it cannot be day/month/year (the middle
    number is over 12) but is a real date read month first, e.g. 02/13/2027; else None."""
    match = _UK_DATE.fullmatch(text.strip())
    if match is None or int(match[2]) <= 12:
        return None
    try:
        return date(_year(match[3], today), int(match[1]), int(match[2]))
    except ValueError:
        return None


def is_either_order_date(text: str) -> bool:
    """True for a slash date that is a different real date in each order, e.g. 02/03/2027."""
    match = _UK_DATE.fullmatch(text.strip())
    return match is not None and match[1] != match[2] and 1 <= int(match[1]) <= 12 and 1 <= int(match[2]) <= 12


def parse_date(text: str, today: date | None = None) -> date:
    """2027-02-01 or the UK 01/02/2027 (day first). Raises TimeError.

    A date that only makes sense month first (02/13/2027) is refused with the code `us-date-order`: it is
    never swapped, because the same sheet's 02/03/2027 would then be ambiguous too.
    """
    value = text.strip()
    # Spreadsheets sometimes save a date cell as "2027-02-01 00:00:00".
    value = re.sub(r"[ T]00:00(:00)?$", "", value)
    match = _ISO_DATE.fullmatch(value)
    us: date | None = None
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _UK_DATE.fullmatch(value)
        if match:
            us = us_order_date(value, today)
            if us is None:
                return date(_year(match[3], today), int(match[2]), int(match[1]))
    except ValueError as error:
        raise TimeError(
            f"`{text}` is not a real date ({_in_words(error)}).",
            "Dates are read as year-month-day (2027-02-01) or day/month/year (01/02/2027, UK order).",
        ) from None
    if us is not None:
        raise TimeError(
            f"`{text}` is not a day/month/year date (there is no month {us.day}): it is in US "
            f"month/day/year order ({us.day} {us:%B %Y}).",
            f"Dates are read day first (UK order): write {us:%d/%m/%Y} or {us:%Y-%m-%d}. Dates are never "
            "swapped automatically, so check the file's other slash dates too.",
            "us-date-order",
        )
    raise TimeError(f"`{text}` is not a date.", "Write the date as 2027-02-01 or 01/02/2027 (day/month/year).")


def parse_clock(text: str) -> time:
    """09:00, 9:00, 09:00:00, 9.00, 9:00 pm. Raises TimeError."""
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise TimeError(f"`{text}` is not a time of day.", "Write the time as 24-hour hh:mm, e.g. 09:00 or 18:30.")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            raise TimeError(f"`{text}` is not a time of day.", "With am/pm the hour is 1 to 12; or use 24-hour hh:mm.")
        hour = hour % 12 + (12 if match[4][0] in "pP" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise TimeError(f"`{text}` is not a time of day.", "Hours are 0-23 and minutes 0-59 (24-hour hh:mm).")
    return time(hour, minute, second)


_CLOCK_OFFSET = re.compile(r"(?P<clock>.*?\d)\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)", re.IGNORECASE)


def parse_clock_with_offset(text: str) -> tuple[time, tzinfo | None]:
    """A spreadsheet's time cell: parse_clock's forms, optionally with a UTC offset (01:30+01:00, 09:00Z), which
    says which of two equal wall-clock times is meant when the clocks go back. Raises TimeError."""
    match = _CLOCK_OFFSET.fullmatch(text.strip())
    if match is None:
        return parse_clock(text), None
    offset = match["offset"].upper()
    if re.fullmatch(r"-\d{1,2}[:.]\d{2}", offset) and re.search(r"\d[:.]\d{2}\s*$", match["clock"]):
        raise TimeError(
            f"`{text}` looks like a time range.", "Give the one time the post goes out, e.g. 09:00 (hh:mm, 24-hour)."
        )
    hours = int(offset[1:3]) if offset != "Z" else 0
    if offset != "Z" and (hours > (14 if offset[0] == "+" else 12) or int(offset.replace(":", "")[3:] or 0) > 59):
        raise TimeError(
            f"`{text}`: {offset} is not a UTC offset.", "Offsets run from -12:00 to +14:00, e.g. 01:30+01:00."
        )
    return parse_clock(match["clock"]), _offset(offset)


def _offset(text: str) -> tzinfo:
    from datetime import timezone

    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_at(text: str, today: date | None = None) -> tuple[datetime | None, tuple[int, time] | None]:
    """A post time: (naive-or-offset datetime, None) or (None, (day number, clock)) for "day N hh:mm"."""
    value = text.strip()
    match = _ISO_AT.fullmatch(value)
    if match:
        try:
            moment = datetime(
                int(match[1]), int(match[2]), int(match[3]), int(match[4]), int(match[5]), int(match[6] or 0)
            )
        except ValueError as error:
            raise TimeError(f"`{text}` is not a real date and time ({_in_words(error)}).", _AT_FIX) from None
        if match[7]:
            moment = moment.replace(tzinfo=_offset(match[7]))
        return moment, None
    relative = _RELATIVE_AT.fullmatch(value)
    if relative:
        day = int(relative[1])
        if day < 1:
            raise TimeError(f"`{text}`: days count from 1 (day 1 is the anchor date).", "Use day 1 or later.")
        if not relative[2]:
            raise TimeError(f"`{text}` has no time of day.", f'Add the time: "day {day} 09:00".')
        return None, (day, parse_clock(relative[2]))
    parts = value.split(None, 1)
    if parts and (_UK_DATE.fullmatch(parts[0]) or _ISO_DATE.fullmatch(parts[0])):
        if len(parts) == 1:
            raise TimeError(f"`{text}` is a date without a time of day.", f'Add the time: "{parts[0]} 09:00".')
        day_value = parse_date(parts[0], today)
        clock, offset = parse_clock_with_offset(parts[1])
        return datetime.combine(day_value, clock, tzinfo=offset), None
    raise TimeError(f"`{text}` is not a date and time.", _AT_FIX)


def format_day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def _is_ambiguous(naive: datetime, zone: ZoneInfo) -> bool:
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and _exists(naive, zone)


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """The aware datetime of a wall-clock time in `zone`.

    Raises TimeError for a time that does not exist (clocks go forward) or happens twice (clocks go back):
    both are found by round-tripping fold=0 and fold=1 through UTC.
    """
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
    if first_utc == second_utc:
        return first
    first_ok = first_utc.astimezone(zone).replace(tzinfo=None) == naive
    second_ok = second_utc.astimezone(zone).replace(tzinfo=None) == naive
    when = f"{naive:%Y-%m-%d %H:%M}"
    minute = timedelta(minutes=1)
    if first_ok and second_ok:
        overlap = first.utcoffset() - second.utcoffset()  # type: ignore[operator]
        end = naive
        while _is_ambiguous(end, zone) and end - naive < timedelta(days=1):
            end += minute
        earlier, later = naive - overlap, naive + overlap
        return_offset = [format_offset(first.utcoffset()), format_offset(second.utcoffset())]
        raise TimeError(
            f"{when} is ambiguous in {zone.key}: clocks go back from {end:%H:%M} to {end - overlap:%H:%M} on "
            f"{format_day(naive)}, so {naive:%H:%M} happens twice.",
            f"Use a time either side, e.g. {earlier:%H:%M} or {later:%H:%M}, or say which one with its UTC "
            f"offset: {when}{return_offset[0]} (the first) or {when}{return_offset[1]} (the second).",
            "ambiguous-time",
            (naive, return_offset[0], return_offset[1]),
        )
    gap = second.utcoffset() - first.utcoffset()  # type: ignore[operator]
    start = naive
    while not _exists(start - minute, zone) and naive - start < timedelta(days=1):
        start -= minute
    earlier, later = naive - gap, naive + gap
    raise TimeError(
        f"{when} does not exist in {zone.key}: clocks go forward from {start:%H:%M} to {start + gap:%H:%M} on "
        f"{format_day(naive)}.",
        f"Use a time either side of the change, e.g. {earlier:%H:%M} or {later:%H:%M}.",
        "nonexistent-time",
    )


def format_offset(offset: timedelta | None) -> str:
    total = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    return f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
