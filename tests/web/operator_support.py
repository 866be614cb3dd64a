"""A workspace for the operator pages' tests: a real SQLite store in a temp folder, a campaign with a calendar
scheduled through the application, people of each role, and the web app driven through its ASGI interface
(httpx) as a browser would: sign in, read a form's CSRF token, post it."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from platforms.outbox import read_outbox
from scheduler.api import Api, load_settings
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.models import Delivery, Event
from tests.support.engine import write_calendar, write_campaign
from web.app import create_app

NOW = datetime(2027, 1, 25, 9, 0, tzinfo=UTC)
FIRST = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
ROLES = {"vic": "viewer", "sam": "editor", "ann": "approver", "ada": "admin"}


@dataclass
class Workspace:
    api: Api
    clock: FixedClock
    folder: Path

    @property
    def campaigns(self) -> Path:
        return self.folder / "campaigns"

    @property
    def store(self) -> Store:
        return self.api.wiring.store

    def states(self, post_id: str) -> dict[str, str]:
        with self.store.transaction() as session:
            found = session.scalars(select(Delivery).where(Delivery.post_id == post_id)).all()
            return {f"{d.platform}/{d.part}": d.state for d in found}

    def set_state(self, post_id: str, state: str, **values: object) -> None:
        with self.store.transaction() as session:
            for delivery in session.scalars(select(Delivery).where(Delivery.post_id == post_id)):
                delivery.state = state
                for key, value in values.items():
                    setattr(delivery, key, value)

    def events(self, action: str) -> list[Event]:
        with self.store.transaction() as session:
            return list(session.scalars(select(Event).where(Event.action == action).order_by(Event.id)))

    def outbox(self) -> list[dict[str, object]]:
        return read_outbox(self.api.settings.outbox_path)


def _api(folder: Path, clock: FixedClock) -> Api:
    settings = load_settings(
        {"CAMPAIGN_DATA_DIR": str(folder / "var"), "CAMPAIGN_CAMPAIGNS_DIR": str(folder / "campaigns"),
         "BLUESKY_HANDLE": "", "BLUESKY_APP_PASSWORD": "", "MASTODON_API_BASE_URL": "", "MASTODON_ACCESS_TOKEN": ""},
        dotenv_path=folder / "none.env",
    )  # fmt: skip
    return Api.from_settings(settings, clock=clock)


@functools.cache
def _people_store() -> Path:
    """A store with one person of each role, made once per test run: hashing four passwords takes seconds."""
    folder = Path(tempfile.mkdtemp(prefix="web-people-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    api = _api(folder, FixedClock(NOW))
    for name, role in ROLES.items():
        api.add_person(name, role, password=PASSWORD, actor="test")
    api.close()
    return folder / "var" / "campaign.db"


def make_workspace(folder: Path, posts: list[tuple[str, datetime, str]] | None = None) -> Workspace:
    """A workspace at `folder` with the `demo` campaign's calendar scheduled (posts to Bluesky and Mastodon, no
    accounts: posting writes to the outbox) and one person of each role."""
    clock = FixedClock(NOW)
    (folder / "var").mkdir(parents=True)
    shutil.copyfile(_people_store(), folder / "var" / "campaign.db")
    api = _api(folder, clock)
    campaign = write_campaign(folder / "campaigns")
    if posts is None:
        posts = [("one", FIRST, "The first post #ActOnIICSA"), ("two", FIRST, "The second post #ActOnIICSA")]
    calendar = write_calendar(campaign, "cal.yaml", posts)
    api.schedule([calendar], actor="test")
    return Workspace(api, clock, folder)


def client(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(api, secret_key="k" * 48)),
                             base_url="http://testserver")  # fmt: skip


@asynccontextmanager
async def signed_in(api: Api, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client(api) as browser:
        answer = await browser.post("/login", data={"name": name, "password": PASSWORD, "next": "/status"})
        assert answer.status_code == 303, answer.text
        yield browser


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field on the page"
    return found.group(1)


async def confirm_and_post(browser: httpx.AsyncClient, url: str, **extra: str) -> tuple[httpx.Response, str]:
    """Open a confirmation page, then send its form as it is (with `extra` fields): (the answer, the page shown)."""
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    data = {"csrf": field(page.text, "csrf"), "seen": field(page.text, "seen"), **extra}
    if 'name="platform"' in page.text:
        data.setdefault("platform", field(page.text, "platform"))
    return await browser.post(url.split("?", 1)[0], data=data), page.text
