"""The weekly reports: listed, and opened in the page. A report is served only by its name as the reports page
lists it (the application looks the name up among the files under the reports folder; a path is never made
from the request), framed by this site only, with the report's own strict policy: no script, no request out."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import NotFound, ReportFile, Role
from web.app import render, requires
from web.security import CONTENT_SECURITY_POLICY

NAME = re.compile(r"[a-z0-9][a-z0-9-]*-\d{4}-W\d{2}\.html")
# The report's own policy (it styles itself inline and carries its charts as data: images), in a sandbox: no
# script runs and it has no origin of its own; only this site may frame it.
REPORT_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox"
)


@requires(Role.VIEWER)
async def reports_page(request: Request) -> Response:
    reports = await run_in_threadpool(request.app.state.api.weekly_reports)
    return render(request, "reports.html", title="Weekly reports", reports=reports)


async def _report(request: Request) -> ReportFile | Response:
    name = request.path_params["name"]
    try:
        if not NAME.fullmatch(name):
            raise NotFound("There is no such report: the reports page lists those there are.")
        found: ReportFile = await run_in_threadpool(request.app.state.api.weekly_report_file, name)
        return found
    except NotFound as error:
        return render(request, "error.html", 404, title="Not found", message=" ".join(error.lines))


@requires(Role.VIEWER)
async def report_page(request: Request) -> Response:
    report = await _report(request)
    if isinstance(report, Response):
        return report
    page = render(request, "report.html", title=f"Weekly report: {report.title}", report=report)
    page.headers["content-security-policy"] = f"{CONTENT_SECURITY_POLICY}; frame-src 'self'"
    return page


@requires(Role.VIEWER)
async def report_file(request: Request) -> Response:
    report = await _report(request)
    if isinstance(report, Response):
        return report
    body = await run_in_threadpool(report.path.read_bytes)
    headers = {"content-security-policy": REPORT_POLICY, "x-frame-options": "SAMEORIGIN"}
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


ROUTES = [
    Route("/reports", reports_page),
    Route("/reports/{name}", report_page),
    Route("/reports/{name}/file", report_file),
]
