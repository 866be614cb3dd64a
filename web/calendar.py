"""The calendar pages: what goes out next (the home page), a week and a month across every campaign, filtered
by campaign and platform. Each route parses, makes one call into scheduler.api and renders."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import Api, NotFound, Role, UsageRefused
from web.app import render, requires

_MONTH = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})")


def _api(request: Request) -> Api:
    return request.app.state.api


def _filters(request: Request) -> tuple[str | None, str | None]:
    return request.query_params.get("campaign") or None, request.query_params.get("platform") or None


def refused(request: Request, error: NotFound | UsageRefused) -> Response:
    """A request the application turns down: said in its words, on the page (404 or 400)."""
    found = isinstance(error, NotFound)
    title = "Not found" if found else "That cannot be shown"
    return render(request, "error.html", 404 if found else 400, title=title, message=" ".join(error.lines))


@requires(Role.VIEWER)
async def upcoming(request: Request) -> Response:
    return render(request, "home.html", upcoming=_api(request).upcoming())


async def _calendar(request: Request, kind: str, when: str | None) -> Response:
    api = _api(request)
    campaign, platform = _filters(request)
    try:
        if kind == "month":
            found = _MONTH.fullmatch(when or "")
            if when is not None and found is None:
                raise NotFound(f"{when!r} is not a month: write it as 2027-02.")
            today = api.today()
            year, month = (int(found["year"]), int(found["month"])) if found else (today.year, today.month)
            if not 1 <= month <= 12:
                raise NotFound(f"{when!r} is not a month: write it as 2027-02.")
            page = api.calendar_month(year, month, campaign=campaign, platform=platform)
        else:
            try:
                day = date.fromisoformat(when) if when is not None else api.today()
            except ValueError:
                raise NotFound(f"{when!r} is not a day: write it as 2027-02-01.") from None
            page = api.calendar_week(day, campaign=campaign, platform=platform)
    except (NotFound, UsageRefused) as error:
        return refused(request, error)
    return render(request, f"calendar_{kind}.html", page=page, query=_query(campaign, platform))


def _query(campaign: str | None, platform: str | None) -> str:
    """The filters again, for the links to the previous and next week or month."""
    chosen = {k: v for k, v in (("campaign", campaign), ("platform", platform)) if v}
    return "?" + urlencode(chosen) if chosen else ""


@requires(Role.VIEWER)
async def this_week(request: Request) -> Response:
    return await _calendar(request, "week", None)


@requires(Role.VIEWER)
async def week(request: Request) -> Response:
    return await _calendar(request, "week", request.path_params["day"])


@requires(Role.VIEWER)
async def this_month(request: Request) -> Response:
    return await _calendar(request, "month", None)


@requires(Role.VIEWER)
async def month(request: Request) -> Response:
    return await _calendar(request, "month", request.path_params["month"])


ROUTES = [
    Route("/", upcoming),
    Route("/calendar", this_week),
    Route("/calendar/week/{day}", week),
    Route("/calendar/month", this_month),
    Route("/calendar/month/{month}", month),
]
