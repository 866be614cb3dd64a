"""Fixtures for the calendar tests: a real campaign folder (campaign.yaml, media/ with real images) in tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

CAMPAIGN_YAML = """\
slug: demo-campaign
name: "#DemoCampaign"
hashtags: ["#DemoCampaign"]
hashtag_variants: ["#DemoCampaignNow"]
timezone: Europe/London
language: en
misfire_grace_minutes: 20
helpline: "Support: NAPAC 0808 801 0331, napac.org.uk"
accounts: {bluesky: demo.bsky.social, mastodon: "demo@mastodon.social"}
organisation_accounts: [napac.org.uk]
mastodon_instances: ["https://mastodon.social/", "https://mastodon.online"]
bluesky: {reply_rules: [following, mentioned], allow_quotes: false}
mastodon: {visibility: unlisted}
"""


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    """tmp_path/campaigns/demo-campaign with campaign.yaml, calendars/ and two small real images in media/."""
    directory = tmp_path / "campaigns" / "demo-campaign"
    (directory / "media").mkdir(parents=True)
    (directory / "calendars").mkdir()
    (directory / "campaign.yaml").write_text(CAMPAIGN_YAML, encoding="utf-8")
    Image.new("RGB", (80, 60), (120, 30, 160)).save(directory / "media" / "card.jpg", quality=85)
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(directory / "media" / "logo.png")
    return directory


WriteCalendar = Callable[..., Path]


@pytest.fixture
def write_calendar(campaign_dir: Path) -> WriteCalendar:
    """Write a calendar file into the campaign's calendars/ folder (text is dedented; bytes are written as is)."""

    def write(name: str, content: str | bytes) -> Path:
        path = campaign_dir / "calendars" / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return path

    return write
