"""Model objects built directly (not through the loaders) for the rendering tests."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image as PILImage

from content_calendar.model import Campaign, Image, Post

LONDON = ZoneInfo("Europe/London")
HELPLINE = "Support: NAPAC 0808 801 0331, napac.org.uk"


def make_campaign(directory: Path, **changes: object) -> Campaign:
    campaign = Campaign(
        slug="act-on-iicsa",
        name="#ActOnIICSA",
        directory=directory,
        hashtags=("#ActOnIICSA",),
        timezone="Europe/London",
        helpline=HELPLINE,
        reply_rules=("following", "mentioned"),
        allow_quotes=False,
        mastodon_visibility="public",
        language="en",
    )
    return replace(campaign, **changes)  # type: ignore[arg-type]


def make_post(**changes: object) -> Post:
    post = Post(
        id="recs-01",
        at=datetime(2027, 2, 1, 9, 0, tzinfo=LONDON),
        text="Implement all 20 IICSA recommendations as one package. #ActOnIICSA",
        platforms=("bluesky", "mastodon"),
    )
    return replace(post, **changes)  # type: ignore[arg-type]


def write_photo(path: Path, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", size, color).save(path, "JPEG", quality=90)
    return path


def write_noise(path: Path, size: tuple[int, int], seed: int = 7) -> Path:
    """A photo-like image that does not compress: worst case for the byte limit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    PILImage.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).save(path, "JPEG", quality=95)
    return path


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "campaigns" / "act-on-iicsa"
    (directory / "media").mkdir(parents=True)
    return directory


@pytest.fixture
def campaign(campaign_dir: Path) -> Campaign:
    return make_campaign(campaign_dir)


@pytest.fixture
def bench_image(campaign_dir: Path) -> Image:
    path = write_photo(campaign_dir / "media" / "bench.jpg")
    return Image(file="media/bench.jpg", path=path, alt="The IICSA legacy bench in a park", focus=(0.0, -0.5))
