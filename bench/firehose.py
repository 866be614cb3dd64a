"""How fast does listening keep up with Bluesky's repository stream, and does its memory stay flat?

Records a stream of N repository events (default 100,000) to a file in the set-up: valid frames as a relay sends
them (DAG-CBOR header and body; each #commit with its CAR of the signed commit, a tree node and the records it
created; made by tests/support/firehose_frames.py), in a mix like the public network's: likes, follows, reposts,
posts (a few using the campaign's hashtags in a tag facet, the `tags` field or only the text; some replying to or
quoting our posts; many with other hashtags), deletions, profile and block records, #identity and #account
events. Then replays the file, one frame at a time as the socket would hand them over, through the listener's
decode-and-filter path (FrameDecoder.decode) and through the whole listener (Listener.take: decode, filter, and
the batched writes of mentions, engagement and the stream position to a SQLite store), on one core (one
thread). Prints events per second of each (goal: the whole listener >= 5,000 a second, several times the
public network's typical rate) and the process's resident memory before the replay, after 10,000 events and at
the end (goal: flat, under 200 MB). What the listener kept is checked against what the recording holds.

    .venv/bin/python bench/firehose.py [--events 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from content_calendar.model import Campaign
from platforms.bluesky.firehose import FrameDecoder
from scheduler.clock import SystemClock
from scheduler.collection_models import EngagementEvent, MentionRecord
from scheduler.db import Store
from scheduler.listening import Listener, ListenOptions
from scheduler.models import Delivery, PostRecord, State
from tests.support.firehose_frames import commit_frame, identity_frame, post, stamp, subject_record

GOAL_RATE = 5_000
GOAL_MB = 200
CAMPAIGN = Campaign(slug="sasvaw-week", name="SASVAW", directory=Path("."), hashtags=("#ItsNotOK",),
                    hashtag_variants=("#ItsNotOk", "#itsnotokay", "#ItsNotOK2027"))  # fmt: skip
OURS_DID = "did:plc:ourcharity000000000000"
OUR_POSTS = 50
OTHER_TAGS = ("bluesky", "art", "photography", "news", "uk", "music", "books", "science", "nature", "football")
WORDS = ("we", "believe", "survivors", "deserve", "to", "be", "heard", "it", "is", "not", "ok", "speak", "out",
         "here", "support", "you", "today")  # fmt: skip
A_CID = "bafyreib2rxk3rh6kzwq"


@dataclass
class Recorded:
    path: Path
    events: int
    mentions: int  # distinct posts using a campaign hashtag
    interactions: dict[str, int]  # of our posts, by kind
    removed: int  # of those, likes and reposts deleted later in the stream


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def our_uris() -> list[str]:
    return [f"at://{OURS_DID}/app.bsky.feed.post/3ours{n:08d}" for n in range(OUR_POSTS)]


def record(path: Path, count: int, seed: int = 5) -> Recorded:
    """Write `count` frames to `path` (each: a 4-byte length, then the frame)."""
    rng = random.Random(seed)
    ours = our_uris()
    start = datetime(2027, 2, 1, 9, tzinfo=UTC)
    mentions = removed = 0
    interactions = {"like": 0, "repost": 0, "reply": 0, "quote": 0}
    likes_of_ours: list[tuple[str, str]] = []  # (repo, path) of likes and reposts of ours, some deleted later
    with path.open("wb") as out:
        for seq in range(1, count + 1):
            at = start + timedelta(milliseconds=seq * 3)
            repo = f"did:plc:user{rng.randrange(200_000):012d}"
            rkey = f"3k{seq:011d}"
            roll = rng.random()
            if roll < 0.03:
                frame = identity_frame(seq, repo, time=at)
            else:
                ops: list[tuple[str, str, dict[str, object] | None]]
                if roll < 0.43 or (0.53 <= roll < 0.60):  # a like (40%) or a repost (7%)
                    kind = "like" if roll < 0.43 else "repost"
                    target = rng.choice(ours) if rng.random() < 0.002 else f"at://{repo}/app.bsky.feed.post/3x{seq}"
                    if target in ours:
                        interactions[kind] += 1
                        likes_of_ours.append((repo, f"app.bsky.feed.{kind}/{rkey}"))
                    ops = [("create", f"app.bsky.feed.{kind}/{rkey}", subject_record(kind, target, at=at))]
                elif roll < 0.53:  # a follow (10%): not watched
                    follow: dict[str, object] = {
                        "$type": "app.bsky.graph.follow",
                        "subject": repo,
                        "createdAt": stamp(at),
                    }
                    ops = [("create", f"app.bsky.graph.follow/{rkey}", follow)]
                elif roll < 0.80:  # a post (20%)
                    text = " ".join(rng.choices(WORDS, k=rng.randrange(4, 30)))
                    extra: dict[str, object] = {}
                    facets: list[str] = []
                    tags: list[str] = []
                    kind_roll = rng.random()
                    if kind_roll < 0.004:
                        facets, text = ["ItsNotOK"], text + " #ItsNotOK"
                        mentions += 1
                    elif kind_roll < 0.006:
                        tags = ["itsnotokay"]
                        mentions += 1
                    elif kind_roll < 0.008:
                        text += " #ITSNOTOK2027"
                        mentions += 1
                    elif kind_roll < 0.10:
                        facets = rng.sample(OTHER_TAGS, 2)
                        text += " " + " ".join(f"#{t}" for t in facets)
                    elif kind_roll < 0.30:
                        text += " #notours"  # a hashtag in the text only, not the campaign's
                    reply_roll = rng.random()
                    if reply_roll < 0.003:
                        ref = {"uri": rng.choice(ours), "cid": A_CID}
                        extra["reply"] = {"root": ref, "parent": ref}
                        interactions["reply"] += 1
                    elif reply_roll < 0.005:
                        quoted = {"uri": rng.choice(ours), "cid": A_CID}
                        extra["embed"] = {"$type": "app.bsky.embed.record", "record": quoted}
                        interactions["quote"] += 1
                    elif reply_roll < 0.30:
                        ref = {"uri": f"at://{repo}/app.bsky.feed.post/3y{seq}", "cid": A_CID}
                        extra["reply"] = {"root": ref, "parent": ref}
                    ops = [("create", f"app.bsky.feed.post/{rkey}", post(text, at=at, tags=tags, facet_tags=facets,
                                                                         **extra))]  # fmt: skip
                elif roll < 0.88:  # a deletion (8%): of a like of ours, sometimes
                    if likes_of_ours and rng.random() < 0.002:
                        by, gone = likes_of_ours.pop()
                        repo = by
                        removed += 1
                        ops = [("delete", gone, None)]
                    else:
                        ops = [("delete", f"app.bsky.feed.like/3z{seq}", None)]
                else:  # profiles, blocks, lists (12%): not watched
                    ops = [("update", "app.bsky.actor.profile/self", {"$type": "app.bsky.actor.profile",
                                                                      "displayName": f"Someone {seq}"})]  # fmt: skip
                frame = commit_frame(seq, repo, ops, time=at)
            out.write(struct.pack(">I", len(frame)))
            out.write(frame)
    return Recorded(path, count, mentions, interactions, removed)


def replay(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while header := source.read(4):
            yield source.read(struct.unpack(">I", header)[0])


def store_with_our_posts(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    now = datetime(2027, 2, 1, 8, tzinfo=UTC)
    with store.transaction() as session:
        record_ = PostRecord(campaign=CAMPAIGN.slug, post_id="launch", source="bench.yaml", status="approved",
                             planned_at=now, timezone="Europe/London", summary="Launch")  # fmt: skip
        session.add(record_)
        session.flush()
        for n, uri in enumerate(our_uris()):
            session.add(Delivery(post_pk=record_.id, campaign=CAMPAIGN.slug, post_id="launch", platform="bluesky",
                                 part=n, state=State.PUBLISHED, due_at=now, misfire_grace_s=1800, payload="{}",
                                 payload_hash="0" * 64, idempotency_key=f"bench-{n}", attempts=1,
                                 outcome_unknown=False, remote_id=uri, remote_uri=uri, published_at=now,
                                 dry_run=False))  # fmt: skip
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-firehose-") as tmp:
        started = time.perf_counter()
        recorded = record(Path(tmp) / "stream.bin", args.events)
        size = recorded.path.stat().st_size
        print(f"recorded {recorded.events:,} events ({size / 1e6:.1f} MB, {size / recorded.events:,.0f} bytes a "
              f"frame on average) in {time.perf_counter() - started:.1f} s")  # fmt: skip
        store = store_with_our_posts(Path(tmp) / "campaign.db")

        # The decode-and-filter path alone.
        decoder = FrameDecoder({"itsnotok", "itsnotokay", "itsnotok2027"}, set(our_uris()))
        kept = 0
        started = time.perf_counter()
        for frame in replay(recorded.path):
            event = decoder.decode(frame)
            kept += len(event.mentions) + len(event.interactions)
        decode_seconds = time.perf_counter() - started

        # The whole listener: decode, filter and batched writes with the stream position.
        listener = Listener(store, [CAMPAIGN], {}, source="https://relay.example", clock=SystemClock(),
                            options=ListenOptions())  # fmt: skip
        listener.start()
        memory = [("before the replay", rss_mb())]
        started = time.perf_counter()
        for n, frame in enumerate(replay(recorded.path), 1):
            listener.take(frame)
            if n in (10_000, recorded.events):
                memory.append((f"after {n:,} events", rss_mb()))
        listener.take(None)  # at the head: the rest is written
        listen_seconds = time.perf_counter() - started
        with store.transaction() as session:
            stored = session.scalar(select(func.count()).select_from(MentionRecord)) or 0
            counted = session.execute(select(EngagementEvent.kind, func.count()).group_by(EngagementEvent.kind))
            engagement = {kind: n for kind, n in counted.all()}

    expected = dict(recorded.interactions)
    print(f"decode and filter (FrameDecoder.decode): {decode_seconds:.2f} s = {args.events / decode_seconds:,.0f} "
          f"events/s ({kept:,} kept)")  # fmt: skip
    rate = args.events / listen_seconds
    verdict = "meets" if rate >= GOAL_RATE else "MISSES"
    print(f"whole listener (Listener.take, writes in {listener.totals.writes:,} transactions): {listen_seconds:.2f} s "
          f"= {rate:,.0f} events/s ({verdict} the goal >= {GOAL_RATE:,})")  # fmt: skip
    for label, mb in memory:
        print(f"resident memory {label}: {mb:,.0f} MB")
    peak = max(mb for _, mb in memory)
    growth = memory[-1][1] - memory[1][1]
    print(f"from 10,000 to {args.events:,} events: {growth:+.1f} MB ({'meets' if peak < GOAL_MB else 'MISSES'} the "
          f"goal: flat, under {GOAL_MB} MB)")  # fmt: skip
    right = stored == recorded.mentions and sum(engagement.values()) == sum(expected.values()) - recorded.removed
    print(
        f"kept: {stored:,} mentions (recorded {recorded.mentions:,}); engagement with our posts {engagement} "
        f"(recorded {expected}, {recorded.removed} taken back later): {'as recorded' if right else 'WRONG'}"
    )
    missed = rate < GOAL_RATE or peak >= GOAL_MB or not right
    return 1 if (args.strict and missed) or not right else 0


if __name__ == "__main__":
    sys.exit(main())
