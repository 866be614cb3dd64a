"""Listening: Bluesky's repository event stream followed as it happens, for every campaign at once.

One listener per relay (or PDS) and store. Each frame is decoded and filtered (platforms/bluesky/firehose.py);
what it keeps is written in batches, each in ONE transaction with the stream's position (the event's `seq`),
per campaign in the collector state (kind `listen`):

- posts using a campaign hashtag, through the mention writer (hashed, private by default, once per URI);
- likes, reposts, replies and quotes of our posts, into engagement_events (once per record; a like or repost
  taken back is removed).

A restart resumes after the last position written: nothing within the relay's replay window is lost, and
nothing is counted twice (both tables are keyed by the record's URI). A gap longer than the replay window (or
a relay saying the cursor is too old) is read back by hashtag search (scheduler/collecting.py), and the
collector's state says so. Lag: how far behind the stream's head the listener is, the time since the newest
event written, or since it last found the stream with nothing waiting, whichever is later (see `lag_of`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from content_calendar.model import Campaign
from platforms.base import Mention
from platforms.bluesky.firehose import FrameDecoder, Interaction, StreamEvent
from scheduler.clock import Clock
from scheduler.collecting import mention_policy
from scheduler.collection import (
    Claim,
    CollectorKey,
    LeaseLost,
    MentionWriter,
    WriteResult,
    advance_cursor,
    claim_collector,
    hash_key,
    keyed_hash,
    keyed_int,
    tag_name,
)
from scheduler.collection.sql import insert_ignore, utc
from scheduler.collection_models import CollectorState, EngagementEvent
from scheduler.db import Store
from scheduler.listening_state import LISTEN, PLATFORM, Position, owner_gone, parse_instant
from scheduler.listening_state import ListeningView as ListeningView
from scheduler.listening_state import lag_of as lag_of
from scheduler.listening_state import listening as listening
from scheduler.models import Delivery

log = logging.getLogger("campaign.listen")

REMOVE_CHUNK = 1000  # keys per DELETE (PostgreSQL takes at most 65,535 parameters a statement)


Frames = Callable[[int | None], Iterator[bytes | None]]  # cursor -> frames (None: nothing waiting just now)
# Read back by search everything since this instant: campaign -> what came of it, in plain words.
Backfill = Callable[[datetime], Mapping[str, str]]


class HeldElsewhere(Exception):
    """Another listener holds these campaigns' listening (`Listener.start`)."""


@dataclass(frozen=True)
class ListenOptions:
    batch_events: int = 2000  # frames decoded before a write, at most
    flush_seconds: float = 1.0  # and at most this long between writes while anything is kept
    heartbeat_seconds: float = 10.0  # at the head of the stream, the position is written this often
    lease: timedelta = timedelta(minutes=2)
    replay_window: timedelta = timedelta(hours=72)  # how far back the relay replays (its setting, not ours)
    refresh_seconds: float = 30.0  # our published posts are read again this often
    reconnect_base: float = 1.0
    reconnect_cap: float = 60.0


@dataclass
class ListenTotals:
    events: int = 0
    mentions: WriteResult = field(default_factory=WriteResult)
    interactions: int = 0  # engagement events written (not counted again when seen twice)
    removed: int = 0
    writes: int = 0


class _OurPosts:
    """Our published Bluesky posts: URI -> [(delivery id, campaign)], and the DIDs that wrote them."""

    def __init__(self, store: Store):
        self.store = store
        self.by_uri: dict[str, list[tuple[int, str]]] = {}
        self.dids: frozenset[str] = frozenset()

    def load(self) -> None:
        with self.store.transaction() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.campaign, Delivery.remote_uri).where(
                    Delivery.platform == PLATFORM, Delivery.remote_uri.is_not(None), Delivery.dry_run.is_(False)
                )
            ).all()
        by_uri: dict[str, list[tuple[int, str]]] = {}
        for delivery_id, campaign, uri in rows:
            if uri and uri.startswith("at://"):
                by_uri.setdefault(uri, []).append((delivery_id, campaign))
        self.by_uri = by_uri
        self.dids = frozenset(uri.removeprefix("at://").split("/", 1)[0] for uri in by_uri)


class Listener:
    """Follows one relay's stream for `campaigns`. `owner` names this listener in the collectors' leases (default
    listener@host:pid): a listener started while another holds them is refused, unless that one's process is
    gone (same host, its pid no longer running, or this very process)."""

    def __init__(
        self,
        store: Store,
        campaigns: Sequence[Campaign],
        own_accounts: Mapping[str, Sequence[str]],
        *,
        source: str,
        clock: Clock,
        owner: str | None = None,
        options: ListenOptions | None = None,
        backfill: Backfill | None = None,
    ):
        self.store = store
        self.campaigns = list(campaigns)
        self.own_accounts = own_accounts
        self.source = source.rstrip("/")
        self.clock = clock
        self.owner = owner or f"listener@{socket.gethostname()}:{os.getpid()}"
        self.options = options or ListenOptions()
        self.backfill = backfill
        self.totals = ListenTotals()
        self._key = hash_key(store)
        self._heard = self._engagement_keys()  # what a deletion on the network may take back: ours alone
        self._ours = _OurPosts(store)
        self._ours.load()
        self._writers = self._make_writers()
        tags = {tag_name(t) for c in self.campaigns for t in (*c.hashtags, *c.hashtag_variants)}
        self.decoder = FrameDecoder(tags, self._ours.by_uri, service=self.source, now=clock.now)
        self._claims: list[Claim] = []
        self.position = Position()
        self._pending: list[StreamEvent] = []
        self._pending_events = 0
        self._notes: dict[str, str] = {}  # campaign -> what reading a gap back by search came to
        self._last_seen: StreamEvent | None = None  # the newest event kept in no write yet (nothing in it for us)
        self._last_write = float("-inf")  # the first moment at the head is written at once
        self._last_refresh = time.monotonic()

    def _make_writers(self) -> dict[str, MentionWriter]:
        return {
            c.slug: MentionWriter(
                self.store,
                mention_policy(c, [*self.own_accounts.get(c.slug, ()), *self._ours.dids], PLATFORM),
            )
            for c in self.campaigns
        }

    def keys(self) -> list[CollectorKey]:
        return [CollectorKey(c.slug, LISTEN, PLATFORM, self.source) for c in self.campaigns]

    # --- starting ---------------------------------------------------------------------------------------

    def start(self) -> int | None:
        """Claim every campaign's state and return where to resume (None: from the head). Raises HeldElsewhere
        when another listener holds them."""
        now = self.clock.now()
        claims = []
        holders = self._holders()
        for key in self.keys():
            holder = holders.get(key.campaign)
            gone = holder if holder and owner_gone(holder) else None
            claim = claim_collector(self.store, key, now, owner=self.owner, lease=self.options.lease,
                                    ignore_backoff=True, take_over=gone)  # fmt: skip
            if not claim.granted:
                raise HeldElsewhere(f"another listener is following {self.source} for {key.campaign}")
            claims.append(claim)
        self._claims = claims
        positions = [Position.parse(c.cursor) for c in claims]
        resumed = [p for p in positions if p.seq is not None]
        if not resumed:
            return None
        earliest = min(resumed, key=lambda p: p.seq or 0)
        self.position = earliest
        stopped = max((t for t in (earliest.event_time, earliest.head_at) if t), default=None)
        if stopped is not None and now - stopped > self.options.replay_window:
            self._gap(stopped, "listening stopped for longer than the relay keeps events")
        return earliest.seq

    def _holders(self) -> dict[str, str]:
        """campaign -> the owner of its listener state's lease, where there is one."""
        with self.store.transaction() as session:
            rows = session.execute(
                select(CollectorState.campaign, CollectorState.lease_owner).where(
                    CollectorState.kind == LISTEN, CollectorState.platform == PLATFORM,
                    CollectorState.source == self.source, CollectorState.lease_owner.is_not(None),
                )
            ).all()  # fmt: skip
        return {campaign: owner for campaign, owner in rows if owner}

    def _gap(self, since: datetime, why: str) -> None:
        """Mentions between `since` and now are read back by search: the state says so while it runs, then
        what came of it for each campaign. The listener's hold is renewed meanwhile (it writes nothing else)."""
        when = f"{since:%Y-%m-%d %H:%M} UTC"
        log.warning("%s: reading back mentions since %s by hashtag search (%s)", why, when, self.source)
        self.position = replace(self.position, backfill=f"{why}: reading back mentions since {when} by hashtag search")
        self._notes = {}
        self._write(head=False)
        if self.backfill is None:
            return
        with self._holding():
            try:
                outcomes = dict(self.backfill(since))
            except Exception as error:  # the listener goes on; beat's searches carry on from where they are
                log.warning("reading back by search from %s failed: %s", self.source, error)
                outcomes = {
                    c.slug: f"the mentions since {when} could not be read back by search" for c in self.campaigns
                }
        self._notes = {slug: f"{why}: {outcome}" for slug, outcome in outcomes.items()}
        self._write(head=False)

    def _renew(self) -> None:
        """Extend this listener's hold on its campaigns' state (where it still holds it)."""
        with self.store.transaction() as session:
            session.execute(
                update(CollectorState)
                .where(
                    CollectorState.id.in_([c.state_id for c in self._claims]), CollectorState.lease_owner == self.owner
                )
                .values(lease_until=self.clock.now() + self.options.lease)
                .execution_options(synchronize_session=False)
            )

    @contextmanager
    def _holding(self) -> Iterator[None]:
        """While the body runs (a read back by search, minutes long), renew the hold every quarter of its length."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.options.lease.total_seconds() / 4):
                try:
                    self._renew()
                except Exception as error:  # the next write finds out whether it still holds it
                    log.warning("listening to %s: the hold could not be renewed: %s", self.source, error)

        self._renew()
        thread = threading.Thread(target=renew, name="listen-hold", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # --- the stream ---------------------------------------------------------------------------------------

    def take(self, frame: bytes | None) -> None:
        """One frame (None: nothing is waiting, the listener is at the stream's head)."""
        now = time.monotonic()
        if frame is None:
            if self._pending_events or now - self._last_write >= self.options.heartbeat_seconds:
                self._write(head=True)
            return
        try:
            event = self.decoder.decode(frame)
        except Exception as error:  # one unreadable frame is skipped, not retried for ever
            log.warning("a frame from %s was skipped: %s", self.source, error)
            return
        self.totals.events += 1
        if event.error:
            raise ConnectionError(f"the relay ended the stream: {event.error}")
        if event.info == "OutdatedCursor":
            stopped = self.position.event_time or self.position.head_at
            if stopped is not None:
                self._gap(stopped, "the relay no longer has the events since listening stopped")
        if event.seq is not None:
            self._pending_events += 1
            if event.mentions or event.interactions or event.removed:
                self._pending.append(event)
            else:
                self._last_seen = event
        if self._pending_events >= self.options.batch_events or (
            self._pending_events and now - self._last_write >= self.options.flush_seconds
        ):
            self._write(head=False)

    def _forget_unsaved(self) -> None:
        """Drop what no write has committed: the stream is joined again from the stored position, so the relay
        sends it again (and both tables are keyed by URI, so nothing is counted twice)."""
        self._pending = []
        self._pending_events = 0
        self._last_seen = None

    def _newest(self, events: list[StreamEvent]) -> StreamEvent | None:
        candidates = [e for e in (events[-1] if events else None, self._last_seen) if e is not None]
        return max(candidates, key=lambda e: e.seq or 0) if candidates else None

    def _write(self, *, head: bool) -> None:
        """One transaction: the position after the pending events, their mentions and interactions. What is
        pending is let go only once committed: a write that fails leaves it all (and the position) as it was."""
        events = self._pending
        clock_now = self.clock.now()
        if time.monotonic() - self._last_refresh >= self.options.refresh_seconds:
            self.refresh()
        newest = self._newest(events)
        position = self.position
        if newest is not None and newest.seq is not None and (position.seq is None or newest.seq > position.seq):
            position = Position(newest.seq, parse_instant(newest.time) or position.event_time, position.head_at,
                                position.backfill)  # fmt: skip
        if head:
            position = Position(position.seq, position.event_time, clock_now, position.backfill)
        mentions: list[Mention] = [m for e in events for m in e.mentions]
        interactions = [i for e in events for i in e.interactions]
        # Every post, like and repost deleted on the network is in `removed`: only ours (stored, or in this very
        # batch) are taken back.
        fresh = {i.uri for i in interactions}
        keys = [key for uri in (u for e in events for u in e.removed)
                if (key := keyed_hash(self._key, uri)) in self._heard or uri in fresh]  # fmt: skip
        written = WriteResult()
        interacted = taken_back = 0
        with self.store.transaction() as session:
            for claim in self._claims:
                note = self._notes.get(claim.key.campaign, position.backfill)
                cursor = replace(position, backfill=note).to_json()
                advance_cursor(session, claim, self.owner, cursor, clock_now, lease=self.options.lease)
            if mentions:
                for writer in self._writers.values():
                    written.add(writer.write(session, mentions, clock_now))
            rows = self._engagement_rows(interactions, clock_now)
            if rows:
                result = session.execute(insert_ignore(self.store, EngagementEvent, ["campaign", "event_key"]), rows)
                interacted = max(0, getattr(result, "rowcount", 0) or 0)
            for start in range(0, len(keys), REMOVE_CHUNK):
                chunk = keys[start : start + REMOVE_CHUNK]
                gone = session.execute(delete(EngagementEvent).where(EngagementEvent.event_key.in_(chunk)))
                taken_back += max(0, getattr(gone, "rowcount", 0) or 0)
            if self._claims:
                session.execute(
                    update(CollectorState)
                    .where(CollectorState.id.in_([c.state_id for c in self._claims]))
                    .values(consecutive_failures=0, last_error=None, next_attempt_at=None, last_success_at=clock_now)
                    .execution_options(synchronize_session=False)
                )
        self.position = position
        self._heard.update(row["event_key"] for row in rows)
        self._heard.difference_update(keys)
        self._forget_unsaved()  # committed: nothing is pending any more
        self._last_write = time.monotonic()
        self.totals.mentions.add(written)
        self.totals.interactions += interacted
        self.totals.removed += taken_back
        self.totals.writes += 1

    def _engagement_keys(self) -> set[str]:
        """The keys of the engagement with our posts stored for these campaigns."""
        with self.store.transaction() as session:
            return set(
                session.scalars(
                    select(EngagementEvent.event_key).where(
                        EngagementEvent.campaign.in_([c.slug for c in self.campaigns]),
                        EngagementEvent.platform == PLATFORM,
                    )
                )
            )

    def _engagement_rows(self, interactions: list[Interaction], now: datetime) -> list[dict[str, Any]]:
        rows = []
        ours = self._ours
        for item in interactions:
            if item.author_id in ours.dids:
                continue  # our own thread's replies, our own likes: not engagement
            for delivery_id, campaign in ours.by_uri.get(item.subject, ()):
                rows.append(
                    {
                        "campaign": campaign,
                        "platform": PLATFORM,
                        "delivery_id": delivery_id,
                        "kind": item.kind,
                        "event_key": keyed_hash(self._key, item.uri),
                        "author_key": keyed_int(self._key, f"{PLATFORM}:{item.author_id}"),
                        "created_at": utc(item.created_at) if item.created_at else now,
                        "seen_at": now,
                    }
                )
        return rows

    def refresh(self) -> None:
        """Read our published posts again (posts published since are ours too)."""
        dids = self._ours.dids
        self._ours.load()
        self.decoder.ours = self._ours.by_uri
        if self._ours.dids != dids:
            self._writers = self._make_writers()
        else:
            for writer in self._writers.values():
                writer.forget_our_posts()
        self._last_refresh = time.monotonic()

    def fail(self, message: str, retry_at: datetime) -> None:
        """Record a dropped stream (the position stays where the last write put it)."""
        with self.store.transaction() as session:
            session.execute(
                update(CollectorState)
                .where(
                    CollectorState.id.in_([c.state_id for c in self._claims]), CollectorState.lease_owner == self.owner
                )
                .values(
                    consecutive_failures=CollectorState.consecutive_failures + 1,
                    last_error=message,
                    next_attempt_at=retry_at,
                    last_run_at=self.clock.now(),
                    lease_until=self.clock.now() + self.options.lease,
                )
                .execution_options(synchronize_session=False)
            )

    def run(self, frames: Frames, *, stop: Callable[[], bool] = lambda: False) -> ListenTotals:
        """Follow the stream until `stop()` says so, reconnecting (with a growing pause) when it drops."""
        failures = 0
        while not stop():
            try:
                for frame in frames(self.position.seq):
                    self.take(frame)
                    failures = 0
                    if stop():
                        break
            except Exception as error:
                self._save_or_forget()
                pause = min(self.options.reconnect_cap, self.options.reconnect_base * 2 ** min(failures, 10))
                failures += 1
                message = (
                    "another listener took over these campaigns"
                    if isinstance(error, LeaseLost)
                    else str(error) or type(error).__name__
                )
                log.warning("listening to %s: %s; connecting again in %.0f s", self.source, message, pause)
                try:
                    self.fail(message, self.clock.now() + timedelta(seconds=pause))
                except Exception as unrecorded:  # the store itself is failing: joining again is all there is to do
                    log.warning("listening to %s: the failure could not be recorded: %s", self.source, unrecorded)
                deadline = time.monotonic() + pause
                while not stop() and time.monotonic() < deadline:
                    time.sleep(min(0.2, pause))
        if self._pending or self._pending_events:
            self._write(head=False)
        return self.totals

    def _save_or_forget(self) -> None:
        """After the stream or a write failed: write what is pending; if the store refuses that too, let it go
        and join the stream again from the stored position (never past events not written)."""
        if not (self._pending or self._pending_events):
            return
        try:
            self._write(head=False)
        except Exception as error:
            log.warning("listening to %s: %s; reading again from the last position written", self.source, error)
            self._forget_unsaved()
