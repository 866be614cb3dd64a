"""Collection end to end with the real adapters: Bluesky against the local AT Protocol network (PDS + app view,
tests/support/bluesky_fixtures.py), Mastodon against two federating test servers
(tests/support/mastodon_fixtures.py). Mentions posted by other accounts are stored once, across pages,
instances and restarts (a new Store and new adapters each time, as after a worker restart); engagement made by
a second account shows in the snapshots. Nothing waits on a schedule: the app view is polled with a deadline
and collection is run directly, with a clock the test moves."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from atproto import Client, models
from sqlalchemy import func, select

from content_calendar.facets import detect_facets
from content_calendar.model import Campaign
from scheduler.clock import FixedClock
from scheduler.collecting import CollectOptions, collect_engagement, collect_mentions
from scheduler.collection_models import CollectorRun, EngagementSnapshot, MentionRecord
from scheduler.db import Store
from scheduler.models import State
from scheduler.settings import Settings, load_settings
from scheduler.wiring import Adapters
from tests.mastodon_server import MastodonControl
from tests.reports.builders import StoreBuilder
from tests.support.bluesky_fixtures import BlueskyNetwork
from tests.support.engine import wait_for
from tests.support.mastodon_fixtures import MastodonFederation

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"CAMPAIGN_DATA_DIR": str(tmp_path / "data"), **env}, dotenv_path=tmp_path / "none.env")


def mention_rows(store: Store) -> list[tuple[str, str, str | None, int | None]]:
    with store.transaction() as session:
        return list(session.execute(
            select(MentionRecord.platform, MentionRecord.matched_tag, MentionRecord.author_handle,
                   MentionRecord.reply_to_delivery_id).order_by(MentionRecord.created_at, MentionRecord.id)
        ).all())  # fmt: skip


def count_mentions(store: Store) -> int:
    with store.transaction() as session:
        return int(session.execute(select(func.count()).select_from(MentionRecord)).scalar_one())


def latest_snapshot(store: Store, delivery_id: int) -> tuple[int, int, int, int] | None:
    with store.transaction() as session:
        row = session.execute(
            select(EngagementSnapshot.likes, EngagementSnapshot.reposts, EngagementSnapshot.replies,
                   EngagementSnapshot.quotes)
            .where(EngagementSnapshot.delivery_id == delivery_id)
            .order_by(EngagementSnapshot.taken_at.desc()).limit(1)
        ).first()  # fmt: skip
    return tuple(row) if row else None  # type: ignore[return-value]


# --- Bluesky ------------------------------------------------------------------------------------------------


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


def test_bluesky_mentions_once_across_pages_and_restarts_and_engagement_by_another_account(
    bluesky_network: BlueskyNetwork, tmp_path: Path
) -> None:
    # A tag of this test's own: the network is shared by the session and the local app view searches text.
    suffix = secrets.token_hex(3)
    tag, case_variant, variant = f"ItsNotOK{suffix}", f"ItsNotOk{suffix}", f"itsnotokay{suffix}"
    ours = bluesky_network.create_account("charity")
    app_password = bluesky_network.create_app_password(ours)
    settings = settings_for(tmp_path, BLUESKY_SERVICE=bluesky_network.pds_url, BLUESKY_HANDLE=ours.handle,
                            BLUESKY_APP_PASSWORD=app_password)  # fmt: skip
    campaign = Campaign(slug="sasvaw-week", name="SASVAW", directory=tmp_path, hashtags=(f"#{tag}",),
                        hashtag_variants=(f"#{case_variant}", f"#{variant}"))  # fmt: skip
    url = f"sqlite:///{tmp_path / 'campaign.db'}"

    # Our published post, as the publisher leaves it in the store.
    our_client = bluesky_network.login(ours)
    our_post = tagged(our_client, f"Our campaign post #{tag}")
    builder = StoreBuilder(Store(url))
    pk = builder.post("day-1", datetime.now(UTC))
    delivery = builder.delivery(pk, "day-1", "bluesky", datetime.now(UTC), State.PUBLISHED,
                                published=datetime.now(UTC), remote_id=our_post.uri)  # fmt: skip
    our_ref = models.ComAtprotoRepoStrongRef.Main(uri=our_post.uri, cid=our_post.cid)

    alice = bluesky_network.create_account("alice")
    bob = bluesky_network.create_account("bob")
    alice_client, bob_client = bluesky_network.login(alice), bluesky_network.login(bob)
    posted = [tagged(alice_client, f"Speaking out #{tag} ({n})") for n in range(5)]
    posted.append(tagged(bob_client, f"Same tag, other case #{case_variant}"))
    posted.append(tagged(bob_client, f"A variant #{variant}"))
    posted.append(tagged(bob_client, f"Replying to the charity #{tag}",
                         reply_to=models.AppBskyFeedPost.ReplyRef(root=our_ref, parent=our_ref)))  # fmt: skip
    not_ours = [tagged(bob_client, f"Another tag #{tag}extra"), bob_client.send_post(f"No hash {tag} here")]
    for post in [our_post, *posted, *not_ours]:
        bluesky_network.wait_for_post(post.uri)

    clock = FixedClock(datetime.now(UTC) + timedelta(seconds=1))
    # Page size 2 and two calls per run: each run stops mid-sweep and the next, after a "restart", resumes it.
    options = CollectOptions(max_calls=2)
    runs = 0
    while True:
        store = Store(url)
        adapters = Adapters(settings, bluesky_options={"search_page_size": 2})
        [outcome] = collect_mentions(store, campaign, "bluesky", adapters, clock=clock, owner=f"run{runs}",
                                     options=options)  # fmt: skip
        assert outcome.outcome == "ok", outcome.describe()
        assert outcome.result.duplicates == 0, "a resumed sweep must not read a page again"
        runs += 1
        if "next_since" in _cursor(store):  # the sweep is complete
            break
        assert runs < 20
        clock.advance(timedelta(seconds=30))
    assert runs >= 3, "the sweep spanned several runs"
    rows = mention_rows(Store(url))
    assert len(rows) == len(posted) == count_mentions(Store(url))
    assert sorted(r[1] for r in rows) == sorted([f"#{tag}"] * 6 + [f"#{variant}"] + [f"#{tag}"])
    assert [r[3] for r in rows].count(delivery) == 1  # the reply to our post
    assert all(r[2] is None for r in rows)  # third parties: no handles kept

    # A later run after a restart reads down to where the last sweep began (less the overlap): nothing new.
    clock.advance(timedelta(minutes=5))
    [again] = collect_mentions(Store(url), campaign, "bluesky", Adapters(settings), clock=clock,
                               owner="again")  # fmt: skip
    assert (again.outcome, again.result.stored) == ("ok", 0)
    newer = tagged(alice_client, f"One more #{tag}")
    bluesky_network.wait_for_post(newer.uri)
    clock.advance(timedelta(minutes=5))
    [later] = collect_mentions(Store(url), campaign, "bluesky", Adapters(settings), clock=clock,
                               owner="later")  # fmt: skip
    assert (later.outcome, later.result.stored) == ("ok", 1)
    assert count_mentions(Store(url)) == len(posted) + 1

    # Engagement by a second account shows in the snapshots (taken hourly: the clock moves an hour a try).
    alice_client.like(our_post.uri, our_post.cid)
    alice_client.repost(our_post.uri, our_post.cid)
    alice_client.send_post("A quote", embed=models.AppBskyEmbedRecord.Main(record=our_ref))

    def snapshot_complete() -> tuple[int, int, int, int] | None:
        clock.advance(timedelta(hours=1))
        outcome = collect_engagement(Store(url), "sasvaw-week", "bluesky", Adapters(settings),
                                     clock=clock, owner="engagement")  # fmt: skip
        assert outcome.outcome == "ok", outcome.describe()
        counts = latest_snapshot(Store(url), delivery)
        return counts if counts == (1, 1, 1, 1) else None

    wait_for(snapshot_complete, timeout=30, interval=0.2, what="likes, reposts, the reply and the quote")
    with Store(url).transaction() as session:
        assert session.execute(select(func.count()).select_from(EngagementSnapshot)).scalar_one() >= 1
        assert {r.outcome for r in session.execute(select(CollectorRun)).scalars()} == {"ok"}


def _cursor(store: Store) -> str:
    from scheduler.collection_models import CollectorState

    with store.transaction() as session:
        return session.execute(select(CollectorState.cursor)).scalar_one() or ""


# --- Mastodon -----------------------------------------------------------------------------------------------


def _local_id(control, uri: str) -> str:  # type: ignore[no-untyped-def]
    return next(s["id"] for s in control.statuses() if s["uri"] == uri)


def test_mastodon_mentions_once_across_instances_pages_and_restarts_and_engagement(
    mastodon_federation: MastodonFederation, tmp_path: Path
) -> None:
    a, b = mastodon_federation.instances
    charity = a.create_account("charity")
    a.create_account("survivor")
    a.create_account("friend")
    b.create_account("ally")
    settings = settings_for(tmp_path, MASTODON_API_BASE_URL=a.base_url, MASTODON_ACCESS_TOKEN=charity.token)
    campaign = Campaign(slug="sasvaw-week", name="SASVAW", directory=tmp_path, hashtags=("#ItsNotOK",),
                        hashtag_variants=("#ItsNotOk", "#itsnotokay"), mastodon_instances=(b.base_url,))  # fmt: skip
    url = f"sqlite:///{tmp_path / 'campaign.db'}"

    ours = a.post_as("charity", "Our campaign post #ItsNotOK")
    builder = StoreBuilder(Store(url))
    pk = builder.post("day-1", datetime.now(UTC))
    delivery = builder.delivery(pk, "day-1", "mastodon", datetime.now(UTC), State.PUBLISHED,
                                published=datetime.now(UTC), remote_id=ours["id"], remote_uri=ours["uri"])  # fmt: skip
    # 45 statuses on instance a (more than one page of 40), relayed to b: the same uri seen on both.
    survivor = [a.post_as("survivor", f"Speaking out ({n}) #ItsNotOK") for n in range(45)]
    mastodon_federation.wait_for_deliveries(timeout=30)
    ally = [
        b.post_as("ally", "Standing with you #itsnotok", in_reply_to_id=_local_id(b, ours["uri"])),
        b.post_as("ally", "A variant #itsnotokay"),
    ]
    b.post_as("ally", "Another tag #SomethingElse")
    mastodon_federation.wait_for_deliveries(timeout=30)

    clock = FixedClock(datetime.now(UTC) + timedelta(seconds=1))

    def run(owner: str) -> list:  # type: ignore[type-arg]
        outcomes = collect_mentions(Store(url), campaign, "mastodon", Adapters(settings), clock=clock,
                                    owner=owner)  # fmt: skip
        assert [o.outcome for o in outcomes] == ["ok", "ok"], [o.describe() for o in outcomes]
        return outcomes

    first = run("first")
    assert [o.key.source for o in first] == [a.base_url, b.base_url]
    assert first[0].pages >= 2  # the collector follows the adapter's cursor until it stops moving
    expected = len(survivor) + len(ally)
    assert count_mentions(Store(url)) == expected
    assert first[0].result.stored + first[1].result.stored == expected
    assert first[1].result.duplicates >= len(survivor)  # b relayed a's statuses: the same uri, not stored again
    rows = mention_rows(Store(url))
    assert [r[3] for r in rows].count(delivery) == 1
    assert sorted({r[1] for r in rows}) == ["#ItsNotOK", "#itsnotokay"]

    clock.advance(timedelta(minutes=5))
    restarted = run("restarted")
    assert sum(o.result.stored for o in restarted) == 0
    a.post_as("survivor", "Later #ItsNotOk")
    mastodon_federation.wait_for_deliveries(timeout=30)
    clock.advance(timedelta(minutes=5))
    later = run("later")
    assert sum(o.result.stored for o in later) == 1
    assert count_mentions(Store(url)) == expected + 1

    # Engagement by another account: a favourite and a reply through the API, a boost and a quote through
    # the test server's control API (it has no boost endpoint).
    friend = a.create_account("friend2").client()
    friend.status_favourite(ours["id"])
    friend.status_post("Thank you", in_reply_to_id=ours["id"])
    a.add_engagement(ours["id"], reblogs=1, quotes=1, by=["friend2"])

    def snapshot_complete() -> tuple[int, int, int, int] | None:
        clock.advance(timedelta(hours=1))
        outcome = collect_engagement(Store(url), "sasvaw-week", "mastodon", Adapters(settings),
                                     clock=clock, owner="engagement")  # fmt: skip
        assert outcome.outcome == "ok", outcome.describe()
        counts = latest_snapshot(Store(url), delivery)
        return counts if counts is not None and counts[:2] == (1, 1) and counts[2] >= 1 else None

    counts = wait_for(snapshot_complete, timeout=30, interval=0.2, what="favourite, boost and reply counted")
    on_server = next(s for s in a.statuses("charity") if s["id"] == ours["id"])
    assert counts == (on_server["favourites_count"], on_server["reblogs_count"], on_server["replies_count"],
                      on_server.get("quotes_count", 0))  # fmt: skip
    assert counts[3] == 1  # the quote


def test_mastodon_a_variant_added_later_reads_back_the_lookback_not_only_the_newest_page(
    mastodon: MastodonControl, tmp_path: Path
) -> None:
    charity = mastodon.create_account("charity")
    mastodon.create_account("survivor")
    settings = settings_for(tmp_path, MASTODON_API_BASE_URL=mastodon.base_url, MASTODON_ACCESS_TOKEN=charity.token)
    campaign = Campaign(slug="sasvaw-week", name="SASVAW", directory=tmp_path, hashtags=("#ItsNotOK",))
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    now = datetime.now(UTC)
    clock = FixedClock(now)

    def run(subject: Campaign, **options: object) -> int:
        [outcome] = collect_mentions(Store(url), subject, "mastodon", Adapters(settings), clock=clock,
                                     owner="test", **options)  # type: ignore[arg-type]  # fmt: skip
        assert outcome.outcome == "ok", outcome.describe()
        return outcome.result.stored

    mastodon.post_as("survivor", "Three hours ago #ItsNotOK", created_at=now - timedelta(hours=3))
    assert run(campaign) == 1  # the collector now has a position for #ItsNotOK

    # A variant added to the campaign later has no position: it reads back the campaign's lookback, not only
    # the newest page of 40.
    for n in range(45):
        mastodon.post_as("survivor", f"Variant {n} #itsnotokay", created_at=now - timedelta(days=2, minutes=-n))
    extended = Campaign(slug="sasvaw-week", name="SASVAW", directory=tmp_path, hashtags=("#ItsNotOK",),
                        hashtag_variants=("#itsnotokay",))  # fmt: skip
    clock.advance(timedelta(minutes=5))
    assert run(extended) == 45
    assert count_mentions(Store(url)) == 46


def test_mastodon_backfill_from_a_later_date_keeps_every_tag_position(
    mastodon: MastodonControl, tmp_path: Path
) -> None:
    """`campaign collect --since` after collection stopped: the statuses between a tag's position and a later
    `since` are still read (the backfill rewinds positions, never discards them)."""
    charity = mastodon.create_account("charity")
    mastodon.create_account("survivor")
    settings = settings_for(tmp_path, MASTODON_API_BASE_URL=mastodon.base_url, MASTODON_ACCESS_TOKEN=charity.token)
    campaign = Campaign(slug="sasvaw-week", name="SASVAW", directory=tmp_path, hashtags=("#ItsNotOK",),
                        hashtag_variants=("#itsnotokay",))  # fmt: skip
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    now = datetime.now(UTC)
    clock = FixedClock(now)

    def run(**options: object) -> int:
        [outcome] = collect_mentions(Store(url), campaign, "mastodon", Adapters(settings), clock=clock,
                                     owner="test", **options)  # type: ignore[arg-type]  # fmt: skip
        assert outcome.outcome == "ok", outcome.describe()
        return outcome.result.stored

    mastodon.post_as("survivor", "Three hours ago #ItsNotOK", created_at=now - timedelta(hours=3))
    mastodon.post_as("survivor", "Three hours ago too #itsnotokay", created_at=now - timedelta(hours=3))
    assert run() == 2  # each tag has its position
    # Collection stopped; meanwhile statuses two hours ago and now. A backfill from one hour ago.
    mastodon.post_as("survivor", "Two hours ago #ItsNotOK", created_at=now - timedelta(hours=2))
    mastodon.post_as("survivor", "Two hours ago too #itsnotokay", created_at=now - timedelta(hours=2))
    mastodon.post_as("survivor", "Now #ItsNotOK")
    assert run(since=now - timedelta(hours=1)) == 3
    clock.advance(timedelta(minutes=5))
    assert run() == 0
    assert count_mentions(Store(url)) == 5
    # A backfill from before the positions reads from there (what is stored already counts as duplicates).
    mastodon.post_as("survivor", "Yesterday #itsnotokay", created_at=now - timedelta(days=1))
    assert run(since=now - timedelta(days=2)) == 1
    assert count_mentions(Store(url)) == 6
