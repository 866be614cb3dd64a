"""Build a store's state for report and collection tests: our posts and deliveries in given states, mentions
through the real storage path, engagement snapshots through the real snapshot writer."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from platforms.base import Engagement, Mention
from scheduler.collection import DuePost, MentionPolicy, store_mentions, store_snapshots
from scheduler.db import Store
from scheduler.models import Delivery, Event, PostRecord, State

LONDON = ZoneInfo("Europe/London")
ORGS = ("napac.org.uk",)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A London wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=LONDON).astimezone(UTC)


@dataclass
class StoreBuilder:
    store: Store
    campaign: str = "sasvaw-week"

    def post(self, post_id: str, planned: datetime, summary: str = "") -> int:
        with self.store.transaction() as session:
            record = PostRecord(
                campaign=self.campaign,
                post_id=post_id,
                source="test.yaml",
                status="approved",
                planned_at=planned,
                timezone="Europe/London",
                summary=summary or f"Post {post_id}",
            )
            session.add(record)
            session.flush()
            return record.id

    def delivery(
        self,
        post_pk: int,
        post_id: str,
        platform: str,
        due: datetime,
        state: State,
        *,
        part: int = 0,
        published: datetime | None = None,
        remote_id: str | None = None,
        remote_uri: str | None = None,
        dry_run: bool = False,
        last_error: str | None = None,
        parent: int | None = None,
        payload: str = "{}",
    ) -> int:
        key = hashlib.sha256(f"{self.campaign}/{post_id}/{platform}/{part}".encode()).hexdigest()[:32]
        if state == State.PUBLISHED and remote_id is None and not dry_run:
            remote_id = f"{platform}-remote-{post_id}-{part}"
        with self.store.transaction() as session:
            delivery = Delivery(
                post_pk=post_pk,
                campaign=self.campaign,
                post_id=post_id,
                platform=platform,
                part=part,
                parent_id=parent,
                state=state,
                due_at=due,
                misfire_grace_s=1800,
                payload=payload,
                payload_hash="0" * 64,
                idempotency_key=key,
                attempts=1 if state != State.SCHEDULED else 0,
                outcome_unknown=False,
                remote_id=remote_id,
                remote_uri=remote_uri or remote_id,
                remote_url=f"https://example.test/{platform}/{post_id}/{part}" if remote_id else None,
                published_at=published,
                dry_run=dry_run,
                last_error=last_error,
            )
            session.add(delivery)
            session.flush()
            return delivery.id

    def snapshot(
        self,
        delivery_id: int,
        platform: str,
        remote_id: str,
        at: datetime,
        likes: int,
        reposts: int,
        replies: int,
        quotes: int = 0,
    ) -> None:
        due = [DuePost(delivery_id, remote_id, at, None)]
        store_snapshots(
            self.store, self.campaign, platform, due, [Engagement(remote_id, likes, reposts, replies, quotes)], at
        )


def mention(
    uri: str,
    author: str,
    at: datetime,
    *,
    platform: str = "bluesky",
    text: str = "It's not OK #ItsNotOK",
    tags: Sequence[str] = ("ItsNotOK",),
    reply_to: str | None = None,
    seen_on: str = "",
) -> Mention:
    author_id = f"did:plc:{author}" if platform == "bluesky" else f"https://mastodon.test/users/{author}"
    handle = (
        author if "." in author or "@" in author else (f"{author}.bsky.social" if platform == "bluesky" else author)
    )
    return Mention(
        platform=platform,
        uri=uri,
        url=f"https://web.test/{uri.rsplit('/', 1)[-1]}",
        author_handle=handle,
        author_id=author_id,
        text=text,
        created_at=at,
        tags=tuple(tags),
        in_reply_to_uri=reply_to,
        seen_on=seen_on or ("https://bsky.test" if platform == "bluesky" else "https://mastodon.test"),
    )


def policy(
    campaign: str = "sasvaw-week", *, organisations: Sequence[str] = ("napac.org.uk",), keep_handles: bool = False
) -> MentionPolicy:
    return MentionPolicy.build(
        campaign,
        ("#ItsNotOK", "#ItsNotOk", "#itsnotokay"),
        organisation_accounts=organisations,
        own_accounts={"bluesky": ["ours.bsky.social"], "mastodon": ["ours@mastodon.test"]},
        keep_handles=keep_handles,
    )


def add_mentions(store: Store, mentions: Sequence[Mention], **policy_options: object) -> None:
    store_mentions(store, policy(**policy_options), mentions)  # type: ignore[arg-type]


def known_week(store: Store) -> Store:
    """A week with one of everything (see the comments for the expected answers)."""
    b = StoreBuilder(store)
    # The week before: p0 on both platforms, on time.
    p0 = b.post("p0", london(2027, 1, 31, 20), "Sunday evening post")
    p0b = b.delivery(
        p0, "p0", "bluesky", london(2027, 1, 31, 20), State.PUBLISHED, published=london(2027, 1, 31, 20, 0, 30)
    )
    b.delivery(p0, "p0", "mastodon", london(2027, 1, 31, 20), State.PUBLISHED, published=london(2027, 1, 31, 20, 1))
    # This week.
    p1 = b.post("p1", london(2027, 2, 1, 9), "Day one: it is not OK")
    p1b = b.delivery(
        p1,
        "p1",
        "bluesky",
        london(2027, 2, 1, 9),
        State.PUBLISHED,
        published=london(2027, 2, 1, 9, 0, 5),
        remote_id="at://did:plc:ours/app.bsky.feed.post/p1",
    )
    p1m0 = b.delivery(p1, "p1", "mastodon", london(2027, 2, 1, 9), State.PUBLISHED, published=london(2027, 2, 1, 9, 2))
    p1m1 = b.delivery(
        p1, "p1", "mastodon", london(2027, 2, 1, 9), State.PUBLISHED, part=1, published=london(2027, 2, 1, 9, 2, 30)
    )
    p2 = b.post("p2", london(2027, 2, 2, 12))
    b.delivery(p2, "p2", "bluesky", london(2027, 2, 2, 12), State.PUBLISHED, published=london(2027, 2, 2, 12, 20))
    p2m = b.delivery(p2, "p2", "mastodon", london(2027, 2, 2, 12), State.MISSED)
    with store.transaction() as session:
        session.add(
            Event(
                at=london(2027, 2, 2, 12, 31),
                delivery_id=p2m,
                campaign="sasvaw-week",
                post_id="p2",
                from_state="scheduled",
                to_state="missed",
                action="misfire",
                actor="beat",
                reason="not published within its grace period (30 min)",
            )
        )
    p3 = b.post("p3", london(2027, 2, 3, 18))
    b.delivery(
        p3,
        "p3",
        "bluesky",
        london(2027, 2, 3, 18),
        State.FAILED,
        last_error="Bluesky refused the post: <b>text too long</b>",
    )
    b.delivery(p3, "p3", "mastodon", london(2027, 2, 3, 18), State.CANCELLED)
    p4 = b.post("p4", london(2027, 2, 7, 23, 59, 59))
    b.delivery(p4, "p4", "bluesky", london(2027, 2, 7, 23, 59, 59), State.SCHEDULED)
    p5 = b.post("p5", london(2027, 2, 8))  # next week: not in this report
    b.delivery(p5, "p5", "bluesky", london(2027, 2, 8), State.SCHEDULED)
    p6 = b.post("p6", london(2027, 2, 4, 10))
    b.delivery(
        p6, "p6", "mastodon", london(2027, 2, 4, 10), State.PUBLISHED, published=london(2027, 2, 4, 10), dry_run=True
    )
    # Engagement snapshots.
    b.snapshot(p0b, "bluesky", "bluesky-remote-p0-0", london(2027, 1, 31, 21), 2, 1, 0)
    b.snapshot(p0b, "bluesky", "bluesky-remote-p0-0", london(2027, 2, 3, 12), 10, 3, 2, 1)
    b.snapshot(p0b, "bluesky", "bluesky-remote-p0-0", london(2027, 2, 8, 1), 50, 9, 9, 9)  # after the week
    b.snapshot(p1b, "bluesky", "at://did:plc:ours/app.bsky.feed.post/p1", london(2027, 2, 1, 10), 1, 0, 0)
    b.snapshot(p1b, "bluesky", "at://did:plc:ours/app.bsky.feed.post/p1", london(2027, 2, 5, 10), 5, 2, 1)
    b.snapshot(p1m0, "mastodon", "mastodon-remote-p1-0", london(2027, 2, 6, 10), 3, 1, 0)
    b.snapshot(p1m1, "mastodon", "mastodon-remote-p1-1", london(2027, 2, 6, 10), 1, 0, 1)
    # Mentions. The week before: alice on Saturday, dave one second before Monday.
    ours = "at://did:plc:ours/app.bsky.feed.post/p1"
    add_mentions(store, [
        mention("at://did:plc:alice/app.bsky.feed.post/a0", "alice", london(2027, 1, 30, 12)),
        mention("at://did:plc:dave/app.bsky.feed.post/d0", "dave", london(2027, 1, 31, 23, 59, 59)),
        # This week.
        mention("at://did:plc:alice/app.bsky.feed.post/a1", "alice", london(2027, 2, 1)),  # Monday 00:00:00
        mention("at://did:plc:bob/app.bsky.feed.post/b1", "bob", london(2027, 2, 2, 8), reply_to=ours),
        mention("at://did:plc:bob/app.bsky.feed.post/b2", "bob", london(2027, 2, 2, 9), text="hi #itsnotokay",
                tags=()),
        mention("https://a.test/users/carol/statuses/1", "carol", london(2027, 2, 3, 7), platform="mastodon",
                seen_on="https://a.test"),
        mention("https://a.test/users/carol/statuses/1", "carol", london(2027, 2, 3, 7), platform="mastodon",
                seen_on="https://b.test"),  # the same status read on a second instance
        mention("at://did:plc:napac/app.bsky.feed.post/n1", "napac.org.uk", london(2027, 2, 4, 11),
                text="Support is there for you: NAPAC 0808 801 0331 #ItsNotOK"),
        mention("https://a.test/users/carol/statuses/2", "carol", london(2027, 2, 7, 23, 59, 59), platform="mastodon"),
        # Not counted: next week, our own post, a post without a campaign hashtag.
        mention("at://did:plc:erin/app.bsky.feed.post/e1", "erin", london(2027, 2, 8)),
        mention("at://did:plc:ours/app.bsky.feed.post/o1", "ours.bsky.social", london(2027, 2, 3)),
        mention("at://did:plc:frank/app.bsky.feed.post/f1", "frank", london(2027, 2, 3), text="#ItsNotOKAY2",
                tags=("ItsNotOKAY2",)),
    ], organisations=ORGS)  # fmt: skip
    return store
