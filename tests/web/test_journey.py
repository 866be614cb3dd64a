"""The web workspace in a real browser: headless Debian Chromium driven by Playwright against `campaign serve` run
as its own process on a free loopback port, with the shipped awareness-week calendar scheduled and approved, and
a real beat and worker (so the banner says the scheduler is running). A comms officer's journey: sign in, see the
week of 1 February 2027, open a thread's preview, pause with a reason and see the banner, resume, cancel and
restore a post, open a report, read the calendar files and the audit. axe-core checks every page visited (no
serious or critical violation); a page under the real policy follows a pause made at the command line without a
reload; two people press cancel and post now on one post at the same moment, and nothing goes out twice.

Screenshots of the calendar and a post page are kept in tests/.cache/screenshots/ (and the test's tmp folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from platforms.outbox import read_outbox
from scheduler.api import Api, load_settings
from scheduler.reports import IsoWeek, weekly_report_for, write_report
from tests.support.engine import Engine, wait_for
from tests.support.workspaces import child_env, run_campaign
from tests.web.served import Served, campaign_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests/web/node_modules/axe-core/axe.min.js"
SCREENSHOTS = ROOT / "tests/.cache/screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
CAMPAIGN = "sasvaw-week"
EDITOR_PASSWORD = "a long editor password"


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"axe-core is missing ({AXE}): scripts/test installs it with `npm ci` in tests/web")
        pytest.skip("axe-core is not installed: run `npm ci` in tests/web (scripts/test does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap test installs Debian's chromium")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def workspace(engine: Engine, tmp_path: Path) -> Iterator[tuple[Served, dict[str, str], Path]]:
    """The shipped awareness week scheduled by the first admin and approved by a second person, a weekly report
    written, `campaign serve`, a beat and a worker running."""
    folder = tmp_path / "workspace"
    shutil.copytree(ROOT / "campaigns" / CAMPAIGN, folder / "campaigns" / CAMPAIGN)
    env = child_env(**engine.env(CAMPAIGN_CAMPAIGNS_DIR=str(folder / "campaigns")))
    Api.from_settings(load_settings(env, dotenv_path=folder / "none.env")).close()  # the database, nobody in it

    def cli(*args: str) -> str:
        done = run_campaign(*args, cwd=folder, env=env)
        assert done.returncode == 0, f"campaign {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    with campaign_serve(env, folder) as served:
        cli("users", "add", "reviewer", "--role", "approver", "--no-password")
        cli("--as", served.admin, "schedule", f"campaigns/{CAMPAIGN}/calendars")
        for calendar in sorted((folder / "campaigns" / CAMPAIGN / "calendars").iterdir()):
            cli("--as", "reviewer", "approve", "--file", str(calendar.relative_to(folder)))
        api = Api.from_settings(load_settings(env, dotenv_path=folder / "none.env"))
        # The shipped week is ahead of today's clock, and `report weekly` refuses a week not begun: the core
        # writes it, as the CLI would.
        week_report = weekly_report_for(api.wiring.store, CAMPAIGN, IsoWeek(2027, 5),
                                        campaigns_dir=api.settings.campaigns_dir)  # fmt: skip
        write_report(week_report, api.settings.reports_dir / CAMPAIGN, ["html"])
        api.add_person("sam", "editor", password=EDITOR_PASSWORD, actor="test")
        api.close()
        children = [engine.worker(), engine.beat()]
        for child in children:
            child.start()
        try:
            yield served, env, folder
        finally:
            for child in children:  # by their pids
                child.kill()


def launch(playwright: Any) -> Browser:
    browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return browser


def sign_in(context: BrowserContext, served: Served, name: str, password: str) -> Page:
    page = context.new_page()
    page.goto(f"{served.url}/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()
    return page


class Axe:
    """axe-core run in each page visited: the serious and critical violations found, by page."""

    def __init__(self, source: str, out: Path):
        self.source, self.out, self.pages = source, out, 0
        self.found: list[str] = []

    def check(self, page: Page, name: str) -> None:
        page.add_script_tag(content=self.source)
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        (self.out / f"axe-{name}.json").write_text(json.dumps(result["violations"], indent=1))
        self.pages += 1
        for violation in result["violations"]:
            if violation["impact"] in ("serious", "critical"):
                where = [node["target"] for node in violation["nodes"]][:3]
                self.found.append(f"{name}: {violation['id']} ({violation['impact']}) {violation['help']}: {where}")


def shot(page: Page, name: str, out: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    shutil.copyfile(out / f"{name}.png", SCREENSHOTS / f"{name}.png")


def banner(page: Page) -> str:
    return page.locator("#scheduler").inner_text()


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def running(page: Page) -> bool:
    page.reload()
    return "The scheduler is running" in banner(page)


def test_a_comms_officers_journey(
    workspace: tuple[Served, dict[str, str], Path], axe_source: str, tmp_path: Path
) -> None:
    served, env, folder = workspace
    axe = Axe(axe_source, tmp_path)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})  # axe is injected
            page = sign_in(context, served, served.admin, served.password)
            axe.check(page, "home")
            wait_for(lambda: running(page), timeout=60, interval=1, what="the banner to say the scheduler is running")

            page.goto(f"{served.url}/calendar/week/2027-02-01")
            assert page.locator("h1").inner_text() == "Week of Monday 1 February 2027"
            assert page.get_by_role("link", name=re.compile("If a child tells you about abuse")).count() == 1
            shot(page, "calendar-week", tmp_path)
            axe.check(page, "calendar-week")

            page.get_by_role("link", name=re.compile("If a child tells you about abuse")).click()  # a thread of three
            page.wait_for_load_state()
            assert page.url.endswith(f"/posts/{CAMPAIGN}/d2-if-a-child-tells-you")
            assert "part 3" in page.locator("main").inner_text().lower()
            shot(page, "post-page", tmp_path)
            axe.check(page, "post-page")

            page.get_by_role("link", name="Pause posting…").click()
            axe.check(page, "pause")
            page.get_by_label("Why are you pausing? (required)").fill("Breaking news about the inquiry: holding posts")
            page.get_by_role("button", name="Pause all posting now").click()
            page.wait_for_load_state()
            said = banner(page)
            assert "Posting is paused by admin since" in said and "Breaking news about the inquiry" in said
            axe.check(page, "paused")
            page.get_by_role("link", name="Resume posting…").click()
            assert "Breaking news about the inquiry" in page.locator("main").inner_text()
            axe.check(page, "resume")
            page.get_by_role("button", name="Resume posting now").click()
            page.wait_for_load_state()
            assert "Resumed. Posting was paused by admin" in page.locator("main").inner_text()
            assert "Posting is paused" not in banner(page)

            nav(page, "Status")
            axe.check(page, "status")
            row = page.locator(f"#post-{CAMPAIGN}-d2-children-and-young-people")
            row.get_by_role("link", name="Cancel…").click()
            assert "cancelled: it will not be posted" in page.locator("main").inner_text()
            axe.check(page, "confirm-cancel")
            page.get_by_role("button", name="Cancel: yes, do it").click()
            page.wait_for_load_state()
            assert "Cancelled d2-children-and-young-people: 2 parts will not be posted." in page.inner_text("main")
            axe.check(page, "cancelled")
            nav(page, "Status")
            row.get_by_role("link", name="Restore…").click()
            assert "back to scheduled" in page.inner_text("main")
            page.get_by_label("Why is it restored? (optional: kept with your name)").fill("cancelled by mistake")
            page.get_by_role("button", name="Restore: yes, do it").click()
            page.wait_for_load_state()
            assert "Restored d2-children-and-young-people: 2 parts back to scheduled." in page.inner_text("main")

            nav(page, "Reports")
            axe.check(page, "reports")
            page.get_by_role("link", name="Week of Mon 1 Feb 2027").click()
            page.wait_for_load_state()
            report = page.frame_locator("iframe.report").locator("h1")
            assert "week of Mon 1 Feb 2027" in report.inner_text(), report.inner_text()
            axe.check(page, "report")

            nav(page, "Calendar files")
            assert page.inner_text("main").count(": OK") == 2
            axe.check(page, "calendar-files")
            nav(page, "Audit")
            audit = page.inner_text("main")
            assert "paused posting" in audit and "restored" in audit and "signed in" in audit
            assert "the workspace (first start, campaign serve)" in audit  # who made the first admin
            axe.check(page, "audit")
            context.close()

            live_under_the_real_policy(browser, served, env, folder)
            fits_a_phone(browser, served)
            cancel_against_post_now(browser, served, folder)
        finally:
            browser.close()
    assert axe.pages == 13
    assert not axe.found, "axe-core found serious or critical violations:\n" + "\n".join(axe.found)


def live_under_the_real_policy(browser: Browser, served: Served, env: dict[str, str], folder: Path) -> None:
    """The status page follows a pause made elsewhere without a reload, with the page's own CSP in force (the
    script and its event stream are the site's own) and no policy violation reported."""
    context = browser.new_context()
    page = sign_in(context, served, served.admin, served.password)
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.goto(f"{served.url}/status")
    page.evaluate("window.stayed = true")
    done = run_campaign("--as", served.admin, "pause", "--reason", "Live check from the command line", "--wait", "5",
                        cwd=folder, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: "Live check from the command line" in banner(page), timeout=15, interval=0.2,
             what="the banner to show the pause without a reload")  # fmt: skip
    assert page.evaluate("window.stayed === true")  # no reload: the banner changed in place
    done = run_campaign("--as", served.admin, "resume", cwd=folder, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: "Posting is paused" not in banner(page), timeout=15, interval=0.2,
             what="the banner to show the resume without a reload")  # fmt: skip
    assert page.evaluate("window.stayed === true") and refused == []
    context.close()


PHONE_PAGES = ["/", "/calendar/week/2027-02-01", "/calendar/month/2027-02",
               f"/posts/{CAMPAIGN}/d2-if-a-child-tells-you", "/calendars", "/status", "/reports", "/audit", "/pause",
               "/resume", "/no/such/page"]  # fmt: skip


def fits_a_phone(browser: Browser, served: Served) -> None:
    """On a phone 390 px wide, no page signed in scrolls sideways (wide tables scroll in their own box), and
    nothing a page loads (its icon too) is refused by its policy."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = sign_in(context, served, served.admin, served.password)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    wide = {}
    for path in PHONE_PAGES:
        page.goto(f"{served.url}{path}")
        page.wait_for_load_state()
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    context.close()
    assert wide == {} and refused == [], (wide, refused)


def cancel_against_post_now(browser: Browser, served: Served, folder: Path) -> None:
    """Two people, two browsers, one post: cancel and post now pressed at the same moment. One wins, the other
    is told, and nothing reaches the outbox twice."""
    post_id = "d3-adult-survivors"
    first, second = browser.new_context(), browser.new_context()
    canceller = sign_in(first, served, served.admin, served.password)
    poster = sign_in(second, served, "sam", EDITOR_PASSWORD)
    canceller.goto(f"{served.url}/posts/{CAMPAIGN}/{post_id}/cancel")
    poster.goto(f"{served.url}/posts/{CAMPAIGN}/{post_id}/post-now?platform=bluesky")
    canceller.get_by_role("button", name="Cancel: yes, do it").click(no_wait_after=True)
    poster.get_by_role("button", name="Post now on Bluesky: yes, do it").click(no_wait_after=True)
    answers = []
    for page in (canceller, poster):
        page.wait_for_selector("ul.outcome, div.notice.bad, p.notice.bad", timeout=60_000)
        answers.append(page.inner_text("main"))
    cancelled, posted = answers
    outbox = [e for e in read_outbox(folder.parent / "outbox.jsonl") if e["post_id"] == post_id]
    assert max(Counter(e["idempotency_key"] for e in outbox).values(), default=0) <= 1, outbox
    if outbox:  # the post went out on Bluesky: the canceller was told
        assert "Posted: " in posted
        told = ("changed while you were looking", "cannot be called back", "went out while", "Nothing was done")
        assert any(words in cancelled for words in told), cancelled
    else:  # the cancel won: the poster was told, nothing went out
        assert "Cancelled " in cancelled and "Posted: " not in posted
        assert any(words in posted for words in ("Nothing was done", "changed while you were looking", "cancelled"))
    first.close()
    second.close()


def test_serve_stops_promptly_while_pages_are_open(tmp_path: Path) -> None:
    """An open page holds an event stream; stopping `campaign serve` (Ctrl-C, or a container stopped) does not
    wait for it to end."""
    env = child_env()
    assert run_campaign("init", ".", cwd=tmp_path, env=env).returncode == 0
    with campaign_serve(env, tmp_path) as served, httpx.Client(base_url=served.url) as browser:
        browser.post("/login", data={"name": served.admin, "password": served.password, "next": "/status"})
        with browser.stream("GET", "/live/events", timeout=60) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 1000" and next(lines) == "" and next(lines) == "event: change"
            began = time.monotonic()
            os.killpg(served.process.pid, signal.SIGTERM)
            served.process.wait(timeout=30)
        assert time.monotonic() - began < 10
