"""Who is signed in, what they may do, and the protections every page gets: signed session cookies checked
against the people table on every request (so a new password, a new role or "sign out everywhere" takes effect at
once), an idle timeout, a CSRF token on every form, and strict response headers."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.api import Api, NotFound, Person, Role

IDLE_SECONDS = 30 * 60  # signed out after this long without a request
CSRF_FIELD = "csrf"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Adds the strict headers to every response (pages, redirects, errors, static files)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass(frozen=True)
class Visitor:
    """The person behind a request, with their CSRF token."""

    person: Person
    csrf: str


def sign_in(request: Request, api: Api, person: Person) -> None:
    request.session.clear()  # a new session on every sign-in: no fixation
    now = api.clock.now().timestamp()
    request.session.update(
        {"name": person.name, "epoch": person.session_epoch, "seen": now, "csrf": secrets.token_urlsafe(32)}
    )


def sign_out(request: Request) -> None:
    request.session.clear()


def visitor(request: Request, api: Api) -> Visitor | None:
    """The signed-in person, if the session is still theirs: known, same session epoch, not idle too long."""
    session = request.session
    name, seen = session.get("name"), session.get("seen")
    if not isinstance(name, str) or not isinstance(seen, (int, float)):
        return None
    now = api.clock.now().timestamp()
    if now - seen > IDLE_SECONDS:
        session.clear()
        return None
    try:
        person = api.person(name)
    except NotFound:
        session.clear()
        return None
    if person.session_epoch != session.get("epoch") or not person.can_sign_in:
        session.clear()
        return None
    session["seen"] = now
    return Visitor(person, str(session.get("csrf", "")))


def csrf_ok(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(submitted, str) and hmac.compare_digest(expected, submitted)


Handler = Callable[[Request], Awaitable[Response]]


def role_names() -> dict[str, Role]:
    return {role.value: role for role in Role}
