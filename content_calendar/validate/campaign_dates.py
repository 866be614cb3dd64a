"""Posts outside the campaign's dates (campaign.yaml `dates: {from: ..., to: ...}`).

A date outside the campaign's window is most often a date read in the other order: 02/03/2027 is 2 March here
(UK order), but meant 3 February by whoever wrote it month first. The warning names the date in words and, where
day and month could be swapped, the other reading and how to write it so it cannot be misread.
"""

from __future__ import annotations

import re
from datetime import date

from content_calendar.loaders import PostLines
from content_calendar.model import CampaignDates, Post
from content_calendar.validate.context import CheckContext

_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")


def check_campaign_dates(context: CheckContext) -> None:
    """Warn about every post whose day (in the calendar's zone) is outside the campaign's dates."""
    campaign = context.loaded.campaign
    if campaign is None or campaign.dates is None:
        return
    for post, lines in context.loaded.posts:
        if lines.timed and post.at.date() not in campaign.dates:
            _outside(context, post, lines, campaign.dates)


def _outside(context: CheckContext, post: Post, lines: PostLines, window: CampaignDates) -> None:
    day = post.at.date()
    message = f"{day:%a} {day.day} {day:%b %Y} is outside the campaign's dates ({window.describe()})."
    other = _other_reading(lines, day)
    if other is not None and lines.date_written is not None:
        written = lines.date_written
        fix = (
            f"If you meant {_day_month(other, day)}, write {other:%d/%m/%Y} (day first) or {other:%Y-%m-%d} "
            f"instead of {written}, or check the day/month order of the dates: this tool reads {written} as "
            f"{day.day} {day:%B}."
        )
    elif other is not None:
        fix = (
            f"If you meant {_day_month(other, day)}, the spreadsheet read the date month first when it was typed: "
            f"check the date cell (and the spreadsheet's language setting), or type {other:%Y-%m-%d}."
        )
    else:
        fix = (
            "Check the date. If the campaign's dates have changed, change `dates:` in campaign.yaml; a post "
            "meant to go out before or after the campaign can stay as it is."
        )
    context.add("warning", "outside-campaign-dates", message, fix, lines.at("at"), lines.display_id)


def _other_reading(lines: PostLines, day: date) -> date | None:
    """The date with day and month swapped, when the date was written so that both could be either: in text
    with slashes (02/03/2027), or in a date cell (which the spreadsheet may have read in the other order)."""
    if lines.date_written is not None:
        match = _SLASH_DATE.fullmatch(lines.date_written.strip())
        if match is None or not (int(match[1]) <= 12 and int(match[2]) <= 12) or match[1] == match[2]:
            return None
    elif not lines.date_cell or day.day > 12 or day.day == day.month:
        return None
    try:
        return day.replace(month=day.day, day=day.month)
    except ValueError:
        return None


def _day_month(other: date, read: date) -> str:
    return f"{other.day} {other:%B}" + (f" {other.year}" if other.year != read.year else "")
