"""A post's video on the Mastodon test server: uploaded as it is with its description (202, then processing,
polled without fixed sleeps), attached once, never uploaded and posted twice on a retry, and refused before any
request when the instance's own limits say no."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from content_calendar.model import Post, Video
from platforms.base import PermanentError, TransientError
from tests.mastodon_adapter.helpers import adapter_for, api_status, campaign_in, rendered, requests_to
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.video import video_bytes, write_video


def _video_post(post_id: str, path: Path, alt: str = "A grey square fades to white.") -> Post:
    video = Video(file=path.name, path=path, alt=alt, no_captions="No sound.")
    return Post(
        id=post_id,
        at=datetime.now(UTC),
        text="Our film #ActOnIICSA",
        platforms=("mastodon",),
        language="en",
        video=video,
    )


class _Clock:
    """Monotonic time that a sleep moves on at once."""

    def __init__(self) -> None:
        self.now, self.slept = 1000.0, 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds

    def monotonic(self) -> float:
        return self.now


def test_a_video_is_uploaded_with_its_description_processed_and_attached(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(video_processing_polls=2)
    path = write_video(tmp_path / "film.mp4")
    (part,) = rendered(_video_post("film", path), campaign_in(tmp_path))
    outcome = adapter_for(account).publish(part, "film", reply_to=None, outcome_unknown=False)
    uploads = requests_to(mastodon, "POST", "/api/v2/media")
    assert [u["status"] for u in uploads] == [202]  # a video is processed in the background
    assert [p["status"] for p in requests_to(mastodon, "GET", "/api/v1/media/")] == [206, 200]
    (attachment,) = api_status(account, outcome.post.remote_id)["media_attachments"]
    assert attachment["type"] == "video"
    assert attachment["description"] == "A grey square fades to white."
    assert attachment["meta"]["original"]["width"] == 64 and attachment["meta"]["original"]["height"] == 48
    assert attachment["url"]


def test_a_retry_never_uploads_and_posts_twice(mastodon: MastodonControl, account: TestAccount, tmp_path: Path) -> None:
    mastodon.configure(video_processing_polls=1000)
    path = write_video(tmp_path / "film.mp4")
    (part,) = rendered(_video_post("slow", path), campaign_in(tmp_path))
    clock = _Clock()
    adapter = adapter_for(account, media_deadline=240.0, sleep=clock.sleep, monotonic=clock.monotonic)
    with pytest.raises(TransientError) as raised:  # still processing at the deadline: nothing posted
        adapter.publish(part, "slow", reply_to=None, outcome_unknown=False)
    host = account.base_url.split("://")[1].rstrip("/")
    assert (
        str(raised.value)
        == f"post slow: {host} was still processing the video after 4 minutes; it will be tried again."
    )
    assert not raised.value.outcome_unknown and 200 < clock.slept <= 240
    assert not requests_to(mastodon, "POST", "/api/v1/statuses")
    mastodon.finish_media()
    first = adapter.publish(part, "slow", reply_to=None, outcome_unknown=False)
    assert len(requests_to(mastodon, "POST", "/api/v2/media")) == 1  # the first upload, reused
    # A later attempt whose outcome was unknown, in a new process: it finds the status (one attachment, the video)
    # and neither uploads nor posts again.
    again = adapter_for(account).publish(part, "slow", reply_to=None, outcome_unknown=True)
    assert again.already_existed and again.post.remote_id == first.post.remote_id
    assert len(requests_to(mastodon, "POST", "/api/v2/media")) == 1
    assert len(requests_to(mastodon, "POST", "/api/v1/statuses")) == 1


def test_the_instances_own_video_limits_refuse_before_any_request(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    path = write_video(tmp_path / "film.mp4")
    mastodon.configure(video_size_limit=len(video_bytes()) - 1)
    (part,) = rendered(_video_post("big", path), campaign_in(tmp_path))
    with pytest.raises(PermanentError, match="takes at most"):
        adapter_for(account).publish(part, "big", reply_to=None, outcome_unknown=False)
    (no_alt,) = rendered(_video_post("noalt", path, alt=""), campaign_in(tmp_path))
    with pytest.raises(PermanentError, match="the video has no alt text"):
        adapter_for(account).publish(no_alt, "noalt", reply_to=None, outcome_unknown=False)
    assert not requests_to(mastodon, "POST", "/api/v2/media")


def test_a_retry_after_an_unknown_outcome_finds_the_status_though_its_file_or_the_limits_changed(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    path = write_video(tmp_path / "film.mp4")
    campaign = campaign_in(tmp_path)
    (part,) = rendered(_video_post("out", path), campaign)
    (never,) = rendered(replace(_video_post("never", path), text="Our other film #ActOnIICSA"), campaign)
    first = adapter_for(account).publish(part, "out", reply_to=None, outcome_unknown=False)
    # The status went out but its answer was lost; before the retry the instance lowered its video limit...
    mastodon.configure(video_size_limit=len(video_bytes()) - 1)
    again = adapter_for(account).publish(part, "out", reply_to=None, outcome_unknown=True)
    assert again.already_existed and again.post.remote_id == first.post.remote_id
    # ...and the file was moved away.
    path.unlink()
    mastodon.configure(video_size_limit=len(video_bytes()) * 10)
    later = adapter_for(account).publish(part, "out", reply_to=None, outcome_unknown=True)
    assert later.already_existed and later.post.remote_id == first.post.remote_id
    # A part that is not there is still checked before anything is uploaded.
    with pytest.raises(PermanentError, match=r"film\.mp4"):
        adapter_for(account).publish(never, "never", reply_to=None, outcome_unknown=True)
    assert len(requests_to(mastodon, "POST", "/api/v2/media")) == 1
    assert len(requests_to(mastodon, "POST", "/api/v1/statuses")) == 1
