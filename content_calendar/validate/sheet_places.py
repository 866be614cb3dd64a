"""Where a spreadsheet's problems are, as a person finds them: "row 4, column C (time)", not a line of text.

The loader names the cells of the problems it finds; the checks give a post's row, and this names the column
too where one cell is at fault.
"""

from __future__ import annotations

import dataclasses

from content_calendar.validate.context import CheckContext

# The cell a check's problem is about in a spreadsheet, where one cell says it; others name the row.
_CHECK_KEYS = {
    "outside-campaign-dates": "date",
    "duplicate-id": "id",
    "missing-alt": "image_alt",
    "alt-too-long": "image_alt",
    "image-missing": "images",
    "image-outside-campaign": "images",
    "image-unsupported": "images",
    "image-too-large": "images",
    "bluesky-no-content-warning": "content_warning",
}


def name_sheet_places(context: CheckContext) -> None:
    """In a spreadsheet, say "row 4" (and the column where one cell is at fault) for the checks' problems too."""
    sheet = context.loaded.sheet
    if sheet is None:
        return
    for index, problem in enumerate(context.problems):
        if problem.place is None and problem.line is not None and problem.file == context.file:
            place = sheet.place(problem.line, _CHECK_KEYS.get(problem.code))
            context.problems[index] = dataclasses.replace(problem, place=place)
