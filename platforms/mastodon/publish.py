"""Statuses exactly once.

Exactly once rests on two things. Every write of a delivery carries its idempotency key as the
`Idempotency-Key` header, which the server remembers for one hour (a repeat answers the original status).
For longer gaps, a delivery whose earlier attempt ended with an unknown outcome (dropped connection,
timeout, 5xx, a worker killed mid-call) is first looked for among the account's own recent statuses and is
only posted when it is not there. The dispatcher gives a slow write time to land before that look (its settle
period); should an earlier attempt's status appear all the same by the time a retry has posted anew (a server
that does not hold the key while it writes), the retry looks once more and deletes the newer copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonVersionError,
)

from content_calendar.model import RenderedPart
from content_calendar.render import mastodon_length
from platforms.base import AdapterError, PermanentError, PublishOutcome, RemotePost, ThreadRefs, TransientError
from platforms.mastodon.connection import Connection
from platforms.mastodon.entities import as_datetime, remote_post, value_of
from platforms.mastodon.errors import api_error_parts
from platforms.mastodon.instance import TIMELINE_PAGE_SIZE, InstanceLimits, snowflake_at
from platforms.mastodon.media import MediaUploads, check_video
from platforms.mastodon.text import html_to_plain, loose

log = logging.getLogger("campaign.mastodon")


class Publisher:
    def __init__(
        self, connection: Connection, media: MediaUploads, *, reconcile_margin: timedelta, reconcile_pages: int
    ):
        self._connection = connection
        self._media = media
        self.reconcile_margin = reconcile_margin
        self.reconcile_pages = reconcile_pages
        self._posted: dict[str, str] = {}  # idempotency key -> status id this process saw created

    def check_part(self, part: RenderedPart, limits: InstanceLimits) -> None:
        """Refuse, before any request, what this instance would refuse."""
        account = self._connection.account
        where = f"post {part.post_id}" + (f" (thread part {part.part})" if part.part else "")
        length = mastodon_length(part.text, limits.characters_reserved_per_url, spoiler_text=part.spoiler_text)
        if length > limits.max_characters:
            over = length - limits.max_characters
            raise PermanentError(
                f"{where}: the Mastodon text is {length} characters as {limits.domain or account} counts "
                f"them (content warning included, every URL as {limits.characters_reserved_per_url}), "
                f"{over} over its limit of {limits.max_characters}. Shorten the mastodon text (or its content "
                f"warning) by at least {over} characters in the calendar, e.g. with `mastodon: {{text: ...}}`."
            )
        check_video(part, limits, where)
        if not part.text.strip() and not part.images and part.video is None:
            raise PermanentError(f"{where}: the Mastodon text is empty. Write a text for it in the calendar.")
        if len(part.images) > limits.max_media_attachments:
            raise PermanentError(
                f"{where}: {len(part.images)} images, but {limits.domain or account} takes at most "
                f"{limits.max_media_attachments}. Remove some images or move them to a thread part."
            )
        for number, image in enumerate(part.images, start=1):
            if not image.alt.strip():
                raise PermanentError(f"{where}: image {number} has no alt text. Write one in the calendar.")
            if len(image.alt) > limits.description_limit:
                raise PermanentError(
                    f"{where}: the alt text of image {number} is {len(image.alt)} characters; "
                    f"{limits.domain or account} takes at most {limits.description_limit}. Shorten it."
                )

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        connection = self._connection
        account = connection.account
        limits = connection.limits()
        if outcome_unknown:
            # Look before checking: the checks read the files and the instance's limits as they are now, and a
            # status that went out must be found even when its file has moved or the limits changed since.
            found = self.find_published(part, idempotency_key, reply_to=reply_to, written_at=written_at)
            if found is not None:
                self._media.forget_delivery(idempotency_key)
                return PublishOutcome(found, already_existed=True)
        self.check_part(part, limits)
        media_ids = self._media.upload(part, idempotency_key, limits)
        client = connection.client()
        options: dict[str, Any] = {
            "in_reply_to_id": reply_to.parent.remote_id if reply_to is not None else None,
            "media_ids": media_ids or None,
            "sensitive": bool(part.spoiler_text),
            "visibility": part.visibility or "public",
            "spoiler_text": part.spoiler_text or None,
            "language": part.language or None,
            "idempotency_key": idempotency_key,
        }
        if not part.allow_quotes and limits.supports_quote_policy:
            options["quote_approval_policy"] = "nobody"
        try:
            status = client.status_post(part.text, **options)
        except MastodonAPIError as error:
            code, reason = api_error_parts(error)
            if code == 422 and "process" in reason.lower():
                # An attachment the server has not finished with: nothing was created, try again shortly.
                raise TransientError(
                    f"{account}: {reason} (the next attempt waits a few seconds)", retry_after=5.0
                ) from None
            if code == 422:
                raise PermanentError(
                    connection.redact(
                        f"{account} refused post {part.post_id} part {part.part}: {reason}. "
                        "Fix the post in the calendar and schedule it again."
                    )
                ) from None
            if code == 404 and reply_to is not None:
                parent_ref = reply_to.parent.url or reply_to.parent.remote_id
                raise PermanentError(
                    f"{account}: the status this thread part answers ({parent_ref}) is gone ({reason}). "
                    "The rest of the thread cannot be attached to it."
                ) from None
            connection.fail(error, doing="posting the status", client=client, wrote=True)
        except (MastodonIllegalArgumentError, ValueError) as error:  # refused by Mastodon.py before any request
            raise PermanentError(f"post {part.post_id} part {part.part}: {error}") from None
        except MastodonError as error:
            connection.fail(error, doing="posting the status", client=client, wrote=True)
        post = remote_post(status)
        attached = {str(value_of(m, "id")) for m in value_of(status, "media_attachments", [])}
        replayed = self._posted.get(idempotency_key) == post.remote_id or (
            bool(media_ids) and attached != set(media_ids)
        )
        self._posted[idempotency_key] = post.remote_id
        self._media.forget_delivery(idempotency_key)
        if outcome_unknown and not replayed:
            return self._one_copy(part, idempotency_key, post, reply_to=reply_to, written_at=written_at)
        return PublishOutcome(post, already_existed=replayed)

    def _one_copy(
        self,
        part: RenderedPart,
        idempotency_key: str,
        post: RemotePost,
        *,
        reply_to: ThreadRefs | None,
        written_at: datetime | None,
    ) -> PublishOutcome:
        """A retry after an unknown outcome has just posted anew: look once more, in case the earlier attempt's
        status has appeared since this one looked for it. Keep the oldest copy and delete the newer ones. The
        post is out either way, so a look or a deletion that fails is logged, never raised."""
        try:
            others = self._copies(part, reply_to=reply_to, written_at=written_at, besides=post.remote_id)
        except AdapterError as error:
            log.warning(
                "%s: post %s part %s was posted again after an unknown outcome; looking for an earlier copy "
                "failed (%s)", self._connection.account, part.post_id, part.part, error
            )  # fmt: skip
            return PublishOutcome(post)
        if not others:
            return PublishOutcome(post)
        client = self._connection.client()
        kept, *newer = sorted([post, *others], key=lambda p: (len(p.remote_id), p.remote_id))  # ids grow with time
        deleted: list[RemotePost] = []
        left: list[RemotePost] = []
        for copy in newer:
            try:
                client.status_delete(copy.remote_id)
            except MastodonNotFoundError:
                deleted.append(copy)  # already gone
            except MastodonError as error:
                log.warning("%s: deleting the second copy %s failed (%s)", self._connection.account,
                            copy.url or copy.remote_id, self._connection.redact(str(error)))  # fmt: skip
                left.append(copy)
            else:
                deleted.append(copy)
        self._posted[idempotency_key] = kept.remote_id
        return PublishOutcome(
            kept, already_existed=kept is not post, duplicates_deleted=tuple(deleted), duplicates_left=tuple(left)
        )

    def _copies(
        self, part: RenderedPart, *, reply_to: ThreadRefs | None, written_at: datetime | None, besides: str
    ) -> list[RemotePost]:
        """Every status of this delivery among the account's own but `besides` (bounded as find_published is)."""
        client = self._connection.client()
        lower = min(part.at, written_at or part.at) - self.reconcile_margin
        return [
            remote_post(status)
            for status in self._own_statuses_since(lower, doing="looking for a second copy of a status")
            if str(value_of(status, "id")) != besides and self._same_delivery(client, status, part, reply_to, lower)
        ]

    def _own_statuses_since(self, lower: datetime, *, doing: str) -> Iterator[Any]:
        """The account's own statuses since `lower`, newest first: `reconcile_pages` pages of 40 at most."""
        connection = self._connection
        client = connection.client()
        me = connection.me()
        max_id: str | None = None
        for _ in range(self.reconcile_pages):
            try:
                page = client.account_statuses(
                    value_of(me, "id"),
                    exclude_reblogs=True,
                    since_id=str(snowflake_at(lower)),
                    max_id=max_id,
                    limit=TIMELINE_PAGE_SIZE,
                )
            except MastodonError as error:
                connection.fail(error, doing=doing, client=client)
            if not page:
                return
            yield from page
            if len(page) < TIMELINE_PAGE_SIZE:
                return
            max_id = str(value_of(page[-1], "id"))

    def find_published(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None = None,
        written_at: datetime | None = None,
    ) -> RemotePost | None:
        """The status an earlier attempt of this delivery created, looked for among the account's own statuses
        since the earlier of the part's planned time and the attempt that may have written it (`post-now` can
        send it well before its plan), minus a margin for clock skew: same text, content warning, reply
        parent and number of attachments. Bounded: `reconcile_pages` pages of 40."""
        client = self._connection.client()
        known = self._posted.get(idempotency_key)
        lower = min(part.at, written_at or part.at) - self.reconcile_margin
        for status in self._own_statuses_since(lower, doing="looking for an earlier attempt's status"):
            if known is not None and str(value_of(status, "id")) == known:
                return remote_post(status)
            if self._same_delivery(client, status, part, reply_to, lower):
                return remote_post(status)
        return None

    def _same_delivery(
        self, client: Mastodon, status: Any, part: RenderedPart, reply_to: ThreadRefs | None, lower: datetime
    ) -> bool:
        created = as_datetime(value_of(status, "created_at"))
        if created is not None and created < lower:
            return False
        if (value_of(status, "spoiler_text", "") or "").strip() != part.spoiler_text.strip():
            return False
        parent = value_of(status, "in_reply_to_id")
        if reply_to is not None:
            if str(parent) != str(reply_to.parent.remote_id):
                return False
        elif (parent is None) != (part.part == 0):  # part 0 answers nothing, every later part answers something
            return False
        if len(value_of(status, "media_attachments", [])) != len(part.images) + (part.video is not None):
            return False
        if loose(html_to_plain(value_of(status, "content", ""))) != loose(part.text):
            return False
        # The HTML matched loosely; the source text decides exactly (mentions, spacing).
        try:
            source = client.status_source(value_of(status, "id"))
        except (MastodonNotFoundError, MastodonVersionError):
            return True  # no /source on this server: the loose match is the best evidence there is
        except MastodonError as error:
            self._connection.fail(error, doing="reading a status's source", client=client)
        return str(value_of(source, "text", "")).strip() == part.text.strip()
