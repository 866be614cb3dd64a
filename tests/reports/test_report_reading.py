"""The reports as a new reader takes them in (a director copying figures into a board paper): one way of counting
posts everywhere, the campaign's name and weeks written as dates, every time with GMT or BST, thousands
separators everywhere, big changes as "times as many", each scrolling region named by its own caption, charts
that keep readable labels on a phone, and the campaign report's weekly trend chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.db import Store
from scheduler.models import State
from scheduler.reports import IsoWeek, build_weekly_report, render_html, render_markdown
from scheduler.reports.campaign import build_campaign_report
from scheduler.reports.charts import covered_bars, trend_chart, trend_figure
from scheduler.reports.model import Change, growth_words
from scheduler.reports.rendering import render_campaign_html
from tests.reports.builders import StoreBuilder, add_mentions, london, mention

W04, W05 = IsoWeek(2027, 4), IsoWeek(2027, 5)
NOW = datetime(2027, 2, 8, 7, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two weeks: one post in the week before; in the week, a thread of 3 parts on Bluesky and Mastodon (6
    parts sent to platforms) and a one-part post on Bluesky, with 1,234 likes, and mentions 4 to 1."""
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    b = StoreBuilder(store)
    before = b.post("before", london(2027, 1, 26, 9), "The week before")
    b.delivery(before, "before", "bluesky", london(2027, 1, 26, 9), State.PUBLISHED, published=london(2027, 1, 26, 9))
    thread = b.post("thread", london(2027, 2, 1, 9), "A thread of three parts on two platforms")
    for platform in ("bluesky", "mastodon"):
        parent = None
        for part in range(3):
            parent = b.delivery(thread, "thread", platform, london(2027, 2, 1, 9), State.PUBLISHED, part=part,
                                published=london(2027, 2, 1, 9, 0, part), parent=parent)  # fmt: skip
    single = b.post("single", london(2027, 2, 2, 18), "One part on Bluesky only")
    d = b.delivery(single, "single", "bluesky", london(2027, 2, 2, 18), State.PUBLISHED,
                   published=london(2027, 2, 2, 18))  # fmt: skip
    b.snapshot(d, "bluesky", "bluesky-remote-single-0", london(2027, 2, 3, 9), 1234, 0, 0)
    add_mentions(store, [
        mention("at://did:plc:a/app.bsky.feed.post/0", "a", london(2027, 1, 27, 12)),
        *[mention(f"at://did:plc:p{i}/app.bsky.feed.post/{i}", f"p{i}", london(2027, 2, 1 + i, 12)) for i in range(4)],
    ])  # fmt: skip
    return store


def report(store: Store):  # type: ignore[no-untyped-def]
    return build_weekly_report(store, "sasvaw-week", W05, campaign_name="SASVAW week", now=NOW)


def text_of(html: str) -> str:
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_post_is_counted_the_same_way_everywhere(store: Store) -> None:
    r = report(store)
    assert len(r.planned_posts) == r.deliveries.posts == 2 and r.deliveries.planned == 7
    changes = {c.label: (c.this_week, c.previous_week) for c in r.changes}
    assert changes["Posts planned"] == (2, 1) and changes["Parts sent to platforms"] == (7, 1)
    assert r.campaign_so_far is not None
    assert [(w.posts, w.posts_out, w.planned) for w in r.campaign_so_far.weeks] == [(1, 1, 1), (2, 2, 7)]
    page = text_of(render_html(r))
    assert "2 of the 2 posts planned for Monday to Tuesday went out" in page
    assert "2 posts planned" in page  # the tile
    assert "Posts planned 2 1 +1" in page  # the changes table
    assert "Parts sent to platforms 7 1 +6" in page
    assert "week of Mon 1 Feb 2027 2 7 parts sent 2" in page  # the campaign so far
    assert "Posts planned 7" not in page and "Posts planned 2 7" not in page  # parts are never called posts


def test_the_campaign_is_named_and_weeks_are_dates_with_every_time_zoned(store: Store) -> None:
    r = report(store)
    html, markdown = render_html(r), render_markdown(r)
    for page in (html, markdown):
        assert "SASVAW week: week of Mon 1 Feb 2027" in page
        assert "2027-W0" not in page  # the week codes stay in file names and the CLI
        assert "week of Mon 25 Jan 2027" in page
        assert "Made Mon 8 Feb 2027 07:00 GMT" in page
    times = re.findall(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} \w{3}(?: \d{4})? \d\d:\d\d(?! GMT| BST)", html)
    assert times == []
    assert "Tue 2 Feb 18:00 GMT" in html
    # Across the spring clock change a time is BST.
    summer = build_weekly_report(store, "sasvaw-week", IsoWeek(2027, 14), now=datetime(2027, 4, 12, 7, tzinfo=UTC))
    assert "Made Mon 12 Apr 2027 08:00 BST" in render_html(summer)


def test_numbers_have_thousands_separators_and_big_changes_read_as_times_as_many(store: Store) -> None:
    page = text_of(render_html(report(store)))
    assert "1,234 engagement gained" in page and "1234" not in page
    assert "4 times as many as the week before (1)" in page  # mentions 4 against 1
    assert "Mentions 4 1 +3 (4 times as many)" in page
    assert growth_words(582, 33) == "17.6 times as many"
    assert growth_words(6, 2) == "+200%" and growth_words(130, 100) == "+30%" and growth_words(50, 100) == "\u221250%"
    assert growth_words(35_000, 10) == "3,500 times as many"
    assert Change("Engagement", 12_345, 10_000).delta_text == "+2,345 (+23%)"


def test_each_scrolling_region_is_named_by_its_own_caption(store: Store) -> None:
    html = render_html(report(store))
    assert "aria-label=" not in html
    regions = re.findall(r'<div class="scroll[^"]*" tabindex="0" role="region" aria-labelledby="([\w-]+)">', html)
    assert len(regions) == html.count('role="region"') >= 8 and len(set(regions)) == len(regions)
    names = []
    for label in regions:
        found = re.search(rf'id="{label}"[^>]*>([^<]+)<', html)
        assert found, label
        names.append(found.group(1).strip())
    assert len(set(names)) == len(names), names


def test_charts_keep_their_labels_10px_on_a_phone(store: Store) -> None:
    """A chart never shrinks below the width where its smallest text (7 pt at 150 dpi) is 10 CSS pixels: on a
    390 px phone it scrolls sideways in its own region instead."""
    html = render_html(report(store))
    min_width = int(re.search(r"\.chart-box img\.chart \{ min-width: (\d+)px; \}", html).group(1))  # type: ignore[union-attr]
    natural = 4.4 * 150  # the charts' width in pixels (charts.py: 4.4 in at 150 dpi)
    smallest = 7 / 72 * 150 * min(1.0, min_width / natural)
    assert smallest >= 10, smallest
    charts = re.findall(r'<div class="scroll chart-box"[^>]*><img class="chart" id="([\w-]+)"', html)
    assert charts == ["growth-chart", "mentions-chart"]


def test_the_campaign_report_has_its_weekly_trend_chart(store: Store) -> None:
    c = build_campaign_report(store, "sasvaw-week", W04, W05, campaign_name="SASVAW week", now=NOW)
    html = render_campaign_html(c)
    assert "SASVAW week: the campaign from the week of Mon 25 Jan 2027 to the week of Mon 1 Feb 2027" in html
    assert html.count('id="trend-chart"') == 1 and html.index('id="trend-chart"') < html.index('id="weeks-table"')
    alt = re.search(r'id="trend-chart" alt="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert "Posts that went out: week of 25 Jan 1, week of 1 Feb 2" in alt
    assert "Engagement gained: week of 25 Jan 0, week of 1 Feb 1,234" in alt
    assert "Hashtag mentions: week of 25 Jan 1, week of 1 Feb 4" in alt
    mondays, series = [w.week.monday for w in c.weeks], [[1, 2], [0, 1234], [1, 4]]
    figure = trend_figure(mondays, series)
    assert figure is not None and covered_bars(figure) == []  # direct labels, nothing covers a bar
    texts = [[t.get_text() for t in axes.texts] for axes in figure.axes]
    assert [("Posts that went out" in t, "Engagement gained" in t, "Hashtag mentions" in t) for t in texts] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]  # fmt: skip: each panel named on itself, no legend
    assert "1,234" in texts[1]  # each bar labelled with its figure
    assert trend_chart(mondays, [[0, 0], [0, 0], [0, 0]])[0] is None  # nothing to draw, no chart
