"""to_ical: parsed back with icalendar, as a calendar client would."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar as ICalendar

from content_calendar.ical import event_uid, to_ical, vtimezone
from content_calendar.model import Calendar, Campaign, Image, Link, PlatformOverride, Post, ThreadPart
from content_calendar.render import render_post
from tests.render.conftest import LONDON, make_post


def make_calendar(path: Path, posts: tuple[Post, ...]) -> Calendar:
    path.write_text("posts: []\n")  # the export reads only the file's modification time
    return Calendar(path=path, campaign="act-on-iicsa", timezone="Europe/London", posts=posts)


@pytest.fixture
def posts(bench_image: Image) -> tuple[Post, ...]:
    return (
        make_post(
            id="summer-01",
            at=datetime(2027, 7, 14, 18, 30, tzinfo=LONDON),
            text="Summer: still waiting for the redress scheme. #ActOnIICSA",
            overrides={"bluesky": PlatformOverride(text="Bluesky words #ActOnIICSA")},
            content_warning="Child sexual abuse",
            images=(bench_image,),
            thread=(ThreadPart("Reply for the thread"),),
        ),
        make_post(
            id="recs-01",
            text="Winter: implement all 20 recommendations, as one package. #ActOnIICSA",
            link=Link("https://example.org/report", "The final report"),
        ),
        make_post(id="draft-01", at=datetime(2027, 2, 2, 12, 0, tzinfo=LONDON), text="Draft; not yet", status="draft"),
    )


def export(calendar: Calendar, campaign: Campaign, **kwargs: object) -> bytes:
    rendered = {post.id: render_post(post, campaign) for post in calendar.posts}
    return to_ical(calendar, rendered, campaign=campaign, **kwargs)  # type: ignore[arg-type]


def events(data: bytes) -> dict[str, object]:
    parsed = ICalendar.from_ical(data)
    return {str(event["UID"]): event for event in parsed.walk("VEVENT")}


def test_round_trip(tmp_path: Path, campaign: Campaign, posts: tuple[Post, ...], bench_image: Image) -> None:
    calendar = make_calendar(tmp_path / "calendar.yaml", posts)
    data = export(calendar, campaign)
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    parsed = ICalendar.from_ical(data)
    assert str(parsed["VERSION"]) == "2.0"
    assert str(parsed["X-WR-TIMEZONE"]) == "Europe/London"
    by_uid = events(data)
    assert set(by_uid) == {
        "summer-01@act-on-iicsa.campaign-scheduler",
        "recs-01@act-on-iicsa.campaign-scheduler",
        "draft-01@act-on-iicsa.campaign-scheduler",
    }
    # events in time order
    assert [str(e["UID"]).split("@")[0] for e in parsed.walk("VEVENT")] == ["recs-01", "draft-01", "summer-01"]

    summer = by_uid["summer-01@act-on-iicsa.campaign-scheduler"]
    start = summer.decoded("DTSTART")
    assert start == datetime(2027, 7, 14, 18, 30, tzinfo=LONDON)
    assert start.utcoffset() == timedelta(hours=1)  # BST
    assert summer["DTSTART"].params["TZID"] == "Europe/London"
    assert summer.decoded("DURATION") == timedelta(minutes=15)
    assert str(summer["STATUS"]) == "CONFIRMED"
    assert str(summer["SUMMARY"]).startswith("summer-01: Summer: still waiting")
    description = str(summer["DESCRIPTION"])
    assert "CW: Child sexual abuse\n\nBluesky words #ActOnIICSA" in description  # Bluesky's own text
    assert "Summer: still waiting for the redress scheme. #ActOnIICSA" in description  # Mastodon's
    assert "Content warning: Child sexual abuse" in description
    assert "Reply for the thread" in description
    assert f"Image 1 alt: {bench_image.alt}" in description
    assert description.index("=== Bluesky") < description.index("=== Mastodon")

    winter = by_uid["recs-01@act-on-iicsa.campaign-scheduler"]
    assert winter.decoded("DTSTART").utcoffset() == timedelta(0)  # GMT
    assert winter["DTSTART"].params["TZID"] == "Europe/London"
    assert "Link card: The final report <https://example.org/report>" in str(winter["DESCRIPTION"])
    assert "Link: example.org/report <https://example.org/report>" not in str(winter["DESCRIPTION"])
    linked = make_post(id="linked", text="Read https://www.iicsa.org.uk/reports-recommendations #ActOnIICSA")
    (event,) = events(export(make_calendar(tmp_path / "linked.yaml", (linked,)), campaign)).values()
    description = str(event["DESCRIPTION"])
    assert "Read www.iicsa.org.uk/reports-reco... #ActOnIICSA" in description  # what Bluesky receives
    assert "Link: www.iicsa.org.uk/reports-reco... <https://www.iicsa.org.uk/reports-recommendations>" in description
    assert "Read https://www.iicsa.org.uk/reports-recommendations #ActOnIICSA" in description  # Mastodon's
    assert str(winter["URL"]) == "https://example.org/report"

    draft = by_uid["draft-01@act-on-iicsa.campaign-scheduler"]
    assert str(draft["STATUS"]) == "TENTATIVE"
    assert str(draft["SUMMARY"]).startswith("[draft] draft-01")
    assert "Draft; not yet" in str(draft["DESCRIPTION"])


def test_vtimezone_is_included_and_means_london(tmp_path: Path, campaign: Campaign, posts: tuple[Post, ...]) -> None:
    data = export(make_calendar(tmp_path / "c.yaml", posts), campaign)
    parsed = ICalendar.from_ical(data)
    timezones = parsed.walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/London"]
    assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in data
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in data
    # A client that ignores the TZID name and reads only the VTIMEZONE gets the same instants.
    from_vtimezone = timezones[0].to_tz(lookup_tzid=False)
    for post in posts:
        local = post.at.replace(tzinfo=None)
        assert local.replace(tzinfo=from_vtimezone).utcoffset() == post.at.utcoffset()


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"])
def test_vtimezone_offsets_match_the_zone_every_hour(zone: str) -> None:
    real = ZoneInfo(zone)
    from_vtimezone = vtimezone(zone, 2027, 2028).to_tz(lookup_tzid=False)
    moment = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    while moment < datetime(2029, 1, 1, tzinfo=UTC):
        local = moment.astimezone(real).replace(tzinfo=None)
        is_plain = local.replace(tzinfo=real, fold=0).utcoffset() == local.replace(tzinfo=real, fold=1).utcoffset()
        if is_plain:  # clock-change gaps and folds are refused by validation anyway
            assert local.replace(tzinfo=from_vtimezone).utcoffset() == moment.astimezone(real).utcoffset(), local
        moment += timedelta(hours=1)


def test_uids_are_stable_and_unchanged_files_export_identically(
    tmp_path: Path, campaign: Campaign, posts: tuple[Post, ...]
) -> None:
    calendar = make_calendar(tmp_path / "c.yaml", posts)
    first = export(calendar, campaign)
    second = export(calendar, campaign)
    assert first == second
    edited = replace(calendar, posts=(replace(posts[0], text="Edited words"), *posts[1:]))
    third = export(edited, campaign)
    assert set(events(third)) == set(events(first))
    assert third != first
    assert event_uid("act-on-iicsa", "recs-01") == "recs-01@act-on-iicsa.campaign-scheduler"


def test_dtstamp_is_now_when_given_else_the_file_time(
    tmp_path: Path, campaign: Campaign, posts: tuple[Post, ...]
) -> None:
    calendar = make_calendar(tmp_path / "c.yaml", posts)
    now = datetime(2027, 1, 20, 10, 0, tzinfo=LONDON)
    stamped = events(export(calendar, campaign, now=now))
    assert {e.decoded("DTSTAMP") for e in stamped.values()} == {now.astimezone(UTC)}
    file_time = datetime.fromtimestamp(calendar.path.stat().st_mtime, UTC).replace(microsecond=0)
    assert {e.decoded("DTSTAMP") for e in events(export(calendar, campaign)).values()} == {file_time}


def test_categories_are_the_platforms_the_post_goes_to(tmp_path: Path, campaign: Campaign) -> None:
    skipping = make_post(id="bluesky-only", overrides={"mastodon": PlatformOverride(skip=True)})
    both = make_post(id="both", at=datetime(2027, 2, 2, 9, 0, tzinfo=LONDON))
    by_uid = events(export(make_calendar(tmp_path / "c.yaml", (skipping, both)), campaign))
    assert by_uid["bluesky-only@act-on-iicsa.campaign-scheduler"]["CATEGORIES"].cats == ["Bluesky"]
    assert by_uid["both@act-on-iicsa.campaign-scheduler"]["CATEGORIES"].cats == ["Bluesky", "Mastodon"]


def test_last_modified_and_sequence_follow_the_newest_source_file(
    tmp_path: Path, campaign: Campaign, posts: tuple[Post, ...], bench_image: Image, campaign_dir: Path
) -> None:
    (campaign_dir / "calendars").mkdir()
    calendar = make_calendar(campaign_dir / "calendars" / "c.yaml", posts)
    (campaign_dir / "campaign.yaml").write_text("slug: act-on-iicsa\n")
    base = datetime(2027, 1, 10, 12, 0, tzinfo=UTC).timestamp()

    def times(calendar_at: float, campaign_at: float, image_at: float) -> None:
        os.utime(calendar.path, (calendar_at, calendar_at))
        os.utime(campaign_dir / "campaign.yaml", (campaign_at, campaign_at))
        os.utime(bench_image.path, (image_at, image_at))

    def stamps(data: bytes) -> set[tuple[datetime, datetime, int]]:
        return {(e.decoded("LAST-MODIFIED"), e.decoded("DTSTAMP"), int(e["SEQUENCE"])) for e in events(data).values()}

    times(base, base - 60, base - 120)
    first = export(calendar, campaign)
    assert stamps(first) == {
        (
            datetime.fromtimestamp(base, UTC),
            datetime.fromtimestamp(base, UTC),
            int(base - datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
        )
    }
    assert export(calendar, campaign) == first  # unchanged files: identical bytes
    sequences = [next(iter(stamps(first)))[2]]
    for changed in ((base, base + 30, base), (base, base + 30, base + 90)):  # campaign.yaml, then the image
        times(*changed)
        ((modified, stamp, sequence),) = stamps(export(calendar, campaign))
        assert modified == stamp == datetime.fromtimestamp(max(changed), UTC)
        assert sequence > sequences[-1]
        sequences.append(sequence)
    now = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
    ((modified, stamp, sequence),) = stamps(export(calendar, campaign, now=now))
    assert (modified, stamp, sequence) == (datetime.fromtimestamp(base + 90, UTC), now, sequences[-1])


def test_posts_without_rendering_still_export(tmp_path: Path, campaign: Campaign) -> None:
    calendar = make_calendar(tmp_path / "c.yaml", (make_post(text="Only the raw text"),))
    data = to_ical(calendar, {})
    (event,) = events(data).values()
    assert "Only the raw text" in str(event["DESCRIPTION"])
    assert str(event["UID"]) == "recs-01@act-on-iicsa.campaign-scheduler"


def test_empty_calendar_is_a_valid_calendar(tmp_path: Path, campaign: Campaign) -> None:
    data = to_ical(make_calendar(tmp_path / "c.yaml", ()), {}, campaign=campaign)
    parsed = ICalendar.from_ical(data)
    assert parsed.walk("VEVENT") == []
    assert str(parsed["X-WR-CALNAME"]) == "#ActOnIICSA: c.yaml"
