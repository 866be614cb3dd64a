"""Read models for the web workspace's pages: the calendar (week, month, the next 48 hours) and one post as each
platform will show it, with its history. Each reads only what its page shows."""

from scheduler.views.calendar import (
    STATES,
    CalendarDay,
    CalendarItem,
    CalendarPage,
    Filters,
    PlatformLine,
    Upcoming,
    campaigns_known,
    month_page,
    upcoming,
    week_page,
)
from scheduler.views.clock_changes import ClockChange, clock_change_near
from scheduler.views.post_page import PostImage, PostPage, post_image, post_page

__all__ = [
    "STATES",
    "CalendarDay",
    "CalendarItem",
    "CalendarPage",
    "ClockChange",
    "Filters",
    "PlatformLine",
    "PostImage",
    "PostPage",
    "Upcoming",
    "campaigns_known",
    "clock_change_near",
    "month_page",
    "post_image",
    "post_page",
    "upcoming",
    "week_page",
]
