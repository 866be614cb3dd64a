"""`campaign calendar check --accessibility`: every finding by post, one line each, with a count per kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.calendar.conftest import CAMPAIGN_YAML
from tests.support.cli import cli_env, invoke

CALENDAR = """\
campaign: demo-campaign
posts:
  - id: alt-and-tags
    at: "2027-02-01 09:00"
    text: "Adults abused as children deserve support. #democampaign"
    images:
      - {file: media/card.jpg, alt: "image"}
  - id: emoji
    at: "2027-02-01 10:00"
    text: "📞 Call us 👩‍👩‍👧‍👦 🇬🇧 🏴󠁧󠁢󠁷󠁬󠁳󠁿 #DemoCampaign"
  - id: fine
    at: "2027-02-01 11:00"
    text: "Mae'n bwysig siarad. #DemoCampaign"
"""


@pytest.fixture
def calendar_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cli_env(monkeypatch, tmp_path, {})
    folder = tmp_path / "campaigns" / "demo-campaign"
    (folder / "calendars").mkdir(parents=True)
    (folder / "media").mkdir()
    Image.new("RGB", (80, 60), (120, 30, 160)).save(folder / "media" / "card.jpg", quality=85)
    (folder / "campaign.yaml").write_text(CAMPAIGN_YAML, encoding="utf-8")
    path = folder / "calendars" / "week.yaml"
    path.write_text(CALENDAR, encoding="utf-8")
    return path


def test_check_lists_findings_by_post_with_counts(calendar_file: Path) -> None:
    code, output = invoke("calendar", "check", "--accessibility", str(calendar_file))
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == f"{calendar_file}: post alt-and-tags"
    assert any(f"{calendar_file}:7: post alt-and-tags: warning:" in line and "Fix: Describe" in line for line in lines)
    assert any("#democampaign" in line and "Write it #DemoCampaign" in line for line in lines)
    assert f"{calendar_file}: post emoji" in lines and "post fine" not in output
    assert "hashtags in one case" in output and "emoji in place of words" in output and "too many emoji" in output
    assert lines[-1] == "4 accessibility and safe-messaging findings in 2 posts of 1 file (0 errors)."


def test_a_required_protection_fails_the_check_and_json_has_the_counts(calendar_file: Path) -> None:
    campaign_yaml = calendar_file.parents[1] / "campaign.yaml"
    campaign_yaml.write_text(
        CAMPAIGN_YAML + "protections:\n  child-sexual-abuse:\n    words: [abused as children]\n    mode: require\n"
        "    helpline: true\n",
        encoding="utf-8",
    )
    code, output = invoke("calendar", "check", "--accessibility", "--json", str(calendar_file))
    assert code == 1
    data = json.loads(output)
    assert data["counts"]["protection-missing"] == 1 and data["errors"] == 1
    assert data["posts"][0]["post_id"] == "alt-and-tags"
    assert any("the helpline line" in finding["message"] for finding in data["posts"][0]["findings"])


def test_calendar_show_says_what_protections_added_and_where_the_helpline_went(calendar_file: Path) -> None:
    campaign_yaml = calendar_file.parents[1] / "campaign.yaml"
    campaign_yaml.write_text(
        CAMPAIGN_YAML + "protections:\n  child-sexual-abuse:\n    words: [abused as children]\n"
        '    content_warning: "Mentions child sexual abuse"\n    helpline: true\n',
        encoding="utf-8",
    )
    code, output = invoke("calendar", "show", str(calendar_file), "--platform", "bluesky")
    assert code == 0, output
    said = " ".join(output.split())
    assert "note: Added by the campaign for the topic child-sexual-abuse: a content warning, the helpline line." in said
    assert "note: The helpline line is at the end of the post." in said
    assert said.count("note: Added by the campaign") == 1  # only the post on the topic
