"""A part's video as an `app.bsky.embed.video`: the file, its alt text, its aspect ratio and its WebVTT captions.

Where the account's PDS is one of Bluesky's own, the video goes through Bluesky's video service, as the official
app sends it (app.bsky.video.getUploadLimits, then uploadVideo with service auth from the PDS, then getJobStatus
until the service has put the processed video on the PDS as a blob). Any other PDS (a self-hosted one, the local
network of the tests) has no video service: the file goes as a blob on the PDS (com.atproto.repo.uploadBlob), as
it is. Captions always go as blobs (text/vtt).

Exactly once rests on the post's record key, as for images: uploads are not posts. A blob is content-addressed,
and the video service answers an upload it already has with its earlier job, so a retry that uploads again still
writes the same record under the same key.

One attempt gives the video service `deadline` seconds in all (the wiring passes one well inside the time a worker
may hold the post): every request's timeout is cut to what is left, and an attempt that runs out fails as one to
try again (the service answers its next upload with the same job).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from content_calendar.model import RenderedVideo
from content_calendar.video import VideoProblem, probe_video
from platforms.base import PermanentError, TransientError, still_processing
from platforms.bluesky.session import BlueskySession
from platforms.bluesky.xrpc import Xrpc

# The video service of Bluesky's own PDSes (bsky.social and its *.host.bsky.network), as the official app uses it.
BLUESKY_VIDEO_SERVICE = "https://video.bsky.app"
AUTO = "auto"
_DONE, _FAILED = "JOB_STATE_COMPLETED", "JOB_STATE_FAILED"


def video_service_for(pds: str, setting: str | None = AUTO) -> str | None:
    """The video service to use for an account on `pds`: `setting` when it names one, none when it is empty,
    and with "auto" Bluesky's own for its own PDSes (others have none)."""
    if setting != AUTO:
        return (setting or "").rstrip("/") or None
    host = urlsplit(pds).hostname or ""
    return BLUESKY_VIDEO_SERVICE if host == "bsky.social" or host.endswith(".bsky.network") else None


class VideoUploads:
    def __init__(
        self,
        xrpc: Xrpc,
        session: BlueskySession,
        *,
        video_service: str | None = AUTO,
        timeout: float = 120.0,
        deadline: float = 240.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._xrpc = xrpc
        self._session = session
        self.video_service = video_service
        self.timeout = timeout
        self.deadline = deadline
        self._sleep = sleep
        self._monotonic = monotonic

    def embed(self, video: RenderedVideo, where: str) -> dict[str, Any]:
        path = Path(video.path)
        try:
            facts = probe_video(path)
        except VideoProblem as problem:
            raise PermanentError(f"{where}: {problem}") from None
        pds = self._session.pds_endpoint.removesuffix("/xrpc")
        service = video_service_for(pds, self.video_service)
        blob = self._through_service(service, pds, path, where) if service else self._as_blob(path, "video/mp4")
        embed: dict[str, Any] = {"$type": "app.bsky.embed.video", "video": blob, "alt": video.alt}
        if facts.width and facts.height:
            embed["aspectRatio"] = {"width": facts.width, "height": facts.height}
        if video.captions:
            embed["captions"] = [
                {"lang": captions.lang, "file": self._as_blob(Path(captions.path), "text/vtt")}
                for captions in video.captions
            ]
        return embed

    def _as_blob(self, path: Path, mime_type: str) -> dict[str, Any]:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise PermanentError(f"{path.name} cannot be read ({error.strerror}). Fix: check the file.") from None
        answer = self._xrpc.procedure("com.atproto.repo.uploadBlob", data, mime_type)
        blob = answer.get("blob")
        if not isinstance(blob, dict):
            raise TransientError(f"Bluesky answered the upload of {path.name} without a blob reference.")
        return blob

    # -- Bluesky's video service -----------------------------------------------------------------------

    def _token(self, audience: str, method: str) -> str:
        expires = int(time.time()) + 30 * 60
        answer = self._xrpc.query(
            "com.atproto.server.getServiceAuth", [("aud", audience), ("lxm", method), ("exp", expires)]
        )
        token = answer.get("token")
        if not isinstance(token, str):
            raise TransientError("Bluesky did not give a token for its video service; trying again later.")
        return token

    def _through_service(self, service: str, pds: str, path: Path, where: str) -> dict[str, Any]:
        service_did = f"did:web:{urlsplit(service).hostname}"
        ends = self._monotonic() + self.deadline
        with httpx.Client(base_url=f"{service}/xrpc", timeout=self.timeout) as http:
            limits = self._call(
                http,
                "GET",
                "app.bsky.video.getUploadLimits",
                self._token(service_did, "app.bsky.video.getUploadLimits"),
                ends=ends,
                where=where,
            )
            if limits.get("canUpload") is False:
                reason = limits.get("message") or limits.get("error") or "no reason given"
                raise TransientError(
                    f"{where}: Bluesky takes no more videos from this account today ({reason}); trying again later.",
                    retry_after=3600.0,
                )
            token = self._token(f"did:web:{urlsplit(pds).hostname}", "com.atproto.repo.uploadBlob")
            job = (
                self._call(
                    http,
                    "POST",
                    "app.bsky.video.uploadVideo",
                    token,
                    params={"did": self._session.did, "name": path.name},
                    content=path.read_bytes(),
                    ends=ends,
                    where=where,
                ).get("jobStatus")
                or {}
            )
            return self._wait_for_job(http, job, where, ends)

    def _wait_for_job(self, http: httpx.Client, job: dict[str, Any], where: str, ends: float) -> dict[str, Any]:
        pause = 0.5
        while True:
            if isinstance(job.get("blob"), dict):
                return dict(job["blob"])
            if job.get("state") == _FAILED:
                reason = job.get("message") or job.get("error") or "no reason given"
                raise PermanentError(f"{where}: Bluesky's video service could not use the video ({reason}).")
            if self._monotonic() + pause > ends:
                raise still_processing(where, "Bluesky", "the video", self.deadline)
            self._sleep(pause)
            pause = min(pause * 2, 10.0)
            job = self._call(
                http,
                "GET",
                "app.bsky.video.getJobStatus",
                None,
                params={"jobId": job.get("jobId")},
                ends=ends,
                where=where,
            )
            job = job.get("jobStatus") or {}

    def _call(
        self,
        http: httpx.Client,
        method: str,
        nsid: str,
        token: str | None,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        ends: float,
        where: str,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content is not None:
            headers["Content-Type"] = "video/mp4"
        left = ends - self._monotonic()
        if left <= 0:
            raise still_processing(where, "Bluesky", "the video", self.deadline)
        try:
            response = http.request(
                method, nsid, params=params, content=content, headers=headers, timeout=min(self.timeout, left)
            )
        except httpx.TimeoutException:
            if left < self.timeout:  # cut short by the deadline
                raise still_processing(where, "Bluesky", "the video", self.deadline) from None
            raise TransientError("Bluesky's video service did not answer in time; trying again later.") from None
        except httpx.HTTPError as error:
            raise TransientError(f"Bluesky's video service did not answer ({error.__class__.__name__}).") from None
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code == 409 and body.get("jobId"):
            return {"jobStatus": {"jobId": body["jobId"], "state": "JOB_STATE_CREATED"}}  # uploaded before
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"Bluesky's video service answered {response.status_code}; trying again later.")
        if response.status_code >= 400:
            reason = body.get("message") or body.get("error") or response.reason_phrase
            raise PermanentError(f"Bluesky's video service refused the video: {reason}.")
        return body if isinstance(body, dict) else {}
