"""Live pages: a server-sent event stream that says when anything shown may have changed (a post's state, a pause,
the scheduler starting or stopping, a calendar file), and the page regions web/static/live.js fetches again
then (the banner here; the status and calendar regions beside their pages). Watching a page is not activity:
these requests leave the session's idle clock alone, so an open tab still signs out after the idle timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from scheduler.api import Api, Role
from web.app import render, requires
from web.security import visitor

STREAM_SECONDS = 25.0  # one stream's life; the browser reconnects at once (so a server can stop between two)
POLL_SECONDS = 1.0  # how often a stream looks for a change
RECONNECT_MS = 1000

Handler = Callable[[Request], Awaitable[Response]]


def live_view(handler: Handler) -> Handler:
    """For a signed-in person, without counting as activity; anyone else gets 401 (the script then reloads the
    page, which asks them to sign in)."""

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        seen = request.session.get("seen")
        who = visitor(request, request.app.state.api)
        if who is None:
            return Response("Sign in again.", status_code=401, media_type="text/plain")
        request.session["seen"] = seen
        request.state.visitor = who
        return await handler(request)

    return guarded


@live_view
async def events(request: Request) -> Response:
    api: Api = request.app.state.api
    calendars = request.query_params.get("calendars") == "1"

    async def stream() -> AsyncIterator[str]:
        # Starlette stops this when the browser goes away; it also ends by itself, and the browser reconnects.
        yield f"retry: {RECONNECT_MS}\n\n"
        last, ends = "", anyio.current_time() + STREAM_SECONDS
        while anyio.current_time() < ends:
            marker = await run_in_threadpool(api.live_marker, calendars=calendars)
            if marker != last:
                last = marker
                yield f"event: change\ndata: {marker}\n\n"
            await anyio.sleep(POLL_SECONDS)

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@live_view
async def banner(request: Request) -> Response:
    return render(request, "_scheduler_banner.html")


@requires(Role.VIEWER)
async def status_page(request: Request) -> Response:
    """Every post not well or posting now, the next to go out and the latest out, with the operator's buttons."""
    report = await run_in_threadpool(request.app.state.api.status, limit=20)
    return render(request, "status.html", title="Status", status=report)


@live_view
async def status_region(request: Request) -> Response:
    report = await run_in_threadpool(request.app.state.api.status, limit=20)
    return render(request, "_status_posts.html", status=report)


ROUTES = [
    Route("/live/events", events),
    Route("/live/banner", banner),
    Route("/status", status_page),
    Route("/status/live", status_region),
]
