"""The campaign to date on known data: every week of a range across the spring clock change, totals that add up
to the weekly reports' own figures, own-thread replies left out, the best posts of the range, hashtag adoption
and the share published on time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.db import Store
from scheduler.models import State
from scheduler.reports import IsoWeek, build_weekly_report
from scheduler.reports.campaign import build_campaign_report, first_week
from tests.reports.builders import StoreBuilder, add_mentions, london, mention

W11, W12, W13 = IsoWeek(2027, 11), IsoWeek(2027, 12), IsoWeek(2027, 13)  # the clocks go forward on 28 March


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    b = StoreBuilder(store)
    a = b.post("a", london(2027, 3, 15, 9), "A thread that people liked over three weeks")
    a0 = b.delivery(a, "a", "bluesky", london(2027, 3, 15, 9), State.PUBLISHED, published=london(2027, 3, 15, 9))
    b.delivery(a, "a", "bluesky", london(2027, 3, 15, 9), State.PUBLISHED, part=1,
               published=london(2027, 3, 15, 9, 0, 5), parent=a0)  # fmt: skip
    # Raw counts as the platform gives them: replies include our own part 1.
    b.snapshot(a0, "bluesky", "bluesky-remote-a-0", london(2027, 3, 16, 9), 5, 0, 1)  # W11: 5
    b.snapshot(a0, "bluesky", "bluesky-remote-a-0", london(2027, 3, 28, 23, 30), 7, 1, 1)  # W12 Sunday, after 01:00
    b.snapshot(a0, "bluesky", "bluesky-remote-a-0", london(2027, 4, 2, 9), 9, 1, 3)  # W13: 2 people replied
    late = b.post("late", london(2027, 3, 23, 12), "Late on Tuesday")
    lb = b.delivery(late, "late", "mastodon", london(2027, 3, 23, 12), State.PUBLISHED,
                    published=london(2027, 3, 23, 12, 30))  # fmt: skip
    b.snapshot(lb, "mastodon", "mastodon-remote-late-0", london(2027, 3, 24, 9), 20, 0, 0)  # W12: 20
    missed = b.post("missed", london(2027, 3, 30, 9), "Missed on Tuesday")
    b.delivery(missed, "missed", "bluesky", london(2027, 3, 30, 9), State.MISSED)
    add_mentions(store, [
        mention("at://did:plc:alice/app.bsky.feed.post/1", "alice", london(2027, 3, 17, 12)),
        # Sunday 28 March 23:30 in London is 22:30 UTC: W12. Monday 00:30 is Sunday 23:30 UTC: W13.
        mention("at://did:plc:bob/app.bsky.feed.post/1", "bob", london(2027, 3, 28, 23, 30)),
        mention("https://a.test/users/carol/statuses/1", "carol", london(2027, 3, 29, 0, 30), platform="mastodon"),
        mention("at://did:plc:alice/app.bsky.feed.post/2", "alice", london(2027, 4, 1, 12)),
    ])  # fmt: skip
    return store


def test_campaign_totals_across_weeks_and_a_clock_change(store: Store) -> None:
    assert first_week(store, "sasvaw-week") == W11
    r = build_campaign_report(store, "sasvaw-week", W11, W13, campaign_name="SASVAW week",
                              now=datetime(2027, 4, 5, 7, tzinfo=UTC))  # fmt: skip
    lines = [(line.week.label, line.planned, line.published, line.on_time, line.engagement_gained, line.mentions,
              line.accounts, line.new_accounts, line.accounts_so_far) for line in r.weeks]  # fmt: skip
    assert lines == [
        ("2027-W11", 2, 2, 2, 5, {"bluesky": 1}, 1, 1, 1),
        ("2027-W12", 1, 1, 0, 23, {"bluesky": 1}, 1, 1, 2),  # a: +3 (own reply left out), late: +20
        ("2027-W13", 1, 0, 0, 4, {"bluesky": 1, "mastodon": 1}, 2, 1, 3),  # two replies from people
    ]
    total = r.total
    assert (total.planned, total.published, total.on_time, total.engagement_gained) == (4, 3, 2, 32)
    assert (total.mentions, total.new_accounts, total.accounts_so_far) == ({"bluesky": 3, "mastodon": 1}, 3, 3)
    assert total.on_time_share == 67 and r.weeks[2].on_time_share is None
    # Posts are calendar entries, whatever their parts: the thread of two parts is one post.
    assert [(line.posts, line.posts_out) for line in r.weeks] == [(1, 1), (1, 1), (1, 0)]
    assert (total.posts, total.posts_out) == (3, 2)
    assert [(b.post_id, b.name, b.gained, b.by_platform) for b in r.best] == [
        ("late", "Late on Tuesday", 20, {"mastodon": 20}),
        ("a", "A thread that people liked over three weeks", 12, {"bluesky": 12}),
    ]
    # The campaign's weeks are the weekly reports' own figures.
    for line in r.weeks:
        week = build_weekly_report(store, "sasvaw-week", line.week, now=datetime(2027, 4, 5, 7, tzinfo=UTC))
        assert week.figures.engagement_growth == line.engagement_gained, line.week
        assert week.mentions.total == line.total_mentions and week.mentions.accounts == line.accounts
        assert week.mentions.new_accounts == line.new_accounts
        assert week.deliveries.planned == line.planned and week.deliveries.on_time == line.on_time
        assert week.deliveries.posts == line.posts == len(week.planned_posts)


def test_a_range_starting_mid_campaign_counts_only_its_weeks(store: Store) -> None:
    r = build_campaign_report(store, "sasvaw-week", W13, W12)  # given backwards: read in order
    assert [line.week for line in r.weeks] == [W12, W13]
    assert r.weeks[0].accounts_so_far == 2  # alice (W11) is counted in the accounts so far
    assert [(b.post_id, b.gained) for b in r.best] == [("late", 20), ("a", 7)]


def test_the_weekly_report_has_the_campaign_so_far(store: Store) -> None:
    from scheduler.reports import render_html, render_markdown

    week = build_weekly_report(store, "sasvaw-week", W13, now=datetime(2027, 4, 5, 7, tzinfo=UTC))
    assert week.campaign_so_far is not None and [w.week for w in week.campaign_so_far.weeks] == [W11, W12, W13]
    html, markdown = render_html(week), render_markdown(week)
    assert html.index('id="so-far"') < html.index('id="changes"')
    assert (
        '<th scope="row">All 3 weeks</th><th class="n">3<br><span class="note">4 parts sent</span></th>'
        '<th class="n">2<br><span class="note">67% of parts on time</span></th><th class="n">32</th>'
    ) in html
    assert "| week of Mon 22 Mar 2027 | 1 | 1 | 1 | 0% | 23 | 1 | 0 | 1 | 1 | 2 |" in markdown
    first = build_weekly_report(store, "sasvaw-week", W11, now=datetime(2027, 4, 5, 7, tzinfo=UTC))
    assert first.campaign_so_far is None and 'id="so-far"' not in render_html(first)  # one week: nothing to add


def test_report_campaign_through_the_cli(store: Store, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tests.reports.test_cli_and_tasks import at, environment

    out = tmp_path / "out"
    result = CliRunner().invoke(
        at(datetime(2027, 4, 5, 7, tzinfo=UTC)),
        ["report", "campaign", "--campaign", "sasvaw-week", "--from", "2027-03-15", "--to", "last", "--format", "md",
         "--format", "csv", "-o", str(out)],
        env=environment(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stem = "sasvaw-week-campaign-2027-W11-to-2027-W13"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}-best.csv", f"{stem}-weeks.csv", f"{stem}.md"]
    markdown = (out / f"{stem}.md").read_text()
    assert (
        "Over 3 weeks, 2 of the 3 posts planned went out (3 of 4 parts sent to platforms, 67% of them on time)."
    ) in markdown
    assert "the most engaged post was \u201cLate on Tuesday\u201d (20)" in markdown
    assert (
        "| **All 3 weeks** | **3** | **2** | **4** | **67%** | **32** | **3** | **1** | **3** | **3** | **3** |"
        in markdown
    )
    weeks = (out / f"{stem}-weeks.csv").read_text(encoding="utf-8-sig").splitlines()
    assert weeks[2] == "2027-W12,2027-03-22,1,1,1,1,0,23,1,0,1,1,2"
    future = CliRunner().invoke(at(datetime(2027, 4, 5, 7, tzinfo=UTC)),
                                ["report", "campaign", "--from", "2027-05-01", "-o", str(tmp_path / "none")],
                                env=environment(tmp_path))  # fmt: skip
    assert future.exit_code == 1 and "has not started yet" in future.output and not (tmp_path / "none").exists()


def test_a_reply_count_without_our_own_part_is_not_taken_below_zero(tmp_path: Path) -> None:
    """Some counts do not include our own next part (a platform that has not caught up, the demo's made-up
    ones): the weekly report and the campaign take away at most the replies there are, alike."""
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    b = StoreBuilder(store)
    pk = b.post("t", london(2027, 3, 22, 9), "A thread")
    t0 = b.delivery(pk, "t", "bluesky", london(2027, 3, 22, 9), State.PUBLISHED, published=london(2027, 3, 22, 9))
    b.delivery(pk, "t", "bluesky", london(2027, 3, 22, 9), State.PUBLISHED, part=1,
               published=london(2027, 3, 22, 9, 0, 5), parent=t0)  # fmt: skip
    b.snapshot(t0, "bluesky", "bluesky-remote-t-0", london(2027, 3, 23, 9), 4, 1, 0)
    week = build_weekly_report(store, "sasvaw-week", W12, now=datetime(2027, 4, 5, 7, tzinfo=UTC))
    campaign = build_campaign_report(store, "sasvaw-week", W12, W12)
    assert week.figures.engagement_growth == campaign.weeks[0].engagement_gained == 5


def test_every_weeks_chart_is_drawn_to_the_campaigns_busiest_day_so_far(store: Store) -> None:
    from scheduler.reports.rendering import chart_scale

    add_mentions(store, [
        mention(f"at://did:plc:p{i}/app.bsky.feed.post/1", f"p{i}", london(2027, 3, 17, 10, i)) for i in range(39)
    ])  # fmt: skip  # the launch day, Wednesday of W11: 40 mentions on Bluesky
    scales = [chart_scale(build_weekly_report(store, "sasvaw-week", week, now=datetime(2027, 4, 5, 7, tzinfo=UTC)))
              for week in (W11, W12, W13)]  # fmt: skip
    assert scales == [50, 50, 50]  # W13's own busiest day is 1: its chart still has the launch's scale
