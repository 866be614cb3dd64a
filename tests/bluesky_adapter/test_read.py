"""The read side against the local app view, through the account's PDS with its session: hashtag mentions
(searchPosts, paged by cursor, filtered on tag facets) and engagement counts of our posts (getPosts, 25 URIs
a call), with likes, reposts, replies and quotes made by a second account. The app view indexes within
about 100 ms: everything is polled with a deadline."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from atproto import Client, models

from content_calendar.facets import detect_facets
from content_calendar.model import RenderedPart
from platforms.base import Mention
from platforms.bluesky import BlueskyAdapter, record_key
from tests.bluesky_adapter.conftest import Publisher
from tests.bluesky_net.proxy import FaultProxy, RequestMatch
from tests.support.bluesky_fixtures import BlueskyAccount, BlueskyNetwork
from tests.support.engine import wait_for

pytestmark = pytest.mark.integration

SEARCH = RequestMatch(nsid="app.bsky.feed.searchPosts")
GET_POSTS = RequestMatch(nsid="app.bsky.feed.getPosts")


def our_post(adapter: BlueskyAdapter, text: str, key: str) -> models.ComAtprotoRepoStrongRef.Main:
    part = RenderedPart(
        campaign="read", post_id=key, platform="bluesky", part=0, at=datetime.now(UTC), text=text,
        length=len(text), limit=300, facets=detect_facets(text), langs=("en",),
    )  # fmt: skip
    post = adapter.publish(part, key, reply_to=None, outcome_unknown=False).post
    assert post.cid is not None
    return models.ComAtprotoRepoStrongRef.Main(uri=post.uri, cid=post.cid)


def tagged(client: Client, text: str, **options: object) -> models.AppBskyFeedPost.CreateRecordResponse:
    """A post with tag facets, as the official app writes them."""
    facets = [
        models.AppBskyRichtextFacet.Main(
            index=models.AppBskyRichtextFacet.ByteSlice(byte_start=f.byte_start, byte_end=f.byte_end),
            features=[models.AppBskyRichtextFacet.Tag(tag=f.value)],
        )
        for f in detect_facets(text)
        if f.kind == "tag"
    ]
    return client.send_post(text, facets=facets, **options)  # type: ignore[arg-type]


def all_mentions(adapter: BlueskyAdapter, tags: list[str], since: datetime) -> tuple[list[Mention], int]:
    """Follow the cursor to the end, as the collector does: (mentions, pages)."""
    found: list[Mention] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = adapter.search_mentions(tags, since=since, cursor=cursor)
        pages += 1
        found.extend(page.mentions)
        cursor = page.cursor
        if cursor is None:
            return found, pages
        assert pages < 50, "the cursor never ends"


@pytest.fixture(scope="module")
def supporter(bluesky_network: BlueskyNetwork) -> tuple[BlueskyAccount, Client]:
    account = bluesky_network.create_account("supporter")
    return account, bluesky_network.login(account)


def test_hashtag_mentions_are_found_paged_and_filtered(
    publisher: Publisher,
    supporter: tuple[BlueskyAccount, Client],
    bluesky_network: BlueskyNetwork,
    bluesky_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    supporter_account, client = supporter
    marker = f"Mk{secrets.token_hex(4)}"
    other = f"{marker}B"  # the local app view matches substrings: "#MkxxxxB" is found when searching "#Mkxxxx"
    adapter = publisher.adapter(tmp_path, search_page_size=2)

    before = tagged(client, f"Before the window #{marker}")
    bluesky_network.wait_for_post(before.uri)
    since = datetime.now(UTC)

    ours = our_post(adapter, f"Our campaign post #{marker}", "read-ours")
    talk = tagged(client, f"Talking about #{marker} today 🎗️ — très important")
    reply = tagged(
        client,
        f"Replying with #{marker}",
        reply_to=models.AppBskyFeedPost.ReplyRef(root=ours, parent=ours),
    )
    no_facets = client.send_post(f"A client that writes no facets #{marker}")
    only_other = tagged(client, f"Only the other tag #{other}")
    lookalike = tagged(client, f"Not the same tag #{marker}suffix")
    campaign_client = bluesky_network.login(publisher.account)
    campaign_client.like(talk.uri, talk.cid)
    campaign_client.repost(talk.uri, talk.cid)
    bluesky_network.wait_for_post(talk.uri, until=lambda p: (p.like_count, p.repost_count) == (1, 1))

    expected = {ours.uri, talk.uri, reply.uri, no_facets.uri, only_other.uri}

    def complete() -> tuple[list[Mention], int] | None:
        mentions, pages = all_mentions(adapter, [f"#{marker}", other], since)
        return (mentions, pages) if {m.uri for m in mentions} == expected else None

    mentions, pages = wait_for(complete, timeout=20, interval=0.1, what="every mention indexed and found")
    by_uri: dict[str, Mention] = {}
    for mention in mentions:
        by_uri.setdefault(mention.uri, mention)
    assert before.uri not in by_uri, "posted before `since`"
    assert lookalike.uri not in by_uri, "#...suffix is another tag"
    assert pages >= 4 and bluesky_proxy.count(SEARCH) >= pages  # page size 2: the cursor was followed

    found = by_uri[talk.uri]
    assert (found.platform, found.author_handle, found.author_id) == ("bluesky", supporter_account.handle,
                                                                       supporter_account.did)  # fmt: skip
    assert found.text == f"Talking about #{marker} today 🎗️ — très important"
    assert found.tags == (marker,)
    assert found.url == f"https://bsky.app/profile/{supporter_account.handle}/post/{talk.uri.rsplit('/', 1)[1]}"
    assert (found.like_count, found.repost_count, found.reply_count) == (1, 1, 0)
    assert found.in_reply_to_uri is None
    assert found.seen_on == publisher.network.pds_url
    record = bluesky_network.get_posts([talk.uri])[0].record
    assert found.created_at == datetime.fromisoformat(record.created_at)
    assert by_uri[reply.uri].in_reply_to_uri == ours.uri
    assert by_uri[ours.uri].author_id == publisher.did
    assert by_uri[no_facets.uri].tags == ()
    assert by_uri[only_other.uri].tags == (other,)

    assert adapter.search_mentions([], since=None, cursor=None).mentions == []
    stale = adapter.search_mentions(["#SomethingElse"], since=since, cursor="v1:feedbeef:0:whatever")
    assert stale.mentions == []  # a cursor from another tag list starts again instead of failing


def test_engagement_counts_come_in_batches_of_25(
    publisher: Publisher,
    supporter: tuple[BlueskyAccount, Client],
    bluesky_network: BlueskyNetwork,
    bluesky_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    _, client = supporter
    adapter = publisher.adapter(tmp_path)
    first = our_post(adapter, "Engagement, first", "engagement-1")
    second = our_post(adapter, "Engagement, second", "engagement-2")
    client.like(first.uri, first.cid)
    client.repost(first.uri, first.cid)
    client.send_post("A reply", reply_to=models.AppBskyFeedPost.ReplyRef(root=first, parent=first))
    client.like(second.uri, second.cid)
    client.send_post("A quote", embed=models.AppBskyEmbedRecord.Main(record=second))

    gone = [
        f"at://{publisher.did}/app.bsky.feed.post/{record_key(f'deleted-{n}', datetime.now(UTC))}" for n in range(24)
    ]
    uris = [first.uri, *gone[:12], second.uri, *gone[12:], first.uri]  # 26 distinct, one repeated

    def counts() -> dict[str, tuple[int, int, int, int]] | None:
        bluesky_proxy.clear_requests()
        result = {e.remote_id: (e.likes, e.reposts, e.replies, e.quotes) for e in adapter.engagement(uris)}
        wanted = {first.uri: (1, 1, 1, 0), second.uri: (1, 0, 0, 1)}
        return result if result == wanted else None

    wait_for(counts, timeout=20, interval=0.1, what="likes, reposts, replies and quotes counted")
    assert bluesky_proxy.count(GET_POSTS) == 2, "26 URIs take two getPosts calls of at most 25"
    assert [e.remote_id for e in adapter.engagement([second.uri, first.uri])] == [second.uri, first.uri]
    assert adapter.engagement([]) == []


def test_a_sweep_ends_at_the_first_page_that_reaches_back_past_since(
    publisher: Publisher,
    supporter: tuple[BlueskyAccount, Client],
    bluesky_network: BlueskyNetwork,
    bluesky_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    """The local app view ignores `since`: without a stop, a sweep would page through the tag's whole history."""
    _, client = supporter
    marker = f"Sw{secrets.token_hex(4)}"
    adapter = publisher.adapter(tmp_path, search_page_size=2)
    history = [tagged(client, f"Old news #{marker} ({n})") for n in range(7)]
    for post in history:
        bluesky_network.wait_for_post(post.uri)
    since = datetime.now(UTC)
    recent = [tagged(client, f"Today #{marker} ({n})") for n in range(3)]
    for post in recent:
        bluesky_network.wait_for_post(post.uri)

    bluesky_proxy.clear_requests()
    mentions, pages = all_mentions(adapter, [f"#{marker}"], since)
    assert sorted(m.uri for m in mentions) == sorted(p.uri for p in recent)
    # Page 1: two recent posts; page 2: the third and the newest old one, which ends the sweep. Not the five
    # more pages of history.
    assert pages == 2 and bluesky_proxy.count(SEARCH) == 2
    # With a `since` before all of them, the whole history is read.
    everything, _ = all_mentions(adapter, [f"#{marker}"], datetime(2000, 1, 1, tzinfo=UTC))
    assert len(everything) == len(history) + len(recent)
