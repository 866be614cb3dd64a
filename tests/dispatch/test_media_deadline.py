"""One attempt's wait for a platform to take and process a video (or images) ends inside its publish lease: the
policy derives the deadline from the lease, the wiring hands it to both adapters, and the adapters' own defaults
(used when built elsewhere) are within the default lease as well. Otherwise a slow video outlasts the lease and a
second worker starts the same part while the first still waits."""

from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path

import pytest

from platforms.bluesky import BlueskyAdapter
from platforms.mastodon import MastodonAdapter
from scheduler.dispatch import DispatchPolicy
from scheduler.settings import load_settings
from scheduler.wiring import Adapters, Wiring


@pytest.mark.parametrize("lease", [3, 6, 60, 120, 300, 3600])
def test_the_media_deadline_ends_inside_the_publish_lease(lease: int) -> None:
    policy = DispatchPolicy(publish_lease=timedelta(seconds=lease))
    deadline = policy.media_deadline
    assert timedelta(0) < deadline <= policy.publish_lease - min(policy.media_margin, policy.publish_lease / 2)
    assert deadline >= policy.publish_lease / 2  # a short lease still leaves the platform half of it


def test_the_adapters_own_defaults_end_inside_the_default_lease() -> None:
    default = DispatchPolicy().media_deadline.total_seconds()
    assert inspect.signature(BlueskyAdapter).parameters["video_deadline"].default <= default
    assert inspect.signature(MastodonAdapter).parameters["media_deadline"].default <= default


def test_the_wiring_hands_the_policys_deadline_to_both_adapters(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "CAMPAIGN_DATA_DIR": str(tmp_path),
            "CAMPAIGN_PUBLISH_LEASE_SECONDS": "150",
            "BLUESKY_HANDLE": "comms.example.org",
            "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop",
            "MASTODON_API_BASE_URL": "https://mastodon.example.org",
            "MASTODON_ACCESS_TOKEN": "not-a-real-token",
        },
        dotenv_path=tmp_path / "none.env",
    )
    wiring = Wiring.from_settings(settings, limiter=False)
    try:
        assert wiring.policy.publish_lease == timedelta(seconds=150)
        expected = wiring.policy.media_deadline.total_seconds()
        assert expected == 90.0
        bluesky = wiring.adapters.real("bluesky")
        mastodon = wiring.adapters.real("mastodon")
        assert isinstance(bluesky, BlueskyAdapter) and isinstance(mastodon, MastodonAdapter)
        assert bluesky.writer.records.videos is not None
        assert bluesky.writer.records.videos.deadline == expected  # nothing is fetched: both are built lazily
        assert mastodon._publisher._media.deadline == expected
        # Adapters built from settings alone take the policy those settings give.
        assert Adapters(settings).media_deadline == expected
    finally:
        wiring.close()
