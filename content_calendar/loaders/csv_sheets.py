"""Spreadsheet calendars: our sheet, Hootsuite's and Sprout Social's bulk sheets, told apart by the first row,
in any container (CSV or tab-separated text, .xlsx, .ods: see `sheet_files`).

Dates written as text are read day first (UK order) and never swapped; a sheet whose dates only make sense
month first is reported, with a warning for its rows that read either way. A workbook's date and time cells are
taken as the dates and times they hold. Problems name the row a person sees in the spreadsheet and, where one
cell is at fault, its column: "row 4, column C (time)".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path

from content_calendar.campaign import is_valid_slug, slugify
from content_calendar.loaders.base import (
    NO_TIME,
    PLATFORM_SPLIT,
    POST_KEYS,
    CalendarReader,
    LoadedCalendar,
    PostLines,
    SheetPlaces,
    SourceFormat,
)
from content_calendar.loaders.sheet_files import DELIMITER_NAMES, Cell, Row, Sheet, cell_label, cell_text
from content_calendar.loaders.sheet_media import MEDIA_COLUMNS, row_media
from content_calendar.loaders.times import TimeError, is_either_order_date, parse_clock_with_offset, parse_date
from content_calendar.model import PLATFORMS, Image, Link, PlatformOverride, Post, Problem, Video
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
    *MEDIA_COLUMNS,
    "status",
    "topics",
)
OUR_CSV_REQUIRED = ("date", "time", "text")
SPROUT_COLUMNS = ("date", "time_24hr", "message_text", "link")
# The post key each column feeds (validation names a cell by the key it checks).
_OUR_KEYS = {"bluesky_text": "bluesky", "mastodon_text": "mastodon", "image": "images"}
_SPROUT_KEYS = {"date": "date", "time_24hr": "time", "message_text": "text", "link": "link"}
_HOOTSUITE_COLUMNS = {
    "date": (0, "date and time"),
    "time": (0, "date and time"),
    "text": (1, "message"),
    "link": (2, "link"),
}
# The cell a loading problem is about, by its code (problems about a whole row or the file name no column).
_CODE_KEYS = {
    "nonexistent-time": "time",
    "ambiguous-time": "time",
    "offset-mismatch": "time",
    "us-date-order": "date",
    "link-missing-url": "link",
    "link-invalid-url": "link",
    "invalid-status": "status",
    "invalid-topic": "topics",
    "unknown-platform": "platforms",
    "missing-id": "id",
    "invalid-id": "id",
    "missing-image": "images",
    "video-missing": "video",
}
_FILE_CODES = frozenset({"no-campaign", "unknown-campaign", "unknown-timezone"})


def stable_id(prefix: str, at: datetime | None, text: str, line: int | None) -> str:
    """An id for a row that has none: derived from its time and text, so it survives re-exports."""
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:6]
    if at is None:
        return f"{prefix}-line{line}-{digest}"
    return f"{prefix}-{at:%Y%m%d}-{at:%H%M}-{digest}"


_HOOTSUITE_WHEN = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?")


def _header_name(cell: Cell) -> str:
    return re.sub(r"[\s()]+", "_", cell_text(cell).strip().lower().lstrip("\ufeff")).strip("_")


def _is_ours(names: list[str]) -> bool:
    named = [name for name in names if name]
    known = sum(1 for name in named if name in OUR_CSV_COLUMNS)
    return "text" in names or bool(named and known >= 2 and known * 4 >= len(named) * 3)


def _is_hootsuite(first: list[Cell]) -> bool:
    if not first:
        return False
    cell = first[0]
    return isinstance(cell, datetime) or (isinstance(cell, str) and _HOOTSUITE_WHEN.fullmatch(cell.strip()) is not None)


def looks_known(first: list[Cell]) -> bool:
    """Whether a first row starts a sheet this tool reads (our header, Sprout Social's, or a Hootsuite row)."""
    names = [_header_name(cell) for cell in first]
    return "message_text" in names or "time_24hr" in names or _is_hootsuite(first) or _is_ours(names)


_SHEET_NAMES = {"csv": "the sheet", "hootsuite": "Hootsuite's bulk sheet", "sprout": "Sprout Social's bulk sheet"}


_DATE_ORDER_FIX = {
    "csv": "Save the sheet with UK dates (dd/mm/yyyy) or ISO dates (2027-02-13): in a spreadsheet, format the "
    "date column as dd/mm/yyyy (or set the file's locale to English (UK)) before saving as CSV.",
    "hootsuite": "Save the sheet with UK dates (dd/mm/yyyy) in column A: this tool reads Hootsuite sheets day first.",
    "sprout": "Export the sheet with UK date order (dd/mm/yyyy) or write ISO dates (2027-02-13): Sprout Social reads "
    "dd/mm/yyyy or mm/dd/yyyy depending on its date-format setting, and this tool reads them day first.",
}


class SheetReader(CalendarReader):
    kind: SourceFormat = "csv"  # which sheet this is, once the header has been read

    def __init__(self, path: Path, campaigns_roots: Sequence[Path], today: date | None):
        super().__init__(path, campaigns_roots, today)
        self.us_dates: list[int] = []  # rows whose date only makes sense month first
        self.either_order: list[tuple[int, str, date]] = []  # rows whose date reads either way (as read)
        self.header: list[str] = []  # the column names as read (lowercase, `_` for spaces)
        self.labels: list[str] = []  # the column names as the sheet writes them, for messages
        self.places = SheetPlaces()
        self.written: tuple[str | None, bool] = (None, False)  # the last date read: its text, from a date cell

    def place(self, code: str, line: int | None) -> str | None:
        return None if code in _FILE_CODES else self.places.place(line, _CODE_KEYS.get(code))

    def cell_error(
        self, code: str, message: str, fix: str, row: int, column: str | int, post_id: str | None = None
    ) -> None:
        """An error about one cell: `column` is a post key (date, time, ...) or a column's index."""
        header = self.header_of(column) if isinstance(column, int) else ""
        place = self.places.place(row, column, header)
        self.problems.append(Problem("error", code, self.file, message, fix, post_id=post_id, line=row, place=place))

    def header_of(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else ""

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

    def read(self, sheet: Sheet) -> LoadedCalendar:
        self.places.name = sheet.name
        self.problems.extend(sheet.problems)
        self.find_campaign(None, 1)
        self.set_zone(None, None)
        rows = sheet.rows
        slug = self.campaign.slug if self.campaign else ""
        if not rows:
            return self.finish("csv", slug)
        first_row, first = rows[0]
        names = [_header_name(cell) for cell in first]
        self.header = names
        self.labels = [cell_label(cell) for cell in first]
        if "message_text" in names or "time_24hr" in names:
            self.kind = "sprout"
            self.columns({name: _SPROUT_KEYS.get(name) for name in names}, first)
            self.read_sprout(names, rows[1:], first_row)
            return self.finish("sprout", slug)
        if _is_hootsuite(first):
            self.kind = "hootsuite"
            self.places.columns = {key: (index, header) for key, (index, header) in _HOOTSUITE_COLUMNS.items()}
            self.read_hootsuite(rows)
            return self.finish("hootsuite", slug)
        if _is_ours(names):
            self.columns({name: _OUR_KEYS.get(name, name) for name in names if name in OUR_CSV_COLUMNS}, first)
            self.read_ours(names, rows[1:], first_row)
            return self.finish("csv", slug)
        separated = f" (read as cells separated by {DELIMITER_NAMES[sheet.delimiter]})" if sheet.delimiter else ""
        shown = ", ".join(cell_text(cell).strip() for cell in first[:6]) + (", ..." if len(first) > 6 else "")
        self.error(
            "csv-header",
            f"The first row ({shown}) is not a header this tool knows{separated}.",
            f"Start the sheet with the header row {','.join(OUR_CSV_COLUMNS)} (only date, time and text are "
            "required); Sprout Social sheets (date,time_24hr,message_text,link) and Hootsuite sheets (no "
            "header, column A dd/mm/yyyy hh:mm, B message, C link) load as they are"
            + ("; cells may be separated by commas, semicolons or tabs." if sheet.delimiter else "."),
            first_row,
        )
        return LoadedCalendar(self.file, None, self.campaign, self.problems, sheet=self.places)

    def columns(self, keys: dict[str, str | None], first: list[Cell]) -> None:
        """Record which column feeds which post key, with the header as the sheet writes it."""
        names = [_header_name(cell) for cell in first]
        for index, name in enumerate(names):
            key = keys.get(name)
            if key and key not in self.places.columns:
                self.places.columns[key] = (index, self.labels[index])

    def when(self, date_cell: Cell, time_cell: Cell, row: int, post_id: str | None) -> datetime | None:
        """The post's time from its date and time cells (text, or a workbook's date and time values)."""
        self.written = (None, False)
        date_text, time_text = cell_text(date_cell).strip(), cell_text(time_cell).strip()
        if not date_text:
            self.cell_error(
                "missing-time",
                "The row has no date.",
                "Fill in the date (2027-02-01 or 01/02/2027).",
                row,
                "date",
                post_id,
            )
            return None
        if not time_text:
            self.cell_error(
                "missing-time",
                "The row has no time.",
                "Fill in the time (24-hour hh:mm, e.g. 09:00).",
                row,
                "time",
                post_id,
            )
            return None
        offset = None
        if isinstance(time_cell, time | datetime):
            clock = time_cell.time() if isinstance(time_cell, datetime) else time_cell
        else:
            try:
                clock, offset = parse_clock_with_offset(time_text)
            except TimeError as error:
                self.cell_error(error.code, f"Cannot read the time: {error}", error.fix, row, "time", post_id)
                return None
        if isinstance(date_cell, date):
            day = date_cell.date() if isinstance(date_cell, datetime) else date_cell
            self.written = (None, True)
        elif isinstance(date_cell, int | float) and not isinstance(date_cell, bool):
            self.cell_error(
                "invalid-time",
                f"The date cell holds the number {date_text}, not a date.",
                "Format the cell as a date (dd/mm/yyyy) in the spreadsheet, or type the date as 2027-02-01.",
                row,
                "date",
                post_id,
            )
            return None
        else:
            try:
                day = parse_date(date_text, self.today)
            except TimeError as error:
                fix = error.fix
                if error.code == "us-date-order":
                    self.us_dates.append(row)
                    fix = f"{_DATE_ORDER_FIX[self.kind]} Dates are never swapped automatically: check every row."
                self.cell_error(error.code, f"Cannot read the date: {error}", fix, row, "date", post_id)
                return None
            self.written = (date_text, False)
            if is_either_order_date(date_text):
                self.either_order.append((row, date_text, day))
        return self.in_zone(datetime.combine(day, clock, tzinfo=offset), row, post_id)

    def finish(self, source_format: SourceFormat, slug: str) -> LoadedCalendar:
        self.date_order_warning()
        loaded = super().finish(source_format, slug)
        loaded.sheet = self.places
        return loaded

    def date_order_warning(self) -> None:
        """When some rows are in US order, the rows whose dates read either way were probably misread."""
        if not self.us_dates or not self.either_order:
            return
        first_row, first_text, first_day = self.either_order[0]
        count = len(self.either_order)
        rows = ", ".join(str(row) for row, _, _ in self.either_order[:10])
        more = f" and {count - 10} more" if count > 10 else ""
        which = f"Rows {rows}{more} have dates" if count > 1 else f"Row {rows} has a date"
        self.warning(
            "date-order-ambiguous",
            f"{which} that {'read' if count > 1 else 'reads'} either way ({first_text} was read day first, as "
            f"{first_day.day} {first_day:%B %Y}), but the date in row {self.us_dates[0]} is in US month/day order, "
            f"so {'these' if count > 1 else 'it'} may mean another day.",
            f"{_DATE_ORDER_FIX[self.kind]} Then check {'these rows' if count > 1 else 'that row'}.",
            first_row,
        )

    def add(
        self,
        *,
        post_id: str | None,
        generated_prefix: str | None,
        at: datetime | None,
        text: str,
        row: int,
        platforms: tuple[str, ...] = PLATFORMS,
        status: str = "approved",
        overrides: dict[str, PlatformOverride] | None = None,
        content_warning: str | None = None,
        link: Link | None = None,
        images: tuple[Image, ...] = (),
        image_line: bool = False,
        topics: tuple[str, ...] = (),
        video: Video | None = None,
    ) -> None:
        display_id = post_id
        generated = post_id is None and generated_prefix is not None
        if post_id is None:
            post_id = stable_id(generated_prefix or "row", at, text, row)
            display_id = post_id if generated_prefix else None
        lines = PostLines(row, display_id, {key: row for key in POST_KEYS}, [row] if image_line else [])
        lines.timed = at is not None
        lines.generated_id = generated
        lines.row = row
        lines.date_written, lines.date_cell = self.written
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
                    video=video,
                    overrides=overrides or {},
                    line=row,
                    topics=topics,
                ),
                lines,
            )
        )

    def read_ours(self, names: list[str], rows: list[Row], header_row: int) -> None:
        for position, name in enumerate(names):
            if name and name not in OUR_CSV_COLUMNS:
                self.cell_error(
                    "unknown-column",
                    f"Unknown column `{name}`.{did_you_mean(name, OUR_CSV_COLUMNS)}",
                    f"Rename it to one of: {', '.join(OUR_CSV_COLUMNS)} (or delete the column).",
                    header_row,
                    position,
                )
        missing = [column for column in OUR_CSV_REQUIRED if column not in names]
        if missing:
            self.error(
                "missing-column",
                f"The header has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}.",
                f"The header row must include date, time and text; all columns: {','.join(OUR_CSV_COLUMNS)}.",
                header_row,
            )
            return
        index = {name: position for position, name in enumerate(names) if name in OUR_CSV_COLUMNS}
        has_ids = "id" in index
        for row, cells in rows:
            if len(cells) > len(names) and any(cell_text(cell).strip() for cell in cells[len(names) :]):
                self.error(
                    "csv-row",
                    f"The row has {len(cells)} cells but the header has {len(names)} columns.",
                    "Put cells containing the separator in double quotes, or remove the extra cells.",
                    row,
                )

            def raw(column: str, cells: list[Cell] = cells) -> Cell:
                position = index.get(column)
                return cells[position] if position is not None and position < len(cells) else ""

            def cell(column: str) -> str:
                return cell_text(raw(column)).strip()

            raw_id = cell("id") or None
            if has_ids and raw_id is None:
                self.error(
                    "missing-id",
                    "The row has no id.",
                    "Fill in a unique id such as recs-01, or delete the id column to have ids derived "
                    "from each row's time and text.",
                    row,
                )
            elif raw_id is not None and not is_valid_slug(raw_id):
                self.error(
                    "invalid-id",
                    f"The id `{raw_id}` is not a valid id: ids are lowercase letters, digits and hyphens, "
                    "at most 64 characters.",
                    f"Use e.g. {slugify(raw_id)}.",
                    row,
                    raw_id,
                )
            at = self.when(raw("date"), raw("time"), row, raw_id)
            text = cell("text")
            overrides = {}
            for platform in PLATFORMS:
                specific = cell(f"{platform}_text")
                if specific:
                    overrides[platform] = PlatformOverride(text=specific)
            platform_names = [p for p in PLATFORM_SPLIT.split(cell("platforms")) if p]
            platforms = self.platforms(platform_names, row, raw_id) if platform_names else PLATFORMS
            link = None
            if cell("link") and not self.link_problem(cell("link"), row, raw_id):
                link = Link(url=cell("link"))
            images, video = row_media(self, cell, row, raw_id)
            status = self.status(cell("status") or None, row, raw_id)
            topics = self.topics([t for t in PLATFORM_SPLIT.split(cell("topics")) if t], row, raw_id)
            self.add(
                post_id=raw_id if (raw_id or has_ids) else None,
                generated_prefix=None if has_ids else "csv",
                at=at,
                text=text,
                row=row,
                platforms=platforms,
                status=status,
                overrides=overrides,
                content_warning=cell("content_warning") or None,
                link=link,
                images=images,
                image_line=bool(images),
                topics=topics,
                video=video,
            )

    def read_sprout(self, names: list[str], rows: list[Row], header_row: int) -> None:
        missing = [column for column in SPROUT_COLUMNS[:3] if column not in names]
        if missing:
            self.error(
                "missing-column",
                f"This Sprout Social sheet has no {', '.join(missing)} column.",
                f"A Sprout Social sheet needs the columns {','.join(SPROUT_COLUMNS)}.",
                header_row,
            )
            return
        ignored = [name for name in names if name and name not in SPROUT_COLUMNS]
        if ignored:
            self.warning(
                "ignored-column",
                f"Columns ignored: {', '.join(ignored)}.",
                "Only date, time_24hr, message_text and link are read from Sprout Social sheets; "
                "add images in a YAML calendar.",
                header_row,
            )
        index = {name: position for position, name in enumerate(names)}
        for row, cells in rows:

            def raw(column: str, cells: list[Cell] = cells) -> Cell:
                position = index.get(column)
                return cells[position] if position is not None and position < len(cells) else ""

            text = cell_text(raw("message_text")).strip()
            at = self.when(raw("date"), raw("time_24hr"), row, None)
            url = cell_text(raw("link")).strip()
            link = None
            if url and not self.link_problem(url, row, None):
                link = Link(url=url)
            self.add(post_id=None, generated_prefix="sp", at=at, text=text, row=row, link=link)

    def read_hootsuite(self, rows: list[Row]) -> None:
        for row, cells in rows:
            when = cells[0] if cells else ""
            if isinstance(when, datetime):  # a workbook's date-and-time cell
                at = self.when(when, when, row, None)
            else:
                date_text, _, time_text = cell_text(when).strip().partition(" ")
                at = self.when(date_text, time_text.strip(), row, None)
            text = cell_text(cells[1]).strip() if len(cells) > 1 else ""
            url = cell_text(cells[2]).strip() if len(cells) > 2 else ""
            link = None
            if url and not self.link_problem(url, row, None):
                link = Link(url=url)
            if len(cells) > 3 and any(cell_text(cell).strip() for cell in cells[3:]):
                self.warning(
                    "ignored-column",
                    "Cells after column C are ignored.",
                    "Hootsuite sheets are read as A date and time, B message, C link.",
                    row,
                )
            self.add(post_id=None, generated_prefix="hs", at=at, text=text, row=row, link=link)
