"""A part's images uploaded with their alt text and focus, and waited for until the instance has processed them.

Uploads of a delivery not yet attached to a status are remembered by idempotency key, so a retry after e.g. a
429 on the status does not upload (and count against the 30-per-30-minutes media limit) again."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mastodon import Mastodon
from mastodon.errors import MastodonAPIError, MastodonError, MastodonIllegalArgumentError, MastodonNotFoundError

from content_calendar.images import ImageProblem, prepare_image
from content_calendar.model import RenderedPart
from platforms.base import PermanentError, TransientError
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
        """The media ids of the part's images, processed and ready to attach."""
        if not part.images:
            return []
        connection = self._connection
        client = connection.client()
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
            try:
                media = client.media_post(
                    prepared.data,
                    mime_type=prepared.mime_type,
                    description=image.alt,
                    focus=image.focus,
                    file_name=Path(image.path).name,
                )
            except MastodonAPIError as error:
                code, reason = api_error_parts(error)
                if code == 422:
                    raise PermanentError(
                        connection.redact(
                            f"{connection.account} refused image {number} of post {part.post_id}: {reason}"
                        )
                    ) from None
                connection.fail(error, doing=f"uploading image {number}", client=client)
            except MastodonIllegalArgumentError as error:
                raise PermanentError(f"post {part.post_id}, image {number}: {error}") from None
            except MastodonError as error:
                connection.fail(error, doing=f"uploading image {number}", client=client)
            upload = Upload(str(value_of(media, "id")), bool(value_of(media, "url")))
            earlier[fingerprint] = upload.media_id
            uploads.append(upload)
        self._wait_for_processing(client, uploads)
        return [u.media_id for u in uploads]

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

    def _wait_for_processing(self, client: Mastodon, uploads: list[Upload]) -> None:
        """Poll GET /api/v1/media/:id until every upload has its url: short doubling waits, one deadline."""
        account = self._connection.account
        waiting = [u for u in uploads if not u.ready]
        pause = self.first_poll
        deadline = self._monotonic() + self.deadline
        while waiting:
            if self._monotonic() + pause > deadline:
                raise TransientError(
                    f"{account} was still processing {len(waiting)} image(s) after "
                    f"{self.deadline:.0f} s; the next attempt reuses the uploads",
                    retry_after=30.0,
                )
            self._sleep(pause)
            pause = min(pause * 2, self.max_poll)
            for upload in list(waiting):
                try:
                    media = client.media(upload.media_id)
                except MastodonNotFoundError:
                    self._forget_upload(upload.media_id)
                    raise TransientError(
                        f"{account} lost an image upload while processing it; the next attempt uploads it again",
                        retry_after=5.0,
                    ) from None
                except MastodonError as error:
                    self._connection.fail(error, doing="waiting for an image to be processed", client=client)
                if value_of(media, "url"):
                    upload.ready = True
                    waiting.remove(upload)
