"""The operator's other pages through ASGI, on a real store and real files: calendar files with their problems as
`calendar validate` words them (and again when a file changes), the weekly reports served only from the reports
folder, the audit of who did what (approvers and admins only), the live stream and regions (which never count
as activity), and text from calendars and platforms that stays inert: markup, `javascript:` links, bidi
controls."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from content_calendar.model import Problem
from scheduler.api import IsoWeek
from scheduler.demo_flag import mark_demo
from scheduler.reports import build_weekly_report, write_report
from tests.support.cli import invoke
from tests.web.operator_support import FIRST, Workspace, client, field, make_workspace, signed_in
from web import live

pytestmark = pytest.mark.anyio
SCRIPT = "<script>alert(1)</script>"
RLO = "\u202e"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = make_workspace(tmp_path)
    yield workspace
    workspace.api.close()


def validate_lines(monkeypatch: pytest.MonkeyPatch, ws: Workspace, path: Path) -> list[Problem]:
    """What `campaign calendar validate --json` says of `path`, run from the workspace folder."""
    monkeypatch.chdir(ws.folder)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(ws.folder / "var"))
    monkeypatch.setenv("CAMPAIGN_CAMPAIGNS_DIR", str(ws.campaigns))
    _code, output = invoke("calendar", "validate", "--json", "--now", "2027-01-25T09:00+00:00", str(path))
    return [Problem(**item) for item in json.loads(output[output.index("[") : output.rindex("]") + 1])]


async def test_calendar_files_show_each_problem_as_validate_words_it_and_follow_changes(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = ws.campaigns / "demo" / "calendars" / "broken.yaml"
    broken.write_text(
        "campaign: demo\ntimezone: Europe/London\nposts:\n"
        "  - id: long-one\n    at: 2027-02-02 09:00\n    text: '" + "word " * 80 + "'\n"
        "  - id: one\n    at: 2027-02-03 09:00\n    text: 'The same id as cal.yaml has'\n",
        encoding="utf-8",
    )
    expected = validate_lines(monkeypatch, ws, Path("campaigns/demo/calendars"))
    files = {p.file for p in expected}
    assert files == {"campaigns/demo/calendars/broken.yaml", "campaigns/demo/calendars/cal.yaml"}  # the same id
    assert any(p.code == "bluesky-too-long" for p in expected), expected
    async with signed_in(ws.api, "vic") as browser:
        page = (await browser.get("/calendars")).text
        assert 'campaigns/demo/calendars/broken.yaml</code>: <span class="tone-bad">FAILED' in page
        for problem in expected:  # every one, with where, post, words and fix exactly as the CLI has them
            assert f"<code>{problem.where}</code>" in page
            assert as_code(escape(problem.message)) in page and as_code(escape(problem.fix)) in page
            assert f"[{problem.code}]" not in page and f'data-code="{problem.code}"' in page  # for tools, not people
            assert f"<bdi>{problem.post_id}</bdi>" in page
        assert page.count('<tr class="problem-error">') + page.count('<tr class="problem-warning">') == len(expected)
        assert "<code>bluesky: {text: ...}</code>" in page  # the fix of a text too long for Bluesky
        assert page.count("Accessibility and safe messaging: nothing to fix") == 2  # it ran, on each file
        marker = field_value(page, "data-live-calendars")

        broken.write_text("campaign: demo\ntimezone: Europe/London\nposts:\n"
                          "  - id: fixed\n    at: 2027-02-02 09:00\n    text: 'Fine now #ActOnIICSA'\n")  # fmt: skip
        os.utime(broken, ns=(1, 1))  # a different time changed, whatever the file system's clock resolution
        region = (await browser.get("/calendars/live")).text
        assert (
            'broken.yaml</code>: <span class="tone-ok">OK' in region
            and 'cal.yaml</code>: <span class="tone-ok">OK' in region
        )
        assert '<tr class="problem-error">' not in region
        assert field_value((await browser.get("/calendars")).text, "data-live-calendars") != marker


def escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")
    )


def as_code(text: str) -> str:
    """`what to write` in a fix, as the page shows it: code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def field_value(page: str, attribute: str) -> str:
    found = re.search(rf'{attribute}="([^"]*)"', page)
    assert found, attribute
    return found.group(1)


async def test_markup_javascript_links_and_bidi_controls_from_a_calendar_stay_inert(tmp_path: Path) -> None:
    text = f"{SCRIPT} {RLO}evil{RLO} <img src=x onerror=alert(1)> #ActOnIICSA"
    ws = make_workspace(tmp_path, [("inert", FIRST, text)])
    try:
        ws.set_state("inert", "published", remote_url="javascript:alert(1)", published_at=FIRST)
        ws.api.pause(reason=f"{SCRIPT} {RLO}news", actor="test", wait=timedelta(0))
        async with signed_in(ws.api, "ann") as browser:
            for url in ("/status", "/status/live", "/live/banner", "/audit", "/posts/demo/inert/restore"):
                page = (await browser.get(url)).text
                assert SCRIPT not in page and "<img src=x" not in page, url
                assert "javascript:" not in page.lower(), url
                for found in re.finditer(RLO, page):  # every override is shut inside an isolate
                    before = page[: found.start()]
                    assert before.rfind("<bdi>") > before.rfind("</bdi>"), (
                        url,
                        page[found.start() - 80 : found.start()],
                    )
            status = (await browser.get("/status")).text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in status and "see it live" not in status
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await browser.get("/live/banner")).text
    finally:
        ws.api.close()


async def test_live_urls_of_published_posts_are_links(ws: Workspace) -> None:
    ws.set_state("one", "published", remote_url="https://bsky.app/profile/x/post/1", published_at=FIRST)
    async with signed_in(ws.api, "vic") as browser:
        page = (await browser.get("/status")).text
        assert '<a href="https://bsky.app/profile/x/post/1" rel="noopener noreferrer">see it live' in page


async def test_reports_are_listed_and_served_only_from_the_reports_folder(ws: Workspace, tmp_path: Path) -> None:
    async with signed_in(ws.api, "vic") as browser:
        assert "No weekly report has been written yet" in (await browser.get("/reports")).text
        # Written by the core: the Api refuses a week that has not begun, and the workspace's clock is before it.
        report_of_week = build_weekly_report(ws.api.wiring.store, "demo", IsoWeek(2027, 5), now=FIRST)
        written = write_report(report_of_week, ws.api.settings.reports_dir / "demo", ["html"])
        report = written[0]
        assert report.name == "demo-2027-W05.html"
        listing = (await browser.get("/reports")).text
        assert (
            'href="/reports/demo-2027-W05.html">Week of Mon 1 Feb 2027</a>' in listing
            and "W05" not in listing.split("<tbody>")[1].replace("demo-2027-W05.html", "")
        )  # the week as people write it, not its ISO code
        page = await browser.get("/reports/demo-2027-W05.html")
        assert page.status_code == 200 and '<iframe class="report" src="/reports/demo-2027-W05.html/file"' in page.text
        assert ", week of Mon 1 Feb 2027</h1>" in page.text
        assert "frame-src 'self'" in page.headers["content-security-policy"]
        served = await browser.get("/reports/demo-2027-W05.html/file")
        assert served.status_code == 200 and served.content == report.read_bytes()
        policy = served.headers["content-security-policy"]
        assert "sandbox" in policy and "frame-ancestors 'self'" in policy and "script-src" not in policy
        assert served.headers["x-frame-options"] == "SAMEORIGIN"

        outside = tmp_path / "secret-2027-W05.html"
        outside.write_text("<p>not a report of ours</p>")
        (report.parent / "leak-2027-W06.html").symlink_to(outside)  # a link out of the folder is not served
        for name in ("leak-2027-W06.html", "..%2F..%2Fsecret-2027-W05.html", "demo-2027-W04.html", "notes.txt",
                     "%2Fetc%2Fpasswd"):  # fmt: skip
            for suffix in ("", "/file"):
                answer = await browser.get(f"/reports/{name}{suffix}")
                assert answer.status_code == 404 and "not a report of ours" not in answer.text, name
        assert "leak-2027-W06" not in (await browser.get("/reports")).text


async def test_the_audit_says_who_did_what_for_approvers_and_admins_only(ws: Workspace) -> None:
    ws.api.set_role("vic", "editor", actor="ada")
    ws.api.set_role("vic", "viewer", actor="ada")
    for name in ("vic", "sam"):
        async with signed_in(ws.api, name) as browser:
            assert (await browser.get("/audit")).status_code == 403
            assert 'href="/audit"' not in (await browser.get("/status")).text
    async with signed_in(ws.api, "sam") as editor:
        page = await editor.get("/posts/demo/one/cancel")
        await editor.post(
            "/posts/demo/one/cancel", data={"csrf": field(page.text, "csrf"), "seen": field(page.text, "seen")}
        )
    async with signed_in(ws.api, "ada") as admin:
        page = (await admin.get("/audit")).text
        rows = re.findall(r"<tr>\s*<td>([^<]*)</td>\s*<td><bdi>([^<]*)</bdi></td>\s*<td>([^<]*)</td>", page)
        assert rows[0] == ("Mon 25 Jan 2027 09:00 GMT", "ada", "signed in")  # newest first
        assert ("Mon 25 Jan 2027 09:00 GMT", "sam", "cancelled") in rows
        assert ("Mon 25 Jan 2027 09:00 GMT", "ada", "changed a role") in rows
        assert ("Mon 25 Jan 2027 09:00 GMT", "vic", "signed in") in rows
        assert "vic is now editor" in page and "picked it up" not in page
        by_sam = (await admin.get("/audit?who=sam")).text
        assert "cancelled" in by_sam and "changed a role" not in by_sam and '<option value="sam" selected>' in by_sam
        of_two = (await admin.get("/audit?post=demo%2Ftwo")).text
        assert "demo/two" in of_two and "demo/one" not in of_two
    async with signed_in(ws.api, "ann") as approver:
        assert (await approver.get("/audit")).status_code == 200


async def test_the_audit_pages_through_many_events(ws: Workspace) -> None:
    for n in range(60):
        ws.api.pause(reason=f"drill {n}", actor="ada", wait=timedelta(0))
    first = ws.api.audit(who="ada", page=1, per_page=50)
    second = ws.api.audit(who="ada", page=2, per_page=50)
    assert first.total == 60 and first.pages == 2 and first.has_next and not second.has_next
    assert [e.reason for e in first.entries][:2] == ["drill 59", "drill 58"] and second.entries[-1].reason == "drill 0"
    async with signed_in(ws.api, "ada") as admin:
        page = (await admin.get("/audit?who=ada&page=2")).text
        assert (
            "drill 10<" in page
            and "drill 0<" in page
            and "drill 11<" not in page
            and 'href="/audit?who=ada&amp;page=1">Newer' in page
        )


async def test_the_live_stream_says_when_anything_changed(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "STREAM_SECONDS", 0.3)
    async with client(ws.api) as stranger:
        assert (await stranger.get("/live/events")).status_code == 401
        assert (await stranger.get("/live/banner")).status_code == 401
    async with signed_in(ws.api, "vic") as browser:
        page = (await browser.get("/status")).text
        marker = field_value(page, "data-live-marker")
        stream = await browser.get("/live/events")
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.text.startswith("retry: 1000\n\n") and f"event: change\ndata: {marker}\n\n" in stream.text
        ws.api.cancel("one", actor="someone")
        again = await browser.get("/live/events")
        assert marker not in again.text and f"data: {ws.api.live_marker()}\n" in again.text
        assert "cancelled" in (await browser.get("/status/live")).text
        with_files = await browser.get("/live/events?calendars=1")
        assert f"data: {ws.api.live_marker(calendars=True)}\n" in with_files.text


async def test_watching_a_live_page_does_not_keep_a_session_alive(ws: Workspace) -> None:
    async with signed_in(ws.api, "vic") as browser:
        ws.clock.advance(timedelta(minutes=20))
        assert (await browser.get("/live/banner")).status_code == 200
        ws.clock.advance(timedelta(minutes=11))  # 31 minutes since the person last did anything
        assert (await browser.get("/live/banner")).status_code == 401
        assert (await browser.get("/status")).status_code == 303


async def test_the_banner_says_whether_the_scheduler_is_running(ws: Workspace) -> None:
    async with signed_in(ws.api, "vic") as browser:
        assert "The scheduler has not been started here" in (await browser.get("/live/banner")).text
        ws.api.tick(ws.api.inline_executor(worker="test"), actor="beat@test")
        ws.clock.advance(timedelta(seconds=5))
        assert "The scheduler is running (since Mon 25 Jan 2027 09:00 GMT)" in (await browser.get("/live/banner")).text
        ws.clock.advance(timedelta(minutes=5))
        down = (await browser.get("/live/banner")).text
        assert "The scheduler is not running:" in down and "last checked the schedule Mon 25 Jan 2027 09:00 GMT" in down


async def test_a_demo_says_its_scheduler_never_runs_in_a_named_region_not_that_it_has_not_been_started(
    ws: Workspace,
) -> None:
    mark_demo(ws.store, FIRST)
    async with signed_in(ws.api, "vic") as browser:
        page = (await browser.get("/status")).text
        assert '<section class="demo" aria-label="Demo workspace"><p><strong>DEMO WORKSPACE' in page
        assert "Demo: the scheduler never runs here." in page and "has not been started here" not in page
        assert "Demo: the scheduler never runs here." in (await browser.get("/live/banner")).text


async def test_an_address_with_no_page_gets_the_workspaces_error_page_and_every_page_has_its_icon(
    ws: Workspace,
) -> None:
    async with client(ws.api) as stranger, signed_in(ws.api, "vic") as browser:
        for who in (stranger, browser):
            for url in ("/reports/..%2F..%2Fetc%2Fpasswd", "/no/such/page", "/static/no-such.css"):
                answer = await who.get(url)
                assert answer.status_code == 404, url
                assert '<html lang="en-GB">' in answer.text and "<h1>Not found</h1>" in answer.text, url
                assert "There is no page at this address" in answer.text and "root:" not in answer.text
        wrong_way = await browser.delete("/status")
        assert wrong_way.status_code == 405 and "GET" in wrong_way.headers["allow"]
        assert "<h1>Not possible here</h1>" in wrong_way.text
        icon = await browser.get("/static/favicon.svg")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert "img-src 'self'" in icon.headers["content-security-policy"]  # the page's own policy lets it show
        status = await browser.get("/status")
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in status.text
