"""`campaign demo`: a workspace of its own with the awareness week rehearsed into its outbox and a week of made-up,
seeded mentions and engagement, labelled as demo data in the store, in `status`, in the weekly report and on the
web workspace's pages. Each command is a real `campaign` process run in the folder, as a person would."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from platforms.outbox import read_outbox
from scheduler.api import Api, load_settings
from scheduler.collection_models import EngagementSnapshot, MentionRecord
from scheduler.db import Store
from scheduler.demo import THE_WEEK, WEEK_BEFORE
from scheduler.demo_flag import DEMO_DOMAIN
from scheduler.models import Delivery, Setting, State
from tests.support.workspaces import no_workspace_named, run_campaign
from web.app import create_app

LABEL = "DEMO WORKSPACE: made-up data"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`campaign demo` run once, from a folder that is no workspace, into its default folder."""
    home = tmp_path_factory.mktemp("home")
    made = run_campaign("demo", cwd=home, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    folder = home / "demo-workspace"
    assert f"{LABEL}: {folder}" in made.stdout
    assert f"cd {folder} && campaign status" in made.stdout
    assert "campaign report weekly --week 2027-W05" in made.stdout and "campaign serve" in made.stdout
    return folder


def store_of(folder: Path) -> Store:
    return Store(f"sqlite:///{folder / 'var' / 'campaign.db'}")


def made_up(folder: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The demo's mentions and engagement snapshots, as the report reads them."""
    with store_of(folder).transaction() as session:
        mentions = session.execute(
            select(MentionRecord.platform, MentionRecord.created_at, MentionRecord.matched_tag,
                   MentionRecord.reply_to_delivery_id.is_not(None))
        ).all()  # fmt: skip
        snapshots = session.execute(
            select(EngagementSnapshot.platform, EngagementSnapshot.taken_at, EngagementSnapshot.likes,
                   EngagementSnapshot.reposts, EngagementSnapshot.replies, EngagementSnapshot.quotes)
        ).all()  # fmt: skip
    return sorted(map(tuple, mentions)), sorted(map(tuple, snapshots))


def test_status_in_the_demo_shows_the_week_published_to_the_outbox_under_the_demo_label(demo: Path) -> None:
    shown = run_campaign("status", "--limit", "50", cwd=demo)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(LABEL)
    assert "Posts: 21 published" in shown.stdout
    assert re.search(r"^  Mon 01 Feb 2027 08:30 GMT  published  sasvaw-week/csv-d1-launch  bluesky https://bsky\.demo"
                     r"\.invalid/\S+, mastodon https://demo\.invalid/\S+$", shown.stdout, re.MULTILINE)  # fmt: skip
    store = store_of(demo)
    with store.transaction() as session:
        parts = session.scalars(select(Delivery)).all()
        demo_row = session.get(Setting, "demo")
    assert len(parts) == 52 and {p.state for p in parts} == {State.PUBLISHED}
    assert demo_row is not None and demo_row.value == "1"
    outbox = read_outbox(demo / "var" / "outbox.jsonl")
    assert sorted((e["post_id"], e["platform"], e["part"]) for e in outbox) == sorted(
        (p.post_id, p.platform, p.part) for p in parts
    )  # every published part went to the demo's outbox, once
    assert all(p.remote_url and DEMO_DOMAIN in p.remote_url for p in parts)
    as_json = run_campaign("status", "--json", cwd=demo)
    assert '"demo": true' in as_json.stdout


def test_the_weekly_report_has_mentions_and_engagement_and_the_demo_label(demo: Path) -> None:
    made = run_campaign("report", "weekly", "--week", "2027-W05", cwd=demo)
    assert made.returncode == 0, made.stdout + made.stderr
    reports = demo / "var" / "reports" / "sasvaw-week"
    markdown = (reports / "sasvaw-week-2027-W05.md").read_text(encoding="utf-8")
    html = (reports / "sasvaw-week-2027-W05.html").read_text(encoding="utf-8")
    assert markdown.startswith(
        f"# {LABEL}. National Sexual Abuse and Sexual Violence Awareness Week: week of Mon 1 Feb 2027"
    )
    assert f"<title>{LABEL}. " in html and f"<h1>{LABEL}. " in html
    # The launch-day spike, seeded: the same every time.
    assert re.search(rf"^\| Mon 1 Feb \| \d+ \| \d+ \| {THE_WEEK[0]} \|$", markdown, re.MULTILINE)
    assert "| **Week** | " in markdown and f"**{sum(THE_WEEK)}** |" in markdown
    assert re.search(rf"^\| Mentions \| {sum(THE_WEEK)} \| {sum(WEEK_BEFORE)} \|", markdown, re.MULTILINE)
    gained = re.search(r"^\| Engagement gained \(likes, reposts, replies, quotes\) \| ([\d,]+) \|", markdown, re.M)
    assert gained and int(gained.group(1).replace(",", "")) > 0
    assert re.search(r"^(\d+) of the \1 posts planned for Monday to \w+ went out, all on time\.", markdown, re.M)
    assert "| Parts sent to platforms | 52 |" in markdown and "| of which on time | 52 |" in markdown
    # Counts, never names: no made-up account is named, and the store keeps no handle, text or address of one.
    assert "demo-person" not in markdown + html
    with store_of(demo).transaction() as session:
        kept = session.execute(
            select(func.count(), func.count(MentionRecord.author_handle), func.count(MentionRecord.text),
                   func.count(MentionRecord.uri))
        ).one()  # fmt: skip
        seen_on = set(session.scalars(select(MentionRecord.seen_on).distinct()))
        snapshots = session.scalar(select(func.count()).select_from(EngagementSnapshot))
    assert tuple(kept) == (sum(THE_WEEK) + sum(WEEK_BEFORE), 0, 0, 0)
    assert seen_on == {f"https://bsky.{DEMO_DOMAIN}", f"https://{DEMO_DOMAIN}"} and snapshots


def test_every_page_of_the_web_workspace_says_demo(demo: Path) -> None:
    app = Api.from_settings(load_settings({}, dotenv_path=demo / "none.env", workspace=demo / "campaign.toml"))

    async def login_page() -> str:
        transport = httpx.ASGITransport(app=create_app(app, secret_key="k" * 48))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
            return (await browser.get("/login")).text

    try:
        assert app.is_demo() and f"<strong>{LABEL}.</strong>" in asyncio.run(login_page())
    finally:
        app.close()


def test_collecting_in_the_demo_is_refused(demo: Path) -> None:
    refused = run_campaign("collect", cwd=demo)
    assert refused.returncode == 1
    assert "This is a demo workspace (made-up data), so nothing is collected here" in refused.stderr


def test_demo_again_on_a_demo_makes_it_afresh_and_a_folder_of_other_things_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_workspace_named(monkeypatch, tmp_path)
    folder = tmp_path / "showcase"
    assert run_campaign("demo", str(folder), cwd=tmp_path, timeout=300).returncode == 0
    (folder / "notes.txt").write_text("mine")
    first = made_up(folder)

    again = run_campaign("demo", str(folder), cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{LABEL}: {folder} (made afresh)" in again.stdout
    assert made_up(folder) == first  # the same made-up week (seeded), and not twice
    with store_of(folder).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 52
    assert len(read_outbox(folder / "var" / "outbox.jsonl")) == 52
    assert (folder / "notes.txt").read_text() == "mine"  # only the demo's own files were made afresh

    other = tmp_path / "my-campaign"
    other.mkdir()
    (other / "plan.yaml").write_text("mine")
    refused = run_campaign("demo", str(other), cwd=tmp_path)
    assert refused.returncode == 1
    assert f"{other} is not empty and is not a demo workspace" in refused.stderr
    assert sorted(p.name for p in other.iterdir()) == ["plan.yaml"]
