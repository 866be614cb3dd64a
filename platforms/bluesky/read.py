"""The read side: posts using the campaign's hashtags (searchPosts through the account's PDS) and the
engagement counts of our own posts (getPosts)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from platforms.base import Engagement, Mention, MentionPage
from platforms.bluesky.errors import FAILURES, translate_error
from platforms.bluesky.keys import PLATFORM, created_at, web_url
from platforms.bluesky.xrpc import Xrpc


class BlueskyReader:
    """Reads for one account: mentions of tags and engagement of posts, `search_page_size` posts a page
    (at most 100) and `engagement_batch` posts a getPosts (at most 25)."""

    def __init__(
        self,
        xrpc: Xrpc,
        *,
        account: str,
        service: str,
        web_app: str,
        search_page_size: int,
        engagement_batch: int,
    ) -> None:
        self._xrpc = xrpc
        self.account = account
        self.service = service
        self.web_app = web_app
        self.search_page_size = max(1, min(100, search_page_size))
        self.engagement_batch = max(1, min(25, engagement_batch))

    def search_mentions(self, tags: Sequence[str], *, since: datetime | None, cursor: str | None) -> MentionPage:
        """One page of posts using one of `tags` (searchPosts through the account's PDS, newest first).
        The cursor walks each tag's pages in turn; None means nothing more for now."""
        wanted = list(dict.fromkeys(t.strip().lstrip("#＃") for t in tags if t.strip().lstrip("#＃")))
        if not wanted:
            return MentionPage([], None)
        fingerprint = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:8]
        index, inner = _parse_search_cursor(cursor, fingerprint, len(wanted))
        tag = wanted[index]
        params: list[tuple[str, object]] = [
            ("q", f"#{tag}"),
            ("tag", tag),
            ("sort", "latest"),
            ("limit", self.search_page_size),
        ]
        if since is not None:
            since = since.astimezone(UTC).replace(microsecond=since.microsecond // 1000 * 1000)  # as precise as sortAt
            params.append(("since", created_at(since)))
        if inner:
            params.append(("cursor", inner))
        try:
            answer = self._xrpc.query("app.bsky.feed.searchPosts", params)
        except FAILURES as error:
            raise translate_error(error, action=f"searching for #{tag}", write=False, handle=self.account) from None
        posts = [p for p in answer.get("posts") or [] if isinstance(p, dict)]
        mentions = []
        for view in posts:
            mention = self._mention(view)
            if mention is None or not _uses_tag(mention, tag):
                continue
            if since is not None and _sort_instant(view, mention) < since:
                continue  # servers that ignore `since` (the reference app view does) still honour it here
            mentions.append(mention)
        next_inner = answer.get("cursor") if posts else None
        if since is not None and posts and min(_sort_at(view) for view in posts) < since:
            # Pages come newest first by sortAt: once a page reaches back past `since`, every later page is older
            # still. End this tag's sweep here, or a server that ignores `since` (the reference app view does)
            # has us page through the tag's whole history.
            next_inner = None
        if next_inner:
            next_cursor: str | None = f"v1:{fingerprint}:{index}:{next_inner}"
        elif index + 1 < len(wanted):
            next_cursor = f"v1:{fingerprint}:{index + 1}:"
        else:
            next_cursor = None
        return MentionPage(mentions, next_cursor)

    def _mention(self, view: dict[str, Any]) -> Mention | None:
        uri = view.get("uri")
        record = view.get("record") or {}
        author = view.get("author") or {}
        if not isinstance(uri, str) or not isinstance(record, dict):
            return None
        tags = []
        for facet in record.get("facets") or []:
            for feature in (facet or {}).get("features") or []:
                if (feature or {}).get("$type") == "app.bsky.richtext.facet#tag" and feature.get("tag"):
                    tags.append(str(feature["tag"]))
        tags.extend(str(t) for t in record.get("tags") or [] if isinstance(t, str))
        written = _parse_datetime(record.get("createdAt")) or _parse_datetime(view.get("indexedAt"))
        handle = str(author.get("handle") or "")
        did = str(author.get("did") or uri.removeprefix("at://").split("/", 1)[0])
        reply = record.get("reply") or {}
        return Mention(
            platform=PLATFORM,
            uri=uri,
            url=web_url(handle if handle and handle != "handle.invalid" else did, uri, self.web_app),
            author_handle=handle,
            author_id=did,
            text=str(record.get("text") or ""),
            created_at=written or datetime.now(UTC),
            tags=tuple(dict.fromkeys(tags)),
            in_reply_to_uri=((reply.get("parent") or {}).get("uri") if isinstance(reply, dict) else None),
            like_count=int(view.get("likeCount") or 0),
            repost_count=int(view.get("repostCount") or 0),
            reply_count=int(view.get("replyCount") or 0),
            seen_on=self.service,
        )

    def engagement(self, remote_ids: Iterable[str]) -> list[Engagement]:
        """Counts of our posts now, `engagement_batch` (25) URIs per getPosts; deleted posts are left out."""
        uris = list(dict.fromkeys(u for u in remote_ids if u))
        found: dict[str, Engagement] = {}
        for start in range(0, len(uris), self.engagement_batch):
            batch = uris[start : start + self.engagement_batch]
            try:
                answer = self._xrpc.query("app.bsky.feed.getPosts", [("uris", u) for u in batch])
            except FAILURES as error:
                raise translate_error(error, action="reading engagement", write=False, handle=self.account) from None
            for view in answer.get("posts") or []:
                uri = view.get("uri")
                if uri in batch:
                    found[uri] = Engagement(
                        remote_id=uri,
                        likes=int(view.get("likeCount") or 0),
                        reposts=int(view.get("repostCount") or 0),
                        replies=int(view.get("replyCount") or 0),
                        quotes=int(view.get("quoteCount") or 0),
                    )
        return [found[u] for u in uris if u in found]


def _parse_search_cursor(cursor: str | None, fingerprint: str, count: int) -> tuple[int, str]:
    """(tag index, the server's cursor for that tag). A cursor for another tag list starts again."""
    if not cursor:
        return 0, ""
    pieces = cursor.split(":", 3)
    if len(pieces) != 4 or pieces[0] != "v1" or pieces[1] != fingerprint or not pieces[2].isdigit():
        return 0, ""
    index = int(pieces[2])
    return (index, pieces[3]) if index < count else (0, "")


def _uses_tag(mention: Mention, tag: str) -> bool:
    """A tag facet equal to `tag` ignoring case, or (for clients that write no facets) `#tag` in the text."""
    folded = tag.casefold()
    if any(t.casefold() == folded for t in mention.tags):
        return True
    return re.search(rf"[#＃]{re.escape(tag)}(?![\w])", mention.text, re.IGNORECASE) is not None


def _sort_at(view: dict[str, Any]) -> datetime:
    """The instant search results are ordered by (the app view's sortAt): the earlier of createdAt and indexedAt."""
    record = view.get("record")
    if not isinstance(record, dict):
        record = {}
    instants = [_parse_datetime(record.get("createdAt")), _parse_datetime(view.get("indexedAt"))]
    known = [moment for moment in instants if moment is not None]
    return min(known) if known else datetime.now(UTC)


def _sort_instant(view: dict[str, Any], mention: Mention) -> datetime:
    """When the service saw the post (indexedAt): a backdated createdAt must not hide a new post."""
    return _parse_datetime(view.get("indexedAt")) or mention.created_at


def _parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
