"""`calendar validate` checks alt text against our Mastodon instance's own limit once the instance has been read
(it advertises configuration.media_attachments.description_limit in /api/v2/instance), and against the
documented default of 1,500 before: the core keeps what the adapter read in the store, so validate needs no
token and sends no request."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from scheduler.api import Api
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.cli import cli_env, invoke
from tests.support.engine import write_calendar, write_campaign

pytestmark = pytest.mark.integration


def _alt_calendar(folder: Path, alt_length: int) -> Path:
    Image.new("RGB", (60, 40), (120, 30, 160)).save(folder / "media" / "chart.png")
    alt = ("A bar chart of calls to the helpline by month. " * 400)[: alt_length - 1] + "."
    path = folder / "calendars" / "alt.yaml"
    path.write_text(
        f"campaign: {folder.name}\ntimezone: Europe/London\nposts:\n"
        "  - id: chart\n    at: 2031-02-01 09:00\n    platforms: [mastodon]\n"
        "    text: 'Calls to the helpline this year. #ActOnIICSA'\n"
        f"    images: [{{file: media/chart.png, alt: '{alt}'}}]\n",
        encoding="utf-8",
    )
    return path


def test_validate_uses_the_instances_alt_text_limit_once_it_has_been_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.configure(description_limit=10_000)
    cli_env(
        monkeypatch,
        tmp_path,
        {"MASTODON_API_BASE_URL": mastodon_account.base_url, "MASTODON_ACCESS_TOKEN": mastodon_account.token},
    )
    folder = write_campaign(tmp_path / "campaigns")
    (folder / "media").mkdir()
    calendar = _alt_calendar(folder, 1_600)

    # Not read yet (and no database): the documented default.
    code, output = invoke("calendar", "validate", str(calendar))
    assert code == 1 and "alt-too-long" in output and "100 over Mastodon's limit of 1500" in output, output

    # Read with no database to keep it in: the check still works, and nothing is known.
    assert invoke("accounts", "check")[0] == 0
    assert invoke("calendar", "validate", str(calendar))[0] == 1

    # The adapter reads the instance (here on `accounts check`, as it does before posting); the core keeps it.
    other = write_calendar(folder, "other.yaml", [])
    assert invoke("schedule", str(other))[0] == 0  # the workspace's database
    code, output = invoke("accounts", "check")
    assert code == 0 and "alt text up to 10000 characters" in output, output

    # Validate reads it from the store, without the token.
    monkeypatch.delenv("MASTODON_ACCESS_TOKEN")
    code, output = invoke("calendar", "validate", str(calendar))
    assert code == 0, output
    _alt_calendar(folder, 10_001)
    code, output = invoke("calendar", "validate", str(calendar))
    assert code == 1 and "1 over Mastodon's limit of 10000" in output, output


def test_without_a_mastodon_account_or_before_the_instance_is_read_the_default_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(monkeypatch, tmp_path, {"MASTODON_API_BASE_URL": "https://mastodon.example"})
    api = Api.from_settings(create_store=True)
    try:
        assert api.calendar_limits().mastodon_alt_characters == 1500
    finally:
        api.close()
