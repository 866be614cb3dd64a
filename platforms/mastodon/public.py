"""Reading Mastodon without an account: the public hashtag timelines of other instances, anonymously.

A campaign lists the instances whose timelines it watches (`mastodon_instances` in campaign.yaml); those are
public, so they are read even when no Mastodon account is configured. Nothing is posted and nothing of ours is
read (the engagement of our own statuses needs the account)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from platforms.base import MentionPage
from platforms.mastodon.connection import Connection
from platforms.mastodon.instance import PLATFORM, normal_base_url
from platforms.mastodon.read import MentionReader, ReadBudget


class MastodonReader:
    """The hashtag timelines of `watched_instances`, read without a token (the same reader, cursors and
    budgets as MastodonAdapter's, with no instance of our own)."""

    platform = PLATFORM
    account = ""  # no account: nothing to rate-limit on our side

    def __init__(
        self,
        *,
        watched_instances: Sequence[str] = (),
        request_timeout: float = 10.0,
        mention_pages: int = 5,
        mention_requests: int = 40,
        cursor_overlap: timedelta = timedelta(minutes=10),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._connection = Connection("", "", request_timeout=request_timeout, limits_ttl=600.0, monotonic=monotonic)
        self.watched_instances = tuple(dict.fromkeys(normal_base_url(u) for u in watched_instances if u and u.strip()))
        self._mentions = MentionReader(
            self._connection,
            watched_instances=self.watched_instances,
            mention_pages=mention_pages,
            mention_requests=mention_requests,
            token_reserve=0,
            cursor_overlap=cursor_overlap,
            monotonic=monotonic,
        )

    def __repr__(self) -> str:
        return f"MastodonReader(watched_instances={list(self.watched_instances)!r})"

    def search_mentions(
        self, tags: Sequence[str], *, since: datetime | None, cursor: str | None, budget: ReadBudget | None = None
    ) -> MentionPage:
        """The watched instances' hashtag timelines (see MentionReader.search_mentions_on)."""
        return self._mentions.search_mentions(tags, since=since, cursor=cursor, budget=budget)

    def read_budget(self) -> ReadBudget:
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
        return self._mentions.search_mentions_on(instances, tags, since=since, cursor=cursor, budget=budget)

    def rewind_cursor(self, cursor: str, since: datetime) -> str:
        return self._mentions.rewind_cursor(cursor, since)
