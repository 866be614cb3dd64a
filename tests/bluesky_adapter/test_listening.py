"""Listening on the local network: the PDS's own repository stream (com.atproto.sync.subscribeRepos), followed by
the real listener into a real SQLite store while a second account posts, likes, reposts, replies and quotes.

- In one process: posts using the campaign hashtag (a tag facet, the `tags` field, only the text; any case) are
  mentions within seconds, others are not; each like, repost, reply and quote of our post is one engagement event
  (our own reply in our thread is not), and a like taken back is removed.
- As a real process (`campaign listen`, as `campaign run` starts it): killed with SIGKILL while posts arrive,
  more posted while it is down, started again: every post is a mention once, every like counted once."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from atproto import Client, models
from sqlalchemy import func, select

from cli.listen import listen_process
from content_calendar.campaign import load_campaign
from content_calendar.model import Campaign
from platforms.bluesky.firehose import read_frames
from scheduler.clock import SystemClock
from scheduler.collection_models import EngagementEvent, MentionRecord
from scheduler.db import Store
from scheduler.embedded import ChildProcess
from scheduler.listening import Listener, ListenOptions, listening
from scheduler.listening_state import engagement_heard
from scheduler.models import State
from tests.bluesky_adapter.conftest import Publisher
from tests.bluesky_adapter.test_read import tagged
from tests.reports.builders import StoreBuilder
from tests.support.bluesky_fixtures import BlueskyNetwork, poll_until
from tests.support.workspaces import child_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fan(bluesky_network: BlueskyNetwork) -> Client:
    """Another account on the network: it posts with the hashtag and engages with our posts."""
    return bluesky_network.login(bluesky_network.create_account("fan"))


def write_campaign(root: Path, tag: str, organisations: tuple[str, ...] = ()) -> Campaign:
    slug = f"listen-{secrets.token_hex(3)}"
    folder = root / slug
    folder.mkdir(parents=True)
    (folder / "campaign.yaml").write_text(
        f'slug: {slug}\nname: "Listening"\nhashtags: ["#{tag}"]\nhashtag_variants: ["#{tag}Week"]\n'
        f"timezone: Europe/London\nlanguage: en\norganisation_accounts: [{', '.join(organisations)}]\n",
        encoding="utf-8",
    )
    return load_campaign(folder)


def our_post(store: Store, campaign: str, publisher: Publisher) -> models.ComAtprotoRepoStrongRef.Main:
    """A post of ours, published and in the store as a delivery (as the scheduler leaves one)."""
    sent = publisher.owner.send_post(f"Our post {secrets.token_hex(3)}")
    build = StoreBuilder(store, campaign)
    now = datetime.now(UTC)
    post_pk = build.post("p1", now)
    build.delivery(post_pk, "p1", "bluesky", now, State.PUBLISHED, published=now, remote_id=sent.uri,
                   remote_uri=sent.uri)  # fmt: skip
    return models.ComAtprotoRepoStrongRef.Main(uri=sent.uri, cid=sent.cid)


def counts(store: Store, campaign: str) -> tuple[int, dict[str, int]]:
    with store.transaction() as session:
        mentions = session.scalar(select(func.count()).where(MentionRecord.campaign == campaign)) or 0
        kinds = session.execute(
            select(EngagementEvent.kind, func.count()).where(EngagementEvent.campaign == campaign)
            .group_by(EngagementEvent.kind)
        ).all()  # fmt: skip
    return mentions, {kind: n for kind, n in kinds}


def at_head(store: Store, campaign: str) -> bool:
    """The listener has found the stream with nothing waiting (it is connected and caught up)."""
    return any(view.lag is not None for view in listening(store, datetime.now(UTC), campaign))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


@pytest.fixture
def running(
    store: Store, tmp_path: Path, bluesky_network: BlueskyNetwork, campaign_account: Publisher
) -> Iterator[tuple[Campaign, models.ComAtprotoRepoStrongRef.Main]]:
    campaign = write_campaign(tmp_path / "campaigns", f"Hear{secrets.token_hex(3)}")
    target = our_post(store, campaign.slug, campaign_account)
    listener = Listener(store, [campaign], {campaign.slug: [campaign_account.handle]},
                        source=bluesky_network.pds_direct_url, clock=SystemClock(),
                        options=ListenOptions(flush_seconds=0.1, heartbeat_seconds=0.5))  # fmt: skip
    listener.start()
    stop = threading.Event()
    source = listener.source
    thread = threading.Thread(
        target=listener.run, args=(lambda seq: read_frames(source, seq, idle=0.2),), kwargs={"stop": stop.is_set}
    )
    thread.start()
    try:
        poll_until(lambda: at_head(store, campaign.slug), timeout=10, what="the listener to reach the stream's head")
        yield campaign, target
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_hashtag_posts_and_engagement_with_our_post_arrive_within_seconds(
    running: tuple[Campaign, models.ComAtprotoRepoStrongRef.Main],
    store: Store,
    fan: Client,
    campaign_account: Publisher,
) -> None:
    campaign, target = running
    tag = campaign.hashtags[0].lstrip("#")

    tagged(fan, f"Standing with survivors #{tag.upper()}")  # a tag facet, another case
    fan.app.bsky.feed.post.create(  # the variant, in the `tags` field only
        fan.me.did,
        models.AppBskyFeedPost.Record(text="No facet, tags field only", created_at=datetime.now(UTC).isoformat(),
                                      tags=[f"{tag.lower()}week"]),
    )  # fmt: skip
    fan.send_post(f"Typed by a client that writes no facets #{tag}")  # only in the text
    fan.send_post("Nothing to do with us #SomethingElse")
    like = fan.like(target.uri, target.cid)
    fan.repost(target.uri, target.cid)
    reply_ref = models.AppBskyFeedPost.ReplyRef(root=target, parent=target)
    fan.send_post("Thank you for this", reply_to=reply_ref)
    fan.send_post("Worth reading", embed=models.AppBskyEmbedRecord.Main(record=target))
    campaign_account.owner.send_post(f"Part two of our thread #{tag}", reply_to=reply_ref)  # ours: neither

    expected = {"like": 1, "repost": 1, "reply": 1, "quote": 1}
    poll_until(lambda: counts(store, campaign.slug) == (3, expected), timeout=10,
               what=f"3 mentions and {expected} (now {counts(store, campaign.slug)})")  # fmt: skip

    fan.delete_like(like.uri)  # taken back: no longer counted
    poll_until(lambda: counts(store, campaign.slug)[1].get("like", 0) == 0, timeout=10, what="the like removed")
    assert counts(store, campaign.slug) == (3, {"repost": 1, "reply": 1, "quote": 1})
    (ours,) = engagement_heard(store, campaign.slug).items()  # what reports read: per post of ours, by kind
    assert ours[1] == {"repost": 1, "reply": 1, "quote": 1}
    view = listening(store, datetime.now(UTC), campaign.slug)[0]
    assert view.seq is not None and view.lag is not None and view.lag.total_seconds() < 10


def test_a_listener_killed_mid_stream_and_started_again_loses_none_and_counts_none_twice(
    store: Store, tmp_path: Path, bluesky_network: BlueskyNetwork, fan: Client, campaign_account: Publisher
) -> None:
    tag = f"Kill{secrets.token_hex(3)}"
    assert fan.me is not None
    campaign = write_campaign(tmp_path / "campaigns", tag, organisations=(fan.me.handle,))  # its words may be kept
    target = our_post(store, campaign.slug, campaign_account)
    env = child_env(
        CAMPAIGN_DATA_DIR=str(tmp_path / "var"),
        CAMPAIGN_DATABASE_URL=f"sqlite:///{tmp_path / 'campaign.db'}",
        CAMPAIGN_CAMPAIGNS_DIR=str(tmp_path / "campaigns"),
        BLUESKY_RELAY=bluesky_network.pds_direct_url,
        **campaign_account.env(),  # the account's server tells the listener the DIDs of handles
    )

    def start(name: str) -> subprocess.Popen[bytes]:
        process = listen_process()  # the child `campaign run` starts
        child = ChildProcess(process.name, list(process.args), env, tmp_path / f"{name}.log")
        child.start()
        assert child.process is not None
        return child.process

    first = start("first")
    try:
        poll_until(lambda: at_head(store, campaign.slug), timeout=90, what="the first listener at the stream's head")
        posted = 0
        for _ in range(3):
            tagged(fan, f"Before the crash {posted} #{tag}")
            posted += 1
        fan.like(target.uri, target.cid)
        poll_until(lambda: counts(store, campaign.slug)[0] >= 1, timeout=10, what="a first mention stored")
        tagged(fan, f"During the crash {posted} #{tag}")
        posted += 1
        os.kill(first.pid, signal.SIGKILL)  # mid-stream: no chance to write what it holds
        assert first.wait(timeout=10) == -signal.SIGKILL
        for _ in range(3):  # while nothing listens
            tagged(fan, f"While down {posted} #{tag}")
            posted += 1
        fan.repost(target.uri, target.cid)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    second = start("second")
    try:
        expected = (posted, {"like": 1, "repost": 1})
        poll_until(lambda: counts(store, campaign.slug) == expected, timeout=90,
                   what=f"{expected} after the restart (now {counts(store, campaign.slug)})")  # fmt: skip
        tagged(fan, f"After the restart #{tag}")
        poll_until(lambda: counts(store, campaign.slug)[0] == posted + 1, timeout=10, what="a post after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(timeout=30)
    log = (tmp_path / "second.log").read_text(encoding="utf-8")
    assert code == 0, log
    assert "from where it stopped, at " in log  # it resumed from the stored position, not from the head
    assert counts(store, campaign.slug) == (posted + 1, {"like": 1, "repost": 1})
    with store.transaction() as session:  # the allow-listed account, known by its DID: its words kept
        words = set(session.scalars(select(MentionRecord.text).where(MentionRecord.campaign == campaign.slug)))
    assert f"After the restart #{tag}" in words and None not in words
