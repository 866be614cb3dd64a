"""The application API's read side for the web workspace's pages (mixed into `scheduler.api.Api`): the calendar
by week and by month, what goes out next, and one post as each platform will show it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from zoneinfo import ZoneInfo

from content_calendar.campaign import load_campaign
from content_calendar.model import PLATFORMS, CalendarError
from scheduler import views
from scheduler.api_base import ApiBase
from scheduler.display import helpline_note
from scheduler.errors import NotFound, UsageRefused
from scheduler.views import CalendarPage, Filters, PostImage, PostPage, Upcoming
from scheduler.views.post_page import PlatformPreview


class ViewsApi(ApiBase):
    def today(self) -> date:
        """Today in the workspace's zone: the week and month a calendar opens on."""
        return self.wiring.clock.now().astimezone(ZoneInfo(self.wiring.settings.timezone)).date()

    def _filters(self, campaign: str | None, platform: str | None) -> Filters:
        if platform and platform not in PLATFORMS:
            raise UsageRefused(f"{platform!r} is not a platform we post to: choose {' or '.join(PLATFORMS)}.")
        known = views.campaigns_known(self.wiring.store)
        if campaign and campaign not in known:
            raise NotFound(f"There is no campaign called {campaign!r} in the schedule: choose one from the list.")
        return Filters(campaign or None, platform or None, known)

    def calendar_week(self, day: date, *, campaign: str | None = None, platform: str | None = None) -> CalendarPage:
        """The week (Monday to Sunday) holding `day`: every post, each on its day in its campaign's zone."""
        return views.week_page(self.wiring.store, day, self.today(), self._filters(campaign, platform))

    def calendar_month(
        self, year: int, month: int, *, campaign: str | None = None, platform: str | None = None
    ) -> CalendarPage:
        return views.month_page(self.wiring.store, year, month, self.today(), self._filters(campaign, platform))

    def upcoming(self, *, hours: int = views.calendar.UPCOMING_HOURS) -> Upcoming:
        """What goes out next: every post due from an hour ago to `hours` ahead."""
        return views.upcoming(self.wiring.store, self.wiring.clock.now(), hours=hours)

    def post_page(self, campaign: str, post_id: str) -> PostPage:
        """One post as each platform will show it, and its history; NotFound when the schedule has no such post."""
        page = views.post_page(self.wiring.store, campaign, post_id)
        try:
            folder = load_campaign(self.settings.campaigns_dir / campaign)
        except (CalendarError, OSError):
            return page  # the previews stand without the campaign's name and handles
        platforms = tuple(_with_helpline_note(preview, folder.helpline) for preview in page.platforms)
        return replace(page, campaign_name=folder.name, accounts=dict(folder.accounts), platforms=platforms)

    def post_image(self, campaign: str, post_id: str, sha256: str) -> PostImage:
        """An image a part of the post sends, by its hash; NotFound for anything else."""
        return views.post_image(self.wiring.store, campaign, post_id, sha256)


def _with_helpline_note(preview: PlatformPreview, helpline: str) -> PlatformPreview:
    """Where the campaign's helpline line went in this platform's parts (the post, or a reply when it had no room)."""
    note = helpline_note([part.rendered for part in preview.parts], helpline)
    return preview if note is None else replace(preview, notes=(note, *preview.notes))
