"""The HTML report in a real browser (headless Chromium, Debian's `chromium` package): it loads as one file
with nothing from the network, its charts decode and paint on a phone-sized screen, and a hostile mention
stays text."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from scheduler.db import Store
from scheduler.models import State
from scheduler.reports import IsoWeek, build_weekly_report, write_due_reports, write_report
from tests.reports.builders import ORGS, StoreBuilder, add_mentions, known_week, london, mention

pytestmark = pytest.mark.integration

PHONE_WIDTH = 412
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)  # fmt: skip
PHONE_FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="margin:0;background:#fff">
<iframe id="phone" style="border:0;display:block;width:{width}px;height:{height}px" srcdoc="{report}"></iframe>
{probe}
</body></html>
"""
# Runs in the frame page, reads the report inside the frame (a srcdoc frame shares the page's origin).
PROBE = """<script>
window.addEventListener("load", function () {
  var doc = document.getElementById("phone").contentDocument;
  var out = [];
  doc.querySelectorAll("img.chart").forEach(function (img) {
    var box = img.getBoundingClientRect();
    out.push({id: img.id, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
              left: box.left, top: box.top, width: box.width, height: box.height});
  });
  var probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({images: out, height: doc.documentElement.scrollHeight,
                                      width: doc.documentElement.scrollWidth,
                                      viewport: doc.documentElement.clientWidth});
  document.body.appendChild(probe);
});
</script>"""


def chromium_binary() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "chromium is not installed: `apt-get install -y chromium` (scripts/bootstrap does it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


@pytest.fixture
def browser_profile() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="report-chromium-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_chromium(profile: Path, *args: str) -> str:
    command = [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout


def dump_dom(profile: Path, page: Path, height: int = 2000) -> str:
    return run_chromium(profile, f"--window-size=500,{height}", "--virtual-time-budget=5000", "--dump-dom",
                        page.as_uri())  # fmt: skip


def phone_frame(page: Path, *, height: int, probe: bool) -> Path:
    """The report in a 412 px wide frame. Headless Chromium will not make a window narrower than 500 px, so a
    frame gives the report a phone's viewport; the report itself is unchanged (its CSP, allowing no script,
    applies inside the frame; the probe runs in the outer page)."""
    frame = page.with_name(("probe-" if probe else "frame-") + page.name)
    frame.write_text(PHONE_FRAME.format(
        width=PHONE_WIDTH, height=height, report=html.escape(page.read_text(), quote=True),
        probe=PROBE if probe else "",
    ))  # fmt: skip
    return frame


def probed(page: Path, profile: Path) -> dict:  # type: ignore[type-arg]
    """Layout facts of the report as the browser laid it out on a phone-width screen."""
    dom = dump_dom(profile, phone_frame(page, height=2000, probe=True))
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def report_file(store: Store, directory: Path) -> Path:
    report = build_weekly_report(
        store, "sasvaw-week", IsoWeek.parse("2027-W05"), campaign_name="SASVAW week", organisation_accounts=ORGS
    )
    return next(p for p in write_report(report, directory, ["html"]) if p.suffix == ".html")


def test_charts_decode_and_paint_on_a_phone_screen(tmp_path: Path, browser_profile: Path) -> None:
    page = report_file(known_week(Store(f"sqlite:///{tmp_path / 'c.db'}")), tmp_path / "out")
    facts = probed(page, browser_profile)
    images = {image["id"]: image for image in facts["images"]}
    assert set(images) == {"mentions-chart", "growth-chart"}
    for image in images.values():
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, image
        # Never shrunk below 480 px (its 7 pt labels stay 10 px and more); wider than the screen, it scrolls
        # sideways in its own region, and the page itself does not.
        assert image["width"] >= 480 and 7 / 72 * 150 * image["width"] / image["naturalWidth"] >= 10, image
    assert facts["viewport"] == PHONE_WIDTH
    assert facts["width"] <= PHONE_WIDTH, "the page itself must not scroll sideways on a phone"

    # Screenshot the report (CSP and all) in a phone-wide frame as tall as the whole page.
    shot = tmp_path / "report.png"
    height = int(facts["height"])
    frame = phone_frame(page, height=height, probe=False)
    run_chromium(browser_profile, f"--window-size=500,{height + 20}", f"--screenshot={shot}", frame.as_uri())
    picture = Image.open(shot).convert("RGB").crop((0, 0, PHONE_WIDTH, height))
    chart = images["mentions-chart"]
    region = picture.crop((int(chart["left"]), int(chart["top"]),
                           min(PHONE_WIDTH, int(chart["left"] + chart["width"])),
                           int(chart["top"] + chart["height"])))  # fmt: skip
    colours = region.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 20, "the chart region is blank"
    # The bars themselves: Bluesky's Okabe-Ito blue and Mastodon's vermillion are painted in the chart's box.
    pixels = {colour for _, colour in colours}
    assert any(abs(r - 0x00) < 30 and abs(g - 0x72) < 30 and abs(b - 0xB2) < 30 for r, g, b in pixels)
    assert any(abs(r - 0xD5) < 30 and abs(g - 0x5E) < 30 and abs(b - 0x00) < 30 for r, g, b in pixels)
    # And outside any chart, a white band where nothing is drawn stays blank: the check can fail.
    blank = picture.crop((0, height - 12, PHONE_WIDTH, height - 2)).getcolors(maxcolors=1 << 16) or []
    assert len(blank) == 1


def test_hostile_mention_stays_text_in_the_browser(tmp_path: Path, browser_profile: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    hostile = (
        '<script>document.title="pwned"</script><img id="pwned" src=x onerror="document.title=\'pwned\'">'
        '<b id="bold">x</b>\u202egnp.exe\u202c #ItsNotOK'
    )
    builder = StoreBuilder(store)
    pk = builder.post("p1", london(2027, 2, 1, 9), '<i id="own">our own summary</i>')
    delivery = builder.delivery(pk, "p1", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED,
                                published=london(2027, 2, 1, 9))  # fmt: skip
    builder.snapshot(delivery, "bluesky", "bluesky-remote-p1-0", london(2027, 2, 3), 3, 0, 0)
    add_mentions(store, [mention("at://did:plc:napac/app.bsky.feed.post/h", "napac.org.uk", london(2027, 2, 2),
                                 text=hostile)], organisations=ORGS)  # fmt: skip
    page = report_file(store, tmp_path / "out")
    dom = dump_dom(browser_profile, page)
    assert "<title>SASVAW week: week of Mon 1 Feb 2027</title>" in dom
    for element in ('<img id="pwned"', '<b id="bold"', '<i id="own"', "<script"):
        assert element not in dom, element
    assert '&lt;script&gt;document.title="pwned"&lt;/script&gt;' in dom  # shown as the text it is
    assert "\u202e" not in dom


AXE = Path(__file__).resolve().parents[2] / "tests/web/node_modules/axe-core/axe.min.js"


def test_the_monday_pdf_reads_well_and_the_page_passes_axe(tmp_path: Path) -> None:
    """The Monday report (write_due_reports, as beat runs it) with a PDF beside its HTML: A4, numbered pages,
    the summary on page one, a long table's headings repeated on the next page; and the HTML has no serious or
    critical accessibility violation (axe-core in headless Chromium)."""
    chromium = chromium_binary()
    for tool in ("pdftoppm", "pdftotext", "pdfinfo"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/bootstrap test installs poppler-utils", pytrace=False)
    store = known_week(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    builder = StoreBuilder(store)
    for index in range(40):  # enough posts for "What went out" to run onto a second page
        moment = london(2027, 2, 1 + index % 7, 8 + index % 10, index)
        pk = builder.post(f"extra-{index}", moment, f"Extra post number {index} about the helpline")
        builder.delivery(pk, f"extra-{index}", "bluesky", moment, State.PUBLISHED, published=moment)
    written = write_due_reports(store, tmp_path / "reports", ["sasvaw-week"], london(2027, 2, 8, 7),
                                campaigns_dir=None)  # fmt: skip
    folder = tmp_path / "reports" / "sasvaw-week"
    pdf, page = folder / "sasvaw-week-2027-W05.pdf", folder / "sasvaw-week-2027-W05.html"
    assert pdf in written and page in written

    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    assert "(A4)" in info and pages >= 3, info
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    for image in images:
        assert len(Image.open(image).convert("L").getcolors(maxcolors=1 << 16) or []) > 10, f"{image.name} is blank"

    def text(first: int, last: int) -> str:
        return subprocess.run(["pdftotext", "-layout", "-f", str(first), "-l", str(last), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    one = text(1, 1)
    assert "The week in brief" in one and "of the 45 posts planned for Monday to Sunday went out" in one
    assert f"Page 1 of {pages}" in one
    assert f"Page {pages} of {pages}" in text(pages, pages)
    headings = [n for n in range(1, pages + 1) if re.search(r"Post\s+Planned\s+Bluesky\s+Mastodon", text(n, n))]
    assert len(headings) >= 2 and headings == list(range(headings[0], headings[-1] + 1)), headings

    if not AXE.is_file():
        pytest.fail(f"axe-core is missing ({AXE}): scripts/test installs it with `npm ci` in tests/web", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(bypass_csp=True)  # the report allows no script: axe is ours, injected
            tab = context.new_page()
            tab.goto(page.as_uri())
            tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        finally:
            browser.close()
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]  # fmt: skip
    assert serious == []


def test_the_campaign_pdf_has_its_trend_chart_and_reads_well(tmp_path: Path) -> None:
    """The campaign report as a PDF (Chromium prints it, as for the weekly one): A4, numbered pages, the trend
    chart painted in its colours on page one, weeks written as dates, and its table whole, not clipped."""
    chromium_binary()
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.fail("poppler-utils is missing: scripts/bootstrap test installs it", pytrace=False)
    from scheduler.reports import build_campaign_report, write_campaign_report

    store = known_week(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    report = build_campaign_report(store, "sasvaw-week", IsoWeek.parse("2027-W04"), IsoWeek.parse("2027-W05"),
                                   campaign_name="SASVAW week", now=london(2027, 2, 8, 7))  # fmt: skip
    [pdf] = write_campaign_report(report, tmp_path, ["pdf"])
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "SASVAW week: the campaign from the week of Mon 25 Jan 2027" in " ".join(text.split())
    assert "Page 1 of" in text and "week of Mon 1 Feb 2027" in text and "Accounts" in text
    assert re.search(r"All 2 weeks\s+\d", text), text  # the totals row, its figures beside it on the page
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")],
                   check=True)  # fmt: skip
    [image] = tmp_path.glob("page-*.png")
    pixels = {colour for _, colour in Image.open(image).convert("RGB").getcolors(maxcolors=1 << 20) or []}
    for red, green, blue in ((0x00, 0x72, 0xB2), (0x00, 0x9E, 0x73), (0xD5, 0x5E, 0x00)):  # the three panels
        assert any(abs(r - red) < 30 and abs(g - green) < 30 and abs(b - blue) < 30 for r, g, b in pixels)
