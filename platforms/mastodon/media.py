"""A part's images (with their alt text and focus) or its video (with its alt text, sent as it is) uploaded, and
waited for until the instance has processed them (an image at once, a video in the background).

Uploads of a delivery not yet attached to a status are remembered by idempotency key, so a retry after e.g. a
429 on the status does not upload (and count against the 30-per-30-minutes media limit) again.

One attempt gives its uploads `deadline` seconds from the first upload to the last one processed (the wiring
passes one well inside the time a worker may hold the post); one that runs out fails as one to try again."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mastodon import Mastodon
from mastodon.errors import MastodonAPIError, MastodonError, MastodonIllegalArgumentError, MastodonNotFoundError

from content_calendar.images import ImageProblem, prepare_image
from content_calendar.model import MASTODON_VIDEO, RenderedPart
from content_calendar.video import VideoProblem, probe_video, video_problems
from platforms.base import PermanentError, TransientError, still_processing
from platforms.mastodon.connection import Connection
from platforms.mastodon.entities import value_of
from platforms.mastodon.errors import api_error_parts
from platforms.mastodon.instance import InstanceLimits

Fingerprint = tuple[str, str, str]  # an image's sha256, alt text and focus


@dataclass
class Upload:
    media_id: str
    ready: bool


class MediaUploads:
    def __init__(
        self,
        connection: Connection,
        *,
        first_poll: float,
        max_poll: float,
        deadline: float,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ):
        self._connection = connection
        self.first_poll = first_poll
        self.max_poll = max_poll
        self.deadline = deadline
        self._sleep = sleep
        self._monotonic = monotonic
        self._pending: dict[str, dict[Fingerprint, str]] = {}  # idempotency key -> uploads not yet attached

    def forget_delivery(self, idempotency_key: str) -> None:
        """The delivery's status exists: its uploads are attached (or never will be)."""
        self._pending.pop(idempotency_key, None)

    def upload(self, part: RenderedPart, idempotency_key: str, limits: InstanceLimits) -> list[str]:
        """The media ids of the part's images (or its video), processed and ready to attach."""
        if not part.images and part.video is None:
            return []
        client = self._connection.client()
        ends = self._monotonic() + self.deadline
        earlier = self._pending.setdefault(idempotency_key, {})
        uploads: list[Upload] = []
        for number, image in enumerate(part.images, start=1):
            fingerprint = (image.sha256, image.alt, json.dumps(image.focus))
            reused = self._still_unattached(client, earlier.get(fingerprint))
            if reused is not None:
                uploads.append(reused)
                continue
            try:
                prepared = prepare_image(Path(image.path), limits.image_size_limit)
            except ImageProblem as problem:
                raise PermanentError(f"post {part.post_id}, image {number}: {problem}") from None
            upload = self._send(
                client, part, f"image {number}", prepared.data, prepared.mime_type, image.alt, image.focus, image.path
            )
            earlier[fingerprint] = upload.media_id
            uploads.append(upload)
        video = part.video
        if video is not None:
            fingerprint = (video.sha256, video.alt, "video")
            reused = self._still_unattached(client, earlier.get(fingerprint))
            if reused is None:
                try:
                    facts = probe_video(Path(video.path))
                except VideoProblem as problem:
                    raise PermanentError(f"post {part.post_id}, video: {problem}") from None
                # The file as it is: Mastodon re-encodes video itself (202, then processing in the background).
                reused = self._send(client, part, "the video", video.path, facts.mime_type, video.alt, None, video.path)
                earlier[fingerprint] = reused.media_id
            uploads.append(reused)
        what = "the video" if video is not None else "the images" if len(part.images) > 1 else "the image"
        self._wait_for_processing(client, uploads, ends, f"post {part.post_id}", what)
        return [u.media_id for u in uploads]

    def _send(
        self,
        client: Mastodon,
        part: RenderedPart,
        what: str,
        data: bytes | str,
        mime_type: str,
        description: str,
        focus: tuple[float, float] | None,
        source: str,
    ) -> Upload:
        """POST /api/v2/media: the upload, ready (200) or still processing (202)."""
        connection = self._connection
        try:
            media = client.media_post(
                data, mime_type=mime_type, description=description, focus=focus, file_name=Path(source).name
            )
        except MastodonAPIError as error:
            code, reason = api_error_parts(error)
            if code == 422:
                raise PermanentError(
                    connection.redact(f"{connection.account} refused {what} of post {part.post_id}: {reason}")
                ) from None
            connection.fail(error, doing=f"uploading {what}", client=client)
        except MastodonIllegalArgumentError as error:
            raise PermanentError(f"post {part.post_id}, {what}: {error}") from None
        except MastodonError as error:
            connection.fail(error, doing=f"uploading {what}", client=client)
        return Upload(str(value_of(media, "id")), bool(value_of(media, "url")))

    def _forget_upload(self, media_id: str) -> None:
        for uploads in self._pending.values():
            for fingerprint, known in list(uploads.items()):
                if known == media_id:
                    del uploads[fingerprint]

    def _still_unattached(self, client: Mastodon, media_id: str | None) -> Upload | None:
        """An upload of an earlier attempt, if the server still has it unattached (GET answers 404 once
        it belongs to a status)."""
        if media_id is None:
            return None
        try:
            media = client.media(media_id)
        except MastodonError:
            return None
        return Upload(media_id, bool(value_of(media, "url")))

    def _wait_for_processing(self, client: Mastodon, uploads: list[Upload], ends: float, where: str, what: str) -> None:
        """Poll GET /api/v1/media/:id until every upload has its url: short doubling waits, until `ends`."""
        account = self._connection.account
        waiting = [u for u in uploads if not u.ready]
        pause = self.first_poll
        while waiting:
            if self._monotonic() + pause > ends:
                raise still_processing(where, account, what, self.deadline)
            self._sleep(pause)
            pause = min(pause * 2, self.max_poll)
            for upload in list(waiting):
                try:
                    media = client.media(upload.media_id)
                except MastodonNotFoundError:
                    self._forget_upload(upload.media_id)
                    raise TransientError(
                        f"{account} lost an upload while processing it; the next attempt uploads it again",
                        retry_after=5.0,
                    ) from None
                except MastodonError as error:
                    self._connection.fail(error, doing="waiting for an upload to be processed", client=client)
                if value_of(media, "url"):
                    upload.ready = True
                    waiting.remove(upload)


def check_video(part: RenderedPart, limits: InstanceLimits, where: str) -> None:
    """Refuse, before any request, a video this instance would refuse: no alt text, a description over its limit,
    or a file over its size, pixel or frame rate limits (its own figures from /api/v2/instance)."""
    video = part.video
    if video is None:
        return
    if part.images:
        raise PermanentError(f"{where}: a post carries images or one video, not both. Fix the post in the calendar.")
    if not video.alt.strip():
        raise PermanentError(f"{where}: the video has no alt text. Write one in the calendar.")
    if len(video.alt) > limits.description_limit:
        raise PermanentError(
            f"{where}: the alt text of the video is {len(video.alt)} characters; {limits.domain or 'the instance'} "
            f"takes at most {limits.description_limit}. Shorten it."
        )
    allowed = replace(
        MASTODON_VIDEO,
        max_bytes=limits.video_size_limit,
        max_pixels=limits.video_matrix_limit,
        max_frame_rate=float(limits.video_frame_rate_limit),
    )
    try:
        problems = video_problems(probe_video(Path(video.path)), allowed, limits.domain or "this Mastodon instance")
    except VideoProblem as problem:
        raise PermanentError(f"{where}: {problem}") from None
    if problems:
        raise PermanentError(f"{where}: the video {problems[0].message} Fix: {problems[0].fix}")
