"""The weekly report as people read it, on known data: the summary's sentences, "What people did" (one row a post,
platforms folded side by side, most gained first, named by first words, with a thumbnail), "What went out" with
the calendar's planned time (a retry's time never replaces it) and "What went wrong" (who, why, when, pauses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from scheduler.db import Store
from scheduler.models import Event, State
from scheduler.reports import IsoWeek, build_weekly_report, render_html
from scheduler.reports.posts import first_words
from tests.reports.builders import ORGS, StoreBuilder, known_week, london

W05 = IsoWeek.parse("2027-W05")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


def report_of(store: Store):  # type: ignore[no-untyped-def]
    return build_weekly_report(store, "sasvaw-week", W05, campaign_name="SASVAW week", organisation_accounts=ORGS,
                               now=datetime(2027, 2, 8, 7, tzinfo=UTC))  # fmt: skip


def test_first_words() -> None:
    assert (
        first_words("Day one: it is not OK to stay silent about abuse, ever.") == "Day one: it is not OK to stay\u2026"
    )
    assert (
        first_words("One two three four five six seven eight, nine") == "One two three four five six seven eight\u2026"
    )
    assert first_words("  Short   and\nsweet ") == "Short and sweet"
    assert first_words("x" * 100) == "x" * 59 + "\u2026"
    assert first_words("A few long words: extraordinarily, incomprehensibly, uncharacteristically") == (
        "A few long words: extraordinarily, incomprehensibly\u2026"
    )
    assert first_words("") == ""


def test_what_people_did_folds_platforms_sorts_by_gain_and_shows_each_post(store: Store, tmp_path: Path) -> None:
    b = StoreBuilder(store)
    picture = tmp_path / "launch.png"
    Image.new("RGB", (640, 480), (0, 114, 178)).save(picture)
    payload = json.dumps({"images": [{"path": str(picture), "alt": "The campaign's logo", "sha256": "1"}]})

    def published(post_id: str, words: str, platform: str, day: int, **options: object) -> int:
        pk = b.post(post_id, london(2027, 2, day, 9), words) if platform == "bluesky" else pks[post_id]
        pks[post_id] = pk
        return b.delivery(pk, post_id, platform, london(2027, 2, day, 9), State.PUBLISHED,
                          published=london(2027, 2, day, 9), **options)  # type: ignore[arg-type]  # fmt: skip

    pks: dict[str, int] = {}
    a_blue = published("a", "Both platforms: it is not OK, and we say so together this week", "bluesky", 1,
                       payload=payload)  # fmt: skip
    a_masto = published("a", "", "mastodon", 1)
    b_blue = published("b", "Bluesky only and the most liked", "bluesky", 2)
    published("d", "Nobody engaged with this one", "bluesky", 3)
    b.snapshot(a_blue, "bluesky", "bluesky-remote-a-0", london(2027, 2, 4), 3, 1, 1)
    b.snapshot(a_masto, "mastodon", "mastodon-remote-a-0", london(2027, 2, 4), 2, 2, 0)
    b.snapshot(b_blue, "bluesky", "bluesky-remote-b-0", london(2027, 2, 4), 8, 2, 0)
    with store.transaction() as session:
        from sqlalchemy import select

        from scheduler.models import Delivery

        d_id = session.scalars(select(Delivery.id).where(Delivery.post_id == "d")).one()
    b.snapshot(d_id, "bluesky", "bluesky-remote-d-0", london(2027, 2, 4), 0, 0, 0)
    # c: published the week before, first counted during this week: its gain is unknown, so it comes last.
    c = b.post("c", london(2027, 1, 27, 9), "Counted late")
    c_blue = b.delivery(c, "c", "bluesky", london(2027, 1, 27, 9), State.PUBLISHED, published=london(2027, 1, 27, 9))
    b.snapshot(c_blue, "bluesky", "bluesky-remote-c-0", london(2027, 2, 2), 40, 0, 0)

    r = report_of(store)
    rows = [(row.post_id, row.name, row.gained, {p: g.gained for p, g in row.platforms.items()}) for row in r.people]
    assert rows == [
        ("b", "Bluesky only and the most liked", 10, {"bluesky": 10}),
        ("a", "Both platforms: it is not OK, and we\u2026", 9, {"bluesky": 5, "mastodon": 4}),
        ("d", "Nobody engaged with this one", 0, {"bluesky": 0}),
        ("c", "Counted late", 0, {"bluesky": None}),
    ]
    assert r.people[1].thumbnail.startswith("data:image/jpeg;base64,")
    assert r.people[0].thumbnail == ""
    assert r.people[1].platforms["mastodon"].url == "https://example.test/mastodon/a/0"
    html = render_html(r)
    assert '<a href="https://example.test/mastodon/a/0">on Mastodon</a>' in html
    assert html.index("Bluesky only and the most liked") < html.index("Both platforms: it is not OK")
    assert '<img class="thumb" alt="" src="data:image/jpeg;base64,' in html
    # The summary comes first, before any table, and names the most engaged post by its words.
    assert html.index('id="summary-text"') < html.index("<table")
    assert "the most engaged post was \u201cBluesky only and the most liked\u201d (10)" in r.summary[1]


def test_what_went_out_keeps_the_calendars_time_when_a_post_is_retried(store: Store) -> None:
    b = StoreBuilder(store)
    pk = b.post("retried", london(2027, 2, 2, 12), "Retried the next day")
    # It failed on Tuesday; `campaign retry` re-armed it on Wednesday (due then), and it went out.
    d = b.delivery(pk, "retried", "bluesky", london(2027, 2, 3, 10), State.PUBLISHED,
                   published=london(2027, 2, 3, 10, 0, 30))  # fmt: skip
    with store.transaction() as session:
        session.add_all([
            Event(at=london(2027, 2, 2, 12, 1), delivery_id=d, campaign="sasvaw-week", post_id="retried",
                  from_state="publishing", to_state="failed", action="failed", actor="worker@host",
                  reason="Bluesky was unreachable"),
            Event(at=london(2027, 2, 3, 10), delivery_id=d, campaign="sasvaw-week", post_id="retried",
                  from_state="failed", to_state="scheduled", action="retry", actor="cli@sam",
                  reason="retry requested by operator"),
        ])  # fmt: skip
    r = report_of(store)
    [row] = r.went_out
    assert (row.name, row.planned_local) == ("Retried the next day", "Tue 2 Feb 12:00 GMT")
    assert (row.platforms["bluesky"].state, row.platforms["bluesky"].when_local) == ("late", "Wed 3 Feb 10:00 GMT")
    assert (r.deliveries.late, r.deliveries.on_time) == (1, 0)  # late against the plan, not the retry's time
    assert [(p.due_local, p.outcome) for p in r.problems] == [("Tue 2 Feb 12:00 GMT", "late")]
    assert r.summary[0] == "1 of the 1 post planned for Tuesday went out, 0 of them on time everywhere."


def test_what_went_wrong_says_who_why_and_when_with_pauses(store: Store) -> None:
    known_week(store)
    with store.transaction() as session:
        session.add_all([
            Event(at=london(2027, 2, 5, 8), action="pause", actor="cli@sam", reason="the helpline number was wrong"),
            Event(at=london(2027, 2, 5, 9, 30), action="resume", actor="web@alex", reason=""),
            Event(at=london(2027, 2, 3, 17), campaign="other-campaign", action="hold", actor="worker@h",
                  reason="not ours"),
        ])  # fmt: skip
    r = report_of(store)
    troubles = [(t.what, t.post, t.platforms, t.who, t.why, t.when_local) for t in r.troubles]
    assert troubles == [
        ("missed", "Post p2", "Mastodon", "the scheduler", "not published within its grace period (30 min)",
         "Tue 2 Feb 12:31 GMT"),
        ("paused", "", "", "sam", "the helpline number was wrong", "Fri 5 Feb 08:00 GMT"),
        ("resumed", "", "", "alex", "", "Fri 5 Feb 09:30 GMT"),
        ("failed", "Post p3", "Bluesky", "the scheduler", "Bluesky refused the post: <b>text too long</b>", ""),
        ("cancelled", "Post p3", "Mastodon", "the scheduler", "", ""),
    ]  # fmt: skip
    assert r.summary[3] == (
        "Needs a look: 1 post failed on a platform, 1 post was missed on a platform, 1 post was cancelled on a "
        "platform and 1 pause of all posting (see \u201cWhat went wrong\u201d)."
    )
    html = render_html(r)
    assert html.index('id="went-out"') < html.index('id="went-wrong"')
    assert "<td>not recorded</td>" in html and "the helpline number was wrong" in html


def test_the_method_says_what_is_counted_what_is_not_and_when(store: Store) -> None:
    from scheduler.collection_models import CollectorState
    from scheduler.reports import render_markdown

    known_week(store)
    with store.transaction() as session:
        session.add(CollectorState(campaign="sasvaw-week", kind="mentions", platform="mastodon",
                                   source="https://a.test", last_success_at=london(2027, 2, 8, 6, 55)))  # fmt: skip
    r = report_of(store)
    for text in (render_html(r), render_markdown(r)):
        method = text[text.index("How this report is made") :]
        assert "impressions or views" in method and "link clicks" in method and "cannot give them" in method
        assert "the same Mastodon post read on two servers" in method and "is one mention" in method
        assert "our own next part as a reply, and those replies are taken away" in method
        assert "Accounts are counted, not named" in method
        assert "the last engagement count before the week ended was taken Sat 6 Feb 10:00" in method
        assert "the newest mention of the week was written Sun 7 Feb 23:59" in method
        assert "Mastodon (https://a.test) last read without error Mon 8 Feb 06:55 GMT." in method
