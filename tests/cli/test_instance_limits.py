"""`calendar validate` checks alt text against our Mastodon instance's own limit once the instance has been read
(it advertises configuration.media_attachments.description_limit in /api/v2/instance), and against the
documented default of 1,500 before: the core keeps what the adapter read in the store, so validate needs no
token and sends no request."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from platforms.mastodon.instance import InstanceLimits
from scheduler.api import Api
from scheduler.clock import FixedClock
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.cli import cli_env, invoke
from tests.support.engine import write_calendar, write_campaign
from tests.support.video import write_video

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


# --- every limit the instance gives, on every path that checks a calendar ---------------------------------------

FILLER = "Calls to the helpline rose this year and we answered more of them than ever before. "  # 84 characters
GAVE = re.compile(r"\(the limit (\S+) gave on \d{1,2} [A-Z][a-z]+ \d{4}\)")


def _text(length: int, ending: str = "") -> str:
    """A text of exactly `length` characters (as Mastodon counts them when `ending` holds no link)."""
    tag = " #ActOnIICSA"
    body = length - len(tag) - len(ending)
    return (FILLER * 40)[:body].rstrip().ljust(body, "x") + ending + tag


def _limits_calendar(folder: Path) -> Path:
    """Mastodon-only posts, each within Mastodon's defaults or over them, and over or within the instance's."""
    media = folder / "media"
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (60, 40), (120, 30, 160)).save(media / name)
    write_video(media / "film.mp4")  # 64x48 pixels, 10 frames a second, a few kB
    images = ", ".join(f"{{file: media/{name}, alt: A purple square.}}" for name in ("a.png", "b.png", "c.png"))
    posts = {
        "long": f"text: '{_text(700)}'",
        "link": f"text: '{_text(987, ' https://example.org/a')}'",  # 989 with the link as 23; 1,006 as 40
        "images": f"text: 'Three squares. #ActOnIICSA'\n    images: [{images}]",
        "film": "text: 'Our film. #ActOnIICSA'\n    video: {file: media/film.mp4, alt: A grey square., "
        "no_captions: No sound.}",
    }
    path = folder / "calendars" / "limits.yaml"
    path.write_text(
        f"campaign: {folder.name}\ntimezone: Europe/London\nposts:\n"
        + "".join(
            f"  - id: {post_id}\n    at: 2031-02-01 09:0{n}\n    platforms: [mastodon]\n    {body}\n"
            for n, (post_id, body) in enumerate(posts.items())
        ),
        encoding="utf-8",
    )
    return path


def _errors(*args: str) -> dict[tuple[str, str], str]:
    code, output = invoke("calendar", "validate", "--json", *args)
    problems = json.loads(output)
    assert code == (1 if any(p["severity"] == "error" for p in problems) else 0), output
    return {(p["post_id"], p["code"]): p["message"] for p in problems if p["severity"] == "error"}


def test_validate_checks_every_mastodon_limit_the_instance_gave_and_says_where_each_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.configure(
        max_characters=1000,
        characters_reserved_per_url=40,
        max_media_attachments=2,
        video_size_limit=1000,
        video_matrix_limit=1000,
        video_frame_rate_limit=5,
    )
    cli_env(
        monkeypatch,
        tmp_path,
        {"MASTODON_API_BASE_URL": mastodon_account.base_url, "MASTODON_ACCESS_TOKEN": mastodon_account.token},
    )
    folder = write_campaign(tmp_path / "campaigns")
    (folder / "media").mkdir()
    calendar = _limits_calendar(folder)
    default = "(Mastodon's default; `campaign accounts check` reads your instance's own)"

    # Before the instance is read: Mastodon's defaults, and the message says how to read the instance's own.
    before = _errors(str(calendar))
    assert set(before) == {("long", "mastodon-too-long"), ("link", "mastodon-too-long")}, before
    assert f"200 over the limit of 500 {default}" in before["long", "mastodon-too-long"]
    assert f"989 characters on Mastodon: 489 over the limit of 500 {default}." in before["link", "mastodon-too-long"]
    alt = _alt_calendar(folder, 1_501)
    assert f"1 over Mastodon's limit of 1500 {default}." in _errors(str(alt))["chart", "alt-too-long"]

    assert invoke("schedule", str(write_calendar(folder, "other.yaml", [])))[0] == 0  # the workspace's database
    assert invoke("accounts", "check")[0] == 0  # reads the instance, as posting does

    after = _errors(str(calendar))
    assert set(after) == {
        ("link", "mastodon-too-long"),
        ("images", "too-many-images"),
        ("film", "video-too-large"),
        ("film", "video-too-many-pixels"),
        ("film", "video-frame-rate"),
    }, after  # 700 characters fit the instance's 1,000
    for message in after.values():
        assert GAVE.search(message), message
    assert "1006 characters on Mastodon: 6 over the limit of 1000 (the limit" in after["link", "mastodon-too-long"]
    assert "has 3 images; at most 2 can be posted on Mastodon (the limit" in after["images", "too-many-images"]
    assert "takes at most 0.0 MB (the limit" in after["film", "video-too-large"]
    assert "takes at most 1,000 pixels a frame (the limit" in after["film", "video-too-many-pixels"]
    assert "has 10 frames a second; Mastodon takes at most 5 (the limit" in after["film", "video-frame-rate"]

    # A limit given on the command line wins over the instance's, and says so.
    given = _errors("--mastodon-max-characters", "600", str(calendar))
    assert "100 over the limit of 600 (the --mastodon-max-characters given)" in given["long", "mastodon-too-long"]
    assert ("images", "too-many-images") in given  # the instance's other limits still hold

    help_text = invoke("calendar", "validate", "--help")[1]
    assert "links count 23" not in help_text and "your instance gave when last read" in help_text


def _one_post_campaign(root: Path, length: int) -> Path:
    folder = write_campaign(root / "campaigns")
    path = folder / "calendars" / "one.yaml"
    path.write_text(
        f"campaign: {folder.name}\ntimezone: Europe/London\nposts:\n"
        f"  - id: long\n    at: 2027-02-01 10:00\n    platforms: [mastodon]\n    text: '{_text(length)}'\n",
        encoding="utf-8",
    )
    return path


def test_every_check_of_a_calendar_uses_the_limits_the_instance_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate, schedule, rehearse and the web workspace's calendar page: one path of limits (the core's)."""
    cli_env(monkeypatch, tmp_path, {"MASTODON_API_BASE_URL": "https://social.example", "MASTODON_ACCESS_TOKEN": ""})
    calendar = _one_post_campaign(tmp_path, 700)
    api = Api.from_settings(clock=FixedClock(datetime(2027, 1, 31, 23, 30, tzinfo=UTC)), create_store=True)
    try:
        (refused,) = api.check_calendars([calendar]).errors
        assert "over the limit of 500 (Mastodon's default;" in refused.message
        recorder = api.wiring.instance_recorder
        assert recorder is not None
        recorder(InstanceLimits(domain="social.example", max_characters=1000))  # as the adapter does on reading
        recorder.flush()

        assert api.check_calendars([calendar]).errors == []
        (workspace_file,) = api.workspace_calendars().files
        assert workspace_file.errors == 0, workspace_file.problems
        rehearsal = api.rehearse([calendar], speed=10_000)
        assert rehearsal.published == 1
        assert api.schedule([calendar], actor="test").report is not None

        _one_post_campaign(tmp_path, 1_001)
        (refused,) = api.check_calendars([calendar]).errors
        assert refused.message.endswith("1 over the limit of 1000 (the limit social.example gave on 31 January 2027).")
    finally:
        api.close()


def test_posting_keeps_what_the_worker_read_of_the_instance_for_checking_calendars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.configure(max_characters=1000, description_limit=10_000, video_size_limit=50_000_000)
    cli_env(
        monkeypatch,
        tmp_path,
        {"MASTODON_API_BASE_URL": mastodon_account.base_url, "MASTODON_ACCESS_TOKEN": mastodon_account.token},
    )
    folder = write_campaign(tmp_path / "campaigns")
    calendar = write_calendar(folder, "now.yaml", [("now", datetime.now(UTC) + timedelta(hours=1), "Now #ActOnIICSA")])
    api = Api.from_settings(create_store=True)
    try:
        assert api.calendar_limits().mastodon_characters == 500  # not read yet
        api.schedule([calendar], actor="test")
        outcomes = api.post_now("now", "mastodon", actor="test")  # the worker's path: Api.publish, the adapter
        assert [o.result for o in outcomes] == ["published"], outcomes
        assert api.wiring.instance_recorder is not None
        api.wiring.instance_recorder.flush()
        limits = api.calendar_limits()
        assert (limits.mastodon_characters, limits.mastodon_alt_characters) == (1000, 10_000)
        assert limits.mastodon_video.max_bytes == 50_000_000
        assert GAVE.search(f"({limits.mastodon_from()})")
    finally:
        api.close()
