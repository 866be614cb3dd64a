"""What the Bluesky adapter relies on, shown through the atproto 0.0.73 SDK against the local network:
posting with facets, images with alt text, replies, likes and reposts, reading counts back from the app
view, and searchPosts through the PDS with the account's session."""

from __future__ import annotations

import io
import secrets

import pytest
from atproto import Client, models
from PIL import Image

from tests.bluesky_net.proxy import RequestMatch
from tests.support.bluesky_fixtures import BlueskyAccount, BlueskyNetwork

pytestmark = pytest.mark.integration


def _byte_slice(text: str, start: int, end: int) -> str:
    return text.encode("utf-8")[start:end].decode("utf-8")


def _facet(text: str, fragment: str, feature: object) -> models.AppBskyRichtextFacet.Main:
    """A facet over the first occurrence of `fragment`, with UTF-8 byte offsets as the protocol wants."""
    start = text.encode("utf-8").index(fragment.encode("utf-8"))
    return models.AppBskyRichtextFacet.Main(
        index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=start + len(fragment.encode())),
        features=[feature],
    )


def _png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def two_accounts(bluesky_network: BlueskyNetwork) -> tuple[BlueskyAccount, BlueskyAccount]:
    return bluesky_network.create_account("campaign"), bluesky_network.create_account("supporter")


def test_login_right_after_account_creation_works_once_the_app_view_has_the_profile(
    bluesky_network: BlueskyNetwork, two_accounts: tuple[BlueskyAccount, BlueskyAccount]
) -> None:
    author, _ = two_accounts
    client = bluesky_network.login(author)
    assert client.me is not None
    assert client.me.did == author.did
    assert client.me.handle == author.handle
    assert author.handle.endswith(".test")


def test_post_with_facets_keeps_text_and_byte_offsets(
    bluesky_network: BlueskyNetwork, two_accounts: tuple[BlueskyAccount, BlueskyAccount]
) -> None:
    author, supporter = two_accounts
    client = bluesky_network.login(author)
    marker = f"caf{secrets.token_hex(3)}"
    text = f"Café ☕ für alle 🎗️👩🏽‍🦱 {marker} #ActOnIICSA thanks @{supporter.handle} https://example.org/ça-va?x=1"
    link = "https://example.org/ça-va?x=1"
    facets = [
        _facet(text, "#ActOnIICSA", models.AppBskyRichtextFacet.Tag(tag="ActOnIICSA")),
        _facet(text, f"@{supporter.handle}", models.AppBskyRichtextFacet.Mention(did=supporter.did)),
        _facet(text, link, models.AppBskyRichtextFacet.Link(uri=link)),
    ]
    created = client.send_post(text, facets=facets, langs=["en", "fr"])

    post = bluesky_network.wait_for_post(created.uri)
    assert post.cid == created.cid
    assert post.author.did == author.did
    record = post.record
    assert record.text == text
    assert record.langs == ["en", "fr"]
    slices = {
        type(facet.features[0]).__name__: _byte_slice(record.text, facet.index.byte_start, facet.index.byte_end)
        for facet in record.facets
    }
    assert slices == {"Tag": "#ActOnIICSA", "Mention": f"@{supporter.handle}", "Link": link}
    # The offsets are bytes, not characters: the emoji and accents before the tag make them differ.
    tag_facet = next(f for f in record.facets if isinstance(f.features[0], models.AppBskyRichtextFacet.Tag))
    assert tag_facet.index.byte_start != text.index("#ActOnIICSA")


def test_image_with_alt_text_is_stored_and_served(
    bluesky_network: BlueskyNetwork, two_accounts: tuple[BlueskyAccount, BlueskyAccount]
) -> None:
    author, _ = two_accounts
    client = bluesky_network.login(author)
    image = _png()
    alt = "A bench in a park with a plaque: “For the survivors” — é à ü"
    created = client.send_image(
        "Image test 🎗️",
        image=image,
        image_alt=alt,
        image_aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=64, height=48),
    )

    post = bluesky_network.wait_for_post(created.uri)
    assert isinstance(post.embed, models.AppBskyEmbedImages.View)
    [view] = post.embed.images
    assert view.alt == alt
    assert view.aspect_ratio is not None and (view.aspect_ratio.width, view.aspect_ratio.height) == (64, 48)
    [stored] = post.record.embed.images
    assert stored.image.mime_type == "image/png"
    assert stored.image.size == len(image)
    blob = client.com.atproto.sync.get_blob(
        models.ComAtprotoSyncGetBlob.Params(did=author.did, cid=stored.image.ref.link)
    )
    assert blob == image


def test_reply_like_and_repost_show_in_counts_and_thread(
    bluesky_network: BlueskyNetwork, two_accounts: tuple[BlueskyAccount, BlueskyAccount]
) -> None:
    author, supporter = two_accounts
    author_client = bluesky_network.login(author)
    supporter_client = bluesky_network.login(supporter)

    root = author_client.send_post("Thread root: day 1 of the awareness week")
    root_ref = models.create_strong_ref(root)
    reply = author_client.send_post(
        "Thread part 2: helplines below",
        reply_to=models.AppBskyFeedPost.ReplyRef(root=root_ref, parent=root_ref),
    )
    supporter_client.like(root.uri, root.cid)
    supporter_client.repost(root.uri, root.cid)

    post = bluesky_network.wait_for_post(
        root.uri, until=lambda p: (p.like_count, p.repost_count, p.reply_count) == (1, 1, 1)
    )
    assert post.quote_count == 0

    thread = author_client.get_post_thread(root.uri).thread
    assert isinstance(thread, models.AppBskyFeedDefs.ThreadViewPost)
    assert thread.post.uri == root.uri
    assert [child.post.uri for child in thread.replies] == [reply.uri]
    assert thread.replies[0].post.record.reply.root.uri == root.uri

    # getPosts takes up to 25 URIs a call and answers in any order, without the missing ones.
    missing = f"at://{author.did}/app.bsky.feed.post/3jzfcijpj2z2a"
    posts = {p.uri: p for p in author_client.get_posts([reply.uri, missing, root.uri]).posts}
    assert set(posts) == {root.uri, reply.uri}
    assert posts[root.uri].like_count == 1


def test_search_posts_through_the_pds_with_the_session(
    bluesky_network: BlueskyNetwork,
    two_accounts: tuple[BlueskyAccount, BlueskyAccount],
    bluesky_proxy,
) -> None:
    author, supporter = two_accounts
    marker = f"ItsNotOK{secrets.token_hex(4)}"
    created = bluesky_network.login(author).send_post(f"Talking about #{marker} today")
    bluesky_network.wait_for_post(created.uri)

    searcher = bluesky_network.login(supporter)
    found = searcher.app.bsky.feed.search_posts(models.AppBskyFeedSearchPosts.Params(q=marker, limit=100))
    assert [p.uri for p in found.posts] == [created.uri]
    # The local app view matches case-sensitively (the public one does not): see TESTING.md.
    lower = searcher.app.bsky.feed.search_posts(models.AppBskyFeedSearchPosts.Params(q=marker.lower()))
    assert lower.posts == []
    # The SDK moved to the DID document's PDS URL after login; that URL is the proxy, so the search
    # went through it (to the PDS, which forwards it to the app view with service auth).
    assert bluesky_proxy.count(RequestMatch(nsid="app.bsky.feed.searchPosts")) == 2
    assert searcher._base_url == f"{bluesky_network.pds_url}/xrpc"


def test_search_posts_needs_a_session_on_the_pds(bluesky_network: BlueskyNetwork) -> None:
    anonymous = Client(base_url=bluesky_network.pds_url)
    with pytest.raises(Exception) as raised:
        anonymous.app.bsky.feed.search_posts(models.AppBskyFeedSearchPosts.Params(q="anything"))
    assert getattr(raised.value, "response", None) is not None
    assert raised.value.response.status_code in (401, 403)
