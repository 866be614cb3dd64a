"""Reading: hashtag mentions across instances (within a budget, from a cursor of positions) and the engagement
of our own statuses."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonVersionError,
)

from platforms.base import Engagement, Mention, MentionPage, PermanentError
from platforms.mastodon.connection import Connection
from platforms.mastodon.entities import as_datetime, value_of
from platforms.mastodon.errors import api_error_parts, needs_an_account
from platforms.mastodon.instance import (
    PLATFORM,
    STATUSES_BATCH,
    TIMELINE_PAGE_SIZE,
    host_of,
    normal_base_url,
    snowflake_at,
)
from platforms.mastodon.text import html_to_plain

log = logging.getLogger("campaign.mastodon")


@dataclass
class ReadBudget:
    """What one collection run may spend reading one instance: at most `requests` calls, and, when reading with
    our own token (an instance that hides its hashtag timelines from anonymous readers), never the token's last
    `token_reserve` requests of its rate-limit window: posting needs them. Reading stops early (what was read is
    kept, the cursor says where to go on) and `stopped` says why."""

    requests: int
    token_reserve: int
    stopped: str = ""
    spent: int = 0
    # Reply parents resolved during this run: (instance, status id) -> the parent's uri (None: not visible)
    parents: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def spend(self, client: Mastodon, *, authenticated: bool) -> bool:
        """Whether one more request may be made with `client` (counting it when so)."""
        if self.stopped:
            return False
        if self.requests <= 0:
            self.stopped = f"this run's {self.spent} requests are spent; the next run goes on"
            return False
        reserve = self.token_reserve if authenticated else 0
        remaining, reset = getattr(client, "ratelimit_remaining", None), getattr(client, "ratelimit_reset", None)
        window_open = getattr(client, "ratelimit_lastcall", None) is not None
        if (
            window_open
            and isinstance(reset, int | float)
            and reset > time.time()
            and isinstance(remaining, int)
            and remaining <= reserve
        ):
            self.stopped = (
                f"{remaining} requests left in the rate-limit window, kept for posting"
                if authenticated
                else "the instance's rate limit for anonymous readers is reached"
            )
            return False
        self.requests -= 1
        self.spent += 1
        return True


class MentionReader:
    """Hashtag timelines of our own instance and the watched ones, read forward from a position per instance
    and tag, with a look back below it for statuses that arrived late."""

    def __init__(
        self,
        connection: Connection,
        *,
        watched_instances: Sequence[str],
        mention_pages: int,
        mention_requests: int,
        token_reserve: int,
        cursor_overlap: timedelta,
        monotonic: Callable[[], float],
    ):
        self._connection = connection
        self.api_base_url = connection.api_base_url
        self.watched_instances = tuple(watched_instances)
        self.mention_pages = mention_pages
        self.mention_requests = mention_requests  # requests a collection run may make on one instance
        self.token_reserve = token_reserve  # X-RateLimit-Remaining that reading with our token leaves for posting
        self.cursor_overlap = cursor_overlap
        self._monotonic = monotonic
        self._timelines_need_token_until = float("-inf")  # our instance refused anonymous timeline reads
        self._no_batch_statuses: set[str] = set()  # instances without GET /api/v1/statuses?id[]=

    def search_mentions(
        self, tags: Sequence[str], *, since: datetime | None, cursor: str | None, budget: ReadBudget | None = None
    ) -> MentionPage:
        """Hashtag timelines of our own instance and the watched ones. The cursor is a position, not a page
        token: it is returned after every call (even an empty one) and should be stored and passed back."""
        own = [self.api_base_url] if self.api_base_url else []  # none for a reader without an account
        instances = [*own, *[u for u in self.watched_instances if u != self.api_base_url]]
        return self.search_mentions_on(instances, tags, since=since, cursor=cursor, budget=budget)

    def read_budget(self) -> ReadBudget:
        """A fresh budget for one collection run on one instance (see ReadBudget)."""
        return ReadBudget(self.mention_requests, self.token_reserve)

    def search_mentions_on(
        self,
        instances: Sequence[str],
        tags: Sequence[str],
        *,
        since: datetime | None,
        cursor: str | None,
        budget: ReadBudget | None = None,
    ) -> MentionPage:
        """Read anonymously (public timelines need no account, and our token's rate limit is left to posting);
        only our own instance, when it hides its timelines from anonymous readers, is read with our token, and
        then never down to the token's last `token_reserve` requests. `budget` bounds a run's requests (one
        call gets a fresh one): when it runs out the page so far comes back with the cursor after it, and the
        next call with the same budget reads nothing more."""
        budget = budget or self.read_budget()
        positions = _decode_cursor(cursor)
        mentions: dict[str, Mention] = {}
        for base_url in dict.fromkeys(normal_base_url(u) for u in instances):
            # Mastodon matches tags case-insensitively: #ItsNotOK and #ItsNotOk are one timeline.
            for tag in {
                t.strip().lstrip("#").casefold(): t.strip().lstrip("#") for t in tags if t.strip("# ")
            }.values():
                key = f"{base_url}|{tag.casefold()}"
                for mention in self._read_tag(base_url, tag, since=since, positions=positions, key=key, budget=budget):
                    earlier = mentions.get(mention.uri)
                    if earlier is None:
                        mentions[mention.uri] = mention
                    else:
                        mentions[mention.uri] = _merge(earlier, mention)
        if budget.stopped:
            log.info("reading mentions on %s stopped early: %s", ", ".join(map(host_of, instances)), budget.stopped)
        ordered = sorted(mentions.values(), key=lambda m: (m.created_at, m.uri))
        return MentionPage(mentions=ordered, cursor=json.dumps({"v": 1, "min_id": positions}, sort_keys=True))

    def rewind_cursor(self, cursor: str, since: datetime) -> str:
        """A cursor whose every tag reads again from no later than `since` (a backfill): each position becomes
        the earlier of itself and `since`, so nothing between an old position and `since` is skipped."""
        floor = snowflake_at(since)
        positions = {key: str(min(int(position), floor)) for key, position in _decode_cursor(cursor).items()}
        return json.dumps({"v": 1, "min_id": positions}, sort_keys=True)

    def _timeline_client(self, base_url: str) -> tuple[Mastodon, bool]:
        """(client, authenticated) to read `base_url`'s hashtag timelines: anonymous, unless it is our own
        instance and it refused anonymous reads lately (checked again every `limits_ttl` seconds)."""
        if base_url == self.api_base_url and self._monotonic() < self._timelines_need_token_until:
            return self._connection.client(), True
        return self._connection.public_client(base_url), False

    def _read_tag(
        self,
        base_url: str,
        tag: str,
        *,
        since: datetime | None,
        positions: dict[str, str],
        key: str,
        budget: ReadBudget,
    ) -> Iterator[Mention]:
        connection = self._connection
        own = base_url == self.api_base_url
        client, authenticated = self._timeline_client(base_url)
        start = positions.get(key)
        # A tag with a position goes on from it; one without (a first read, a variant added later) starts at
        # `since`, and only with neither does it read just the newest page.
        min_id = start or (str(snowflake_at(since)) if since is not None else None)
        newest_page = min_id is None
        earliest = since if start is None else None  # a position is authoritative: nothing after it is dropped

        def fetch(**paging: str) -> list[Any] | None:
            """A page, or None when the budget allows no more requests."""
            nonlocal client, authenticated
            while True:
                if not budget.spend(client, authenticated=authenticated):
                    return None
                try:
                    return list(client.timeline_hashtag(tag, limit=TIMELINE_PAGE_SIZE, **paging) or [])
                except MastodonError as error:
                    if authenticated or not needs_an_account(error):
                        connection.fail(
                            error, doing=f"reading #{tag} on {host_of(base_url)}", client=client, host=host_of(base_url)
                        )
                    if not own:
                        _, reason = api_error_parts(error) if isinstance(error, MastodonAPIError) else (None, "")
                        raise PermanentError(
                            f"{host_of(base_url)} shows its hashtag timelines only to its own signed-in users "
                            f"({reason or 'refused'}): remove it from mastodon_instances in campaign.yaml."
                        ) from None
                    # Our own instance keeps them for signed-in users: read with our token, within the reserve.
                    self._timelines_need_token_until = self._monotonic() + connection.limits_ttl
                    client, authenticated = connection.client(), True

        def mentions_of(page: list[Any]) -> list[Mention] | None:
            """The page's mentions with their reply parents resolved, or None when the budget ran out first
            (the page is then not taken: the next run reads it again)."""
            by_id = {str(value_of(s, "id")): s for s in page}
            kept = []
            for status in page:
                created = as_datetime(value_of(status, "created_at"))
                if earliest is None or created is None or created >= earliest:
                    kept.append(status)
            wanted = [
                str(parent)
                for status in kept
                if (parent := value_of(status, "in_reply_to_id")) is not None
                and str(parent) not in by_id
                and (base_url, str(parent)) not in budget.parents
            ]
            if wanted and not self._resolve_parents(client, authenticated, base_url, wanted, budget):
                return None
            return [self._mention(base_url, status, by_id, budget.parents) for status in kept]

        # Forward from the stored position: the position always moves to the highest id read, so a burst
        # larger than one call's pages is read over several calls, never re-read forever.
        for _ in range(self.mention_pages):
            page = fetch(**({"min_id": min_id} if min_id is not None else {}))
            if not page:
                break
            mentions = mentions_of(page)
            if mentions is None:
                return
            yield from mentions
            highest = max((str(value_of(s, "id")) for s in page), key=int)
            positions[key] = highest
            if newest_page or len(page) < TIMELINE_PAGE_SIZE:
                break
            min_id = highest
        if start is not None and self.cursor_overlap > timedelta(0):
            # A status that reaches this instance late gets an id from its own creation time, below the
            # position already read past: re-read the `cursor_overlap` window just below where this call
            # started, newest first. Mentions read twice are the same uri: the store keeps one.
            floor = str(max(0, int(start) - (int(self.cursor_overlap.total_seconds() * 1000) << 16)))
            max_id = start
            for _ in range(self.mention_pages):
                page = fetch(max_id=max_id, since_id=floor)
                if not page:
                    break
                mentions = mentions_of(page)
                if mentions is None:
                    return
                yield from mentions
                if len(page) < TIMELINE_PAGE_SIZE:
                    break
                max_id = min((str(value_of(s, "id")) for s in page), key=int)

    def _resolve_parents(
        self, client: Mastodon, authenticated: bool, base_url: str, ids: Sequence[str], budget: ReadBudget
    ) -> bool:
        """The uris of replies' parents not in their page, into `budget.parents`: 20 a request where the
        instance has GET /api/v1/statuses?id[]= (4.3+), else one by one, within the budget. A parent the instance
        does not show (private, deleted) resolves to None. False when the budget ran out first."""
        pending = list(dict.fromkeys(ids))
        host = host_of(base_url)
        doing = f"reading replies' parents on {host}"
        while pending and base_url not in self._no_batch_statuses:
            chunk = pending[:STATUSES_BATCH]
            if not budget.spend(client, authenticated=authenticated):
                return False
            try:
                found = {str(value_of(s, "id")): str(value_of(s, "uri") or "") or None for s in client.statuses(chunk)}
            except (MastodonNotFoundError, MastodonVersionError):
                self._no_batch_statuses.add(base_url)  # before Mastodon 4.3: one by one below
                break
            except MastodonRatelimitError as error:
                self._connection.fail(error, doing=doing, client=client, host=host)
            except MastodonError:
                found = {}  # refused: these parents stay unknown, as they would one by one
            for parent in chunk:
                budget.parents[(base_url, parent)] = found.get(parent)
            pending = pending[len(chunk) :]
        for parent in pending:
            if not budget.spend(client, authenticated=authenticated):
                return False
            try:
                budget.parents[(base_url, parent)] = str(value_of(client.status(parent), "uri") or "") or None
            except MastodonRatelimitError as error:
                self._connection.fail(error, doing=doing, client=client, host=host)
            except MastodonError:
                budget.parents[(base_url, parent)] = None  # private, deleted or not visible to us
        return True

    def _mention(
        self,
        base_url: str,
        status: Any,
        page: Mapping[str, Any],
        parents: Mapping[tuple[str, str], str | None],
    ) -> Mention:
        account = value_of(status, "account", {})
        # Identity from what the instance vouches for: the account's ActivityPub uri (its host is checked against
        # the server that signs for it), else its acct qualified with the instance it was read on. Never the
        # profile `url`: a remote server sets that to anything, e.g. an allow-listed organisation's profile.
        acct = str(value_of(account, "acct", ""))
        if acct and "@" not in acct:
            acct = f"{acct}@{host_of(base_url)}"
        author_id = str(value_of(account, "uri", "") or "") or acct
        parent_id = value_of(status, "in_reply_to_id")
        in_reply_to_uri: str | None = None
        if parent_id is not None:
            parent_id = str(parent_id)
            if parent_id in page:
                in_reply_to_uri = str(value_of(page[parent_id], "uri") or "") or None
            else:
                in_reply_to_uri = parents.get((base_url, parent_id))
        created = as_datetime(value_of(status, "created_at")) or datetime.now(UTC)
        return Mention(
            platform=PLATFORM,
            uri=str(value_of(status, "uri") or value_of(status, "url") or ""),
            url=str(value_of(status, "url") or value_of(status, "uri") or ""),
            author_handle=acct,
            author_id=author_id,
            text=html_to_plain(str(value_of(status, "content", ""))),
            created_at=created,
            tags=tuple(str(value_of(t, "name", "")) for t in value_of(status, "tags", []) if value_of(t, "name", "")),
            in_reply_to_uri=in_reply_to_uri,
            like_count=int(value_of(status, "favourites_count", 0)),
            repost_count=int(value_of(status, "reblogs_count", 0)),
            reply_count=int(value_of(status, "replies_count", 0)),
            seen_on=base_url,
        )


def read_engagement(connection: Connection, remote_ids: Iterable[str]) -> list[Engagement]:
    """Counts of our own statuses, 20 a request where the instance has GET /api/v1/statuses (4.3+),
    else one by one. Statuses that are gone are left out."""
    ids = list(dict.fromkeys(str(i) for i in remote_ids))
    if not ids:
        return []
    client = connection.client()
    statuses: list[Any] = []
    batched = connection.limits().supports_batch_statuses
    for start in range(0, len(ids), STATUSES_BATCH):
        chunk = ids[start : start + STATUSES_BATCH]
        if batched:
            try:
                statuses.extend(client.statuses(chunk))
                continue
            except (MastodonNotFoundError, MastodonVersionError):
                batched = False
            except MastodonError as error:
                connection.fail(error, doing="reading engagement", client=client)
        for status_id in chunk:
            try:
                statuses.append(client.status(status_id))
            except MastodonNotFoundError:
                continue
            except MastodonError as error:
                connection.fail(error, doing="reading engagement", client=client)
    found = {str(value_of(s, "id")): s for s in statuses}
    return [
        Engagement(
            remote_id=status_id,
            likes=int(value_of(found[status_id], "favourites_count", 0)),
            reposts=int(value_of(found[status_id], "reblogs_count", 0)),
            replies=int(value_of(found[status_id], "replies_count", 0)),
            quotes=int(value_of(found[status_id], "quotes_count", 0)),
        )
        for status_id in ids
        if status_id in found
    ]


def _merge(first: Mention, second: Mention) -> Mention:
    """One status seen on two instances: the highest counts any instance knows, the first place seen."""
    return replace(
        first,
        like_count=max(first.like_count, second.like_count),
        repost_count=max(first.repost_count, second.repost_count),
        reply_count=max(first.reply_count, second.reply_count),
        in_reply_to_uri=first.in_reply_to_uri or second.in_reply_to_uri,
        tags=tuple(dict.fromkeys((*first.tags, *second.tags))),
    )


def _decode_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    positions = data.get("min_id") if isinstance(data, dict) else None
    if not isinstance(positions, dict):
        return {}
    return {str(k): str(v) for k, v in positions.items() if str(v).isdigit()}
