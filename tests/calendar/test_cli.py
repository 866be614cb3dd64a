"""`campaign calendar validate|show|export-ical`, through Click's runner on the real group."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from icalendar import Calendar as ICalendar

from cli.calendar import calendar
from tests.calendar.conftest import WriteCalendar

NOW = "2027-01-15T12:00:00+00:00"

CLEAN = """
    campaign: demo-campaign
    timezone: Europe/London
    defaults: {content_warning: "Child sexual abuse"}
    posts:
      - id: launch
        at: 2027-02-01 09:00
        text: "Twenty recommendations, one package. #DemoCampaign https://example.org/report"
        link: {url: "https://example.org/report", title: "The final report", description: "Read it"}
        thread:
          - text: "Reply one #DemoCampaign"
            images: [{file: media/card.jpg, alt: "A purple card with the words Act now"}]
      - id: draft-idea
        status: draft
        at: 2027-02-02 18:30
        platforms: [mastodon]
        mastodon: {visibility: unlisted}
        text: "Not sure yet #DemoCampaign"
      - id: later
        at: 2027-02-10 12:00
        platforms: [bluesky]
        bluesky: {labels: [graphic-media]}
        text: "Later #DemoCampaign"
"""

BROKEN = """
    campaign: demo-campaign
    posts:
      - id: fine
        at: 2027-02-01 09:00
        text: "Fine #DemoCampaign"
      - id: gap
        at: 2027-03-28 01:30
        text: "In the gap #DemoCampaign"
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_clean_exits_0(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    result = runner.invoke(calendar, ["validate", str(path), "--now", NOW])
    assert result.exit_code == 0, result.output
    assert f"{path}: OK (3 posts; 0 errors, 0 warnings)" in result.output


def test_validate_warnings_are_printed_but_allowed(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    result = runner.invoke(calendar, ["validate", str(path), "--now", "2027-02-05T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert re.search(r"clean\.yaml:6 post launch: warning \[in-the-past\]", result.output)
    assert "1 warning" in result.output
    # the draft is in the past too, but drafts are never sent: no warning for it
    assert "draft-idea" not in result.output


def test_validate_errors_exit_1_with_file_line_post_and_fix(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("broken.yaml", BROKEN)
    result = runner.invoke(calendar, ["validate", str(path), "--now", NOW])
    assert result.exit_code == 1
    assert f"{path}:7 post gap: error [nonexistent-time]" in result.output
    assert "fix: Use a time either side of the change, e.g. 00:30 or 02:30." in result.output
    assert "FAILED" in result.output


def test_validate_json(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    broken = write_calendar("broken.yaml", BROKEN)
    clean = write_calendar("clean.yaml", CLEAN)
    result = runner.invoke(calendar, ["validate", "--json", str(clean), str(broken), "--now", NOW])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert problems == [
        {
            "severity": "error",
            "code": "nonexistent-time",
            "file": str(broken),
            "message": "2027-03-28 01:30 does not exist in Europe/London: clocks go forward from 01:00 to 02:00 on "
            "28 March 2027.",
            "fix": "Use a time either side of the change, e.g. 00:30 or 02:30.",
            "post_id": "gap",
            "line": 7,
        }
    ]
    clean_only = runner.invoke(calendar, ["validate", "--json", str(clean), "--now", NOW])
    assert clean_only.exit_code == 0 and json.loads(clean_only.stdout) == []


def test_validate_a_folder_checks_every_calendar_in_it(
    runner: CliRunner, write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    write_calendar("clean.yaml", CLEAN)
    write_calendar("sheet.csv", "id,date,time,text\nrow-1,01/02/2027,09:00,Sheet #DemoCampaign\n")
    result = runner.invoke(calendar, ["validate", str(campaign_dir), "--now", NOW])
    assert result.exit_code == 0, result.output
    assert "clean.yaml: OK" in result.output and "sheet.csv: OK" in result.output
    assert "campaign.yaml" not in result.output


def test_validate_finds_ids_shared_by_two_files_of_a_campaign(
    runner: CliRunner, write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    write_calendar("a.yaml", CLEAN)
    sheet = write_calendar("b.csv", "id,date,time,text\nlater,01/03/2027,09:00,Sheet #DemoCampaign\n")
    result = runner.invoke(calendar, ["validate", str(campaign_dir), "--now", NOW, "--json"])
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)
    assert (problem["code"], problem["file"], problem["line"], problem["post_id"]) == (
        "duplicate-id",
        str(sheet),
        2,
        "later",
    )
    assert f"also used in {campaign_dir / 'calendars' / 'a.yaml'}:18" in problem["message"]
    # each file alone is fine
    assert runner.invoke(calendar, ["validate", str(sheet), "--now", NOW]).exit_code == 0


def test_validate_usage_errors_exit_2(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    assert runner.invoke(calendar, ["validate"]).exit_code == 2
    assert runner.invoke(calendar, ["validate", str(path), "--now", "yesterday"]).exit_code == 2
    naive = runner.invoke(calendar, ["validate", str(path), "--now", "2027-01-01T09:00"])
    assert naive.exit_code == 2 and "has no UTC offset" in naive.output
    assert runner.invoke(calendar, ["validate", str(path), "--campaigns-dir", "/no/such/dir"]).exit_code == 2


def test_validate_missing_path_is_a_usage_error_that_says_not_found(runner: CliRunner, tmp_path: Path) -> None:
    for missing in (tmp_path / "nope.yaml", tmp_path / "nonexistent"):
        result = runner.invoke(calendar, ["validate", str(missing), "--now", NOW])
        assert result.exit_code == 2, result.output
        assert f"'{missing}' does not exist" in result.output
        assert "not a calendar file" not in result.output
    for command in ("show", "export-ical"):
        args = [command, str(tmp_path / "nonexistent")] + (["-o", "-"] if command == "export-ical" else [])
        result = runner.invoke(calendar, args)
        assert result.exit_code == 2 and "does not exist" in result.output


def test_validate_a_folder_without_calendars_is_a_usage_error(
    runner: CliRunner, tmp_path: Path, write_calendar: WriteCalendar
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a calendar", encoding="utf-8")
    result = runner.invoke(calendar, ["validate", str(empty), "--now", NOW])
    assert result.exit_code == 2
    assert (
        f"The folder {empty} has no calendar files (.yaml, .yml, .csv, .tsv, .txt, .xlsx, .ods) in it" in result.output
    )
    # even next to a good file: the folder was named for a reason, so saying nothing would hide a mistake
    good = write_calendar("clean.yaml", CLEAN)
    assert runner.invoke(calendar, ["validate", str(good), str(empty), "--now", NOW]).exit_code == 2


def test_validate_one_file_reached_by_two_spellings_is_checked_once(
    runner: CliRunner,
    write_calendar: WriteCalendar,
    campaign_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sheet = write_calendar(
        "day1.csv",
        "id,date,time,text\nrow-1,01/02/2027,09:00,Sheet #DemoCampaign\nrow-2,01/02/2027,12:00,Second #DemoCampaign\n",
    )
    write_calendar("week.yaml", CLEAN)
    (tmp_path / "link.csv").symlink_to(sheet)
    monkeypatch.chdir(tmp_path)
    relative_folder = str(campaign_dir.relative_to(tmp_path))
    for spellings in (
        [relative_folder, str(sheet)],  # the folder (relative) and the file in it (absolute)
        [str(sheet.relative_to(tmp_path)), str(sheet)],
        [str(sheet), "link.csv"],  # a symbolic link to the same file
    ):
        result = runner.invoke(calendar, ["validate", *spellings, "--now", NOW, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []
    text = runner.invoke(calendar, ["validate", relative_folder, str(sheet), "--now", NOW]).output
    assert text.count("day1.csv: OK") == 1 and "week.yaml: OK" in text


def test_campaigns_dir_option_and_environment(
    runner: CliRunner, tmp_path: Path, campaign_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(
        "campaign: demo-campaign\nposts:\n  - {id: a, at: '2027-02-01 09:00', text: '#DemoCampaign'}\n"
    )
    monkeypatch.chdir(tmp_path / "campaigns" / "demo-campaign")  # no ./campaigns here
    monkeypatch.delenv("CAMPAIGN_CAMPAIGNS_DIR", raising=False)
    assert "[unknown-campaign]" in runner.invoke(calendar, ["validate", str(elsewhere), "--now", NOW]).output
    by_option = runner.invoke(
        calendar, ["validate", str(elsewhere), "--now", NOW, "--campaigns-dir", str(tmp_path / "campaigns")]
    )
    assert by_option.exit_code == 0, by_option.output
    monkeypatch.setenv("CAMPAIGN_CAMPAIGNS_DIR", str(tmp_path / "campaigns"))
    assert runner.invoke(calendar, ["validate", str(elsewhere), "--now", NOW]).exit_code == 0
    # ./campaigns is the default when it exists
    monkeypatch.delenv("CAMPAIGN_CAMPAIGNS_DIR")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(calendar, ["validate", "elsewhere.yaml", "--now", NOW]).exit_code == 0


def test_show_previews_day_by_day(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    result = runner.invoke(calendar, ["show", str(path), "--now", NOW], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("Monday 1 February 2027") < out.index("Tuesday 2 February 2027") < out.index("Wednesday 10")
    assert "09:00 GMT  launch  approved  Bluesky, Mastodon" in out
    # lengths against the limits, as each platform counts them
    assert re.search(r"post  \d+/300 characters \(as Bluesky counts them\)", out)
    assert re.search(r"post  \d+/500 characters", out)
    assert "CW: Child sexual abuse" in out
    assert "image: card.jpg  alt: A purple card with the words Act now" in out
    assert "link card: The final report  https://example.org/report" in out
    assert re.search(r"reply 1/1  \d+/300 characters \(as Bluesky counts them\)", out)
    assert "replies: following, mentioned; quotes off" in out
    assert "DRAFT: will not be posted" in out
    assert "visibility: unlisted" in out
    assert "labels: graphic-media" in out
    assert "3 posts shown (1 drafts); 0 errors, 0 warnings" in out


def test_show_gives_exactly_the_text_bluesky_receives_with_links_shortened(
    runner: CliRunner, write_calendar: WriteCalendar
) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    result = runner.invoke(calendar, ["show", str(path), "--platform", "bluesky", "--now", NOW], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # shown (and counted) as Bluesky's own app posts it; the link still opens the full address
    assert "Twenty recommendations, one package. #DemoCampaign example.org/report\n" in result.output
    assert "link: example.org/report -> https://example.org/report" in result.output
    mastodon = runner.invoke(
        calendar, ["show", str(path), "--platform", "mastodon", "--now", NOW], env={"COLUMNS": "200"}
    )
    assert "#DemoCampaign https://example.org/report" in mastodon.output and "link: " not in mastodon.output


def test_show_filters_by_platform_and_dates(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    only_mastodon = runner.invoke(
        calendar, ["show", str(path), "--platform", "mastodon", "--now", NOW], env={"COLUMNS": "200"}
    )
    assert only_mastodon.exit_code == 0
    assert "as Bluesky counts them" not in only_mastodon.output and "later" not in only_mastodon.output
    assert "2 posts shown" in only_mastodon.output
    window = runner.invoke(calendar, ["show", str(path), "--from", "2027-02-02", "--to", "2027-02-09", "--now", NOW])
    assert "draft-idea" in window.output and "launch" not in window.output and "later" not in window.output
    assert runner.invoke(calendar, ["show", str(path), "--from", "02/02/2027"]).exit_code == 2


def test_show_marks_problems_under_posts_and_exits_1_on_errors(
    runner: CliRunner, write_calendar: WriteCalendar
) -> None:
    path = write_calendar(
        "mixed.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: untagged, at: "2027-02-01 09:00", text: "No tag"}
          - {id: too-long, at: "2027-02-01 10:00", platforms: [bluesky], text: "%s #DemoCampaign"}
          - {id: gap, at: "2027-03-28 01:30", text: "#DemoCampaign"}
    """
        % ("x" * 300),
    )
    result = runner.invoke(calendar, ["show", str(path), "--now", NOW], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    out = result.output
    # the post-less problem (no usable time) is listed at the top, the others under their posts
    assert out.index("[nonexistent-time]") < out.index("Monday 1 February 2027")
    assert out.index("untagged") < out.index("warning: The post has none of the campaign's hashtags")
    assert "314/300 characters (as Bluesky counts them)  (14 too many)" in out
    assert "error: The text is 314 characters (as Bluesky counts them) on Bluesky" in out


def test_show_unreadable_file(runner: CliRunner, write_calendar: WriteCalendar) -> None:
    path = write_calendar("bad.yaml", "posts: [\n")
    result = runner.invoke(calendar, ["show", str(path)])
    assert result.exit_code == 1 and "[yaml-syntax]" in result.output


def test_export_ical_writes_a_readable_calendar(
    runner: CliRunner, write_calendar: WriteCalendar, tmp_path: Path
) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    output = tmp_path / "out" / "plan.ics"
    output.parent.mkdir()
    result = runner.invoke(calendar, ["export-ical", str(path), "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {output}: 3 events." in result.output
    parsed = ICalendar.from_ical(output.read_bytes())
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    assert set(events) == {f"{i}@demo-campaign.campaign-scheduler" for i in ("launch", "draft-idea", "later")}
    assert str(events["draft-idea@demo-campaign.campaign-scheduler"]["status"]) == "TENTATIVE"
    assert list(output.parent.iterdir()) == [output]  # no temporary file left
    again = runner.invoke(calendar, ["export-ical", str(path), "-o", str(output)])
    assert again.exit_code == 0 and ICalendar.from_ical(output.read_bytes()) == parsed


def test_export_ical_refuses_errors_and_keeps_the_old_file(
    runner: CliRunner, write_calendar: WriteCalendar, tmp_path: Path
) -> None:
    path = write_calendar("broken.yaml", BROKEN)
    output = tmp_path / "plan.ics"
    output.write_bytes(b"previous export")
    result = runner.invoke(calendar, ["export-ical", str(path), "-o", str(output)])
    assert result.exit_code == 1
    assert "[nonexistent-time]" in result.output and "Not exported: 1 error" in result.output
    assert output.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["campaigns", "plan.ics"]


def test_export_ical_to_stdout_and_missing_folder(
    runner: CliRunner, write_calendar: WriteCalendar, tmp_path: Path
) -> None:
    path = write_calendar("clean.yaml", CLEAN)
    result = runner.invoke(calendar, ["export-ical", str(path), "-o", "-"])
    assert result.exit_code == 0 and result.stdout.startswith("BEGIN:VCALENDAR")
    missing = runner.invoke(calendar, ["export-ical", str(path), "-o", str(tmp_path / "no" / "x.ics")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_help_texts_document_the_commands(runner: CliRunner) -> None:
    top = runner.invoke(calendar, ["--help"])
    assert top.exit_code == 0 and "validate" in top.output and "export-ical" in top.output
    validate_help = runner.invoke(calendar, ["validate", "--help"]).output
    assert "Exit status: 0 when there are no errors" in validate_help and "--campaigns-dir" in validate_help
    assert "CAMPAIGN_CAMPAIGNS_DIR" in validate_help
    assert "212/300" in runner.invoke(calendar, ["show", "--help"]).output
    assert "nothing written" in runner.invoke(calendar, ["export-ical", "--help"]).output
