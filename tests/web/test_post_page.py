"""The post page through the web workspace's ASGI interface: each platform's preview from the parts we will send
(a thread in order, facets at the right characters, the content warning, images with their alt text served only
for that post, the link card, who may reply and quote, Mastodon's count), the history, and text that must not
act."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from content_calendar.facets import to_short_url
from scheduler.api import Api
from scheduler.clock import FixedClock
from scheduler.models import Delivery
from tests.web.pages import NOW, ROOT, client, make_api, schedule_shipped, signed_in, text_of, write_campaign

pytestmark = pytest.mark.anyio

LONG_URL = "https://example.org/a/very/long/path/for/the/card?x=1"
FIRST = f"Café 🌍 naïve #ItsNotOK with @napac.org.uk: {LONG_URL}"
IMAGE_ALT = 'A card that reads "You are not alone" in cream on green'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def api(tmp_path: Path, clock: FixedClock) -> Iterator[Api]:
    app = make_api(tmp_path, clock)
    yield app
    app.close()


def thread_campaign(api: Api) -> Path:
    calendar = write_campaign(api, "threads", f"""
        - id: thread
          at: "2027-02-02 09:00"
          content_warning: Mentions abuse
          text: "{FIRST}"
          images:
            - {{file: media/card.png, alt: '{IMAGE_ALT}'}}
          link: {{url: "https://example.org/about", title: "Example <b>card</b>", description: "What we do"}}
          thread:
            - text: "Second part #PartTwo"
            - text: "Third part, the end"
    """, extra="bluesky:\n  reply_rules: [mentioned]\n  allow_quotes: false\n")  # fmt: skip
    media = calendar.parent.parent / "media"
    media.mkdir()
    shutil.copy(ROOT / "campaigns/sasvaw-week/media/go-gently.png", media / "card.png")
    api.schedule([calendar], actor="sam")
    return calendar


def section(page: str, platform: str) -> str:
    return page.split(f'<section class="platform {platform}"', 1)[1].split("</section>", 1)[0]


def parts_of(fragment: str) -> list[str]:
    return fragment.split('<article class="preview-post"')[1:]


async def test_a_bluesky_thread_is_shown_in_order_with_its_facets_at_the_right_characters(api: Api) -> None:
    calendar = thread_campaign(api)
    rendered = api.check_calendar(calendar).rendered["thread"]
    async with signed_in(api) as browser:
        page = (await browser.get("/posts/threads/thread")).text
    bluesky = parts_of(section(page, "bluesky"))
    assert len(bluesky) == 3
    assert [re.search(r"Part (\d) of 3", part)[1] for part in bluesky] == ["1", "2", "3"]  # type: ignore[index]
    root = bluesky[0].split('<p class="text" dir="auto">', 1)[1].split("</p>", 1)[0]
    # Bytes before the tag: "CW: Mentions abuse\n\nCafé 🌍 naïve " is 30 characters and 36 UTF-8 bytes: sliced as
    # characters, the highlight would start six characters late.
    assert root.startswith('CW: Mentions abuse\n\nCafé 🌍 naïve <span class="facet tag">#ItsNotOK</span> with ')
    assert '<span class="facet mention">@napac.org.uk</span>:' in root
    short = to_short_url(LONG_URL)
    assert short != LONG_URL and short.endswith("...")
    assert (
        f'<a class="facet link" href="{LONG_URL.replace("&", "&amp;")}" rel="noopener noreferrer nofollow">{short}</a>'
        in root
    )
    assert html.unescape(re.sub(r"<[^>]+>", "", root)) == rendered["bluesky"][0].text  # exactly what we will send
    assert '<span class="facet tag">#PartTwo</span>' in bluesky[1] and "Third part, the end" in bluesky[2]
    assert all("CW: Mentions abuse" in part for part in bluesky)  # every reply carries the warning line
    assert f"{rendered['bluesky'][0].length} of 300 characters" in bluesky[0]
    notes = text_of(section(page, "bluesky").split('<ul class="notes">', 1)[1])
    assert "Only people mentioned in the post can reply." in notes and "Quote posts are off." in notes
    assert "Language: English." in notes and "Language: en." not in notes
    # Named as people name it: its first words and the campaign's name; its file as named from the workspace.
    heading = page.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading == "“<bdi>Café 🌍 naïve #ItsNotOK with @napac.org.uk…</bdi>” " + (
        '<span class="sub">in Test campaign threads</span>'
    )
    relative = calendar.relative_to(api.settings.campaigns_dir.parent)
    assert f"<code>{relative}</code> (post <code>thread</code>)" in page and str(calendar) not in page


async def test_images_show_their_alt_text_and_are_served_only_for_their_post(api: Api) -> None:
    thread_campaign(api)
    schedule_shipped(api)
    image = api.settings.campaigns_dir / "threads" / "media" / "card.png"
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    other = hashlib.sha256((ROOT / "campaigns/sasvaw-week/media/its-not-ok-week.png").read_bytes()).hexdigest()
    async with signed_in(api) as browser:
        page = (await browser.get("/posts/threads/thread")).text
        served = await browser.get(f"/images/threads/{sha}/thread")
        elsewhere = await browser.get(f"/images/threads/{other}/thread")  # another post's image
        its_own = await browser.get(f"/images/sasvaw-week/{other}/csv-d1-launch")
        wrong_post = await browser.get(f"/images/sasvaw-week/{sha}/csv-d1-launch")
        not_a_hash = await browser.get("/images/threads/..%2F..%2Fcampaign.yaml/thread")
    escaped_alt = IMAGE_ALT.replace('"', "&#34;")
    assert f'<img src="/images/threads/{sha}/thread" alt="{escaped_alt}">' in page
    assert f"<figcaption><strong>Alt text:</strong> <bdi>{escaped_alt}</bdi>" in section(page, "bluesky")
    assert f"<strong>Description:</strong> <bdi>{escaped_alt}</bdi>" in section(page, "mastodon")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == image.read_bytes()
    assert elsewhere.status_code == 404 and its_own.status_code == 200 and wrong_post.status_code == 404
    assert not_a_hash.status_code == 404
    image.write_bytes(image.read_bytes() + b"changed")  # the file changed after scheduling: not shown as sent
    async with signed_in(api) as browser:
        changed = await browser.get(f"/images/threads/{sha}/thread")
        page = (await browser.get("/posts/threads/thread")).text
    assert changed.status_code == 404 and "has changed since the post was scheduled" in text_of(changed.text)
    assert "The image card.png has changed or gone since this post was scheduled" in text_of(page)


async def test_the_link_card_and_mastodons_folded_warning_and_count(api: Api) -> None:
    calendar = thread_campaign(api)
    mastodon_root = api.check_calendar(calendar).rendered["thread"]["mastodon"][0]
    async with signed_in(api) as browser:
        page = (await browser.get("/posts/threads/thread")).text
    card = section(page, "bluesky").split('<div class="card">', 1)[1].split('<footer class="part-meta">', 1)[0]
    assert '<p class="card-host">example.org</p>' in card
    assert (
        '<a href="https://example.org/about" rel="noopener noreferrer nofollow">Example &lt;b&gt;card&lt;/b&gt;</a>'
        in card
    )
    assert "What we do" in card
    mastodon = parts_of(section(page, "mastodon"))
    assert len(mastodon) == 3
    folded = mastodon[0].split('<details class="cw">', 1)[1].split("</details>", 1)[0]
    assert '<summary><span class="cw-label">Content warning:</span> <bdi>Mentions abuse</bdi>' in folded
    assert "#ItsNotOK" in folded and '<span class="facet tag">#ItsNotOK</span>' in folded  # the text is inside
    assert f'<a class="facet link" href="{LONG_URL.replace("&", "&amp;")}"' in folded
    assert ">example.org/a/very/long/path/f…</a>" in folded  # as Mastodon shows a link: 30 characters and "…"
    count = f'<span class="count">{mastodon_root.length} of 500 characters</span>, as Mastodon counts them (each link'
    assert count in mastodon[0] and mastodon_root.length < len(mastodon_root.spoiler_text + mastodon_root.text)
    notes = text_of(section(page, "mastodon").split('<ul class="notes">', 1)[1])
    assert "Visible to: Public." in notes


async def test_the_history_lists_every_attempt_oldest_first_with_who_and_why(api: Api, clock: FixedClock) -> None:
    write_campaign(
        api,
        "history",
        """
        - {id: launch, at: "2027-02-01 08:30", text: "The week starts today #ItsNotOK"}
    """,
    )
    api.schedule([api.settings.campaigns_dir / "history"], actor="sam")
    api.cancel("launch", actor="sam")
    clock.set(datetime(2027, 1, 25, 9, 5, tzinfo=UTC))
    api.restore("launch", actor="alex", reason="the news moved on")
    clock.set(datetime(2027, 1, 25, 9, 10, tzinfo=UTC))
    api.post_now("launch", "bluesky", actor="sam")  # no account: a dry run, into the outbox
    async with signed_in(api) as browser:
        page = (await browser.get("/posts/history/launch")).text
    history = page.split('<table class="history">', 1)[1]
    rows = [[text_of(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in history.split("<tr>")[2:]]
    bluesky = [row for row in rows if row[1] == "Bluesky, part 1"]
    assert [row[2] for row in bluesky] == [
        "Scheduled", "Cancelled", "Restored", "Post now asked for", "Picked up to be posted", "Attempt began",
        "Published",
    ]  # fmt: skip
    assert bluesky[0] == ["Mon 25 Jan 2027 09:00 GMT", "Bluesky, part 1", "Scheduled", "added", "sam"]
    assert bluesky[1][3:] == ["cancelled by operator", "sam"]
    assert (
        bluesky[2][0] == "Mon 25 Jan 2027 09:05 GMT"
        and bluesky[2][4] == "alex"
        and "the news moved on" in bluesky[2][3]
    )
    assert all(row[0] == "Mon 25 Jan 2027 09:10 GMT" for row in bluesky[3:])
    mastodon = [row for row in rows if row[1] == "Mastodon, part 1"]
    assert [row[2] for row in mastodon] == ["Scheduled", "Cancelled", "Restored"]
    bluesky_preview = section(page, "bluesky")
    assert 'class="state state-published">published<' in bluesky_preview
    assert "Open it on Bluesky" not in bluesky_preview  # a dry run's address is a file, not a web address


async def test_script_links_markup_and_direction_controls_never_act(api: Api) -> None:
    write_campaign(
        api,
        "hostile",
        r"""
        - id: hostile
          at: "2027-02-02 09:00"
          content_warning: "<i>careful</i> \u202Eevil"
          text: "<script>alert(1)</script> javascript:alert(2) \u202Eevil\u202C #ItsNotOK"
    """,
    )
    api.schedule([api.settings.campaigns_dir / "hostile"], actor="sam")
    with api.wiring.store.transaction() as session:  # a stored part no renderer of ours would make
        delivery = session.scalars(
            select(Delivery).where(Delivery.post_id == "hostile", Delivery.platform == "bluesky")
        ).one()
        payload = json.loads(delivery.payload)
        text = payload["text"].encode()
        start = text.index(b"javascript:alert(2)")
        payload["facets"] = [
            {"byte_start": start, "byte_end": start + 19, "kind": "link", "value": "javascript:alert(2)"}
        ]
        payload["link_card"] = {"url": "javascript:alert(3)", "title": "Click", "description": "", "thumbnail": None}
        session.execute(update(Delivery).where(Delivery.id == delivery.id).values(payload=json.dumps(payload)))
    async with signed_in(api) as browser:
        page = (await browser.get("/posts/hostile/hostile")).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<i>careful</i>" not in page and "&lt;i&gt;careful&lt;/i&gt;" in page
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', page)).lower()
    assert '<span class="facet not-a-link">javascript:alert(2)</span>' in page
    assert "is not a web address: it is not shown as a link" in text_of(page)
    assert "\u202e" not in page and "\u202c" not in page and "[U+202E]" in page
    assert "Hidden characters: this post holds U+202C (POP DIRECTIONAL FORMATTING), U+202E (RIGHT-TO-LEFT" in text_of(
        page
    )
    title = re.search(r"<title>(.*?)</title>", page)
    assert title and "\u202e" not in title[1]


async def test_a_draft_and_an_unknown_post_say_so(api: Api) -> None:
    write_campaign(
        api,
        "drafts",
        """
        - {id: later, at: "2027-02-02 09:00", text: "Not ready yet", status: draft}
    """,
    )
    api.schedule([api.settings.campaigns_dir / "drafts"], actor="sam")
    async with signed_in(api) as browser:
        draft = await browser.get("/posts/drafts/later")
        unknown = await browser.get("/posts/drafts/nothing-here")
    assert draft.status_code == 200 and "This post is a draft: it is checked and shown in the calendar" in draft.text
    assert 'class="state state-draft">draft<' in draft.text
    assert unknown.status_code == 404 and "There is no post nothing-here in the campaign drafts" in unknown.text


async def test_a_viewer_reads_the_post_page_and_a_stranger_is_sent_to_sign_in(api: Api) -> None:
    thread_campaign(api)
    image = api.settings.campaigns_dir / "threads" / "media" / "card.png"
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    urls = ["/posts/threads/thread", f"/images/threads/{sha}/thread"]
    async with signed_in(api, "vic") as browser:
        for url in urls:
            assert (await browser.get(url)).status_code == 200, url
    async with client(api) as stranger:
        for url in urls:
            answer = await stranger.get(url)
            assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={url}", url


async def test_the_preview_explains_shortened_links_and_where_the_helpline_went(api: Api) -> None:
    thread_campaign(api)
    words = "Talking about abuse can bring things up, and support is there for you whenever you need it. " * 3
    calendar = write_campaign(api, "helplines", f"""
        - id: full
          at: "2027-02-02 10:00"
          helpline: true
          text: "{words.strip()} #ItsNotOK"
    """, extra='helpline: "NAPAC 0808 801 0331"\n')  # fmt: skip
    api.schedule([calendar], actor="sam")
    async with signed_in(api) as browser:
        thread = (await browser.get("/posts/threads/thread")).text
        full = (await browser.get("/posts/helplines/full")).text
    notes = html.unescape(text_of(section(thread, "bluesky").split('<ul class="notes">', 1)[1]))
    assert (
        f'Bluesky shows the link {LONG_URL} in the post as "{to_short_url(LONG_URL)}", and screen readers read that'
        in notes
    )
    notes = html.unescape(text_of(section(thread, "mastodon").split('<ul class="notes">', 1)[1]))
    assert f'Mastodon shows the link {LONG_URL} in the post as "example.org/a/very/long/path/f…"' in notes
    bluesky = text_of(section(full, "bluesky").split('<ul class="notes">', 1)[1])
    mastodon = text_of(section(full, "mastodon").split('<ul class="notes">', 1)[1])
    assert "The helpline line is reply 1: the post had no room for it." in bluesky  # 300 characters on Bluesky
    assert "The helpline line is at the end of the post." in mastodon  # 500 on Mastodon
    assert len(parts_of(section(full, "bluesky"))) == 2 and len(parts_of(section(full, "mastodon"))) == 1
