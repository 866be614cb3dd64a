"""Spreadsheet files as rows of cells, numbered as a spreadsheet numbers them.

Text sheets (.csv, .tsv, .txt) are read in UTF-8 or, when they start with its byte order mark, UTF-16 (Excel's
"Unicode text"); their separator (comma, semicolon or tab) is the one that makes the first row a sheet this tool
knows, else the commonest in that row. Workbooks (.xlsx with openpyxl, .ods with odfpy) give their cells' own
values: a date cell is a `date`, a time cell a `time`, never the text it happens to be displayed as.

A row's number is the one a person sees in a spreadsheet: the first row is 1, a blank row still counts, and a
quoted cell with line breaks is one row however many lines it takes in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from content_calendar.model import Problem
from content_calendar.yaml_source import read_text

Cell = str | int | float | bool | date | time  # a datetime is a date too
Row = tuple[int, list[Cell]]  # the spreadsheet's row number and the row's cells ("" for an empty one)

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".ods")
SHEET_SUFFIXES = TEXT_SUFFIXES + WORKBOOK_SUFFIXES
DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
# A workbook is a zip of XML files: one that unpacks to more than this is not a calendar (and may be a zip bomb).
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
# ODS compresses identical neighbouring rows and cells into one with a repeat count; the empty rows and columns
# to the end of the sheet come that way too (a million of them), so only cells with content are repeated.
_MAX_REPEAT = 10_000
_RESAVE = "Open it in Excel, LibreOffice or Google Sheets and save it again, or save the sheet as CSV UTF-8."
# The csv module's reasons in plain words.
_CSV_WORDS = {
    "',' expected after '\"'": "a cell goes on after its closing quote mark",
    "unexpected end of data": "a quote mark that opens a cell is never closed",
    "field larger than field limit": "a cell is far longer than any post",
}


@dataclass
class Sheet:
    """The rows of one sheet that have something in them."""

    rows: list[Row]
    delimiter: str | None = None  # text sheets: the separator the file uses
    name: str | None = None  # workbooks with several sheets: the one read
    problems: list[Problem] = field(default_factory=list)  # warnings about the file (sheets left out)


def cell_text(cell: Cell) -> str:
    """A cell as text: numbers without a needless .0, dates and times as this tool writes them."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, datetime):
        return f"{cell:%Y-%m-%d %H:%M}" if cell.time() != time(0) else f"{cell:%Y-%m-%d}"
    if isinstance(cell, date):
        return f"{cell:%Y-%m-%d}"
    if isinstance(cell, time):
        return f"{cell:%H:%M}" if not cell.second else f"{cell:%H:%M:%S}"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def cell_label(cell: Cell) -> str:
    """A header as a message shows it: no control characters, not too long."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", cell_text(cell).strip().lstrip("\ufeff"))
    return text if len(text) <= 40 else text[:39] + "…"


# --- text sheets -------------------------------------------------------------------------------------


def read_text_sheet(path: Path, file: str, looks_known: Callable[[list[Cell]], bool]) -> Sheet | Problem:
    """A .csv/.tsv/.txt file; `looks_known` says whether a first row is one of the sheets this tool reads."""
    text, problem = _decode(path, file)
    if problem is not None:
        return problem
    assert text is not None
    delimiter = detect_delimiter(text, looks_known, "\t" if path.suffix.lower() == ".tsv" else ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[Row] = []
    number = 0
    try:
        for cells in reader:
            number += 1
            if any(cell.strip() for cell in cells):
                # A carriage return left inside a quoted cell is a line break from another spreadsheet.
                rows.append((number, [_lines(cell) for cell in cells]))
    except csv.Error as error:
        return Problem(
            "error",
            "csv-syntax",
            file,
            f"The file is not valid CSV: {_CSV_WORDS.get(str(error).split(' (')[0], 'its quotes do not match up')}.",
            "Check the quotes on that row: a cell that contains a separator, a quote or a line break must be in "
            'double quotes, with inner quotes doubled ("").',
            line=number + 1,
            place=f"row {number + 1}",
            detail=str(error),
        )
    return Sheet(rows, delimiter=delimiter)


def is_text_sheet(path: Path, looks_known: Callable[[list[Cell]], bool]) -> bool:
    """Whether a .txt file is a spreadsheet saved as text (Excel's "Unicode text", or tab-separated cells),
    not notes: its first row is a sheet this tool knows, or has tabs between cells."""
    try:
        with path.open("rb") as handle:
            start = handle.read(65_536)
    except OSError:
        return False
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return True
    text = start.decode("utf-8-sig", errors="replace")
    line = next((line for line in text.splitlines() if line.strip()), "")
    first = _first_row(text, detect_delimiter(text, looks_known, "\t"))
    return "\t" in line or (first is not None and looks_known(list(first)))


def _lines(text: str) -> str:
    """A cell's line breaks as "\n": a carriage return left inside a cell is a line break from another program."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _decode(path: Path, file: str) -> tuple[str | None, Problem | None]:
    try:
        with path.open("rb") as handle:
            start = handle.read(2)
    except OSError:
        return read_text(path, file)  # says why in its own words
    if start not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return read_text(path, file)
    try:
        return path.read_bytes().decode("utf-16"), None
    except (UnicodeDecodeError, OSError) as error:
        return None, Problem(
            "error",
            "file-unreadable",
            file,
            'The file starts as UTF-16 text (Excel\'s "Unicode text") but cannot be read as such.',
            _RESAVE,
            detail=str(error),
        )


def detect_delimiter(text: str, looks_known: Callable[[list[Cell]], bool], default: str = ",") -> str:
    """The separator that makes the first row a sheet this tool knows; else the commonest one in that row
    outside quotes (`default` when none is there)."""
    for delimiter in (default, *(d for d in DELIMITER_NAMES if d != default)):
        first = _first_row(text, delimiter)
        if first is not None and len(first) > 1 and looks_known(list(first)):
            return delimiter
    line = next((line for line in text.splitlines() if line.strip()), "")
    outside = re.sub(r'"[^"]*("|$)', "", line)
    counts = {delimiter: outside.count(delimiter) for delimiter in DELIMITER_NAMES}
    best = max(counts.values())
    return default if best == 0 or counts[default] == best else max(counts, key=lambda d: counts[d])


def _first_row(text: str, delimiter: str) -> list[str] | None:
    try:
        for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in cells):
                return cells
    except csv.Error:
        return None
    return None


# --- workbooks ---------------------------------------------------------------------------------------


def read_workbook(path: Path, file: str, looks_known: Callable[[list[Cell]], bool]) -> Sheet | Problem:
    """The first visible sheet of an .xlsx or .ods workbook that looks like a calendar (else the first one);
    a warning names the other sheets that look like calendars too, which are not read."""
    kind = "an Excel workbook (.xlsx)" if path.suffix.lower() == ".xlsx" else "an OpenDocument spreadsheet (.ods)"
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except FileNotFoundError:
        return Problem("error", "file-not-found", file, "The file does not exist.", "Check the path.")
    except (zipfile.BadZipFile, OSError, ValueError):
        return Problem(
            "error",
            "file-unreadable",
            file,
            f"The file is not {kind} that can be opened (it may be damaged, password-protected, or another kind "
            "of file with this name).",
            _RESAVE,
        )
    if unpacked > MAX_UNPACKED_BYTES:
        return Problem(
            "error",
            "file-unreadable",
            file,
            f"The workbook unpacks to {unpacked // (1024 * 1024)} MB, far more than a calendar needs.",
            "Copy the calendar's rows into a new workbook (or save the sheet as CSV UTF-8) and check that one.",
        )
    try:
        sheets = _xlsx_sheets(path) if path.suffix.lower() == ".xlsx" else _ods_sheets(path)
    except Exception as error:  # a damaged workbook can fail anywhere inside the library
        return Problem(
            "error",
            "file-unreadable",
            file,
            f"The file is not {kind} that can be read: it may be damaged, or another kind of file renamed.",
            _RESAVE,
            detail=f"{type(error).__name__}: {error}",
        )
    if not sheets:
        return Sheet([])
    known = [i for i, (_, rows) in enumerate(sheets) if rows and looks_known(rows[0][1])]
    chosen = known[0] if known else next((i for i, (_, rows) in enumerate(sheets) if rows), 0)
    name, rows = sheets[chosen]
    sheet = Sheet(rows, name=name if len(sheets) > 1 else None)
    others = [sheets[i][0] for i in known if i != chosen]
    if others:
        listed = ", ".join(f'"{other}"' for other in others)
        sheet.problems.append(
            Problem(
                "warning",
                "ignored-sheet",
                file,
                f'Only the sheet "{name}" is read; {listed} {"looks" if len(others) == 1 else "look"} like '
                f"{'a calendar' if len(others) == 1 else 'calendars'} too but {'is' if len(others) == 1 else 'are'} "
                "not read.",
                "Put every post on one sheet, or save each sheet as a file of its own.",
            )
        )
    return sheet


def _xlsx_sheets(path: Path) -> list[tuple[str, list[Row]]]:
    import openpyxl  # imported here: only workbooks need it

    # data_only: a formula's value as the spreadsheet last computed it, not the formula.
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = []
        for worksheet in book.worksheets:
            if getattr(worksheet, "sheet_state", "visible") != "visible":
                continue
            if hasattr(worksheet, "reset_dimensions"):
                worksheet.reset_dimensions()  # some writers record a wrong size; read every row there is
            rows: list[Row] = []
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                cells = [_xlsx_cell(value) for value in values]
                if any(cell != "" for cell in cells):
                    rows.append((number, _trimmed(cells)))
            sheets.append((worksheet.title, rows))
        return sheets
    finally:
        book.close()


def _xlsx_cell(value: Any) -> Cell:
    if value is None:
        return ""
    if isinstance(value, timedelta):  # a time typed into a duration-formatted cell ([h]:mm)
        return _clock(value.total_seconds()) if timedelta(0) <= value < timedelta(days=1) else str(value)
    if isinstance(value, str):
        return _lines(value)
    if isinstance(value, datetime | date | time | bool | int):
        return _rounded(value) if isinstance(value, datetime | time) else value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return str(value)


def _rounded(value: datetime | time) -> datetime | time:
    """Spreadsheets keep times as fractions of a day: 09:00 can come back as 08:59:59.999999."""
    if value.microsecond == 0:
        return value
    if isinstance(value, datetime):
        return (value + timedelta(microseconds=500_000)).replace(microsecond=0)
    return _clock(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)


def _clock(seconds: float) -> time:
    whole = min(round(seconds), 86_399)
    return time(whole // 3600, whole // 60 % 60, whole % 60)


def _trimmed(cells: list[Cell]) -> list[Cell]:
    while cells and cells[-1] == "":
        cells.pop()
    return cells


_ODS_TIME = re.compile(r"-?PT(\d+)H(\d+)M(\d+(?:[.,]\d+)?)S")


def _ods_sheets(path: Path) -> list[tuple[str, list[Row]]]:
    from odf.opendocument import load  # type: ignore[import-untyped]  # imported here: only workbooks need it
    from odf.table import Table  # type: ignore[import-untyped]

    document = load(str(path))
    sheets: list[tuple[str, list[Row]]] = []
    for table in document.spreadsheet.getElementsByType(Table):
        rows: list[Row] = []
        number = 0
        for row in _children(table, {"table-row"}, descend={"table-header-rows", "table-row-group", "table-rows"}):
            cells = _ods_row(row)
            repeat = int(row.getAttribute("numberrowsrepeated") or 1)
            if not any(cell != "" for cell in cells):
                number += repeat
                continue
            for _ in range(min(repeat, _MAX_REPEAT)):
                number += 1
                rows.append((number, list(cells)))
            number += max(0, repeat - _MAX_REPEAT)
        sheets.append((str(table.getAttribute("name") or f"Sheet{len(sheets) + 1}"), rows))
    return sheets


def _children(element: Any, names: set[str], descend: set[str]) -> Iterable[Any]:
    """The element's children called one of `names`, looking inside groups of rows too (header rows)."""
    for child in element.childNodes:
        local = getattr(child, "qname", (None, None))[1]
        if local in names:
            yield child
        elif local in descend:
            yield from _children(child, names, descend)


def _ods_row(row: Any) -> list[Cell]:
    cells: list[Cell] = []
    empty = 0  # empty cells not yet added: only those before a cell with content are
    for cell in _children(row, {"table-cell", "covered-table-cell"}, descend=set()):
        value = _ods_cell(cell) if cell.qname[1] == "table-cell" else ""
        repeat = int(cell.getAttribute("numbercolumnsrepeated") or 1)
        if value == "":
            empty += repeat
            continue
        cells.extend([""] * min(empty, _MAX_REPEAT))
        empty = 0
        cells.extend([value] * min(repeat, _MAX_REPEAT))
    return cells


def _ods_cell(cell: Any) -> Cell:
    kind = cell.getAttribute("valuetype")
    text = _ods_text(cell)
    try:
        if kind == "date":
            written = str(cell.getAttribute("datevalue"))
            moment = datetime.fromisoformat(written[:26]) if "T" in written else date.fromisoformat(written[:10])
            return _rounded(moment) if isinstance(moment, datetime) else moment
        if kind == "time":
            match = _ODS_TIME.fullmatch(str(cell.getAttribute("timevalue")))
            if match and int(match[1]) < 24:
                return _clock(int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3].replace(",", ".")))
            return text
        if kind in ("float", "percentage", "currency"):
            number = float(cell.getAttribute("value"))
            return int(number) if number.is_integer() else number
        if kind == "boolean":
            return str(cell.getAttribute("booleanvalue")).lower() == "true"
    except (TypeError, ValueError):
        return text
    return text


def _ods_text(cell: Any) -> str:
    from odf import teletype  # type: ignore[import-untyped]

    # Each paragraph of a cell is one of its lines; annotations (comments) are not part of the value.
    paragraphs = [teletype.extractText(child) for child in cell.childNodes if child.qname[1] in ("p", "h")]
    return _lines("\n".join(paragraphs))
