"""`campaign accounts check` and `campaign post-now` through the CLI against the local AT Protocol network and
the Mastodon test server: who we post as (never a secret printed), and post-now posting exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.bluesky_adapter.conftest import Publisher, list_records, make_publisher
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.bluesky_fixtures import BlueskyNetwork
from tests.support.cli import cli_env, invoke
from tests.support.engine import write_calendar, write_campaign

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def poster(bluesky_network: BlueskyNetwork) -> Publisher:
    return make_publisher(bluesky_network, "clicheck")


@pytest.fixture
def live_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, poster: Publisher, mastodon_account: TestAccount
) -> dict[str, str]:
    credentials = {
        **poster.env(),
        "MASTODON_API_BASE_URL": mastodon_account.base_url,
        "MASTODON_ACCESS_TOKEN": mastodon_account.token,
    }
    return cli_env(monkeypatch, tmp_path, credentials)


def test_accounts_check_logs_in_to_both_and_prints_no_secret(live_env: dict[str, str], poster: Publisher) -> None:
    code, output = invoke("accounts", "check")
    assert code == 0, output
    assert f"bluesky: {poster.handle} ({poster.did})" in output and "can post" in output
    assert "mastodon: campaign@" in output
    assert live_env["BLUESKY_APP_PASSWORD"] not in output and live_env["MASTODON_ACCESS_TOKEN"] not in output
    code, output = invoke("accounts", "check")
    assert code == 0 and "reused the cached session" in output


def test_accounts_check_says_what_to_do_when_credentials_fail(
    live_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, mastodon: MastodonControl
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", "wrong-wrong-wrong-wrong")
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "not-a-token")
    code, output = invoke("accounts", "check")
    assert code == 1
    assert "BLUESKY_APP_PASSWORD" in output and "MASTODON_ACCESS_TOKEN" in output
    assert "wrong-wrong-wrong-wrong" not in output and "not-a-token" not in output


def test_post_now_posts_once_on_each_platform_and_a_second_call_posts_nothing(
    live_env: dict[str, str], tmp_path: Path, poster: Publisher, mastodon: MastodonControl
) -> None:
    folder = write_campaign(tmp_path / "campaigns")
    later = datetime.now(UTC) + timedelta(days=3)
    calendar = write_calendar(folder, "cal.yaml", [("urgent", later, "Statement today. #ActOnIICSA")])
    assert invoke("schedule", str(calendar))[0] == 0
    before = {r["uri"] for r in list_records(poster.network, poster.did, "app.bsky.feed.post")}

    for platform in ("bluesky", "mastodon"):
        code, output = invoke("post-now", "urgent", "--platform", platform, "--yes")
        assert code == 0 and f"\npublished: urgent {platform}" in output, output
        code, output = invoke("post-now", "urgent", "--platform", platform)
        assert code == 0 and "already published" in output, output

    new = [r for r in list_records(poster.network, poster.did, "app.bsky.feed.post") if r["uri"] not in before]
    assert [r["value"]["text"] for r in new] == ["Statement today. #ActOnIICSA"]
    statuses = [s for s in mastodon.statuses("campaign") if "Statement today." in s["text"]]
    assert len(statuses) == 1
    web = httpx.get(f"{mastodon.base_url}/api/v1/statuses/{statuses[0]['id']}", timeout=10)
    assert web.status_code == 200
