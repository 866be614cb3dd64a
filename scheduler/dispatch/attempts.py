"""A publish attempt's transitions: begin it, record its outcome (published, or failed and when to try
again), give a claim back without one, keep its lease while it runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select

from scheduler import approval
from scheduler.db import Store
from scheduler.dispatch.pausing import is_paused
from scheduler.dispatch.policy import DispatchPolicy, PublishJob, RemoteRef, Skip
from scheduler.dispatch.transitions import locked_delivery, minutes, record, transition
from scheduler.holds import holding, zone_of
from scheduler.models import FINAL_STATES, Delivery, State

HELD = "held"  # the event of a release: what held it back, then NEXT_TRY and when
NEXT_TRY = "; next try at "


def begin_publish(
    store: Store, delivery_id: int, now: datetime, policy: DispatchPolicy, *, worker: str
) -> PublishJob | Skip:
    """Move a claimed delivery to publishing, unless it is done, cancelled, paused, not approved, too late or
    its parent is not out yet. The pause switch is read in the same transaction as the change.

    Approval is decided here, not only when the tick claims: this is the one step every way out passes (the
    tick, post-now, retry, a thread's next part), and it decides with the delivery's row locked and in the
    transaction that hands out its payload. A change of the post rewrites that row (and on PostgreSQL waits for
    our lock), so the version approved is the version sent; a rejection committed before this point holds it."""
    with store.transaction() as session:
        paused = is_paused(session, for_publish=True)
        delivery = locked_delivery(session, delivery_id)
        if delivery is None:
            return Skip(delivery_id, "no such post part")
        if delivery.state != State.CLAIMED:
            return Skip(delivery_id, f"it is {delivery.state}")
        if paused:
            delivery.lease_until = None
            delivery.claimed_by = None
            transition(session, delivery, State.SCHEDULED, action="hold", actor=worker, reason="paused", now=now)
            return Skip(delivery_id, "paused")
        waiting = approval.holds_back(session, delivery)
        if waiting is not None:
            delivery.lease_until = None
            delivery.claimed_by = None
            why = f"{approval.AWAITING}: {waiting}"
            transition(session, delivery, State.SCHEDULED, action="hold", actor=worker, reason=why, now=now)
            return Skip(delivery_id, approval.AWAITING)
        if (hold := holding(session, [delivery]).get(delivery.id)) is not None:  # a safeguarding hold
            delivery.lease_until = None
            delivery.claimed_by = None
            why = f"held by {hold.named(zone_of(session, delivery))}"
            transition(session, delivery, State.SCHEDULED, action="hold", actor=worker, reason=why, now=now)
            return Skip(delivery_id, why)
        if now - delivery.due_at > timedelta(seconds=delivery.misfire_grace_s):
            transition(
                session,
                delivery,
                State.MISSED,
                action="misfire",
                actor=worker,
                reason=f"it came up to be posted {minutes(int((now - delivery.due_at).total_seconds()))} late, "
                f"past its grace period: too late to post. Use `campaign retry` to post it now.",
                now=now,
            )
            return Skip(delivery_id, "missed")
        root = parent = None
        if delivery.parent_id is not None:
            parent = session.get(Delivery, delivery.parent_id)
            if parent is None or parent.state != State.PUBLISHED:
                delivery.lease_until = None
                delivery.claimed_by = None
                transition(
                    session,
                    delivery,
                    State.SCHEDULED,
                    action="hold",
                    actor=worker,
                    reason="waiting for the part it replies to",
                    now=now,
                )
                return Skip(delivery_id, "parent not published")
            root = session.scalars(
                select(Delivery).where(
                    Delivery.campaign == delivery.campaign,
                    Delivery.post_id == delivery.post_id,
                    Delivery.platform == delivery.platform,
                    Delivery.part == 0,
                )
            ).one()
        delivery.attempts += 1
        delivery.attempt_serial += 1
        if not delivery.outcome_unknown:
            delivery.write_attempt_at = now
        elif delivery.write_attempt_at is None:
            # An unknown outcome from before write_attempt_at existed: that attempt keyed and dated the post
            # by its planned time (the payload's, which retry and post-now do not move).
            delivery.write_attempt_at = datetime.fromisoformat(json.loads(delivery.payload)["at"])
        delivery.lease_until = now + policy.publish_lease
        delivery.claimed_by = worker
        transition(
            session,
            delivery,
            State.PUBLISHING,
            action="publish",
            actor=worker,
            reason=f"attempt {delivery.attempts}"
            + (" (reconciling an unknown outcome)" if delivery.outcome_unknown else ""),
            now=now,
        )
        return PublishJob(
            delivery_id=delivery.id,
            campaign=delivery.campaign,
            post_id=delivery.post_id,
            platform=delivery.platform,
            part=delivery.part,
            payload=json.loads(delivery.payload),
            idempotency_key=delivery.idempotency_key,
            outcome_unknown=delivery.outcome_unknown,
            attempts=delivery.attempts,
            attempt_serial=delivery.attempt_serial,
            write_attempt_at=delivery.write_attempt_at,
            root=_ref(root),
            parent=_ref(parent),
        )


def complete_publish(
    store: Store,
    delivery_id: int,
    now: datetime,
    *,
    worker: str,
    remote: RemoteRef,
    dry_run: bool,
    already_existed: bool,
    duplicates: str = "",
) -> None:
    """Record a published delivery. `duplicates`: what the adapter found and did about a second copy of the
    post (it is recorded as an event of its own)."""
    with store.transaction() as session:
        delivery = locked_delivery(session, delivery_id)
        if delivery is None or delivery.state == State.PUBLISHED:
            return
        delivery.remote_id = remote.remote_id
        delivery.remote_uri = remote.uri
        delivery.remote_cid = remote.cid
        delivery.remote_url = remote.url
        delivery.published_at = now
        delivery.dry_run = dry_run
        delivery.lease_until = None
        delivery.outcome_unknown = False
        delivery.last_error = None
        reason = "found the earlier attempt's post" if already_existed else "posted"
        if delivery.cancel_requested:
            delivery.cancel_requested = False
            reason += " (a cancel came too late: it was already being published)"
        if delivery.state != State.PUBLISHING:
            reason += f" (it had become {delivery.state} meanwhile; the post exists, so it counts as published)"
        transition(session, delivery, State.PUBLISHED, action="published", actor=worker, reason=reason, now=now)
        if duplicates:
            record(session, action="duplicate", actor=worker, delivery=delivery, reason=duplicates, now=now)


def fail_publish(
    store: Store,
    delivery_id: int,
    now: datetime,
    policy: DispatchPolicy,
    *,
    worker: str,
    error: str,
    permanent: bool,
    retry_after: float | None = None,
    outcome_unknown: bool = False,
    attempt: int | None = None,
) -> datetime | None:
    """Record a failed attempt. Returns when the next attempt may run, or None if it will not.

    With `attempt` (its attempt_serial), only that attempt's failure is recorded: if the delivery has moved
    on (its lease ran out and another attempt holds it), the stale failure is noted and changes nothing."""
    with store.transaction() as session:
        delivery = locked_delivery(session, delivery_id)
        if delivery is None or delivery.state in FINAL_STATES:
            return None
        if attempt is not None and (delivery.state != State.PUBLISHING or delivery.attempt_serial != attempt):
            record(
                session,
                action="stale-attempt",
                actor=worker,
                delivery=delivery,
                reason=f"an earlier attempt failed after the post part had moved on (now {delivery.state}): {error}",
                now=now,
            )
            return None
        delivery.last_error = error
        delivery.lease_until = None
        delivery.claimed_by = None
        delivery.outcome_unknown = delivery.outcome_unknown or outcome_unknown
        if delivery.cancel_requested:
            delivery.cancel_requested = False
            why = f"cancelled by operator while it was being published; that attempt failed: {error}"
            if delivery.outcome_unknown:
                why += " (it may be live all the same: check the account)"
            transition(session, delivery, State.CANCELLED, action="cancel", actor=worker, reason=why, now=now)
            return None
        if permanent or delivery.attempts >= policy.max_attempts:
            why = error if permanent else f"gave up after {delivery.attempts} attempts; last error: {error}"
            transition(session, delivery, State.FAILED, action="failed", actor=worker, reason=why, now=now)
            return None
        next_at = now + timedelta(seconds=policy.backoff(delivery.attempts, retry_after))
        settling = ""
        if outcome_unknown and now + policy.settle > next_at:
            # The platform may still be writing the post this attempt sent: look for it (and send it again)
            # only once a slow write has had time to land, or a server that does not hold the key while it
            # writes would take the retry for a new post.
            next_at = now + policy.settle
            settling = (
                f" (it first gives the platform {policy.settle.total_seconds():g} s to finish a post it may still "
                "be writing)"
            )
        delivery.next_attempt_at = next_at
        transition(
            session,
            delivery,
            State.SCHEDULED,
            action="retry-later",
            actor=worker,
            reason=f"{error}; next attempt at {next_at.isoformat(timespec='seconds')}{settling}",
            now=now,
        )
        return next_at


def release(store: Store, delivery_id: int, now: datetime, *, worker: str, until: datetime, reason: str) -> None:
    """Give a claimed delivery back without an attempt, to try again at `until` (e.g. our own rate limiter said
    wait). `reason` is what holds it back, kept in the event and as the delivery's last error, so that if it
    misses its grace waiting, the miss says why."""
    with store.transaction() as session:
        delivery = locked_delivery(session, delivery_id)
        if delivery is None or delivery.state != State.CLAIMED:
            return
        delivery.lease_until = None
        delivery.claimed_by = None
        delivery.next_attempt_at = until
        if not delivery.outcome_unknown:  # that error says why the next attempt must look before it posts
            delivery.last_error = f"held back by {reason}"
        why = f"{reason}{NEXT_TRY}{until.isoformat(timespec='seconds')}"
        transition(session, delivery, State.SCHEDULED, action=HELD, actor=worker, reason=why, now=now)


def extend_lease(store: Store, delivery_id: int, attempt_serial: int, until: datetime) -> bool:
    """Keep a publishing delivery's lease while its attempt is alive. False if the attempt is no longer the
    current one (then it must not be extended)."""
    with store.transaction() as session:
        delivery = locked_delivery(session, delivery_id)
        if delivery is None or delivery.state != State.PUBLISHING or delivery.attempt_serial != attempt_serial:
            return False
        delivery.lease_until = max(delivery.lease_until or until, until)
        return True


def _ref(delivery: Delivery | None) -> RemoteRef | None:
    if delivery is None or delivery.remote_id is None:
        return None
    return RemoteRef(delivery.remote_id, delivery.remote_uri or "", delivery.remote_cid, delivery.remote_url or "")
