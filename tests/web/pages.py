"""What the calendar and post page tests share: a workspace on tmp_path holding copies of the shipped campaigns
(and any campaign a test writes), an Api on a fixed clock, people to sign in as, and small readers of pages."""

from __future__ import annotations

import atexit
import html
import re
import shutil
import tempfile
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from scheduler.api import Api, load_settings
from scheduler.clock import FixedClock
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 1, 25, 9, 0, tzinfo=UTC)  # a week before the awareness week
PASSWORD = "correct horse battery"


_TEMPLATES: dict[datetime, Path] = {}


def _people_template(now: datetime) -> Path:
    """A data folder made by the application once per clock reading and test process: the schema, and vic and sam
    added at `now` (each password is an argon2 hash, about 0.4 s of CPU; migrating, about 0.2 s). Copied per test."""
    folder = _TEMPLATES.get(now)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="campaign-web-template-"))
        atexit.register(shutil.rmtree, folder, True)
        settings = load_settings(
            {"CAMPAIGN_DATA_DIR": str(folder / "data"), "CAMPAIGN_CAMPAIGNS_DIR": str(folder / "campaigns")},
            dotenv_path=folder / "none.env",
        )
        api = Api.from_settings(settings, clock=FixedClock(now))
        api.add_person("vic", "viewer", password=PASSWORD, actor="test")
        api.add_person("sam", "editor", password=PASSWORD, actor="test")
        api.close()
        _TEMPLATES[now] = folder
    return folder / "data"


def make_api(tmp_path: Path, clock: FixedClock) -> Api:
    """A workspace with copies of the shipped campaigns and a viewer (vic) and an editor (sam)."""
    campaigns = tmp_path / "campaigns"
    for name in ("sasvaw-week", "act-on-iicsa"):
        shutil.copytree(ROOT / "campaigns" / name, campaigns / name)
    shutil.copytree(_people_template(clock.now()), tmp_path / "data")
    settings = load_settings(
        {"CAMPAIGN_DATA_DIR": str(tmp_path / "data"), "CAMPAIGN_CAMPAIGNS_DIR": str(campaigns)},
        dotenv_path=tmp_path / "none.env",
    )
    return Api.from_settings(settings, clock=clock)


def schedule_shipped(api: Api, *names: str) -> None:
    campaigns = api.settings.campaigns_dir
    api.schedule([campaigns / name / "calendars" for name in names or ("sasvaw-week",)], actor="sam")


def write_campaign(api: Api, slug: str, posts: str, *, zone: str = "Europe/London", extra: str = "") -> Path:
    """A campaign folder of its own with one calendar of `posts` (YAML, as under `posts:`); returns the file."""
    folder = api.settings.campaigns_dir / slug
    (folder / "calendars").mkdir(parents=True)
    (folder / "campaign.yaml").write_text(
        f'slug: {slug}\nname: "Test campaign {slug}"\nhashtags: ["#ItsNotOK"]\ntimezone: {zone}\n'
        f"accounts:\n  bluesky: {slug}.bsky.social\n{extra}"
    )
    calendar = folder / "calendars" / "posts.yaml"
    calendar.write_text(
        f"campaign: {slug}\ntimezone: {zone}\ndefaults:\n  platforms: [bluesky, mastodon]\nposts:\n"
        + textwrap.indent(textwrap.dedent(posts).strip("\n"), "  ")
        + "\n"
    )
    return calendar


def client(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(api, secret_key="k" * 48)),
                             base_url="http://testserver")  # fmt: skip


@asynccontextmanager
async def signed_in(api: Api, name: str = "vic") -> AsyncIterator[httpx.AsyncClient]:
    async with client(api) as browser:
        answer = await browser.post("/login", data={"name": name, "password": PASSWORD, "next": "/"})
        assert answer.status_code == 303, answer.text
        yield browser


def text_of(fragment: str) -> str:
    """What a person reads in a piece of HTML: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def body_cells(page: str) -> list[str]:
    """The <td> cells of the page's first table body, in order."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [cell.split("</td>", 1)[0] for cell in re.split(r"<td[^>]*>", body)[1:]]


def items(fragment: str) -> list[str]:
    """The calendar items (<li class="item ...">) in a piece of a page, each as the HTML up to the next."""
    return ['<li class="item ' + part for part in re.split(r'<li class="item ', fragment)[1:]]
