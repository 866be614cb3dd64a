"""Calendars posted to the local AT Protocol network by real Celery worker processes (and beat), with the
Bluesky adapter configured from the environment as in production. What arrives is read back from the PDS
and the app view and compared, field by field, with what the calendar asked for. Then the hard cases: a
worker killed after the PDS accepted its write, a storm of 429s, and credentials revoked mid-run."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from content_calendar.model import Campaign, Image, Link, PlatformOverride, Post, RenderedPart, ThreadPart
from platforms.bluesky import created_at, record_key
from scheduler.db import Store
from scheduler.models import Delivery, Event, State
from scheduler.review_models import Hold
from scheduler.sync import schedule_calendars
from tests.bluesky_adapter.conftest import ACCOUNTS_CHECK_FIX, Publisher
from tests.bluesky_net.proxy import REPO_WRITES, FaultProxy, RequestMatch
from tests.support.bluesky_fixtures import BlueskyNetwork
from tests.support.engine import Engine, calendar_input, database_held, started, wait_for
from tests.support.worker_stacks import wait_until_blocked_recording

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PUT_RECORD = RequestMatch(nsid="com.atproto.repo.putRecord", method="POST")
APPLY_WRITES = RequestMatch(nsid="com.atproto.repo.applyWrites", method="POST")
CREATE_SESSION = RequestMatch(nsid="com.atproto.server.createSession")
FAST = {"CAMPAIGN_PUBLISH_LEASE_SECONDS": "3", "CAMPAIGN_LEASE_SECONDS": "3"}
RULE_TYPES = {
    "mentioned": "app.bsky.feed.threadgate#mentionRule",
    "following": "app.bsky.feed.threadgate#followingRule",
    "followers": "app.bsky.feed.threadgate#followerRule",
}


# --- helpers -----------------------------------------------------------------------------------------------


def make_campaign(directory: Path, slug: str = "bsky-adapter") -> Campaign:
    return Campaign(
        slug=slug, name="Bluesky adapter test", directory=directory, hashtags=("#ActOnIICSA",),
        misfire_grace=timedelta(minutes=30),
    )  # fmt: skip


def bluesky_post(post_id: str, at: datetime, text: str, **options: Any) -> Post:
    return Post(id=post_id, at=at, text=text, platforms=("bluesky",), **options)


def schedule(engine: Engine, posts: Sequence[Post], camp: Campaign) -> Store:
    store = Store(engine.database_url)
    calendar = calendar_input(engine.directory / "calendar.yaml", posts, camp=camp)
    schedule_calendars(store, [calendar], datetime.now(UTC), actor="test")
    return store


def deliveries(store: Store) -> list[Delivery]:
    with store.transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.post_id, Delivery.part)))


def published(store: Store) -> int:
    return sum(d.state == State.PUBLISHED for d in deliveries(store))


def events(store: Store, delivery_id: int) -> list[Event]:
    with store.transaction() as session:
        return list(session.scalars(select(Event).where(Event.delivery_id == delivery_id).order_by(Event.id)))


def rendered(delivery: Delivery) -> RenderedPart:
    return RenderedPart.from_json(json.loads(delivery.payload))


def noise_jpeg(path: Path, size: tuple[int, int], quality: int, **save: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(path, "JPEG", quality=quality, **save)
    return path


def fetch_blob(network: BlueskyNetwork, did: str, blob: dict[str, Any]) -> bytes:
    answer = httpx.get(
        f"{network.pds_direct_url}/xrpc/com.atproto.sync.getBlob",
        params={"did": did, "cid": blob["ref"]["$link"]},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.content


def running(*children: Any) -> Any:
    return contextmanager(started)(list(children))


def assert_published_once(publisher: Publisher, store: Store) -> dict[str, dict[str, Any]]:
    """Every delivery published, each with its own post on the PDS, and no other posts: returns the records
    by URI."""
    posts = {r["uri"]: r for r in publisher.records()}
    rows = deliveries(store)
    assert [(d.post_id, d.part, d.state) for d in rows if d.state != State.PUBLISHED] == []
    assert sorted(d.remote_id for d in rows) == sorted(posts), "a post is missing or was posted twice"
    for d in rows:
        # Keyed and dated by the attempt that wrote it (the worker's clock), not by the plan.
        assert d.write_attempt_at is not None
        rkey = record_key(d.idempotency_key, d.write_attempt_at)
        assert d.remote_id == d.remote_uri == f"at://{publisher.did}/app.bsky.feed.post/{rkey}"
        assert d.remote_url == f"https://bsky.app/profile/{publisher.handle}/post/{rkey}"
        assert d.remote_cid == posts[d.remote_id]["cid"]
        assert not d.dry_run
    return posts


# --- a calendar, as written ----------------------------------------------------------------------------------


def test_a_calendar_arrives_on_bluesky_exactly_as_written(
    engine: Engine,
    publisher: Publisher,
    bluesky_network: BlueskyNetwork,
    bluesky_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    friend = bluesky_network.create_account("friend")
    ghost = f"ghost{os.urandom(3).hex()}.test"
    media = tmp_path / "media"
    small = media / "small.png"
    small.parent.mkdir(parents=True)
    PILImage.new("RGB", (64, 48), (200, 40, 90)).save(small)
    exif = PILImage.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "Survivor Name"  # Artist: must never reach Bluesky
    big = noise_jpeg(media / "big.jpg", (2400, 1800), 95, exif=exif.tobytes())
    assert big.stat().st_size > 4_500_000
    thumb = noise_jpeg(media / "thumb.jpg", (1500, 788), 97)
    assert thumb.stat().st_size > 1_000_000

    camp = make_campaign(tmp_path)
    at = datetime.now(UTC) + timedelta(seconds=3)
    gates = PlatformOverride(reply_rules=("mentioned", "following", "followers"), allow_quotes=False)
    posts = [
        bluesky_post(
            "facets", at,
            f"Café für alle — ¡señal! ☕ 🎗️👩🏽‍🦱 #ActOnIICSA ask @{friend.handle} and @{ghost}: "
            "https://example.org/ça-va?x=1 #ItsNotOK",
            content_warning="Child sexual abuse", language="fr",
            overrides={"bluesky": PlatformOverride(labels=("graphic-media",))},
        ),
        bluesky_post(
            "images", at, "Two images 🖼️ #ActOnIICSA",
            images=(
                Image("media/small.png", small, "A small red card: “Act on IICSA” — é à ü"),
                Image("media/big.jpg", big, "A large photograph of the IICSA legacy bench in a park"),
            ),
        ),
        bluesky_post(
            "link", at, "Read the report #ActOnIICSA",
            link=Link(
                "https://www.iicsa.org.uk/reports-recommendations",
                "The Report of the Independent Inquiry into Child Sexual Abuse",
                "October 2022: 20 recommendations, one package",
                thumbnail=Image("media/thumb.jpg", thumb, ""),
            ),
        ),
        bluesky_post(
            "thread", at, "A thread 🧵 #ActOnIICSA",
            thread=(ThreadPart("Part two: the redress scheme."), ThreadPart("Part three: helplines ☎️")),
            overrides={"bluesky": gates},
        ),
        bluesky_post("closed", at, "Nobody may reply to this one.",
                     overrides={"bluesky": PlatformOverride(reply_rules=())}),
    ]  # fmt: skip
    store = schedule(engine, posts, camp)
    rows = deliveries(store)
    assert len(rows) == 7

    with running(engine.worker(**publisher.env()), engine.beat(**publisher.env())):
        wait_for(lambda: published(store) == 7, timeout=60, what="7 deliveries published")
    assert bluesky_proxy.count(CREATE_SESSION) == 1, "one login for the whole run, shared by the worker's threads"

    posts_by_uri = assert_published_once(publisher, store)
    rows = deliveries(store)
    by_key = {(d.post_id, d.part): d for d in rows}

    for d in rows:
        part = rendered(d)
        record = posts_by_uri[d.remote_id]["value"]
        assert record["text"] == part.text
        assert d.write_attempt_at is not None and d.published_at is not None
        assert record["createdAt"] == created_at(d.write_attempt_at)
        assert d.write_attempt_at <= d.published_at
        assert record["langs"] == list(part.langs)
        if part.labels:
            assert record["labels"] == {
                "$type": "com.atproto.label.defs#selfLabels",
                "values": [{"val": label} for label in part.labels],
            }
        else:
            assert "labels" not in record
        expected_facets = []
        for facet in part.facets:
            if facet.kind == "mention":
                if facet.value == ghost:
                    continue  # does not resolve: plain text
                feature = {"$type": "app.bsky.richtext.facet#mention", "did": friend.did}
            elif facet.kind == "tag":
                feature = {"$type": "app.bsky.richtext.facet#tag", "tag": facet.value}
            else:
                feature = {"$type": "app.bsky.richtext.facet#link", "uri": facet.value}
            expected_facets.append({"index": {"byteStart": facet.byte_start, "byteEnd": facet.byte_end},
                                    "features": [feature]})  # fmt: skip
        assert record.get("facets", []) == expected_facets

    # Facets: byte offsets over accents and emoji, the mention resolved to a DID, the unknown one plain text.
    facets_part = rendered(by_key[("facets", 0)])
    assert facets_part.text.startswith("CW: Child sexual abuse\n\n")
    assert facets_part.langs == ("fr",) and facets_part.labels == ("graphic-media",)
    kinds = sorted(f.kind for f in facets_part.facets)
    assert kinds == ["link", "mention", "mention", "tag", "tag"]
    facets_record = posts_by_uri[by_key[("facets", 0)].remote_id]["value"]
    encoded = facets_record["text"].encode()
    sliced = [encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in facets_record["facets"]]
    # the link is shown as Bluesky's own app shows it (host and path, as a URL parser normalises them); its
    # facet keeps the full address
    assert sliced == ["#ActOnIICSA", f"@{friend.handle}", "example.org/%C3%A7a-va?x=1", "#ItsNotOK"]
    links = [f["features"][0]["uri"] for f in facets_record["facets"] if "uri" in f["features"][0]]
    assert links == ["https://example.org/ça-va?x=1"]

    # Images: alt text kept, re-encoded under the blob limit, the large one resized, the small one not
    # enlarged, aspect ratios true, metadata gone.
    images_record = posts_by_uri[by_key[("images", 0)].remote_id]["value"]
    embed = images_record["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == [i.alt for i in posts[1].images]
    decoded = []
    for item in embed["images"]:
        assert item["image"]["size"] <= 2_000_000
        data = fetch_blob(bluesky_network, publisher.did, item["image"])
        assert len(data) == item["image"]["size"]
        picture = PILImage.open(io.BytesIO(data))
        assert (item["aspectRatio"]["width"], item["aspectRatio"]["height"]) == picture.size
        assert not picture.getexif()
        assert b"Survivor Name" not in data and b"PhoneMaker" not in data
        decoded.append(picture)
    assert decoded[0].size == (64, 48) and embed["images"][0]["image"]["mimeType"] == "image/png"
    assert embed["images"][1]["image"]["mimeType"] == "image/jpeg"
    assert max(decoded[1].size) <= 2000 and abs(decoded[1].size[0] / decoded[1].size[1] - 4 / 3) < 0.01
    # The local PDS still validates images against the old 1,000,000-byte lexicon limit: the adapter learnt it
    # from the refusal, re-encoded and posted (the public service takes 2,000,000).
    assert embed["images"][1]["image"]["size"] <= 1_000_000

    # The link card, its thumbnail under 1,000,000 bytes.
    external = posts_by_uri[by_key[("link", 0)].remote_id]["value"]["embed"]
    assert external["$type"] == "app.bsky.embed.external"
    card = rendered(by_key[("link", 0)]).link_card
    assert card is not None
    assert (external["external"]["uri"], external["external"]["title"], external["external"]["description"]) == (
        card.url, card.title, card.description,
    )  # fmt: skip
    assert external["external"]["thumb"]["size"] < 1_000_000
    thumb_data = fetch_blob(bluesky_network, publisher.did, external["external"]["thumb"])
    assert len(thumb_data) == external["external"]["thumb"]["size"] < thumb.stat().st_size
    assert PILImage.open(io.BytesIO(thumb_data)).size == (1500, 788)  # fits by quality alone: not shrunk

    # The thread: each part answers the one before, under the first.
    root, second, third = (by_key[("thread", n)] for n in range(3))
    for child, parent in ((second, root), (third, second)):
        reply = posts_by_uri[child.remote_id]["value"]["reply"]
        assert reply == {
            "root": {"uri": root.remote_uri, "cid": root.remote_cid},
            "parent": {"uri": parent.remote_uri, "cid": parent.remote_cid},
        }
    assert "reply" not in posts_by_uri[root.remote_id]["value"]
    appview = bluesky_network.appview_client()
    thread = bluesky_network.wait_for_post(root.remote_id, until=lambda p: p.reply_count == 1)
    assert thread.threadgate is not None
    chain = appview.get_post_thread(root.remote_id).thread
    assert chain.post.uri == root.remote_id
    assert [r.post.uri for r in chain.replies] == [second.remote_id]
    assert [r.post.uri for r in chain.replies[0].replies] == [third.remote_id]

    # Gates: written with the posts, under the same record keys.
    threadgates = {r["uri"].rsplit("/", 1)[1]: r["value"] for r in publisher.records("app.bsky.feed.threadgate")}
    postgates = {r["uri"].rsplit("/", 1)[1]: r["value"] for r in publisher.records("app.bsky.feed.postgate")}
    rkey = {key: d.remote_id.rsplit("/", 1)[1] for key, d in by_key.items()}
    assert set(threadgates) == {rkey[("thread", 0)], rkey[("closed", 0)]}
    assert threadgates[rkey[("thread", 0)]]["post"] == root.remote_id
    assert threadgates[rkey[("thread", 0)]]["allow"] == [{"$type": RULE_TYPES[r]} for r in gates.reply_rules or ()]
    assert threadgates[rkey[("closed", 0)]]["allow"] == []
    assert set(postgates) == {rkey[("thread", n)] for n in range(3)}  # no quotes of any part
    for n in range(3):
        gate = postgates[rkey[("thread", n)]]
        assert gate["post"] == by_key[("thread", n)].remote_id
        assert gate["embeddingRules"] == [{"$type": "app.bsky.feed.postgate#disableRule"}]
    assert bluesky_proxy.count(PUT_RECORD) == 4 and bluesky_proxy.count(APPLY_WRITES) == 4


# --- the hard cases ------------------------------------------------------------------------------------------


def test_worker_killed_after_the_pds_accepted_the_write_retry_finds_the_post(
    engine: Engine, publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    """The PDS stored the post (one plain, one with a threadgate via applyWrites); the worker died before
    recording it. Its answers are held back by the proxy until the test holds SQLite's write lock, so the
    worker blocks right after the write; then it is killed with SIGKILL."""
    camp = make_campaign(tmp_path)
    at = datetime.now(UTC) + timedelta(seconds=1)
    posts = [
        bluesky_post("victim-plain", at, "Posted once, whatever happens #ActOnIICSA"),
        bluesky_post("victim-gated", at, "Gated and posted once #ActOnIICSA",
                     overrides={"bluesky": PlatformOverride(reply_rules=("following",))}),
    ]  # fmt: skip
    store = schedule(engine, posts, camp)
    bluesky_proxy.delay_next(1, seconds=1.5, match=PUT_RECORD)
    bluesky_proxy.delay_next(1, seconds=1.5, match=APPLY_WRITES)
    env = {**publisher.env(), **FAST}
    victim = engine.worker("victim", concurrency=2, **env)
    with running(engine.beat(**env)):
        with running(victim):
            ids = [d.id for d in deliveries(store)]
            wait_for(
                lambda: sum(d.state == State.PUBLISHING for d in deliveries(store)) == 2,
                timeout=45,
                what="both deliveries being published",
            )
            with database_held(engine) as state_of:
                wait_for(
                    lambda: (
                        bluesky_proxy.count(PUT_RECORD, fault="delay") == 1
                        and bluesky_proxy.count(APPLY_WRITES, fault="delay") == 1
                    ),
                    timeout=30,
                    what="the PDS to accept both writes and the answers to go out",
                )
                # The worker now waits for the database to record the outcomes: proven, then killed there.
                wait_until_blocked_recording(victim, deliveries=2)
                victim.kill()
                assert [state_of(i) for i in ids] == [State.PUBLISHING] * 2, "the store never heard of them"
        written = publisher.records()
        assert len(written) == 2, "the PDS has both posts"

        with running(engine.worker("survivor", **env)):
            wait_for(lambda: published(store) == 2, timeout=45, what="both published after the kill")

    posts_by_uri = assert_published_once(publisher, store)
    assert sorted(posts_by_uri) == sorted(r["uri"] for r in written)
    assert len(publisher.records("app.bsky.feed.threadgate")) == 1
    for d in deliveries(store):
        reasons = [e.reason for e in events(store, d.id)]
        assert "found the earlier attempt's post" in reasons, reasons
        assert d.attempts == 2
    # The retries wrote nothing: each looked its post up by its key first (before building its record) and found it.
    assert bluesky_proxy.count(PUT_RECORD) == 1 and bluesky_proxy.count(APPLY_WRITES) == 1


def test_a_storm_of_429s_delays_but_never_duplicates(
    engine: Engine, publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    PILImage.new("RGB", (300, 200), (20, 90, 160)).save(media / "card.png")
    camp = make_campaign(tmp_path)
    at = datetime.now(UTC) + timedelta(seconds=2)
    posts = [
        bluesky_post("storm-a", at, "Storm A #ActOnIICSA"),
        bluesky_post("storm-b", at, "Storm B with a card #ActOnIICSA",
                     images=(Image("media/card.png", media / "card.png", "A blue card"),)),
        bluesky_post("storm-c", at, "Storm C, a thread #ActOnIICSA", thread=(ThreadPart("Storm C, part two"),)),
        bluesky_post("storm-d", at, "Storm D, gated #ActOnIICSA",
                     overrides={"bluesky": PlatformOverride(reply_rules=("mentioned",))}),
    ]  # fmt: skip
    store = schedule(engine, posts, camp)
    reset_seconds = 3
    storm = 4  # the first write of each post: 429 with RateLimit-Reset 3 s ahead
    bluesky_proxy.rate_limit_next(storm, match=REPO_WRITES, reset_after_seconds=reset_seconds)
    with running(engine.worker(**publisher.env()), engine.beat(**publisher.env())):
        wait_for(lambda: published(store) == 5, timeout=60, what="all 5 published after the storm")

    assert bluesky_proxy.count(REPO_WRITES, fault="rate_limit") == storm
    assert bluesky_proxy.pending_faults() == 0
    assert_published_once(publisher, store)
    limited = 0
    for d in deliveries(store):
        trail = events(store, d.id)
        for event in trail:
            if event.action == "retry-later" and "rate limit" in event.reason:
                limited += 1
                retried = next(e for e in trail if e.id > event.id and e.action == "publish")
                waited = (retried.at - event.at).total_seconds()
                assert waited >= reset_seconds - 1.01, f"retried {waited:.1f} s later, before the reset time"
    assert limited == storm, "each 429 is one RateLimited, retried after its reset"


def test_credentials_revoked_mid_run_hold_the_platform_with_the_fix_and_post_nothing_twice(
    engine: Engine, publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    publisher = publisher.with_new_app_password()
    camp = make_campaign(tmp_path)
    first = bluesky_post("before", datetime.now(UTC) + timedelta(seconds=1), "Posted before the revocation")
    store = schedule(engine, [first], camp)
    worker = engine.worker(**publisher.env())
    with running(worker, engine.beat(**publisher.env())):
        wait_for(lambda: published(store) == 1, timeout=45, what="the first post")
        publisher.revoke_app_password()
        # The worker's access token is a stateless JWT that stays valid for up to two hours after the
        # revocation; the proxy answers its next write the way the PDS does once that time is up.
        bluesky_proxy.fail_next(1, status=400, error="ExpiredToken", message="Token has expired", match=PUT_RECORD)
        second = bluesky_post("after", datetime.now(UTC) + timedelta(seconds=1), "Never posted")
        store = schedule(engine, [first, second], camp)
        wait_for(lambda: any(d.post_id == "after" and d.attempts and d.last_error for d in deliveries(store)),
                 timeout=45, what="the second held with its reason")  # fmt: skip
    before, after = deliveries(store)[1], deliveries(store)[0]
    assert (before.post_id, before.state) == ("before", State.PUBLISHED)
    # A refused login holds the platform (one hold, alerted) rather than failing its posts one by one.
    assert (after.post_id, after.state, after.attempts) == ("after", State.SCHEDULED, 1)
    with store.transaction() as session:
        holds = session.scalars(select(Hold).where(Hold.kind == "platform", Hold.released_at.is_(None))).all()
    assert [h.topic for h in holds] == ["bluesky"]
    message = after.last_error or ""
    for hint in ACCOUNTS_CHECK_FIX:
        assert hint in message
    assert publisher.handle in message
    assert [r["value"]["text"] for r in publisher.records()] == ["Posted before the revocation"]
    # refreshSession was refused (its token went with the app password), one login tried and refused.
    assert [r.status for r in bluesky_proxy.requests if r.nsid == "com.atproto.server.refreshSession"] == [400]
    assert [r.status for r in bluesky_proxy.requests if r.nsid == "com.atproto.server.createSession"] == [200, 401]
    for written in [engine.directory / "w1.log", *engine.directory.rglob("session-*.json")]:
        assert publisher.app_password not in written.read_text(errors="replace")
