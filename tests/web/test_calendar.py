"""The calendar pages through the web workspace's ASGI interface: the week of 1 February 2027 with the shipped
awareness-week calendar scheduled, filters, the month, clock changes, what goes out in the next 48 hours, every
state in words, and text from a calendar that must not act (markup, script links, direction controls)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from content_calendar.validate import check_calendar
from scheduler.api import Api
from scheduler.clock import FixedClock
from scheduler.models import Delivery, Event
from tests.web.pages import (
    NOW,
    body_cells,
    client,
    items,
    make_api,
    schedule_shipped,
    signed_in,
    text_of,
    write_campaign,
)

pytestmark = pytest.mark.anyio


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


def shipped_week(api: Api) -> dict[str, list[str]]:
    """The awareness week's post ids by local day ("2027-02-01"), in time order, as the calendar files say."""
    folder = api.settings.campaigns_dir / "sasvaw-week" / "calendars"
    posts = []
    for path in sorted(folder.iterdir()):
        result = check_calendar(path, campaigns_roots=[api.settings.campaigns_dir])
        assert result.calendar is not None
        posts += result.calendar.posts
    days: dict[str, list[str]] = {}
    for post in sorted(posts, key=lambda p: p.at):
        days.setdefault(post.at.date().isoformat(), []).append(post.id)
    return days


def post_of(item: str) -> str:
    found = re.search(r'href="/posts/[^/]+/([^"]+)"', item)
    assert found, item
    return found[1]


def ids_in(fragment: str, campaign: str = "sasvaw-week") -> list[str]:
    return re.findall(rf'href="/posts/{campaign}/([^"]+)"', fragment)


async def test_the_week_of_1_february_shows_the_awareness_week_day_by_day(api: Api) -> None:
    schedule_shipped(api)
    expected = shipped_week(api)
    async with signed_in(api) as browser:
        page = (await browser.get("/calendar/week/2027-02-03")).text  # any day of the week opens its Monday
    assert "<h1>Week of Monday 1 February 2027</h1>" in page
    assert '<caption id="week-caption">Posts from Monday 1 February 2027 to Sunday 7 February 2027</caption>' in page
    heads = re.findall(r'<th scope="col"[^>]*><time datetime="([^"]+)">([^<]+)</time>', page)
    assert heads == [(f"2027-02-0{d}", f"{name} {d} Feb") for d, name in
                     zip(range(1, 8), ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True)]  # fmt: skip
    cells = body_cells(page)
    assert [ids_in(cell) for cell in cells] == [expected[f"2027-02-0{d}"] for d in range(1, 8)]
    monday = items(cells[0])
    first = text_of(monday[0])
    assert first.startswith("08:30 GMT Today is the start of National Sexual")
    # Its state in words, as the read model gives it ("scheduled", or "awaiting approval" where the campaign
    # requires an approval the post lacks).
    state = api.calendar_week(date(2027, 2, 1)).weeks[0][0].items[0].state
    assert (
        state in ("scheduled", "awaiting approval")
        and f'class="state state-{state.replace(" ", "-")}">{state}<' in monday[0]
    )
    assert first.endswith("sasvaw-week Bluesky, Mastodon")
    assert "Europe/London" in page and "GMT" in page  # the zone and its abbreviation are said
    assert '<a href="/calendar/week/2027-01-25">' in page and '<a href="/calendar/week/2027-02-08">' in page


async def test_the_week_filters_by_campaign_and_by_platform(api: Api) -> None:
    schedule_shipped(api, "sasvaw-week", "act-on-iicsa")
    mastodon_of_launch = Delivery.post_id == "csv-d1-launch", Delivery.platform == "mastodon"
    with api.wiring.store.transaction() as session:  # arranged: one platform failed, the other still to go
        session.execute(update(Delivery).where(*mastodon_of_launch).values(state="failed", last_error="server said no"))
    async with signed_in(api) as browser:
        both = (await browser.get("/calendar/week/2027-02-01")).text
        campaign = (await browser.get("/calendar/week/2027-02-01?campaign=act-on-iicsa")).text
        bluesky = (await browser.get("/calendar/week/2027-02-01?platform=bluesky")).text
        unknown = await browser.get("/calendar/week/2027-02-01?campaign=nope")
        no_platform = await browser.get("/calendar/week/2027-02-01?platform=myspace")
    assert ids_in(both, "act-on-iicsa") and ids_in(both, "sasvaw-week")
    assert ids_in(campaign, "sasvaw-week") == []
    assert ids_in(campaign, "act-on-iicsa") == ["awareness-week-2027", "recs-redress-scheme", "recs-limitation-period"]
    assert "campaign act-on-iicsa" in campaign and '<option value="act-on-iicsa" selected>' in campaign
    assert "/calendar/week/2027-02-08?campaign=act-on-iicsa" in campaign  # the next week keeps the filter
    launch = text_of(items(both)[0])
    assert "Mastodon: failed: server said no" in launch and launch.count("failed") >= 2
    launch_on_bluesky = text_of(items(bluesky)[0])
    assert "Bluesky" in launch_on_bluesky and "Mastodon" not in launch_on_bluesky and "failed" not in launch_on_bluesky
    assert unknown.status_code == 404 and "There is no campaign called 'nope'" in text_of(unknown.text)
    assert no_platform.status_code == 400 and "not a platform we post to" in no_platform.text


async def test_the_month_has_a_row_a_week_and_every_post_on_its_day(api: Api) -> None:
    schedule_shipped(api, "sasvaw-week", "act-on-iicsa")
    async with signed_in(api) as browser:
        page = (await browser.get("/calendar/month/2027-02")).text
        bad = await browser.get("/calendar/month/2027-13")
        this_month = (await browser.get("/calendar/month")).text
    assert "<h1>February 2027</h1>" in page and "Posts in February 2027, day by day" in page
    rows = re.findall(r'<th scope="row"><a href="/calendar/week/([^"]+)">Week (\d+)</a></th>', page)
    assert rows == [("2027-02-01", "5"), ("2027-02-08", "6"), ("2027-02-15", "7"), ("2027-02-22", "8")]
    cells = body_cells(page)
    assert len(cells) == 28  # February 2027 runs Monday 1 to Sunday 28: no day from another month
    assert ids_in(cells[0]) == shipped_week(api)["2027-02-01"] and len(ids_in(cells[0], "act-on-iicsa")) == 1
    assert ids_in(cells[27]) == [] and '<time datetime="2027-02-28">28</time>' in cells[27]
    act_on = sum(len(ids_in(cell, "act-on-iicsa")) for cell in cells)
    assert act_on == 13 and sum(len(ids_in(cell)) for cell in cells) == 21
    assert bad.status_code == 404 and "is not a month" in bad.text
    assert "<h1>January 2027</h1>" in this_month  # the workspace's today: 25 January


async def test_a_post_near_a_clock_change_says_which_way_the_clocks_go(api: Api) -> None:
    write_campaign(
        api,
        "spring",
        """
        - {id: saturday-evening, at: "2027-03-27 23:30", text: "The evening before the clocks change"}
        - {id: small-hours, at: "2027-03-28 00:30", text: "Half an hour before the clocks change"}
        - {id: sunday-morning, at: "2027-03-28 09:00", text: "The morning after the clocks change"}
        - {id: monday-morning, at: "2027-03-29 09:00", text: "A day later"}
        - {id: new-york-sunday, at: "2027-03-14 09:00", text: "A London post on New York's change day"}
    """,
    )
    write_campaign(
        api,
        "new-york",
        """
        - {id: change-day, at: "2027-03-14 09:00", text: "New York clocks went forward last night"}
        - {id: week-after, at: "2027-03-21 09:00", text: "A week later in New York"}
    """,
        zone="America/New_York",
    )
    api.schedule([api.settings.campaigns_dir / "spring", api.settings.campaigns_dir / "new-york"], actor="sam")
    async with signed_in(api) as browser:
        week = (await browser.get("/calendar/week/2027-03-22")).text
        after = (await browser.get("/calendar/week/2027-03-29")).text
        earlier = (await browser.get("/calendar/week/2027-03-08")).text
        month = (await browser.get("/calendar/month/2027-03")).text
    said = {post_of(item): text_of(item) for item in items(week) + items(after) + items(earlier)}
    forward = "Clock change: Clocks go forward 1 hour on Sun 28 Mar 2027 at 01:00 GMT (it becomes 02:00 BST)."
    assert said["saturday-evening"].startswith("23:30 GMT") and "Clock change" not in said["saturday-evening"]
    assert said["small-hours"].startswith("00:30 GMT") and forward in said["small-hours"]
    assert said["sunday-morning"].startswith("09:00 BST") and forward in said["sunday-morning"]
    assert said["monday-morning"].startswith("09:00 BST") and "Clock change" not in said["monday-morning"]
    new_york = "Clocks go forward 1 hour on Sun 14 Mar 2027 at 02:00 EST (it becomes 03:00 EDT)."
    assert said["change-day"].startswith("09:00 EDT") and new_york in said["change-day"]
    assert "Clock change" not in said["new-york-sunday"] and said["new-york-sunday"].startswith("09:00 GMT")
    assert month.count("Clocks go forward") == 3 and "America/New_York" in month


async def test_what_goes_out_next_is_the_home_page(api: Api, clock: FixedClock) -> None:
    schedule_shipped(api, "sasvaw-week", "act-on-iicsa")
    clock.set(datetime(2027, 2, 1, 7, 0, tzinfo=UTC))
    async with signed_in(api) as browser:
        page = (await browser.get("/")).text
    clock.set(datetime(2027, 2, 1, 12, 45, tzinfo=UTC))
    async with signed_in(api) as browser:
        later = (await browser.get("/")).text
    assert "<h1>What goes out next</h1>" in page and "next 48 hours" in page
    rows = body_cells(page.split('<table class="upcoming">', 1)[1])
    whens = [text_of(cell) for cell in rows[0::5]]
    assert whens[0] == "Mon 01 Feb 2027 08:30 GMT" and whens[-1] == "Tue 02 Feb 2027 18:30 GMT"
    assert len(whens) == 7  # Monday's four (one is #ActOnIICSA's) and Tuesday's three
    assert whens == sorted(whens, key=lambda w: datetime.strptime(w, "%a %d %b %Y %H:%M GMT"))
    assert "Wed 03 Feb 2027 08:30 GMT" not in page  # 49½ hours ahead
    assert ids_in(page)[0] == "csv-d1-launch"
    # An hour on: what went out in the last hour is still there, what was due earlier has gone.
    assert "Mon 01 Feb 2027 12:30 GMT" in later and "Mon 01 Feb 2027 11:30 GMT" not in later
    assert "Wed 03 Feb 2027 12:30 GMT" in later


async def test_every_state_is_in_words_with_its_link_or_reason(api: Api, clock: FixedClock) -> None:
    write_campaign(
        api,
        "states",
        """
        - {id: went-out, at: "2027-02-01 09:00", text: "This one went out", platforms: [bluesky]}
        - {id: broke, at: "2027-02-01 10:00", text: "This one failed", platforms: [bluesky]}
        - {id: too-late, at: "2027-02-01 11:00", text: "This one was missed", platforms: [bluesky]}
        - {id: called-off, at: "2027-02-01 12:00", text: "This one was cancelled", platforms: [bluesky]}
        - {id: not-yet, at: "2027-02-01 13:00", text: "This one is a draft", status: draft}
        - {id: later, at: "2027-02-01 20:00", text: "This one is scheduled", platforms: [bluesky]}
    """,
    )
    api.schedule([api.settings.campaigns_dir / "states"], actor="sam")
    with api.wiring.store.transaction() as session:  # arranged as a worker would leave them
        session.execute(update(Delivery).where(Delivery.post_id == "went-out").values(
            state="published", remote_url="https://bsky.app/profile/states.bsky.social/post/3kabc",
            published_at=datetime(2027, 2, 1, 9, 0, 2, tzinfo=UTC)))  # fmt: skip
        broke = session.scalars(update(Delivery).where(Delivery.post_id == "broke").values(
            state="failed", attempts=5, last_error="gave up after 5 attempts; last error: 503 from the server"
        ).returning(Delivery.id)).one()  # fmt: skip
        session.add(Event(at=NOW, delivery_id=broke, action="failed", to_state="failed", actor="worker-1",
                          reason="gave up after 5 attempts; last error: 503 from the server"))  # fmt: skip
    api.cancel("called-off", actor="sam")
    clock.set(datetime(2027, 2, 1, 11, 45, tzinfo=UTC))  # past too-late's 30 minutes of grace
    api.tick(api.inline_executor(worker="test"), actor="beat")
    async with signed_in(api) as browser:
        page = (await browser.get("/calendar/week/2027-02-01?campaign=states")).text
    said = {post_of(item): (item, text_of(item)) for item in items(page)}
    assert 'class="state state-published">published<' in said["went-out"][0]
    assert (
        'Bluesky: <a href="https://bsky.app/profile/states.bsky.social/post/3kabc">published</a>' in said["went-out"][0]
    )
    assert "Bluesky: failed: gave up after 5 attempts; last error: 503 from the server" in said["broke"][1]
    assert re.search(r"Bluesky: missed: \S+", said["too-late"][1]), said["too-late"][1]
    assert "Bluesky: cancelled: cancelled by operator" in said["called-off"][1]
    assert 'state-draft">draft<' in said["not-yet"][0] and "This one is a draft" in said["not-yet"][1]
    assert 'state-scheduled">scheduled<' in said["later"][0]


async def test_markup_script_links_and_direction_controls_in_a_calendar_do_nothing(api: Api, clock: FixedClock) -> None:
    write_campaign(
        api,
        "hostile",
        r"""
        - {id: markup, at: "2027-02-02 09:00", text: "<script>alert(1)</script><img src=x onerror=alert(2)>"}
        - {id: script-link, at: "2027-02-02 10:00", text: "javascript:alert(3) #ItsNotOK"}
        - {id: turned, at: "2027-02-02 11:00", text: "\u202Eevil\u202C text #ItsNotOK"}
    """,
    )
    api.schedule([api.settings.campaigns_dir / "hostile"], actor="sam")
    async with signed_in(api) as browser:
        pages = [(await browser.get(url)).text for url in ("/calendar/week/2027-02-01", "/calendar/month/2027-02")]
    clock.set(datetime(2027, 2, 2, 8, 0, tzinfo=UTC))
    async with signed_in(api) as browser:
        pages.append((await browser.get("/")).text)
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page and "&lt;script&gt;alert(1)" in page
        assert 'href="javascript:' not in page.lower() and "javascript:alert(3)" in page
        assert "\u202e" not in page and "\u202c" not in page
        assert '<span class="hidden-char" title="A hidden character: right-to-left override">[U+202E]</span>' in page


async def test_a_viewer_reads_every_calendar_page_and_a_stranger_is_sent_to_sign_in(api: Api) -> None:
    schedule_shipped(api)
    urls = ["/", "/calendar", "/calendar/week/2027-02-01", "/calendar/month", "/calendar/month/2027-02"]
    async with signed_in(api, "vic") as browser:
        for url in urls:
            answer = await browser.get(url)
            assert answer.status_code == 200, url
            assert "vic (viewer)" in answer.text
    async with client(api) as stranger:
        for url in urls:
            answer = await stranger.get(url)
            assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={url}", url


async def test_the_calendar_tables_have_captions_headers_and_labels(api: Api) -> None:
    schedule_shipped(api)
    async with signed_in(api) as browser:
        week = (await browser.get("/calendar/week/2027-02-01")).text
        month = (await browser.get("/calendar/month/2027-02")).text
        home = (await browser.get("/")).text
    for page in (week, month):
        assert "<caption" in page and '<th scope="col"' in page
        assert '<label for="f-campaign">Campaign</label>' in page and '<select id="f-campaign"' in page
        assert '<label for="f-platform">Platform</label>' in page
        headings = [int(level) for level in re.findall(r"<h([1-6])", page.split('<main id="main"', 1)[1])]
        assert headings[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(headings))
        assert 'role="region" aria-labelledby=' in page and 'tabindex="0"' in page  # the wide table scrolls by key
    assert '<th scope="row">' in month
    assert "Nothing is due in the next 48 hours" in home  # 25 January: the week is further off
