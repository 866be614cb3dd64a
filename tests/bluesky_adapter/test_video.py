"""A post's video on the local Bluesky network: an app.bsky.embed.video with the video, its alt text, aspect ratio
and WebVTT captions. The local network has no video service (Bluesky's own runs only beside its own PDSes), so
these tests exercise the blob path (com.atproto.repo.uploadBlob on the PDS); the choice of path is tested below."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from content_calendar.model import RenderedCaptions, RenderedPart, RenderedVideo
from content_calendar.render import file_sha256
from platforms.base import TransientError
from platforms.bluesky.video import BLUESKY_VIDEO_SERVICE, video_service_for
from tests.bluesky_adapter.conftest import Publisher
from tests.bluesky_adapter.test_adapter import PUT_RECORD, part
from tests.bluesky_net.proxy import FaultProxy, RequestMatch
from tests.support.video import write_captions, write_video

pytestmark = pytest.mark.integration

UPLOAD_BLOB = RequestMatch(nsid="com.atproto.repo.uploadBlob", method="POST")
WELSH = "WEBVTT\n\n00:00.000 --> 00:01.000\nHelo o'r tîm.\n"


def _video_part(tmp_path: Path, post_id: str) -> RenderedPart:
    video = write_video(tmp_path / "film.mp4")
    english = write_captions(tmp_path / "film.en.vtt")
    welsh = write_captions(tmp_path / "film.cy.vtt", WELSH)
    rendered = RenderedVideo(
        str(video),
        "A grey square fades to white.",
        file_sha256(video),
        (
            RenderedCaptions(str(english), "en", file_sha256(english)),
            RenderedCaptions(str(welsh), "cy", file_sha256(welsh)),
        ),
    )
    return part("Our film #ActOnIICSA", post_id=post_id, video=rendered)


def _blob(publisher: Publisher, cid: str) -> bytes:
    answer = httpx.get(
        f"{publisher.network.pds_direct_url}/xrpc/com.atproto.sync.getBlob",
        params={"did": publisher.did, "cid": cid},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.content


def test_a_video_with_captions_is_posted_as_an_embed_video(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    video_part = _video_part(tmp_path, "film")
    outcome = publisher.adapter(tmp_path).publish(video_part, "film-1", reply_to=None, outcome_unknown=False)
    [stored] = publisher.records()
    assert stored["uri"] == outcome.post.uri
    embed = stored["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.video"
    assert embed["alt"] == "A grey square fades to white."
    assert embed["aspectRatio"] == {"width": 64, "height": 48}
    assert embed["video"]["mimeType"] == "video/mp4"
    assert _blob(publisher, embed["video"]["ref"]["$link"]) == (tmp_path / "film.mp4").read_bytes()
    assert [c["lang"] for c in embed["captions"]] == ["en", "cy"]
    assert [c["file"]["mimeType"] for c in embed["captions"]] == ["text/vtt", "text/vtt"]
    assert _blob(publisher, embed["captions"][1]["file"]["ref"]["$link"]).decode() == WELSH
    assert bluesky_proxy.count(UPLOAD_BLOB) == 3  # the video and its two captions, as blobs on the PDS
    assert not any("app.bsky.video" in (r.nsid or "") for r in bluesky_proxy.requests)


def test_a_retry_after_a_lost_answer_never_posts_twice(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    video_part = _video_part(tmp_path, "lost")
    adapter = publisher.adapter(tmp_path)
    bluesky_proxy.drop_after_forwarding_next(1, match=PUT_RECORD)
    with pytest.raises(TransientError) as raised:
        adapter.publish(video_part, "lost-video", reply_to=None, outcome_unknown=False)
    assert raised.value.outcome_unknown
    retried = adapter.publish(video_part, "lost-video", reply_to=None, outcome_unknown=True)
    assert retried.already_existed
    [stored] = publisher.records()
    assert stored["uri"] == retried.post.uri
    # The retry uploaded the video and captions again (blobs are content-addressed: the same blobs), never the post.
    assert bluesky_proxy.count(UPLOAD_BLOB) == 6
    assert bluesky_proxy.count(PUT_RECORD) == 2


def test_which_accounts_go_through_the_video_service() -> None:
    assert video_service_for("https://bsky.social") == BLUESKY_VIDEO_SERVICE
    assert video_service_for("https://morel.us-east.host.bsky.network") == BLUESKY_VIDEO_SERVICE
    assert video_service_for("http://localhost:2583") is None  # a PDS of its own: blobs on it
    assert video_service_for("https://pds.example.org") is None
    assert video_service_for("https://bsky.social", "") is None  # switched off
    assert video_service_for("http://localhost:2583", "https://video.example.org/") == "https://video.example.org"
