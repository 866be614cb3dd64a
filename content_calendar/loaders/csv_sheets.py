"""Spreadsheet calendars: our CSV, Hootsuite's and Sprout Social's bulk sheets, told apart by the first row.

Dates are read day first (UK order) and never swapped; a sheet whose dates only make sense month first is
reported, with a warning for its rows that read either way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from content_calendar.campaign import is_valid_slug, slugify
from content_calendar.loaders.base import (
    NO_TIME,
    PLATFORM_SPLIT,
    POST_KEYS,
    CalendarReader,
    LoadedCalendar,
    PostLines,
    SourceFormat,
)
from content_calendar.loaders.times import TimeError, is_either_order_date, parse_clock_with_offset, parse_date
from content_calendar.model import PLATFORMS, Image, Link, PlatformOverride, Post
from content_calendar.yaml_source import did_you_mean

OUR_CSV_COLUMNS = (
    "id",
    "date",
    "time",
    "platforms",
    "text",
    "bluesky_text",
    "mastodon_text",
    "content_warning",
    "link",
    "image",
    "image_alt",
    "status",
)
OUR_CSV_REQUIRED = ("date", "time", "text")
SPROUT_COLUMNS = ("date", "time_24hr", "message_text", "link")


def stable_id(prefix: str, at: datetime | None, text: str, line: int | None) -> str:
    """An id for a row that has none: derived from its time and text, so it survives re-exports."""
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:6]
    if at is None:
        return f"{prefix}-line{line}-{digest}"
    return f"{prefix}-{at:%Y%m%d}-{at:%H%M}-{digest}"


_HOOTSUITE_WHEN = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?")


def _header_name(cell: str) -> str:
    return re.sub(r"[\s()]+", "_", cell.strip().lower().lstrip("\ufeff")).strip("_")


_SHEET_NAMES = {"csv": "the sheet", "hootsuite": "Hootsuite's bulk sheet", "sprout": "Sprout Social's bulk sheet"}


_DATE_ORDER_FIX = {
    "csv": "Save the sheet with UK dates (dd/mm/yyyy) or ISO dates (2027-02-13): in a spreadsheet, format the "
    "date column as dd/mm/yyyy (or set the file's locale to English (UK)) before saving as CSV.",
    "hootsuite": "Save the sheet with UK dates (dd/mm/yyyy) in column A: this tool reads Hootsuite sheets day first.",
    "sprout": "Export the sheet with UK date order (dd/mm/yyyy) or write ISO dates (2027-02-13): Sprout Social reads "
    "dd/mm/yyyy or mm/dd/yyyy depending on its date-format setting, and this tool reads them day first.",
}


class CsvReader(CalendarReader):
    kind: SourceFormat = "csv"  # which sheet this is, once the header has been read

    def __init__(self, path: Path, campaigns_roots: Sequence[Path], today: date | None):
        super().__init__(path, campaigns_roots, today)
        self.us_dates: list[int] = []  # lines whose date only makes sense month first
        self.either_order: list[tuple[int, str, date]] = []  # lines whose date reads either way (as read)
        self.header: list[str] = []
        self.sheet_rows: dict[int, int] = {}  # line a row starts on -> its row number in a spreadsheet

    def ambiguous_fix(self, error: TimeError) -> str:
        assert error.choices is not None
        naive, first, second = error.choices
        either_side = error.fix.split(", or say which one", 1)[0]
        if self.kind == "csv":
            return (
                f"{either_side}, or say which one by adding its UTC offset in the `time` column: "
                f"{naive:%H:%M}{first} (the first) or {naive:%H:%M}{second} (the second)."
            )
        return (
            f"{either_side}. ({_SHEET_NAMES[self.kind]} has no way to say which of the two is meant: an "
            f"offset such as {naive:%H:%M}{first} would be refused by its own import.)"
        )

    def read(self, text: str) -> LoadedCalendar:
        self.find_campaign(None, 1)
        self.set_zone(None, None)
        rows = self.rows(text)
        if rows is None:
            return LoadedCalendar(self.file, None, self.campaign, self.problems)
        slug = self.campaign.slug if self.campaign else ""
        if not rows:
            return self.finish("csv", slug)
        first_line, first = rows[0]
        names = [_header_name(cell) for cell in first]
        self.header = names
        if "message_text" in names or "time_24hr" in names:
            self.kind = "sprout"
            self.read_sprout(names, rows[1:], first_line)
            return self.finish("sprout", slug)
        if first and _HOOTSUITE_WHEN.fullmatch(first[0].strip()):
            self.kind = "hootsuite"
            self.read_hootsuite(rows)
            return self.finish("hootsuite", slug)
        named = [name for name in names if name]
        known = sum(1 for name in named if name in OUR_CSV_COLUMNS)
        if "text" in names or (named and known >= 2 and known * 4 >= len(named) * 3):
            self.read_ours(names, rows[1:], first_line)
            return self.finish("csv", slug)
        self.error(
            "csv-header",
            f"The first row ({', '.join(cell.strip() for cell in first[:6])}) is not a header this tool knows.",
            f"Start the file with the header row {','.join(OUR_CSV_COLUMNS)} (only date, time and text are "
            "required); Sprout Social sheets (date,time_24hr,message_text,link) and Hootsuite sheets (no "
            "header, column A dd/mm/yyyy hh:mm, B message, C link) load as they are.",
            first_line,
        )
        return LoadedCalendar(self.file, None, self.campaign, self.problems)

    def rows(self, text: str) -> list[tuple[int, list[str]]] | None:
        """Non-blank rows with the physical line each starts on; None after a CSV syntax error."""
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows: list[tuple[int, list[str]]] = []
        line = 1
        try:
            for record, row in enumerate(reader, start=1):
                if any(cell.strip() for cell in row):
                    # A carriage return left inside a quoted cell is a line break from another spreadsheet.
                    rows.append((line, [cell.replace("\r\n", "\n").replace("\r", "\n") for cell in row]))
                    self.sheet_rows[line] = record
                line = reader.line_num + 1
        except csv.Error as error:
            self.error(
                "csv-syntax",
                f"The file is not valid CSV: {error}.",
                "Check the quotes on that row: a cell that contains a comma, a quote or a line break must "
                'be in double quotes, with inner quotes doubled ("").',
                line,
            )
            return None
        return rows

    def when(self, date_text: str, time_text: str, line: int, post_id: str | None) -> datetime | None:
        if not date_text.strip():
            self.error(
                "missing-time", "The row has no date.", "Fill in the date (2027-02-01 or 01/02/2027).", line, post_id
            )
            return None
        if not time_text.strip():
            self.error(
                "missing-time", "The row has no time.", "Fill in the time (24-hour hh:mm, e.g. 09:00).", line, post_id
            )
            return None
        try:
            clock, offset = parse_clock_with_offset(time_text)
            day = parse_date(date_text, self.today)
        except TimeError as error:
            fix = error.fix
            if error.code == "us-date-order":
                self.us_dates.append(line)
                fix = f"{_DATE_ORDER_FIX[self.kind]} Dates are never swapped automatically: check every row."
            what = "date" if error.code == "us-date-order" else "time"
            self.error(error.code, f"Cannot read the {what}: {error}", fix, line, post_id)
            return None
        if is_either_order_date(date_text):
            self.either_order.append((line, date_text.strip(), day))
        return self.in_zone(datetime.combine(day, clock, tzinfo=offset), line, post_id)

    def finish(self, source_format: SourceFormat, slug: str) -> LoadedCalendar:
        self.date_order_warning()
        return super().finish(source_format, slug)

    def date_order_warning(self) -> None:
        """When some rows are in US order, the rows whose dates read either way were probably misread."""
        if not self.us_dates or not self.either_order:
            return
        first_line, first_text, first_day = self.either_order[0]
        count = len(self.either_order)
        lines = ", ".join(str(line) for line, _, _ in self.either_order[:10])
        more = f" and {count - 10} more" if count > 10 else ""
        rows = f"Rows on lines {lines}{more} have dates" if count > 1 else f"The row on line {lines} has a date"
        self.warning(
            "date-order-ambiguous",
            f"{rows} that {'read' if count > 1 else 'reads'} either way ({first_text} was read day first, as "
            f"{first_day.day} {first_day:%B %Y}), but the date on line {self.us_dates[0]} is in US month/day order, so "
            f"{'these' if count > 1 else 'it'} may mean another day.",
            f"{_DATE_ORDER_FIX[self.kind]} Then check {'these rows' if count > 1 else 'that row'}.",
            first_line,
        )

    def add(
        self,
        *,
        post_id: str | None,
        generated_prefix: str | None,
        at: datetime | None,
        text: str,
        line: int,
        platforms: tuple[str, ...] = PLATFORMS,
        status: str = "approved",
        overrides: dict[str, PlatformOverride] | None = None,
        content_warning: str | None = None,
        link: Link | None = None,
        images: tuple[Image, ...] = (),
        image_line: bool = False,
    ) -> None:
        display_id = post_id
        generated = post_id is None and generated_prefix is not None
        if post_id is None:
            post_id = stable_id(generated_prefix or "row", at, text, line)
            display_id = post_id if generated_prefix else None
        lines = PostLines(line, display_id, {key: line for key in POST_KEYS}, [line] if image_line else [])
        lines.timed = at is not None
        lines.generated_id = generated
        lines.row = self.sheet_rows.get(line)
        lines.header = self.header
        self.posts.append(
            (
                Post(
                    id=post_id,
                    at=at or NO_TIME,
                    text=text,
                    platforms=platforms,
                    status=status,  # type: ignore[arg-type]
                    content_warning=content_warning,
                    link=link,
                    images=images,
                    overrides=overrides or {},
                    line=line,
                ),
                lines,
            )
        )

    def read_ours(self, names: list[str], rows: list[tuple[int, list[str]]], header_line: int) -> None:
        for name in names:
            if name and name not in OUR_CSV_COLUMNS:
                self.error(
                    "unknown-column",
                    f"Unknown column `{name}`.{did_you_mean(name, OUR_CSV_COLUMNS)}",
                    f"Rename it to one of: {', '.join(OUR_CSV_COLUMNS)} (or delete the column).",
                    header_line,
                )
        missing = [column for column in OUR_CSV_REQUIRED if column not in names]
        if missing:
            self.error(
                "missing-column",
                f"The header has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}.",
                f"The header row must include date, time and text; all columns: {','.join(OUR_CSV_COLUMNS)}.",
                header_line,
            )
            return
        index = {name: position for position, name in enumerate(names) if name in OUR_CSV_COLUMNS}
        has_ids = "id" in index
        for line, row in rows:
            if len(row) > len(names) and any(cell.strip() for cell in row[len(names) :]):
                self.error(
                    "csv-row",
                    f"The row has {len(row)} cells but the header has {len(names)} columns.",
                    "Put cells containing commas in double quotes, or remove the extra cells.",
                    line,
                )

            def cell(column: str, row: list[str] = row) -> str:
                position = index.get(column)
                return row[position].strip() if position is not None and position < len(row) else ""

            raw_id = cell("id") or None
            if has_ids and raw_id is None:
                self.error(
                    "missing-id",
                    "The row has no id.",
                    "Fill in a unique id such as recs-01, or delete the id column to have ids derived "
                    "from each row's time and text.",
                    line,
                )
            elif raw_id is not None and not is_valid_slug(raw_id):
                self.error(
                    "invalid-id",
                    f"The id `{raw_id}` is not a valid id: ids are lowercase letters, digits and hyphens, "
                    "at most 64 characters.",
                    f"Use e.g. {slugify(raw_id)}.",
                    line,
                    raw_id,
                )
            at = self.when(cell("date"), cell("time"), line, raw_id)
            text = cell("text")
            overrides = {}
            for platform in PLATFORMS:
                specific = cell(f"{platform}_text")
                if specific:
                    overrides[platform] = PlatformOverride(text=specific)
            platform_names = [p for p in PLATFORM_SPLIT.split(cell("platforms")) if p]
            platforms = self.platforms(platform_names, line, raw_id) if platform_names else PLATFORMS
            link = None
            if cell("link") and not self.link_problem(cell("link"), line, raw_id):
                link = Link(url=cell("link"))
            images: tuple[Image, ...] = ()
            if cell("image"):
                images = (self.image(cell("image"), cell("image_alt"), None),)
            elif cell("image_alt"):
                self.error(
                    "missing-image",
                    "The row has alt text but no image.",
                    "Fill in the image column (e.g. media/photo.jpg) or clear image_alt.",
                    line,
                    raw_id,
                )
            status = self.status(cell("status") or None, line, raw_id)
            self.add(
                post_id=raw_id if (raw_id or has_ids) else None,
                generated_prefix=None if has_ids else "csv",
                at=at,
                text=text,
                line=line,
                platforms=platforms,
                status=status,
                overrides=overrides,
                content_warning=cell("content_warning") or None,
                link=link,
                images=images,
                image_line=bool(images),
            )

    def read_sprout(self, names: list[str], rows: list[tuple[int, list[str]]], header_line: int) -> None:
        missing = [column for column in SPROUT_COLUMNS[:3] if column not in names]
        if missing:
            self.error(
                "missing-column",
                f"This Sprout Social sheet has no {', '.join(missing)} column.",
                f"A Sprout Social sheet needs the columns {','.join(SPROUT_COLUMNS)}.",
                header_line,
            )
            return
        ignored = [name for name in names if name and name not in SPROUT_COLUMNS]
        if ignored:
            self.warning(
                "ignored-column",
                f"Columns ignored: {', '.join(ignored)}.",
                "Only date, time_24hr, message_text and link are read from Sprout Social sheets; "
                "add images in a YAML calendar.",
                header_line,
            )
        index = {name: position for position, name in enumerate(names)}
        for line, row in rows:

            def cell(column: str, row: list[str] = row) -> str:
                position = index.get(column)
                return row[position].strip() if position is not None and position < len(row) else ""

            text = cell("message_text")
            at = self.when(cell("date"), cell("time_24hr"), line, None)
            link = None
            if cell("link") and not self.link_problem(cell("link"), line, None):
                link = Link(url=cell("link"))
            self.add(post_id=None, generated_prefix="sp", at=at, text=text, line=line, link=link)

    def read_hootsuite(self, rows: list[tuple[int, list[str]]]) -> None:
        for line, row in rows:
            when = row[0].strip() if row else ""
            date_text, _, time_text = when.partition(" ")
            at = self.when(date_text, time_text.strip(), line, None)
            text = row[1].strip() if len(row) > 1 else ""
            url = row[2].strip() if len(row) > 2 else ""
            link = None
            if url and not self.link_problem(url, line, None):
                link = Link(url=url)
            if len(row) > 3 and any(cell.strip() for cell in row[3:]):
                self.warning(
                    "ignored-column",
                    "Cells after column C are ignored.",
                    "Hootsuite sheets are read as A date and time, B message, C link.",
                    line,
                )
            self.add(post_id=None, generated_prefix="hs", at=at, text=text, line=line, link=link)
