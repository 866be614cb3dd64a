"""The web workspace's application: routes that parse a request, make one call into scheduler.api, and render a
template. Built by `create_app(api, secret_key=...)`; `campaign serve` runs `app_from_environment` under uvicorn."""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from scheduler.api import Api, Role, local_time, platform_name
from web.calendar_filters import FILTERS
from web.links import http_url
from web.security import CSRF_FIELD, SecurityHeaders, Visitor, csrf_ok, sign_in, sign_out, visitor

HERE = Path(__file__).parent
SECRET_FILE = "web-secret"

Handler = Callable[[Request], Awaitable[Response]]


def _templates() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), trim_blocks=True
    )
    environment.filters["local"] = local_time
    environment.filters["platform_name"] = platform_name
    environment.filters["http_url"] = http_url
    environment.filters.update(FILTERS)  # escaped calendar text, times of day
    return environment


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with who is signed in, their CSRF token and the API's banner facts."""
    who: Visitor | None = request.state.visitor if hasattr(request.state, "visitor") else None
    environment: Environment = request.app.state.templates
    if who is not None and "scheduler_banner" not in context:  # every page says whether anything is posting
        context["scheduler_banner"] = request.app.state.api.banner()
        context["scheduler_holds"] = request.app.state.api.holds()  # safeguarding holds: the banner names each
    context.setdefault("demo", request.app.state.api.is_demo())  # a demo workspace: every page says so
    body = environment.get_template(template).render(
        request=request, visitor=who, csrf_field=CSRF_FIELD, csrf=who.csrf if who else "", **context
    )
    return HTMLResponse(body, status_code=status_code)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def requires(role: Role) -> Callable[[Handler], Handler]:
    """The handler runs for someone signed in with at least `role`; every POST must carry the session's CSRF
    token. A stranger is sent to sign in; someone without the role is told so (403)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request) -> Response:
            api: Api = request.app.state.api
            who = visitor(request, api)
            if who is None:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            request.state.visitor = who
            if request.method == "POST":
                form = await request.form()
                if not csrf_ok(request, form.get(CSRF_FIELD)):
                    return render(request, "error.html", 403, title="This form has expired",
                                  message="Go back, reload the page and try again.")  # fmt: skip
            if not who.person.may(role):
                needed = f"This needs the {role} role; you are {who.person.role}. Ask an admin."
                return render(request, "error.html", 403, title="Not allowed", message=needed)
            return await handler(request)

        return guarded

    return decorate


async def login_page(request: Request) -> Response:
    if visitor(request, request.app.state.api) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    form = await request.form()
    api: Api = request.app.state.api
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")) or None)
    attempt = api.sign_in(name, password)
    if attempt.person is None:
        return render(request, "login.html", 401, error=attempt.reason, name=name, next=target)
    sign_in(request, api, attempt.person)
    return RedirectResponse(target, status_code=303)


@requires(Role.VIEWER)
async def logout(request: Request) -> Response:
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


async def http_error(request: Request, exc: Exception) -> Response:
    """An address with no page (or a page asked for the wrong way): the workspace's own error page, in words."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    if status == 404:
        title, message = (
            "Not found",
            "There is no page at this address. Check the address, or start again from the workspace.",
        )
    else:
        title, message = (
            "Not possible here",
            "This page cannot be used that way. Go back and try again from the page itself.",
        )
    answer = render(request, "error.html", status, title=title, message=message)
    if headers:
        answer.headers.update(headers)
    return answer


def create_app(api: Api, *, secret_key: str, secure_cookies: bool = False) -> Starlette:
    # The operator's pages, the calendar and the post pages (they use render and requires from here, so they are
    # imported once this module is).
    from web import approvals, audit, calendar, calendars, live, operate, posts, reports

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        *approvals.ROUTES,  # Approve and Reject on a post's page: before the operator's /posts/.../{action} routes
        *operate.ROUTES,
        *live.ROUTES,
        *calendars.ROUTES,
        *reports.ROUTES,
        *audit.ROUTES,
        # The calendar (the home page: what goes out next; week; month) and the post page with its previews.
        *calendar.ROUTES,
        *posts.ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key,
            session_cookie="campaign_session",
            max_age=12 * 60 * 60,
            same_site="strict",
            https_only=secure_cookies,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: http_error})
    app.state.api = api
    app.state.templates = _templates()
    return app


def secret_key_for(data_dir: Path) -> str:
    """The key that signs session cookies: made once per workspace, kept in the data folder (readable by its
    owner only)."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def app_from_environment() -> Starlette:
    """What uvicorn serves: the workspace named by the environment (as every command finds it)."""
    api = Api.from_settings()
    return create_app(api, secret_key=secret_key_for(api.settings.data_dir),
                      secure_cookies=api.settings.web_secure_cookies)  # fmt: skip
