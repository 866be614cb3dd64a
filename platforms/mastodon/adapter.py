"""The Mastodon adapter: one account's connection, its publisher and its readers behind the interface the
scheduler uses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from content_calendar.model import RenderedPart
from platforms.base import (
    AccountInfo,
    CredentialsError,
    Engagement,
    MentionPage,
    PublishOutcome,
    RemotePost,
    ThreadRefs,
)
from platforms.mastodon.connection import Connection
from platforms.mastodon.errors import FIX_TOKEN
from platforms.mastodon.instance import PLATFORM, InstanceLimits, normal_base_url
from platforms.mastodon.media import MediaUploads
from platforms.mastodon.publish import Publisher
from platforms.mastodon.read import MentionReader, ReadBudget, read_engagement


class MastodonAdapter:
    """Publishes to, and reads from, one Mastodon account (`api_base_url` + `access_token`).

    `account` (the rate limiter's key) is the instance's host: settings hold one Mastodon account, and the
    key must be known without a network call."""

    platform = PLATFORM
    dry_run = False

    def __init__(
        self,
        api_base_url: str,
        access_token: str,
        *,
        watched_instances: Sequence[str] = (),
        request_timeout: float = 10.0,
        limits_ttl: float = 600.0,
        media_first_poll: float = 0.2,
        media_max_poll: float = 2.0,
        media_deadline: float = 60.0,  # seconds one attempt waits for its uploads (the wiring passes the policy's)
        reconcile_margin: timedelta = timedelta(minutes=10),
        reconcile_pages: int = 5,
        mention_pages: int = 5,
        mention_requests: int = 40,
        token_reserve: int = 60,
        cursor_overlap: timedelta = timedelta(minutes=10),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_limits: Callable[[InstanceLimits], None] | None = None,
    ):
        """`on_limits` is called with the instance's limits each time they are read from /api/v2/instance."""
        if not api_base_url or not access_token:
            raise CredentialsError(f"Mastodon is not configured: set MASTODON_API_BASE_URL. {FIX_TOKEN}")
        self._connection = Connection(
            normal_base_url(api_base_url),
            access_token,
            request_timeout=request_timeout,
            limits_ttl=limits_ttl,
            monotonic=monotonic,
            on_limits=on_limits,
        )
        self.api_base_url = self._connection.api_base_url
        self.account = self._connection.account
        self.watched_instances = tuple(dict.fromkeys(normal_base_url(u) for u in watched_instances if u and u.strip()))
        media = MediaUploads(
            self._connection,
            first_poll=media_first_poll,
            max_poll=media_max_poll,
            deadline=media_deadline,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._publisher = Publisher(
            self._connection, media, reconcile_margin=reconcile_margin, reconcile_pages=reconcile_pages
        )
        self._mentions = MentionReader(
            self._connection,
            watched_instances=self.watched_instances,
            mention_pages=mention_pages,
            mention_requests=mention_requests,
            token_reserve=token_reserve,
            cursor_overlap=cursor_overlap,
            monotonic=monotonic,
        )

    def __repr__(self) -> str:
        return f"MastodonAdapter({self.api_base_url!r}, access_token='********')"

    # ------------------------------------------------------------------ instance and account

    def limits(self, *, refresh: bool = False) -> InstanceLimits:
        """The instance's limits from /api/v2/instance, cached for `limits_ttl` seconds."""
        return self._connection.limits(refresh=refresh)

    def me(self) -> Any:
        """verify_credentials of our account, cached for the adapter's life (id and acct do not change)."""
        return self._connection.me()

    def check_account(self) -> AccountInfo:
        return self._connection.check_account()

    # ------------------------------------------------------------------ publishing

    def check_part(self, part: RenderedPart, limits: InstanceLimits) -> None:
        """Refuse, before any request, what this instance would refuse."""
        self._publisher.check_part(part, limits)

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        return self._publisher.publish(
            part, idempotency_key, reply_to=reply_to, outcome_unknown=outcome_unknown, written_at=written_at
        )

    def find_published(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None = None,
        written_at: datetime | None = None,
    ) -> RemotePost | None:
        """The status an earlier attempt of this delivery created, if any (see Publisher.find_published)."""
        return self._publisher.find_published(part, idempotency_key, reply_to=reply_to, written_at=written_at)

    # ------------------------------------------------------------------ reading

    def search_mentions(
        self, tags: Sequence[str], *, since: datetime | None, cursor: str | None, budget: ReadBudget | None = None
    ) -> MentionPage:
        """Hashtag timelines of our own instance and the watched ones. The cursor is a position, not a page
        token: it is returned after every call (even an empty one) and should be stored and passed back."""
        return self._mentions.search_mentions(tags, since=since, cursor=cursor, budget=budget)

    def read_budget(self) -> ReadBudget:
        """A fresh budget for one collection run on one instance (see ReadBudget)."""
        return self._mentions.read_budget()

    def search_mentions_on(
        self,
        instances: Sequence[str],
        tags: Sequence[str],
        *,
        since: datetime | None,
        cursor: str | None,
        budget: ReadBudget | None = None,
    ) -> MentionPage:
        """`instances`' hashtag timelines (see MentionReader.search_mentions_on)."""
        return self._mentions.search_mentions_on(instances, tags, since=since, cursor=cursor, budget=budget)

    def rewind_cursor(self, cursor: str, since: datetime) -> str:
        """A cursor whose every tag reads again from no later than `since` (a backfill)."""
        return self._mentions.rewind_cursor(cursor, since)

    def engagement(self, remote_ids: Iterable[str]) -> list[Engagement]:
        """Counts of our own statuses; statuses that are gone are left out."""
        return read_engagement(self._connection, remote_ids)
