"""The calendar files of the workspace (campaigns/<slug>/calendars/*), each with its problems exactly as
`campaign calendar validate` reports them: where (file and line, or row and column), post, problem and fix.
Checked again whenever a file of a campaign folder changes; an open page follows (web/static/live.js)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import Role
from web.app import render, requires
from web.live import live_view


@requires(Role.VIEWER)
async def calendars_page(request: Request) -> Response:
    checked = await run_in_threadpool(request.app.state.api.workspace_calendars)
    return render(request, "calendars.html", title="Calendar files", checked=checked)


@live_view
async def calendars_region(request: Request) -> Response:
    checked = await run_in_threadpool(request.app.state.api.workspace_calendars)
    return render(request, "_calendar_files.html", checked=checked)


ROUTES = [
    Route("/calendars", calendars_page),
    Route("/calendars/live", calendars_region),
]
