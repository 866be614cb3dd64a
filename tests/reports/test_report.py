"""The weekly report over a store built with known answers: every figure, the week boundary on both sides of
Sunday midnight in London time (winter, summer and the week the clocks change), an empty week, privacy, and
hostile text made inert in HTML, Markdown and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.db import Store
from scheduler.models import State
from scheduler.reports import (
    DeliveryFigures,
    IsoWeek,
    build_weekly_report,
    csv_cell,
    csv_tables,
    md_escape,
    render_html,
    render_markdown,
    write_due_reports,
    write_report,
)
from tests.reports.builders import ORGS, StoreBuilder, add_mentions, known_week, london, mention

W05 = IsoWeek.parse("2027-W05")
HTML_MD_CSV = (
    "html",
    "md",
    "csv",
)  # the Monday PDF is printed in test_report_browser.py  # Monday 1 to Sunday 7 February 2027 (GMT: London = UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


@pytest.fixture
def known(store: Store) -> Store:
    return known_week(store)


def report_of(store: Store, week: IsoWeek = W05, **options: object):  # type: ignore[no-untyped-def]
    return build_weekly_report(
        store, "sasvaw-week", week, campaign_name="SASVAW week", organisation_accounts=ORGS,
        now=datetime(2027, 2, 8, 7, tzinfo=UTC), **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_every_figure_of_a_known_week(known: Store) -> None:
    r = report_of(known)
    assert r.deliveries == DeliveryFigures(
        planned=8, posts=5, published=4, on_time=3, late=1, missed=1, failed=1, pending=1, cancelled=1, dry_run=1
    )
    assert r.previous.deliveries == DeliveryFigures(planned=2, posts=1, published=2, on_time=2)
    problems = [(p.post_id, p.platform, p.part, p.outcome, p.reason) for p in r.problems]
    assert problems == [
        ("p2", "bluesky", 0, "late", "published 20 min after its planned time"),
        ("p2", "mastodon", 0, "missed", "not published within its grace period (30 min)"),
        ("p3", "bluesky", 0, "failed", "Bluesky refused the post: <b>text too long</b>"),
        ("p6", "mastodon", 0, "dry run", "no credentials: written to the dry-run outbox, not posted"),
        ("p4", "bluesky", 0, "pending", "still scheduled when this report was made"),
    ]
    assert [p.due_local for p in r.problems] == [
        "Tue 2 Feb 12:00 GMT", "Tue 2 Feb 12:00 GMT", "Wed 3 Feb 18:00 GMT", "Thu 4 Feb 10:00 GMT",
        "Sun 7 Feb 23:59 GMT",
    ]  # fmt: skip

    engagement = [
        (p.post_id, p.platform, p.tracked, p.likes, p.reposts, p.replies, p.quotes, p.total,
         p.likes_growth, p.reposts_growth, p.replies_growth, p.quotes_growth, p.growth)
        for p in r.posts
    ]  # fmt: skip
    assert engagement == [
        ("p0", "bluesky", True, 10, 3, 2, 1, 16, 8, 2, 2, 1, 13),  # the snapshot after Sunday is not counted
        ("p1", "bluesky", True, 5, 2, 1, 0, 8, 5, 2, 1, 0, 8),
        ("p1", "mastodon", True, 4, 1, 1, 0, 6, 4, 1, 1, 0, 6),  # two thread parts added together
        ("p2", "bluesky", False, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # published, not measured yet
    ]
    assert r.figures.engagement_growth == 27
    assert r.previous.engagement_growth == 3
    assert [(t.post_id, t.growth, t.total, t.platforms) for t in r.top_posts] == [
        ("p1", 14, 14, "Bluesky, Mastodon"),
        ("p0", 13, 16, "Bluesky"),
    ]

    m = r.mentions
    assert m.days == [date(2027, 2, d) for d in range(1, 8)]
    assert m.per_day == {"bluesky": [1, 2, 0, 1, 0, 0, 0], "mastodon": [0, 0, 1, 0, 0, 0, 1]}
    assert (m.total, m.platform_total("bluesky"), m.platform_total("mastodon")) == (6, 4, 2)
    assert (m.replies_to_us, m.accounts, m.new_accounts, m.returning_accounts) == (1, 4, 3, 1)
    p = r.previous.mentions
    assert p.per_day == {"bluesky": [0, 0, 0, 0, 0, 1, 1], "mastodon": [0] * 7}
    assert (p.total, p.replies_to_us, p.accounts, p.new_accounts, p.returning_accounts) == (2, 0, 2, 2, 0)

    assert [(a.handle, a.platform, a.mentions) for a in r.named_accounts] == [("napac.org.uk", "bluesky", 1)]
    assert r.unnamed_accounts == 3
    assert [(e.handle, e.text, e.when_local) for e in r.examples] == [
        ("napac.org.uk", "Support is there for you: NAPAC 0808 801 0331 #ItsNotOK", "Thu 4 Feb 11:00 GMT")
    ]
    changes = {c.label: (c.this_week, c.previous_week, c.delta_text) for c in r.changes}
    assert changes == {
        "Posts planned": (5, 1, "+4 (5 times as many)"),  # a post is a calendar entry, whatever its parts
        "Parts sent to platforms": (8, 2, "+6 (4 times as many)"),
        "of which on time": (3, 2, "+1 (+50%)"),
        "of which late": (1, 0, "+1"),
        "of which missed": (1, 0, "+1"),
        "of which failed": (1, 0, "+1"),
        "Dry runs (outbox only, not posted)": (1, 0, "+1"),
        "Engagement gained (likes, reposts, replies, quotes)": (27, 3, "+24 (9 times as many)"),
        "Mentions": (6, 2, "+4 (+200%)"),
        "Mentions replying to us": (1, 0, "+1"),
        "Accounts mentioning the campaign": (4, 2, "+2 (+100%)"),
        "of which new": (3, 2, "+1 (+50%)"),
        "of which returning": (1, 0, "+1"),
    }


def test_the_same_figures_reach_every_format(known: Store, tmp_path: Path) -> None:
    r = report_of(known)
    paths = write_report(r, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["sasvaw-week-2027-W05.html", "sasvaw-week-2027-W05.md"]
        + [f"sasvaw-week-2027-W05-{t}.csv" for t in
           ("summary", "deliveries", "engagement", "mentions_per_day", "accounts", "examples", "people", "went_out",
            "went_wrong")]
    )  # fmt: skip
    html = (tmp_path / "out" / "sasvaw-week-2027-W05.html").read_text()
    assert (
        "2 of the 5 posts planned for Monday to Sunday went out, 1 of them on time everywhere. People liked, reposted,"
        " replied to or quoted our posts 27 times, 9 times as many as the week before (3)"
    ) in html
    assert "1 mention replied to our posts." in html
    assert "4 accounts mentioned the campaign: 3 for the first time, 1 returning." in html
    assert html.count('src="data:image/png;base64,') == 2  # mentions per day, and the top posts' growth
    markdown = (tmp_path / "out" / "sasvaw-week-2027-W05.md").read_text()
    assert "| Tue 2 Feb | 2 | 0 | 2 |" in markdown
    assert "| **Week** | **4** | **2** | **6** |" in markdown
    assert "| Mentions | 6 | 2 | +4 (+200%) |" in markdown
    summary = list(csv.reader(io.StringIO((tmp_path / "out" / "sasvaw-week-2027-W05-summary.csv")
                                          .read_text(encoding="utf-8-sig"))))  # fmt: skip
    assert summary[0] == ["figure", "this week", "previous week", "change"]
    assert ["Mentions", "6", "2", "4"] in summary
    per_day = list(csv.reader(io.StringIO((tmp_path / "out" / "sasvaw-week-2027-W05-mentions_per_day.csv")
                                          .read_text(encoding="utf-8-sig"))))  # fmt: skip
    assert per_day == [
        ["date", "Bluesky", "Mastodon", "total"],
        ["2027-02-01", "1", "0", "1"], ["2027-02-02", "2", "0", "2"], ["2027-02-03", "0", "1", "1"],
        ["2027-02-04", "1", "0", "1"], ["2027-02-05", "0", "0", "0"], ["2027-02-06", "0", "0", "0"],
        ["2027-02-07", "0", "1", "1"],
    ]  # fmt: skip


def test_third_parties_are_counted_not_named_and_their_text_is_never_stored(known: Store, tmp_path: Path) -> None:
    import sqlite3

    database = sqlite3.connect(known.url.removeprefix("sqlite:///"))
    rows = database.execute("SELECT author_handle, text, uri, url, allow_listed FROM mentions").fetchall()
    dump = "\n".join(line for line in database.iterdump())
    database.close()
    assert sorted(r for r in rows if r[0] is not None) == [
        ("napac.org.uk", "Support is there for you: NAPAC 0808 801 0331 #ItsNotOK",
         "at://did:plc:napac/app.bsky.feed.post/n1", "https://web.test/n1", 1)
    ]  # fmt: skip
    assert all(r == (None, None, None, None, 0) for r in rows if r[0] is None)
    for secret in ("alice", "bob", "carol", "did:plc:dave", "It's not OK"):
        assert secret not in dump, secret
    # Without the embedded pictures: base64 may spell anything.
    html = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", render_html(report_of(known)))
    markdown = render_markdown(report_of(known))
    for text in (html, markdown):
        assert "napac.org.uk" in text
        for name in ("alice", "bob", "carol"):
            assert name not in text


def test_include_handles_names_only_the_handles_collection_was_told_to_keep(store: Store) -> None:
    add_mentions(store, [mention("at://did:plc:bob/app.bsky.feed.post/1", "bob", london(2027, 2, 2))],
                 keep_handles=True)  # fmt: skip
    add_mentions(store, [mention("at://did:plc:carl/app.bsky.feed.post/1", "carl", london(2027, 2, 2))])
    private = report_of(store)
    assert private.named_accounts == [] and private.unnamed_accounts == 2
    named = report_of(store, include_handles=True)
    assert [(a.handle, a.mentions) for a in named.named_accounts] == [("bob.bsky.social", 1)]
    assert named.unnamed_accounts == 1
    assert named.examples == []  # a kept handle never brings its text with it


def test_empty_week(store: Store, tmp_path: Path) -> None:
    r = report_of(store)
    assert r.deliveries == DeliveryFigures()
    assert (r.mentions.total, r.mentions.accounts, r.mentions.new_accounts, r.mentions.replies_to_us) == (0, 0, 0, 0)
    assert r.posts == [] and r.top_posts == [] and r.problems == [] and r.examples == []
    assert all(c.this_week == c.previous_week == 0 and c.delta_text == "0" for c in r.changes)
    paths = write_report(r, tmp_path)
    html = next(p for p in paths if p.suffix == ".html").read_text()
    assert "No published posts were tracked this week." in html
    assert 'src="data:image/png;base64,' not in html  # no chart without data: a sentence instead
    assert "Nobody used the campaign hashtags this week, so there is no chart of them." in html
    assert "Nothing went wrong this week" in html


@pytest.mark.parametrize(
    ("week", "inside", "outside"),
    [
        # Winter (GMT): London midnight is UTC midnight.
        ("2027-W05", [london(2027, 2, 1), london(2027, 2, 7, 23, 59, 59)],
         [london(2027, 1, 31, 23, 59, 59), london(2027, 2, 8)]),
        # Summer (BST): Monday 00:30 London is still Sunday 23:30 UTC, and belongs to the next week.
        ("2027-W26", [london(2027, 6, 28), london(2027, 7, 4, 23, 30)],
         [london(2027, 6, 27, 23, 59, 59), london(2027, 7, 5, 0, 30)]),
        # The clocks go forward on Sunday 28 March 2027: that Sunday has 23 hours.
        ("2027-W12", [london(2027, 3, 22), london(2027, 3, 28, 0, 30), london(2027, 3, 28, 23, 59, 59)],
         [london(2027, 3, 21, 23, 59, 59), london(2027, 3, 29, 0, 10)]),
    ],
)  # fmt: skip
def test_week_boundary_on_both_sides_of_sunday_midnight_london(
    store: Store, week: str, inside: list[datetime], outside: list[datetime]
) -> None:
    b = StoreBuilder(store)
    moments = [*inside, *outside]
    for index, moment in enumerate(moments):
        pk = b.post(f"post{index}", moment)
        b.delivery(pk, f"post{index}", "bluesky", moment, State.PUBLISHED, published=moment)
    add_mentions(store, [
        mention(f"at://did:plc:a{index}/app.bsky.feed.post/{index}", f"a{index}", moment)
        for index, moment in enumerate(moments)
    ])  # fmt: skip
    r = report_of(store, IsoWeek.parse(week))
    assert r.deliveries.planned == r.deliveries.on_time == len(inside)
    assert r.mentions.total == r.mentions.accounts == r.mentions.new_accounts == len(inside)
    # Monday's and Sunday's local dates, not their UTC ones, decide the day.
    assert r.mentions.per_day["bluesky"][0] == 1
    assert r.mentions.per_day["bluesky"][6] == len(inside) - 1


def test_iso_weeks() -> None:
    assert IsoWeek.parse("2027-W05").monday == date(2027, 2, 1)
    assert IsoWeek.parse("2027w5") == IsoWeek(2027, 5)
    assert IsoWeek.parse("2027-W01").previous() == IsoWeek(2026, 53)
    for bad in ("2027-05", "2027-W54", "W05"):
        with pytest.raises(ValueError):
            IsoWeek.parse(bad)
    # Monday 07:00 in London: the week that ended the night before.
    assert IsoWeek.last_complete(london(2027, 2, 8, 7)) == W05
    assert IsoWeek.last_complete(london(2027, 2, 7, 23, 59)) == IsoWeek(2027, 4)
    bounds = IsoWeek.parse("2027-W12").boundaries()
    assert bounds[7] - bounds[6] == timedelta(hours=23)  # Sunday 28 March 2027


HOSTILE = (
    '<script>document.title="pwned"</script><img id="pwned" src=x onerror="document.title=\'pwned\'">'
    '\u202egnp.exe\u202c [click](javascript:alert(1)) *bold* | =HYPERLINK("http://evil.test") #ItsNotOK'
)


def hostile_store(store: Store) -> Store:
    b = StoreBuilder(store)
    pk = b.post("p1", london(2027, 2, 1, 9), "=SUM(A1:A9) our own summary")
    d = b.delivery(pk, "p1", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED, published=london(2027, 2, 1, 9))
    b.snapshot(d, "bluesky", "bluesky-remote-p1-0", london(2027, 2, 2), 4, 1, 0)
    add_mentions(store, [
        mention("at://did:plc:napac/app.bsky.feed.post/h1", "napac.org.uk", london(2027, 2, 2, 10), text=HOSTILE),
        mention("at://did:plc:napac/app.bsky.feed.post/h2", "napac.org.uk", london(2027, 2, 2, 11),
                text="-2+3 @cmd =1+1 #ItsNotOK"),
        mention("at://did:plc:mal/app.bsky.feed.post/h3", "mal", london(2027, 2, 2, 12), text=HOSTILE),
    ], organisations=ORGS)  # fmt: skip
    return store


def test_hostile_mention_is_inert_in_html(store: Store) -> None:
    html = render_html(report_of(hostile_store(store)))
    assert "<script" not in html and "<img id=" not in html and 'onerror="document' not in html
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in html
    assert "\u202e" not in html and "\u202c" not in html
    assert '<blockquote class="example"><bdi>&lt;script&gt;' in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_hostile_mention_is_inert_in_markdown(store: Store) -> None:
    markdown = render_markdown(report_of(hostile_store(store)))
    assert "<script" not in markdown and "<img" not in markdown and "\u202e" not in markdown
    assert "&lt;script&gt;" in markdown
    assert "\\[click\\](javascript:alert(1))" in markdown
    assert "\\*bold\\* \\| =HYPERLINK" in markdown
    assert md_escape("# heading\n- item") == "\\# heading - item"
    assert md_escape("3. third") == "3\\. third"


def test_csv_guards_against_formula_injection(store: Store) -> None:
    tables = csv_tables(report_of(hostile_store(store)))
    examples = {row[3] for row in tables["examples"][1:]}
    assert "'-2+3 @cmd =1+1 #ItsNotOK" in {csv_cell(t) for t in examples}
    engagement = tables["engagement"][1]
    assert csv_cell(engagement[13]) == "'=SUM(A1:A9) our own summary"
    for value in ("=1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1"):
        assert csv_cell(value).startswith("'"), value
    assert csv_cell("fine =1") == "fine =1" and csv_cell(-3) == -3
    from scheduler.reports import render_csv

    text = render_csv(tables["examples"])
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
            assert "\u202e" not in cell


def test_monday_report_is_written_once_when_due(known: Store, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    before = write_due_reports(
        known, reports, ["sasvaw-week"], london(2027, 2, 8, 6, 59), campaigns_dir=None, formats=HTML_MD_CSV
    )
    assert [p.name for p in before if p.suffix == ".html"] == ["sasvaw-week-2027-W04.html"]
    due = write_due_reports(
        known, reports, ["sasvaw-week"], london(2027, 2, 8, 7), campaigns_dir=None, formats=HTML_MD_CSV
    )
    assert [p.name for p in due if p.suffix == ".html"] == ["sasvaw-week-2027-W05.html"]
    assert (
        write_due_reports(
            known, reports, ["sasvaw-week"], london(2027, 2, 9, 12), campaigns_dir=None, formats=HTML_MD_CSV
        )
        == []
    )
    from scheduler.api import latest_report

    assert latest_report(reports) == reports / "sasvaw-week" / "sasvaw-week-2027-W05.html"


def test_growth_is_measured_from_the_last_snapshot_before_the_week_and_losses_are_signed(
    store: Store, tmp_path: Path
) -> None:
    b = StoreBuilder(store)
    # Published the week before W05 and counted then: W05's growth is measured from that count (a loss here).
    old = b.post("old", london(2027, 1, 28, 9), "Counted before the week")
    d_old = b.delivery(old, "old", "bluesky", london(2027, 1, 28, 9), State.PUBLISHED, published=london(2027, 1, 28, 9))
    b.snapshot(d_old, "bluesky", "bluesky-remote-old-0", london(2027, 1, 29, 9), 5, 2, 0)
    b.snapshot(d_old, "bluesky", "bluesky-remote-old-0", london(2027, 2, 3, 9), 2, 2, 1)
    # Published the week before too, but first counted during W05 (engagement collection was not running yet):
    # its 40 likes are not this week's growth, which is unknown.
    late = b.post("late", london(2027, 1, 27, 9), "First counted during the week")
    d_late = b.delivery(late, "late", "bluesky", london(2027, 1, 27, 9), State.PUBLISHED,
                        published=london(2027, 1, 27, 9))  # fmt: skip
    b.snapshot(d_late, "bluesky", "bluesky-remote-late-0", london(2027, 2, 2, 9), 40, 4, 0)
    # Published during W05: it grew from nothing.
    new = b.post("new", london(2027, 2, 1, 9), "Published during the week")
    d_new = b.delivery(new, "new", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED, published=london(2027, 2, 1, 9))
    b.snapshot(d_new, "bluesky", "bluesky-remote-new-0", london(2027, 2, 2, 9), 3, 0, 0)

    r = report_of(store)
    by_post = {p.post_id: p for p in r.posts}
    assert [(p.post_id, p.growth_known, p.total, p.growth) for p in r.posts] == [
        ("late", False, 44, 0),
        ("old", True, 5, -2),
        ("new", True, 3, 3),
    ]
    assert (by_post["old"].likes_growth, by_post["old"].replies_growth) == (-3, 1)
    assert r.figures.engagement_growth == 1  # -2 + 3: the unmeasured post adds nothing
    assert [(t.post_id, t.growth) for t in r.top_posts] == [("new", 3)]
    gained = {c.label: c for c in r.changes}["Engagement gained (likes, reposts, replies, quotes)"]
    assert (gained.this_week, gained.previous_week, gained.delta_text) == (1, 7, "\u22126 (\u221286%)")

    html = render_html(r)
    markdown = render_markdown(r)
    for text in (html, markdown):
        assert "+-" not in text
        assert "\u22122" in text  # old's loss, with a real minus sign
        assert "no earlier snapshot" in text
    assert '<td class="n">\u22122<br><span class="note">5 in all</span></td>' in html
    assert "| Counted before the week | \u22122 (5) | **\u22122** |" in markdown
    assert "| First counted during the week | 44, no earlier snapshot | **0** |" in markdown
    engagement = {row[0]: row for row in csv_tables(r)["engagement"][1:]}
    assert engagement["late"][8:13] == ["", "", "", "", ""] and engagement["late"][-1] == "no earlier snapshot"
    assert engagement["old"][8:13] == [-3, 0, 1, 0, -2] and engagement["old"][-1] == ""


def test_changes_are_signed_with_a_real_minus_sign() -> None:
    from scheduler.reports import Change

    assert Change("x", 7, 10).delta_text == "\u22123 (\u221230%)"
    assert Change("x", 13, 10).delta_text == "+3 (+30%)"
    assert Change("x", 0, 3).delta_text == "\u22123 (\u2212100%)"
    assert Change("x", 3, 0).delta_text == "+3"
    assert Change("x", 4, 4).delta_text == "0"


def test_dry_runs_are_their_own_outcome_never_published_on_time(store: Store, tmp_path: Path) -> None:
    b = StoreBuilder(store)
    posted = b.post("posted", london(2027, 2, 1, 9))
    b.delivery(posted, "posted", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED, published=london(2027, 2, 1, 9))
    for name, delay in (("dry", 0), ("dry-late", 45)):
        pk = b.post(name, london(2027, 2, 2, 9))
        b.delivery(pk, name, "mastodon", london(2027, 2, 2, 9), State.PUBLISHED,
                   published=london(2027, 2, 2, 9, delay), dry_run=True)  # fmt: skip
    r = report_of(store)
    assert r.deliveries == DeliveryFigures(planned=3, posts=3, published=1, on_time=1, dry_run=2)
    assert [(p.post_id, p.outcome) for p in r.problems] == [("dry", "dry run"), ("dry-late", "dry run")]
    changes = {c.label: (c.this_week, c.previous_week) for c in r.changes}
    assert changes["of which on time"] == (1, 0) and changes["of which late"] == (0, 0)
    assert changes["Dry runs (outbox only, not posted)"] == (2, 0)

    paths = write_report(r, tmp_path)
    html = next(p for p in paths if p.suffix == ".html").read_text()
    assert "1 of the 3 posts planned for Monday to Tuesday went out, all on time." in html
    assert "2 dry runs went to the dry-run outbox only (no credentials): not posted." in html
    assert '<div class="card dry" id="dry-runs"><b>2</b><span>dry runs: outbox only, not posted</span></div>' in html
    assert html.count('<span class="outcome dry-run">dry run</span>') == 2
    markdown = next(p for p in paths if p.suffix == ".md").read_text()
    assert "| Posts planned | Went out | On time everywhere |" in markdown and "| 3 | 1 | 1 | 0 |" in markdown
    assert "| Dry runs (outbox only, not posted) | 2 | 0 | +2 |" in markdown
    summary = list(csv.reader(io.StringIO(next(p for p in paths if p.name.endswith("-summary.csv"))
                                          .read_text(encoding="utf-8-sig"))))  # fmt: skip
    assert ["of which on time", "1", "0", "1"] in summary
    assert ["Dry runs (outbox only, not posted)", "2", "0", "2"] in summary
    deliveries = list(csv.reader(io.StringIO(next(p for p in paths if p.name.endswith("-deliveries.csv"))
                                             .read_text(encoding="utf-8-sig"))))  # fmt: skip
    assert [row[4] for row in deliveries[1:]] == ["dry run", "dry run"]


def test_our_own_thread_is_not_engagement(store: Store) -> None:
    """A platform counts our part 2 as a reply to part 1: a thread nobody touched gained nothing, and ranks below
    a post one person replied to (issue 15)."""
    b = StoreBuilder(store)
    thread = b.post("thread", london(2027, 2, 1, 9), "A thread nobody answered")
    part0 = b.delivery(thread, "thread", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED,
                       published=london(2027, 2, 1, 9))  # fmt: skip
    part1 = b.delivery(thread, "thread", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED, part=1,
                       published=london(2027, 2, 1, 9, 0, 5), parent=part0)  # fmt: skip
    part2 = b.delivery(thread, "thread", "bluesky", london(2027, 2, 1, 9), State.PUBLISHED, part=2,
                       published=london(2027, 2, 1, 9, 0, 10), parent=part1)  # fmt: skip
    # Each part's reply count, as the platform gives it, includes our next part.
    b.snapshot(part0, "bluesky", "bluesky-remote-thread-0", london(2027, 2, 2), 0, 0, 1)
    b.snapshot(part1, "bluesky", "bluesky-remote-thread-1", london(2027, 2, 2), 0, 0, 1)
    b.snapshot(part2, "bluesky", "bluesky-remote-thread-2", london(2027, 2, 2), 0, 0, 0)
    single = b.post("single", london(2027, 2, 1, 12), "One person replied to this")
    one = b.delivery(single, "single", "bluesky", london(2027, 2, 1, 12), State.PUBLISHED,
                     published=london(2027, 2, 1, 12))  # fmt: skip
    b.snapshot(one, "bluesky", "bluesky-remote-single-0", london(2027, 2, 2), 0, 0, 1)
    # Our own reply before the week (a thread published the week before) is not growth either.
    old = b.post("old", london(2027, 1, 28, 9), "Older thread")
    old0 = b.delivery(old, "old", "bluesky", london(2027, 1, 28, 9), State.PUBLISHED, published=london(2027, 1, 28, 9))
    b.delivery(old, "old", "bluesky", london(2027, 1, 28, 9), State.PUBLISHED, part=1,
               published=london(2027, 1, 28, 9, 0, 5), parent=old0)  # fmt: skip
    b.snapshot(old0, "bluesky", "bluesky-remote-old-0", london(2027, 1, 29), 1, 0, 1)
    b.snapshot(old0, "bluesky", "bluesky-remote-old-0", london(2027, 2, 3), 1, 0, 3)

    r = report_of(store)
    by_post = {p.post_id: p for p in r.posts}
    assert (by_post["thread"].replies, by_post["thread"].growth) == (0, 0)
    assert (by_post["single"].replies, by_post["single"].growth) == (1, 1)
    assert (by_post["old"].replies, by_post["old"].replies_growth) == (2, 2)  # two people replied this week
    assert [(t.post_id, t.growth) for t in r.top_posts] == [("old", 2), ("single", 1)]
    assert r.figures.engagement_growth == 3
