"""The web workspace's front door, through its ASGI interface: strangers sign in first, a session follows the
people table (a new password or role ends it), forms need their CSRF token, idle sessions end, headers are strict."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from scheduler.api import Api, load_settings
from scheduler.clock import FixedClock
from web.app import create_app

pytestmark = pytest.mark.anyio
NOW = datetime(2027, 1, 25, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def api(tmp_path: Path, clock: FixedClock) -> Iterator[Api]:
    settings = load_settings({"CAMPAIGN_DATA_DIR": str(tmp_path)}, dotenv_path=tmp_path / "none.env")
    app = Api.from_settings(settings, clock=clock)
    app.add_person("sam", "editor", password=PASSWORD, actor="test")
    app.add_person("vic", "viewer", password=PASSWORD, actor="test")
    yield app
    app.close()


def client(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(api, secret_key="k" * 48)),
                             base_url="http://testserver")  # fmt: skip


@asynccontextmanager
async def signed_in(api: Api, name: str = "sam") -> AsyncIterator[httpx.AsyncClient]:
    async with client(api) as browser:
        answer = await browser.post("/login", data={"name": name, "password": PASSWORD, "next": "/"})
        assert answer.status_code == 303, answer.text
        yield browser


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def test_a_stranger_is_sent_to_sign_in_and_headers_are_strict(api: Api) -> None:
    async with client(api) as browser:
        answer = await browser.get("/")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/"
        page = await browser.get("/login")
        assert page.status_code == 200 and "<h1>Sign in</h1>" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"


async def test_signing_in_sets_a_strict_cookie_and_a_wrong_password_does_not(api: Api) -> None:
    async with client(api) as browser:
        wrong = await browser.post("/login", data={"name": "sam", "password": "nope nope nope"})
        assert wrong.status_code == 401 and "do not match" in wrong.text
        assert (await browser.get("/")).status_code == 303
        right = await browser.post(
            "/login", data={"name": "sam", "password": PASSWORD, "next": "https://evil.example/"}
        )
        assert right.status_code == 303 and right.headers["location"] == "/"  # never an open redirect
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        home = await browser.get("/")
        assert home.status_code == 200 and "What goes out next" in home.text and "sam (editor)" in home.text


async def test_forms_need_their_csrf_token(api: Api) -> None:
    async with signed_in(api) as browser:
        refused = await browser.post("/logout", data={})
        assert refused.status_code == 403 and "expired" in refused.text
        page = await browser.get("/")
        done = await browser.post("/logout", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303
        assert (await browser.get("/")).status_code == 303  # signed out


async def test_a_new_password_or_sign_out_everywhere_ends_the_session(api: Api) -> None:
    async with signed_in(api) as browser:
        assert (await browser.get("/")).status_code == 200
        api.sign_out_everywhere("sam", actor="admin")
        assert (await browser.get("/")).status_code == 303
    async with signed_in(api) as browser:
        api.set_password("sam", "another long password", actor="admin")
        assert (await browser.get("/")).status_code == 303


async def test_an_idle_session_ends(api: Api, clock: FixedClock) -> None:
    async with signed_in(api) as browser:
        clock.advance(timedelta(minutes=29))
        assert (await browser.get("/")).status_code == 200
        clock.advance(timedelta(minutes=31))
        assert (await browser.get("/")).status_code == 303
