"""A post's video on the local Bluesky network: an app.bsky.embed.video with the video, its alt text, aspect ratio
and WebVTT captions. The local network has no video service (Bluesky's own runs only beside its own PDSes), so
these tests exercise the blob path (com.atproto.repo.uploadBlob on the PDS); the choice of path is tested below."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
    # The retry looks the post up by its key before it reads or uploads anything: the file may be gone by then.
    (tmp_path / "film.mp4").unlink()
    retried = adapter.publish(video_part, "lost-video", reply_to=None, outcome_unknown=True)
    assert retried.already_existed
    [stored] = publisher.records()
    assert stored["uri"] == retried.post.uri
    assert bluesky_proxy.count(UPLOAD_BLOB) == 3  # the video and its captions, once
    assert bluesky_proxy.count(PUT_RECORD) == 1


def test_which_accounts_go_through_the_video_service() -> None:
    assert video_service_for("https://bsky.social") == BLUESKY_VIDEO_SERVICE
    assert video_service_for("https://morel.us-east.host.bsky.network") == BLUESKY_VIDEO_SERVICE
    assert video_service_for("http://localhost:2583") is None  # a PDS of its own: blobs on it
    assert video_service_for("https://pds.example.org") is None
    assert video_service_for("https://bsky.social", "") is None  # switched off
    assert video_service_for("http://localhost:2583", "https://video.example.org/") == "https://video.example.org"


class _VideoService(ThreadingHTTPServer):
    """A stand-in for Bluesky's video service (public internet, so not run here): it answers getUploadLimits,
    takes uploadVideo as the real one does, and puts the video on the account's PDS with the service-auth token
    the client gave it (the real service does so once it has re-encoded the file); getJobStatus says it is
    encoding once, then completed with the blob."""

    def __init__(self, pds_url: str) -> None:
        super().__init__(("127.0.0.1", 0), _VideoHandler)
        self.pds_url = pds_url
        self.calls: list[tuple[str, str]] = []  # (method name, Authorization header)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.polls = 0
        self.encoding = False  # True: every job stays encoding
        self.upload_delay = 0.0  # seconds uploadVideo takes to answer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up waiting closed its end


class _VideoHandler(BaseHTTPRequestHandler):
    server: _VideoService

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        nsid, params = url.path.removeprefix("/xrpc/"), dict(parse_qsl(url.query))
        self.server.calls.append((nsid, self.headers.get("Authorization", "")))
        if nsid == "app.bsky.video.getUploadLimits":
            self._answer(200, {"canUpload": True, "remainingDailyVideos": 25, "remainingDailyBytes": 10**10})
        elif nsid == "app.bsky.video.getJobStatus":
            self.server.polls += 1
            job = self.server.jobs[params["jobId"]]
            encoding = {key: value for key, value in job.items() if key != "blob"} | {"state": "JOB_STATE_ENCODING"}
            done = self.server.polls > 1 and not self.server.encoding
            self._answer(200, {"jobStatus": job if done else encoding})
        else:
            self._answer(404, {"error": "MethodNotImplemented"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        nsid, params = url.path.removeprefix("/xrpc/"), dict(parse_qsl(url.query))
        token = self.headers.get("Authorization", "")
        self.server.calls.append((nsid, token))
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.server.upload_delay)
        stored = httpx.post(
            f"{self.server.pds_url}/xrpc/com.atproto.repo.uploadBlob",
            content=body,
            headers={"Authorization": token, "Content-Type": "video/mp4"},
            timeout=30,
        )
        if stored.status_code != 200:
            self._answer(stored.status_code, stored.json())
            return
        job_id = f"job-{len(self.server.jobs) + 1}"
        self.server.jobs[job_id] = {
            "jobId": job_id, "did": params["did"], "state": "JOB_STATE_COMPLETED", "blob": stored.json()["blob"]
        }  # fmt: skip
        self._answer(200, {"jobStatus": {"jobId": job_id, "did": params["did"], "state": "JOB_STATE_CREATED"}})


def test_through_a_video_service_with_service_auth_from_the_pds(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    service = _VideoService(publisher.network.pds_direct_url)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{service.server_address[1]}"
        adapter = publisher.adapter(tmp_path, video_service=address)
        adapter.writer.records.videos.deadline = 30.0  # type: ignore[union-attr]
        adapter.publish(_video_part(tmp_path, "served"), "served-1", reply_to=None, outcome_unknown=False)
    finally:
        service.shutdown()
        service.server_close()
    assert [name for name, _ in service.calls] == [
        "app.bsky.video.getUploadLimits",
        "app.bsky.video.uploadVideo",
        "app.bsky.video.getJobStatus",
        "app.bsky.video.getJobStatus",
    ]
    assert all(token.startswith("Bearer ey") for _, token in service.calls[:2])  # service-auth JWTs from the PDS
    [stored] = publisher.records()
    embed = stored["value"]["embed"]
    assert embed["video"]["ref"] == service.jobs["job-1"]["blob"]["ref"]
    assert _blob(publisher, embed["video"]["ref"]["$link"]) == (tmp_path / "film.mp4").read_bytes()
    assert bluesky_proxy.count(UPLOAD_BLOB) == 2  # only the captions went to the PDS from us


class _Clock:
    """Monotonic time that a sleep moves on at once."""

    def __init__(self) -> None:
        self.now, self.slept = 1000.0, 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds

    def monotonic(self) -> float:
        return self.now


def test_a_video_still_processing_at_the_deadline_is_tried_again_not_posted(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    service = _VideoService(publisher.network.pds_direct_url)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    video_part = _video_part(tmp_path, "slow")
    try:
        address = f"http://127.0.0.1:{service.server_address[1]}"
        adapter = publisher.adapter(tmp_path, video_service=address, video_deadline=240.0)
        videos = adapter.writer.records.videos
        assert videos is not None
        clock = _Clock()
        videos._sleep, videos._monotonic = clock.sleep, clock.monotonic
        service.encoding = True
        with pytest.raises(TransientError) as raised:
            adapter.publish(video_part, "slow-1", reply_to=None, outcome_unknown=False)
        assert str(raised.value) == (
            "post slow: Bluesky was still processing the video after 4 minutes; it will be tried again."
        )
        assert not raised.value.outcome_unknown  # nothing was written: no need to look for it first
        assert 200 < clock.slept <= 240 and service.polls > 5
        assert publisher.records() == [] and bluesky_proxy.count(PUT_RECORD) == 0
        # The deadline counts from the start, the upload included: an upload that does not answer in time is cut
        # short by it (in real time here: one second), with the same message.
        videos._sleep, videos._monotonic, videos.deadline = time.sleep, time.monotonic, 1.0
        service.upload_delay = 5.0
        started = time.monotonic()
        with pytest.raises(TransientError, match="still processing the video after 1 second;") as cut:
            adapter.publish(video_part, "slow-1", reply_to=None, outcome_unknown=False)
        assert time.monotonic() - started < 4.0 and not cut.value.outcome_unknown
        service.encoding, service.upload_delay, videos.deadline = False, 0.0, 30.0
        outcome = adapter.publish(video_part, "slow-1", reply_to=None, outcome_unknown=False)
    finally:
        service.shutdown()
        service.server_close()
    [stored] = publisher.records()
    assert stored["uri"] == outcome.post.uri and stored["value"]["embed"]["$type"] == "app.bsky.embed.video"
