"""Campaign folders: campaign.yaml and finding the folder of a calendar file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from content_calendar.campaign import find_campaign_dir, load_campaign
from content_calendar.model import CalendarError


def test_load_campaign_reads_every_field(campaign_dir: Path) -> None:
    campaign = load_campaign(campaign_dir)
    assert campaign.slug == "demo-campaign" and campaign.name == "#DemoCampaign"
    assert campaign.directory == campaign_dir.resolve()
    assert campaign.hashtags == ("#DemoCampaign",) and campaign.hashtag_variants == ("#DemoCampaignNow",)
    assert campaign.timezone == "Europe/London" and campaign.language == "en"
    assert campaign.misfire_grace == timedelta(minutes=20)
    assert campaign.helpline == "Support: NAPAC 0808 801 0331, napac.org.uk"
    assert campaign.accounts == {"bluesky": "demo.bsky.social", "mastodon": "demo@mastodon.social"}
    assert campaign.organisation_accounts == ("napac.org.uk",)
    assert campaign.mastodon_instances == ("https://mastodon.social", "https://mastodon.online")
    assert campaign.reply_rules == ("following", "mentioned") and campaign.allow_quotes is False
    assert campaign.mastodon_visibility == "unlisted"
    assert campaign.keep_handles is False  # not in the file: private by default


@pytest.mark.parametrize(("reports", "keep"), [("reports: {keep_handles: true}\n", True),
                                               ("reports: {keep_handles: false}\n", False),
                                               ("reports: {}\n", False), ("", False)])  # fmt: skip
def test_reports_keep_handles_is_an_explicit_choice(campaign_dir: Path, reports: str, keep: bool) -> None:
    path = campaign_dir / "campaign.yaml"
    path.write_text(path.read_text(encoding="utf-8") + reports, encoding="utf-8")
    assert load_campaign(campaign_dir).keep_handles is keep


def test_reports_keep_handles_must_be_true_or_false(campaign_dir: Path) -> None:
    path = campaign_dir / "campaign.yaml"
    original = path.read_text(encoding="utf-8")
    lines = original.count("\n")
    path.write_text(original + "reports:\n  keep_handles: yes please\n  keep_handle: true\n", encoding="utf-8")
    with pytest.raises(CalendarError) as raised:
        load_campaign(campaign_dir)
    problems = sorted((p.code, p.line) for p in raised.value.problems)
    assert problems == [("unknown-key", lines + 3), ("wrong-type", lines + 2)]
    text = "\n".join(p.format() for p in raised.value.problems)
    assert "`keep_handles` must be true or false" in text and "Did you mean keep_handles?" in text
    path.write_text(original + "reports: true\n", encoding="utf-8")
    with pytest.raises(CalendarError, match="reports must be a mapping"):
        load_campaign(campaign_dir)


def test_load_campaign_reports_every_problem_with_lines(tmp_path: Path) -> None:
    folder = tmp_path / "my-campaign"
    folder.mkdir()
    (folder / "campaign.yaml").write_text(
        "slug: other-name\n"
        "name: Mine\n"
        "hashtgs: ['#Mine']\n"
        "hashtag_variants: [Mine2]\n"
        "timezone: Mars/Olympus\n"
        "misfire_grace_minutes: soon\n"
        "mastodon_access_token: abc123secret\n"
        "mastodon_instances: [mastodon.social]\n"
        "bluesky: {reply_rules: [everyone], allow_quotes: maybe}\n",
        encoding="utf-8",
    )
    with pytest.raises(CalendarError) as raised:
        load_campaign(folder)
    problems = raised.value.problems
    assert {p.file for p in problems} == {str(folder / "campaign.yaml")}
    assert sorted((p.code, p.line) for p in problems) == sorted(
        [
            ("unknown-key", 3),
            ("secret-in-file", 7),
            ("campaign-invalid", 1),  # slug is not the folder name
            ("campaign-invalid", 4),  # a variant without '#'
            ("campaign-invalid", 1),  # no hashtags (the key is misspelt)
            ("unknown-timezone", 5),
            ("wrong-type", 6),
            ("unknown-reply-rule", 9),
            ("wrong-type", 9),
            ("campaign-invalid", 8),
        ]
    )
    text = "\n".join(p.format() for p in problems)
    assert "Did you mean hashtags?" in text
    assert "abc123secret" not in text
    assert all(p.fix for p in problems)


def test_load_campaign_without_campaign_yaml(tmp_path: Path) -> None:
    with pytest.raises(CalendarError) as raised:
        load_campaign(tmp_path)
    assert [p.code for p in raised.value.problems] == ["campaign-missing"]


def test_find_campaign_dir_walks_up_then_tries_the_roots(tmp_path: Path, campaign_dir: Path) -> None:
    calendar = campaign_dir / "calendars" / "sub" / "plan.yaml"
    calendar.parent.mkdir()
    assert find_campaign_dir(calendar, None) == campaign_dir
    assert find_campaign_dir(calendar, "demo-campaign") == campaign_dir
    # a calendar inside one campaign that names another: the other is found through the roots
    other = tmp_path / "campaigns" / "other"
    other.mkdir()
    (other / "campaign.yaml").write_text("slug: other\n")
    assert find_campaign_dir(calendar, "other") is None
    assert find_campaign_dir(calendar, "other", [tmp_path / "campaigns"]) == other
    assert find_campaign_dir(tmp_path / "loose.yaml", None) is None
