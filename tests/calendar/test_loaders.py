"""Loading calendars: YAML (with lines), our CSV, Hootsuite and Sprout Social sheets, times and defaults."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from content_calendar.loaders import TimeError, load_calendar, localize, parse_at, parse_clock, parse_date
from content_calendar.model import PLATFORMS, PlatformOverride
from tests.calendar.conftest import WriteCalendar

LONDON = ZoneInfo("Europe/London")


def codes(problems: list) -> list[str]:
    return [p.code for p in problems]


# --- YAML --------------------------------------------------------------------------------------------


def test_yaml_posts_with_lines_defaults_overrides_and_threads(
    write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    path = write_calendar(
        "main.yaml",
        """
        campaign: demo-campaign
        timezone: Europe/London
        defaults:
          platforms: [bluesky, mastodon]
          content_warning: "Child sexual abuse"
          language: en
          helpline: true
          bluesky: {labels: [graphic-media]}
        posts:
          - id: recs-01
            at: 2027-02-01 09:00
            text: |
              Twenty recommendations.
              One package. #DemoCampaign
            bluesky: {text: "Short for Bluesky #DemoCampaign", reply_rules: []}
            mastodon: {visibility: public, content_warning: ""}
            link: {url: "https://example.org/report", title: "The report", description: "Read it",
                   thumbnail: media/card.jpg}
            images:
              - {file: media/card.jpg, alt: "A purple card", focus: [0.5, -0.25]}
              - media/logo.png
            thread:
              - text: "Reply one"
              - text: "Reply two"
                images: [{file: media/logo.png, alt: "Logo"}]
                mastodon: {text: "Reply two, Mastodon"}
                bluesky: {skip: true}
          - id: summer
            at: "2027-06-01T09:00"
            platforms: mastodon
            content_warning: ~
            helpline: false
            language: cy
            text: "Haf #DemoCampaign"
    """,
    )
    calendar, campaign, problems = load_calendar(path)
    assert problems == []
    assert campaign is not None and campaign.slug == "demo-campaign"
    assert calendar is not None and calendar.source_format == "yaml" and calendar.timezone == "Europe/London"
    first, second = calendar.posts

    assert first.id == "recs-01" and first.line == 10
    assert first.at == datetime(2027, 2, 1, 9, 0, tzinfo=LONDON) and first.at.utcoffset() == timedelta(0)
    assert first.text == "Twenty recommendations.\nOne package. #DemoCampaign"
    assert first.platforms == PLATFORMS and first.content_warning == "Child sexual abuse"
    assert first.language == "en" and first.helpline is True and first.status == "approved"
    # defaults merged key by key with the post's own per-platform settings
    assert first.overrides["bluesky"] == PlatformOverride(
        text="Short for Bluesky #DemoCampaign", labels=("graphic-media",), reply_rules=()
    )
    assert first.overrides["mastodon"] == PlatformOverride(visibility="public", content_warning="")
    assert first.link is not None and first.link.url == "https://example.org/report"
    assert first.link.thumbnail is not None and first.link.thumbnail.path == campaign_dir.resolve() / "media/card.jpg"
    card, logo = first.images
    assert (card.file, card.alt, card.focus) == ("media/card.jpg", "A purple card", (0.5, -0.25))
    assert card.path == (campaign_dir / "media" / "card.jpg").resolve()
    assert (logo.file, logo.alt) == ("media/logo.png", "")  # a bare file name: alt missing (validation says so)
    reply_one, reply_two = first.thread
    assert (reply_one.text, reply_one.line) == ("Reply one", 23)
    assert reply_two.line == 24 and reply_two.images[0].alt == "Logo"
    assert reply_two.overrides["mastodon"].text == "Reply two, Mastodon"
    assert reply_two.overrides["bluesky"].skip is True

    assert second.line == 28 and second.platforms == ("mastodon",)
    assert second.at.utcoffset() == timedelta(hours=1)  # British Summer Time
    assert second.content_warning is None and second.helpline is False and second.language == "cy"
    # only the defaults' Bluesky labels apply: the post has no bluesky: of its own
    assert second.overrides == {"bluesky": PlatformOverride(labels=("graphic-media",))}


def test_yaml_scalars_keep_what_was_typed(write_calendar: WriteCalendar) -> None:
    """YAML 1.1 would read `yes` as true, 9:30 as 570 and 2027-02-01 09:00:00 as a datetime; we keep the text."""
    path = write_calendar(
        "types.yaml",
        """
        campaign: demo-campaign
        posts:
          - id: 2027
            at: 2027-02-01 09:30:00
            text: yes
          - id: offset
            at: 2027-10-31 01:30+00:00
            text: "Second 01:30 #DemoCampaign"
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None
    typed, offset = calendar.posts
    assert (typed.id, typed.text) == ("2027", "yes")
    assert typed.at == datetime(2027, 2, 1, 9, 30, tzinfo=LONDON)
    # an explicit offset settles the autumn fold: the second 01:30 is 01:30 GMT
    assert offset.at.utcoffset() == timedelta(0) and offset.at.hour == 1 and offset.at.fold == 1


def test_yaml_merge_keys_and_aliases(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "merge.yaml",
        """
        campaign: demo-campaign
        posts:
          - &base
            id: base
            at: 2027-02-01 09:00
            text: "Base #DemoCampaign"
            platforms: [bluesky]
          - <<: *base
            id: copy
            at: 2027-02-02 09:00
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None
    assert [(p.id, p.text, p.platforms, p.at.day) for p in calendar.posts] == [
        ("base", "Base #DemoCampaign", ("bluesky",), 1),
        ("copy", "Base #DemoCampaign", ("bluesky",), 2),
    ]


def test_relative_days_count_from_the_anchor(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "week.yaml",
        """
        campaign: demo-campaign
        timezone: Europe/London
        anchor: 2027-03-26
        posts:
          - {id: friday, at: "day 1 09:00", text: "a #DemoCampaign"}
          - {id: monday, at: "day 4 18:30", text: "b #DemoCampaign"}
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None and calendar.anchor == date(2027, 3, 26)
    friday, monday = calendar.posts
    assert friday.at == datetime(2027, 3, 26, 9, 0, tzinfo=LONDON) and friday.at.utcoffset() == timedelta(0)
    # the clocks went forward on Sunday 28 March: day 4 is in summer time
    assert monday.at == datetime(2027, 3, 29, 18, 30, tzinfo=LONDON) and monday.at.utcoffset() == timedelta(hours=1)


def test_drafts_and_status_default(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "drafts.yaml",
        """
        campaign: demo-campaign
        defaults: {status: draft}
        posts:
          - {id: a, at: "2027-02-01 09:00", text: "a #DemoCampaign"}
          - {id: b, at: "2027-02-01 10:00", text: "b #DemoCampaign", status: Approved}
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None
    assert [p.status for p in calendar.posts] == ["draft", "approved"]


def test_timezone_comes_from_the_campaign_when_the_calendar_has_none(
    write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    text = (campaign_dir / "campaign.yaml").read_text().replace("Europe/London", "America/New_York")
    (campaign_dir / "campaign.yaml").write_text(text)
    path = write_calendar(
        "ny.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: a, at: "2027-02-01 09:00", text: "a #DemoCampaign"}
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None and calendar.timezone == "America/New_York"
    assert calendar.posts[0].at.utcoffset() == timedelta(hours=-5)


def test_a_post_without_a_usable_time_is_reported_and_left_out(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "gap.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: fine, at: "2027-03-28 00:30", text: "a #DemoCampaign"}
          - {id: gap, at: "2027-03-28 01:30", text: "b #DemoCampaign"}
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert calendar is not None and [p.id for p in calendar.posts] == ["fine"]
    assert [(p.code, p.post_id, p.line) for p in problems] == [("nonexistent-time", "gap", 4)]


def test_campaign_found_through_the_roots_for_files_elsewhere(tmp_path: Path, campaign_dir: Path) -> None:
    elsewhere = tmp_path / "drafts" / "plan.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("campaign: demo-campaign\nposts:\n  - {id: a, at: '2027-02-01 09:00', text: 'a'}\n")
    _, campaign, problems = load_calendar(elsewhere)
    assert campaign is None and codes(problems) == ["unknown-campaign"]
    _, campaign, problems = load_calendar(elsewhere, campaigns_roots=[tmp_path / "campaigns"])
    assert campaign is not None and campaign.slug == "demo-campaign" and problems == []


def test_problem_file_is_the_path_as_given(
    write_calendar: WriteCalendar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_calendar("rel.yaml", "campaign: demo-campaign\nposts:\n  - {id: Bad, at: '2027-02-01 09:00', text: 'x'}\n")
    monkeypatch.chdir(tmp_path)
    relative = Path("campaigns/demo-campaign/calendars/rel.yaml")
    _, campaign, problems = load_calendar(relative)
    assert campaign is not None
    assert [(p.code, p.file, p.line) for p in problems] == [("invalid-id", str(relative), 3)]


# --- CSV: ours --------------------------------------------------------------------------------------


def test_our_csv_with_bom_crlf_uk_dates_and_multiline_cells(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    rows = [
        "id,date,time,platforms,text,bluesky_text,mastodon_text,content_warning,link,image,image_alt,status",
        'launch,01/02/2027,09:00,bluesky; mastodon,"Line one\r\nline two #DemoCampaign",,'
        '"Longer for Mastodon #DemoCampaign",Child sexual abuse,https://example.org/a,media/card.jpg,A card,approved',
        "only-bsky,2027-02-01,9:30,Bluesky,Bluesky only #DemoCampaign,,,,,,,DRAFT",
        "",
        "both,2/2/2027,18:45,,Both #DemoCampaign,,,,,,,",
    ]
    path = write_calendar("day1.csv", ("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    calendar, campaign, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None and calendar.source_format == "csv" and campaign is not None
    launch, only_bsky, both = calendar.posts
    assert launch.id == "launch" and launch.line == 2
    assert launch.text == "Line one\nline two #DemoCampaign"  # CRLF inside a quoted cell becomes LF
    assert launch.at == datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
    assert launch.platforms == ("bluesky", "mastodon") and launch.status == "approved"
    assert launch.overrides == {"mastodon": PlatformOverride(text="Longer for Mastodon #DemoCampaign")}
    assert launch.content_warning == "Child sexual abuse"
    assert launch.link is not None and launch.link.url == "https://example.org/a"
    assert launch.images[0].path == (campaign_dir / "media/card.jpg").resolve() and launch.images[0].alt == "A card"
    # the multi-line cell spans lines 2-3 of the file but is one row: the next post is the spreadsheet's row 3
    assert (only_bsky.id, only_bsky.line, only_bsky.platforms, only_bsky.status) == (
        "only-bsky",
        3,
        ("bluesky",),
        "draft",
    )
    assert only_bsky.at.minute == 30
    assert (both.id, both.line, both.platforms) == ("both", 5, PLATFORMS)  # the blank row 4 counts
    assert both.at == datetime(2027, 2, 2, 18, 45, tzinfo=LONDON)


def test_our_csv_without_an_id_column_gets_stable_ids(write_calendar: WriteCalendar) -> None:
    content = "date,time,text\n01/02/2027,09:00,Hello #DemoCampaign\n"
    path = write_calendar("noids.csv", content)
    first, _, problems = load_calendar(path)
    assert problems == [] and first is not None
    digest = hashlib.sha1(b"Hello #DemoCampaign").hexdigest()[:6]
    assert first.posts[0].id == f"csv-20270201-0900-{digest}"
    path.write_text("date,time,text,status\n01/02/2027,09:00,Hello #DemoCampaign,draft\n")
    again, _, _ = load_calendar(path)
    assert again is not None and again.posts[0].id == first.posts[0].id  # same time and text: same id


def test_csv_outside_any_campaign_folder(tmp_path: Path) -> None:
    path = tmp_path / "loose.csv"
    path.write_text("id,date,time,text\na,01/02/2027,09:00,x\n")
    calendar, campaign, problems = load_calendar(path)
    assert campaign is None and codes(problems) == ["no-campaign"]
    assert calendar is not None and calendar.timezone == "Europe/London"


def test_two_digit_years_take_the_century_nearest_today(write_calendar: WriteCalendar) -> None:
    path = write_calendar("yy.csv", "id,date,time,text\na,01/02/27,09:00,x #DemoCampaign\n")
    calendar, _, problems = load_calendar(path, today=date(2026, 11, 23))
    assert problems == [] and calendar is not None
    assert calendar.posts[0].at.date() == date(2027, 2, 1)


# --- CSV: other tools' bulk sheets --------------------------------------------------------------------


def test_hootsuite_sheet(write_calendar: WriteCalendar) -> None:
    content = (
        "01/02/2027 09:00,Hootsuite post #DemoCampaign,https://example.org/h\r\n"
        '02/02/2027 18:30,"Second, with a comma #DemoCampaign",\r\n'
    )
    path = write_calendar("hootsuite.csv", content)
    calendar, _, problems = load_calendar(path)
    assert problems == []
    assert calendar is not None and calendar.source_format == "hootsuite"
    first, second = calendar.posts
    digest = hashlib.sha1(b"Hootsuite post #DemoCampaign").hexdigest()[:6]
    assert first.id == f"hs-20270201-0900-{digest}" and first.line == 1
    assert first.link is not None and first.link.url == "https://example.org/h" and first.platforms == PLATFORMS
    assert second.text == "Second, with a comma #DemoCampaign" and second.link is None and second.line == 2
    assert second.at == datetime(2027, 2, 2, 18, 30, tzinfo=LONDON)


def test_sprout_social_sheet(write_calendar: WriteCalendar) -> None:
    content = (
        "Date,Time_24hr,Message_Text,Link,Tags\n"
        "2027-02-01,14:05,Sprout post #DemoCampaign,https://example.org/s,campaign\n"
    )
    path = write_calendar("sprout.csv", content)
    calendar, _, problems = load_calendar(path)
    assert calendar is not None and calendar.source_format == "sprout"
    assert [(p.severity, p.code, p.line) for p in problems] == [("warning", "ignored-column", 1)]
    (post,) = calendar.posts
    digest = hashlib.sha1(b"Sprout post #DemoCampaign").hexdigest()[:6]
    assert post.id == f"sp-20270201-1405-{digest}" and post.line == 2
    assert post.link is not None and post.link.url == "https://example.org/s"


def test_duplicate_rows_in_a_sheet_get_the_same_id(write_calendar: WriteCalendar) -> None:
    row = "01/02/2027 09:00,Same text #DemoCampaign\n"
    calendar, _, problems = load_calendar(write_calendar("dupe.csv", row + row))
    assert problems == [] and calendar is not None
    assert calendar.posts[0].id == calendar.posts[1].id  # validation reports the duplicate


# --- times --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-02-01 09:00", datetime(2027, 2, 1, 9, 0)),
        ("2027-02-01T09:00", datetime(2027, 2, 1, 9, 0)),
        ("2027-2-1 9:05:30", datetime(2027, 2, 1, 9, 5, 30)),
        ("01/02/2027 18:30", datetime(2027, 2, 1, 18, 30)),
        ("01/02/2027 6:30 pm", datetime(2027, 2, 1, 18, 30)),
    ],
)
def test_parse_at_absolute(text: str, expected: datetime) -> None:
    assert parse_at(text) == (expected, None)


def test_parse_at_relative_and_errors() -> None:
    assert parse_at("day 3 18:30") == (None, (3, parse_clock("18:30")))
    assert parse_at("Day 10, 9:00") == (None, (10, parse_clock("09:00")))
    for bad, fragment in [
        ("day 0 09:00", "days count from 1"),
        ("day 3", "has no time of day"),
        ("2027-02-01", "a date without a time"),
        ("2027-02-30 09:00", "not a real date"),
        ("tomorrow", "not a date and time"),
        ("2027-02-01 24:00", "hours go from 0 to 23"),
        ("day 2 7:75", "not a time of day"),
    ]:
        with pytest.raises(TimeError, match=fragment):
            parse_at(bad)


def test_parse_date_is_day_first() -> None:
    assert parse_date("01/02/2027") == date(2027, 2, 1)
    assert parse_date("2027-02-01 00:00:00") == date(2027, 2, 1)
    with pytest.raises(TimeError, match="not a real date") as error:
        parse_date("13/13/2027")
    assert "day/month/year (01/02/2027, UK order)" in error.value.fix
    # only makes sense month first: refused, never swapped (the same sheet's 02/03/2027 would be ambiguous)
    with pytest.raises(TimeError, match="it is in US month/day/year order \\(13 February 2027\\)") as us:
        parse_date("02/13/2027")
    assert us.value.code == "us-date-order" and "write 13/02/2027 or 2027-02-13" in us.value.fix
    with pytest.raises(TimeError, match="not a real date"):
        parse_date("02/30/2027")  # no 30th month, and no 30 February either


def test_sprout_sheet_in_us_date_order_is_refused_not_swapped(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "sprout.csv",
        "date,time_24hr,message_text,link\n"
        "12/25/2027,09:00,Christmas #DemoCampaign,\n"
        "03/04/2027,09:00,Either way #DemoCampaign,\n",
    )
    calendar, _, problems = load_calendar(path)
    assert calendar is not None and [p.at.date() for p in calendar.posts] == [date(2027, 4, 3)]
    assert [(p.severity, p.code, p.line) for p in problems] == [
        ("error", "us-date-order", 2),
        ("warning", "date-order-ambiguous", 3),
    ]
    assert "Sprout Social reads dd/mm/yyyy or mm/dd/yyyy depending on its date-format setting" in problems[0].fix
    # a sheet in UK order has no such problems, even with dates that read either way
    uk = write_calendar(
        "sprout-uk.csv",
        "date,time_24hr,message_text,link\n"
        "25/12/2027,09:00,Christmas #DemoCampaign,\n"
        "03/04/2027,09:00,Either way #DemoCampaign,\n",
    )
    calendar, _, problems = load_calendar(uk)
    assert problems == [] and calendar is not None
    assert [p.at.date() for p in calendar.posts] == [date(2027, 12, 25), date(2027, 4, 3)]


def test_localize_normal_gap_and_fold() -> None:
    assert localize(datetime(2027, 7, 1, 12, 0), LONDON).utcoffset() == timedelta(hours=1)
    with pytest.raises(TimeError) as gap:
        localize(datetime(2027, 3, 28, 1, 30), LONDON)
    assert gap.value.code == "nonexistent-time"
    assert "clocks go forward from 01:00 to 02:00 on 28 March 2027" in str(gap.value)
    assert "00:30 or 02:30" in gap.value.fix
    with pytest.raises(TimeError) as fold:
        localize(datetime(2027, 10, 31, 1, 30), LONDON)
    assert fold.value.code == "ambiguous-time"
    assert "clocks go back from 02:00 to 01:00 on 31 October 2027" in str(fold.value)
    assert "2027-10-31 01:30+01:00 (the first) or 2027-10-31 01:30+00:00 (the second)" in fold.value.fix
    # the edges: 00:59 and 02:00 exist on the spring day; 00:59 and 02:00 are unambiguous on the autumn day
    for moment in (
        datetime(2027, 3, 28, 0, 59),
        datetime(2027, 3, 28, 2, 0),
        datetime(2027, 10, 31, 0, 59),
        datetime(2027, 10, 31, 2, 0),
    ):
        localize(moment, LONDON)


def test_localize_other_zone_half_hour_gap() -> None:
    # Lord Howe Island moves its clocks by 30 minutes
    with pytest.raises(TimeError, match="clocks go forward from 02:00 to 02:30"):
        localize(datetime(2027, 10, 3, 2, 15), ZoneInfo("Australia/Lord_Howe"))


def test_a_missing_path_is_reported_as_not_found_whatever_its_name(tmp_path: Path) -> None:
    for name in ("nonexistent", "notes.txt", "plan.yaml"):
        _, _, problems = load_calendar(tmp_path / name)
        assert [(p.code, p.message) for p in problems] == [("file-not-found", "The file does not exist.")]
    (tmp_path / "folder").mkdir()
    _, _, problems = load_calendar(tmp_path / "folder")
    assert [(p.code, p.message) for p in problems] == [("file-not-found", "This is a folder, not a file.")]
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    _, _, problems = load_calendar(tmp_path / "notes.txt")
    assert [p.code for p in problems] == ["unsupported-file"]


def test_csv_time_cell_takes_a_utc_offset_to_pick_one_of_the_two_times_when_clocks_go_back(
    write_calendar: WriteCalendar,
) -> None:
    path = write_calendar(
        "fold.csv",
        "id,date,time,text\n"
        "first,31/10/2027,01:30+01:00,The first #DemoCampaign\n"
        "second,2027-10-31,01:30 +00:00,The second #DemoCampaign\n"
        "plain,31/10/2027,01:30,Which one? #DemoCampaign\n",
    )
    calendar, _, problems = load_calendar(path)
    assert calendar is not None
    instants = {post.id: post.at for post in calendar.posts}
    # (compared in UTC: Python never finds a wall-clock time in a fold equal to one in another zone)
    assert instants["first"].astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert instants["second"].astimezone(UTC) == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    assert instants["first"].tzinfo == instants["second"].tzinfo == LONDON  # shown in the calendar's zone
    assert (instants["first"].fold, instants["second"].fold) == (0, 1)
    assert [(p.code, p.post_id) for p in problems] == [("ambiguous-time", "plain")]
    (ambiguous,) = problems
    assert "01:30+01:00 (the first) or 01:30+00:00 (the second)" in ambiguous.fix
    assert "`time` column" in ambiguous.fix and "2027-10-31 01:30+01:00" not in ambiguous.fix


def test_an_offset_that_does_not_match_the_zone_is_kept_but_warned_about(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "offsets.yaml",
        """
        campaign: demo-campaign
        posts:
          - id: summer
            at: "2027-06-01 09:00+00:00"
            text: "Summer #DemoCampaign"
          - id: right
            at: "01/06/2027 09:00+01:00"
            text: "Right #DemoCampaign"
          - id: gap
            at: "2027-03-28 01:30+00:00"
            text: "In the gap #DemoCampaign"
    """,
    )
    calendar, _, problems = load_calendar(path)
    assert calendar is not None
    instants = {post.id: post.at for post in calendar.posts}
    assert instants["summer"] == datetime(2027, 6, 1, 9, 0, tzinfo=UTC)  # the offset is exact: kept
    assert instants["right"] == datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
    assert [(p.severity, p.code, p.post_id, p.line, p.file) for p in problems] == [
        ("error", "offset-mismatch", "summer", 4, str(path)),
        ("error", "offset-mismatch", "gap", 10, str(path)),
    ]
    assert "it means 10:00 BST on 1 June 2027 local time, not 09:00" in problems[0].message
    assert "01:30 does not exist in Europe/London that day" in problems[1].message
    assert "it means 02:30 BST on 28 March 2027" in problems[1].message
