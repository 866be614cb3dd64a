"""The dispatch policy and the values its decisions hand out."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class DispatchPolicy:
    claim_window: timedelta = timedelta(seconds=15)  # claim what is due this soon
    lease: timedelta = timedelta(seconds=120)  # how long a claim may wait for its publish task
    publish_lease: timedelta = timedelta(seconds=300)  # how long one adapter call may take
    max_attempts: int = 8
    base_backoff_seconds: float = 5.0
    max_backoff_seconds: float = 900.0
    claim_batch: int = 1000
    # A live worker keeps extending its publish lease while the adapter call runs; past this it stops, so a
    # call that hangs for good is eventually taken as lost and reconciled.
    max_publish_hold: timedelta = timedelta(minutes=30)
    # After an unknown outcome the next attempt waits at least this long before it looks for the post and
    # sends it again: a platform that timed out may still be writing it, and one that does not hold the
    # idempotency key while it writes (Mastodon before it locked the key) would take a second write with the
    # same key for a new post. Well above the adapters' client timeouts (Mastodon's is 10 s).
    settle: timedelta = timedelta(seconds=60)
    # How long before its publish lease would run out an attempt stops waiting for a platform to take and process
    # its video or images (see media_deadline).
    media_margin: timedelta = timedelta(seconds=60)

    @property
    def media_deadline(self) -> timedelta:
        """How long one attempt may give a platform to take and process a part's video or images (the wiring
        hands it to the adapters): inside the publish lease by `media_margin` (by half the lease when that is
        less), so an attempt that runs out has ended, and is recorded as one to try again, before its lease could
        expire and another worker start the same part, whether or not the lease is being extended."""
        return max(self.publish_lease / 2, self.publish_lease - self.media_margin)

    def backoff(self, attempts: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Exponential backoff with full jitter, never sooner than a platform's own reset time."""
        ceiling = min(self.max_backoff_seconds, self.base_backoff_seconds * 2 ** max(0, attempts - 1))
        delay = (rng or random).uniform(ceiling / 2, ceiling)
        return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    run_at: datetime  # when the publish task should run (its due time, or its retry time)


@dataclass
class TickResult:
    claimed: list[Claim]
    rearmed: list[int]
    missed: list[int]
    paused: bool


@dataclass(frozen=True)
class RemoteRef:
    remote_id: str
    uri: str
    cid: str | None
    url: str


@dataclass(frozen=True)
class PublishJob:
    """What a worker needs to make one adapter call."""

    delivery_id: int
    campaign: str
    post_id: str
    platform: str
    part: int
    payload: dict[str, Any]
    idempotency_key: str
    outcome_unknown: bool
    attempts: int
    attempt_serial: int  # this attempt's number, never reused: its outcome applies only while it is current
    write_attempt_at: datetime  # when the attempt that may have written it began (this one, unless unknown)
    root: RemoteRef | None
    parent: RemoteRef | None


@dataclass(frozen=True)
class Skip:
    delivery_id: int
    reason: str
