"""The dispatch policy: what is due, who holds it, what happens when it is late, paused or fails.

Every decision takes `now` from the caller. Every transition is a guarded change inside one short
transaction (BEGIN IMMEDIATE on SQLite, row locks with SKIP LOCKED on PostgreSQL) and leaves an event.

    scheduled -> claimed -> publishing -> published | failed | missed | cancelled

A claim carries a lease. A claimed delivery whose lease runs out (its task was lost with Redis or a worker)
goes back to scheduled; a publishing one whose lease runs out also goes back, marked `outcome_unknown`, so
the adapter reconciles by idempotency key before writing again. Nothing is ever posted twice by the
dispatcher itself: the adapter's idempotency is the second lock on that door.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.models import FINAL_STATES, Delivery, Event, Setting, State

PAUSED_KEY = "paused"
PAUSE_REASON_KEY = "paused_reason"


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


def record(
    session: Session,
    *,
    action: str,
    actor: str,
    reason: str = "",
    delivery: Delivery | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    now: datetime,
    campaign: str | None = None,
    post_id: str | None = None,
) -> None:
    session.add(
        Event(
            at=now,
            delivery_id=delivery.id if delivery else None,
            campaign=delivery.campaign if delivery else campaign,
            post_id=delivery.post_id if delivery else post_id,
            from_state=from_state,
            to_state=to_state,
            action=action,
            reason=reason,
            actor=actor,
        )
    )


def transition(
    session: Session,
    delivery: Delivery,
    to_state: State,
    *,
    action: str,
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    from_state = delivery.state
    delivery.state = to_state
    delivery.updated_at = now
    record(
        session,
        action=action,
        actor=actor,
        reason=reason,
        delivery=delivery,
        from_state=from_state,
        to_state=to_state,
        now=now,
    )


def _locked(session: Session, statement: Any) -> Any:
    """Row locks on PostgreSQL (skipping rows another transaction holds); SQLite's BEGIN IMMEDIATE
    already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


def _for_update(session: Session, statement: Any) -> Any:
    """Row locks on PostgreSQL, waiting for a holder (operator actions and outcomes must not skip a row a
    worker is changing, nor overwrite its change); SQLite's BEGIN IMMEDIATE already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update()
    return statement


def _delivery(session: Session, delivery_id: int) -> Delivery | None:
    return session.scalars(_for_update(session, select(Delivery).where(Delivery.id == delivery_id))).one_or_none()


def is_paused(session: Session, *, for_publish: bool = False) -> bool:
    statement = select(Setting.value).where(Setting.key == PAUSED_KEY)
    if for_publish and session.get_bind().dialect.name == "postgresql":
        # Shares the lock that `pause` takes for update: a pause waits for publishes deciding right now,
        # and a publish that starts after the pause sees it.
        statement = statement.with_for_update(read=True)
    return session.scalar(statement) == "1"


def tick(store: Store, now: datetime, policy: DispatchPolicy, *, actor: str = "beat") -> TickResult:
    """Re-arm lost claims, mark misfires, and claim what is due within the window."""
    with store.transaction() as session:
        rearmed = _rearm_expired_leases(session, now, actor)
        paused = is_paused(session)
        horizon = now + policy.claim_window
        candidates = session.scalars(
            _locked(
                session,
                select(Delivery)
                .where(
                    Delivery.state == State.SCHEDULED,
                    Delivery.due_at <= horizon,
                    or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= horizon),
                )
                .order_by(Delivery.due_at, Delivery.id)
                .limit(policy.claim_batch),
            )
        ).all()
        candidates = [*candidates, *_waiting_past_due(session, now, horizon)]
        parent_states = _states_of(session, {d.parent_id for d in candidates if d.parent_id is not None})
        claimed: list[Claim] = []
        missed: list[int] = []
        for delivery in candidates:
            if now - delivery.due_at > timedelta(seconds=delivery.misfire_grace_s):
                late = now - delivery.due_at
                reason = (
                    f"not published within its misfire grace ({_minutes(delivery.misfire_grace_s)}); "
                    f"{_minutes(int(late.total_seconds()))} late. Use `campaign retry` to post it now."
                )
                if delivery.outcome_unknown:
                    reason += (
                        " Its last attempt ended with an unknown outcome, so it may be live already: "
                        "`campaign retry` looks for it first and posts only if it is not there."
                    )
                transition(session, delivery, State.MISSED, action="misfire", actor=actor, reason=reason, now=now)
                missed.append(delivery.id)
                continue
            if paused or (delivery.next_attempt_at is not None and delivery.next_attempt_at > horizon):
                continue
            if delivery.parent_id is not None and parent_states.get(delivery.parent_id) != State.PUBLISHED:
                continue
            claimed.append(_claim(session, delivery, now, policy, actor=actor, reason="due"))
        return TickResult(claimed=claimed, rearmed=rearmed, missed=missed, paused=paused)


def _waiting_past_due(session: Session, now: datetime, horizon: datetime) -> Sequence[Delivery]:
    """Deliveries past their due time that wait for a retry beyond this tick (a platform's reset, a backoff):
    few at any time. Checked against their misfire grace now, so a post that can no longer go out in time is
    reported missed at once rather than when its retry time comes."""
    return session.scalars(
        _locked(
            session,
            select(Delivery).where(
                Delivery.state == State.SCHEDULED, Delivery.due_at < now, Delivery.next_attempt_at > horizon
            ),
        )
    ).all()


def _claim(
    session: Session, delivery: Delivery, now: datetime, policy: DispatchPolicy, *, actor: str, reason: str
) -> Claim:
    run_at = max(delivery.due_at, delivery.next_attempt_at or delivery.due_at)
    delivery.lease_until = max(now, run_at) + policy.lease
    delivery.claimed_by = actor
    transition(session, delivery, State.CLAIMED, action="claim", actor=actor, reason=reason, now=now)
    return Claim(delivery.id, run_at)


def _rearm_expired_leases(session: Session, now: datetime, actor: str) -> list[int]:
    expired = session.scalars(
        _locked(
            session,
            select(Delivery).where(Delivery.state.in_([State.CLAIMED, State.PUBLISHING]), Delivery.lease_until < now),
        )
    ).all()
    for delivery in expired:
        delivery.lease_until = None
        delivery.claimed_by = None
        if delivery.state == State.PUBLISHING:
            delivery.outcome_unknown = True
            if delivery.cancel_requested:
                delivery.cancel_requested = False
                reason = (
                    "cancelled by operator while it was being published; the worker publishing it was lost, so "
                    "it may be live: check the account"
                )
                transition(session, delivery, State.CANCELLED, action="cancel", actor=actor, reason=reason, now=now)
                continue
            reason = "the worker publishing it was lost; the next attempt reconciles before posting"
        else:
            reason = "its publish task was lost (worker or broker restart); claiming again"
        transition(session, delivery, State.SCHEDULED, action="lease-expired", actor=actor, reason=reason, now=now)
    return [d.id for d in expired]


def _states_of(session: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = list(ids)
    if not ids:
        return {}
    return dict(session.execute(select(Delivery.id, Delivery.state).where(Delivery.id.in_(ids))).all())


def _minutes(seconds: int) -> str:
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _ref(delivery: Delivery | None) -> RemoteRef | None:
    if delivery is None or delivery.remote_id is None:
        return None
    return RemoteRef(delivery.remote_id, delivery.remote_uri or "", delivery.remote_cid, delivery.remote_url or "")


def begin_publish(
    store: Store, delivery_id: int, now: datetime, policy: DispatchPolicy, *, worker: str
) -> PublishJob | Skip:
    """Move a claimed delivery to publishing, unless it is done, cancelled, paused, too late or its
    parent is not out yet. The pause switch is read in the same transaction as the change."""
    with store.transaction() as session:
        paused = is_paused(session, for_publish=True)
        delivery = _delivery(session, delivery_id)
        if delivery is None:
            return Skip(delivery_id, "no such delivery")
        if delivery.state != State.CLAIMED:
            return Skip(delivery_id, f"it is {delivery.state}")
        if paused:
            delivery.lease_until = None
            delivery.claimed_by = None
            transition(session, delivery, State.SCHEDULED, action="hold", actor=worker, reason="paused", now=now)
            return Skip(delivery_id, "paused")
        if now - delivery.due_at > timedelta(seconds=delivery.misfire_grace_s):
            transition(
                session,
                delivery,
                State.MISSED,
                action="misfire",
                actor=worker,
                reason=f"its publish task ran {_minutes(int((now - delivery.due_at).total_seconds()))} late, "
                f"past the misfire grace. Use `campaign retry` to post it now.",
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
) -> None:
    with store.transaction() as session:
        delivery = _delivery(session, delivery_id)
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
        delivery = _delivery(session, delivery_id)
        if delivery is None or delivery.state in FINAL_STATES:
            return None
        if attempt is not None and (delivery.state != State.PUBLISHING or delivery.attempt_serial != attempt):
            record(
                session,
                action="stale-attempt",
                actor=worker,
                delivery=delivery,
                reason=f"an earlier attempt failed after the delivery had moved on (now {delivery.state}): {error}",
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
        delivery.next_attempt_at = next_at
        transition(
            session,
            delivery,
            State.SCHEDULED,
            action="retry-later",
            actor=worker,
            reason=f"{error}; next attempt at {next_at.isoformat(timespec='seconds')}",
            now=now,
        )
        return next_at


def release(store: Store, delivery_id: int, now: datetime, *, worker: str, until: datetime, reason: str) -> None:
    """Give a claimed delivery back without an attempt (e.g. our own rate limiter said wait)."""
    with store.transaction() as session:
        delivery = _delivery(session, delivery_id)
        if delivery is None or delivery.state != State.CLAIMED:
            return
        delivery.lease_until = None
        delivery.claimed_by = None
        delivery.next_attempt_at = until
        transition(session, delivery, State.SCHEDULED, action="hold", actor=worker, reason=reason, now=now)


def extend_lease(store: Store, delivery_id: int, attempt_serial: int, until: datetime) -> bool:
    """Keep a publishing delivery's lease while its attempt is alive. False if the attempt is no longer the
    current one (then it must not be extended)."""
    with store.transaction() as session:
        delivery = _delivery(session, delivery_id)
        if delivery is None or delivery.state != State.PUBLISHING or delivery.attempt_serial != attempt_serial:
            return False
        delivery.lease_until = max(delivery.lease_until or until, until)
        return True


# --- operator actions ------------------------------------------------------------------------------------


class OperatorError(Exception):
    """A refused operator action; the message says why and what to do."""


def pause(store: Store, now: datetime, *, reason: str, actor: str) -> None:
    with store.transaction() as session:
        for key, value in ((PAUSED_KEY, "1"), (PAUSE_REASON_KEY, reason)):
            setting = session.get(Setting, key, with_for_update=session.get_bind().dialect.name == "postgresql")
            if setting is None:
                session.add(Setting(key=key, value=value, updated_at=now))
            else:
                setting.value = value
                setting.updated_at = now
        record(session, action="pause", actor=actor, reason=reason, now=now)


def in_flight(store: Store) -> int:
    """Deliveries whose adapter call may be under way right now."""
    with store.transaction() as session:
        return session.scalar(select(func.count()).where(Delivery.state == State.PUBLISHING)) or 0


def resume(store: Store, now: datetime, *, actor: str) -> None:
    with store.transaction() as session:
        setting = session.get(Setting, PAUSED_KEY, with_for_update=session.get_bind().dialect.name == "postgresql")
        if setting is not None:
            setting.value = "0"
            setting.updated_at = now
        record(session, action="resume", actor=actor, now=now)


def pause_state(store: Store) -> tuple[bool, str]:
    with store.transaction() as session:
        paused = is_paused(session)
        reason = session.scalar(select(Setting.value).where(Setting.key == PAUSE_REASON_KEY)) or ""
        return paused, reason if paused else ""


def _deliveries_of_post(
    session: Session, post_id: str, campaign: str | None, platform: str | None = None
) -> Sequence[Delivery]:
    statement = select(Delivery).where(Delivery.post_id == post_id)
    if campaign:
        statement = statement.where(Delivery.campaign == campaign)
    if platform:
        statement = statement.where(Delivery.platform == platform)
    # Locked in id order, as sync locks them, so the two can never wait on each other in a cycle.
    locked = session.scalars(_for_update(session, statement.order_by(Delivery.id))).all()
    deliveries = sorted(locked, key=lambda d: (d.campaign, d.platform, d.part))
    if not deliveries:
        where = (f" in campaign {campaign}" if campaign else "") + (f" to {platform}" if platform else "")
        raise OperatorError(f"no scheduled post {post_id!r}{where}. Check the id with `campaign status`.")
    campaigns = {d.campaign for d in deliveries}
    if len(campaigns) > 1:
        raise OperatorError(
            f"post id {post_id!r} exists in several campaigns ({', '.join(sorted(campaigns))}): "
            f"say which with --campaign."
        )
    return deliveries


@dataclass
class Cancellation:
    cancelled: list[int]  # deliveries now cancelled
    in_flight: list[str]  # "platform part N" being published right now: cancelled if that attempt fails
    maybe_live: list[str]  # cancelled ones whose last attempt had an unknown outcome: may be posted already


def cancel(store: Store, post_id: str, now: datetime, *, actor: str, campaign: str | None = None) -> Cancellation:
    """Cancel every unpublished delivery of a post. A part being published right now cannot be stopped: it is
    marked so that it ends cancelled if that attempt fails, and the parts after it never go out."""
    with store.transaction() as session:
        deliveries = _deliveries_of_post(session, post_id, campaign)
        result = Cancellation([], [], [])
        for delivery in deliveries:
            where = f"{delivery.platform} part {delivery.part}"
            if delivery.state == State.PUBLISHING:
                delivery.cancel_requested = True
                delivery.operator_cancelled = True
                record(
                    session,
                    action="cancel-requested",
                    actor=actor,
                    delivery=delivery,
                    reason="cancelled by operator while being published: cancelled if this attempt fails",
                    now=now,
                )
                result.in_flight.append(where)
            elif delivery.state in (State.SCHEDULED, State.CLAIMED, State.FAILED, State.MISSED):
                delivery.lease_until = None
                delivery.claimed_by = None
                delivery.operator_cancelled = True
                transition(
                    session,
                    delivery,
                    State.CANCELLED,
                    action="cancel",
                    actor=actor,
                    reason="cancelled by operator",
                    now=now,
                )
                result.cancelled.append(delivery.id)
                if delivery.outcome_unknown:
                    result.maybe_live.append(where)
        return result


def retry(
    store: Store,
    post_id: str,
    now: datetime,
    *,
    actor: str,
    campaign: str | None = None,
    platform: str | None = None,
) -> list[int]:
    """Re-arm a post's missed or failed deliveries (to one platform, or all) to go out now: an explicit
    decision to post late. A delivery whose last attempt had an unknown outcome is looked for first."""
    with store.transaction() as session:
        deliveries = _deliveries_of_post(session, post_id, campaign, platform)
        rearmed = []
        for delivery in deliveries:
            if delivery.state in (State.MISSED, State.FAILED):
                reason = f"retry requested by operator (was {delivery.state}: {delivery.last_error or 'no error'})"
                delivery.due_at = now
                delivery.next_attempt_at = None
                delivery.attempts = 0
                transition(session, delivery, State.SCHEDULED, action="retry", actor=actor, reason=reason, now=now)
                rearmed.append(delivery.id)
        if not rearmed:
            states = ", ".join(f"{d.platform}#{d.part}: {d.state}" for d in deliveries)
            raise OperatorError(f"nothing to retry for {post_id}: only missed or failed deliveries can be ({states}).")
        return rearmed


def set_due_now(store: Store, delivery_ids: Iterable[int], now: datetime, *, actor: str) -> None:
    """Used by `post-now`: bring scheduled deliveries forward to now."""
    with store.transaction() as session:
        for delivery in session.scalars(
            _for_update(session, select(Delivery).where(Delivery.id.in_(list(delivery_ids))).order_by(Delivery.id))
        ):
            if delivery.state == State.SCHEDULED:
                delivery.due_at = now
                delivery.next_attempt_at = None
                record(
                    session,
                    action="post-now",
                    actor=actor,
                    delivery=delivery,
                    reason="brought forward",
                    now=now,
                )


__all__ = [
    "Cancellation",
    "Claim",
    "DispatchPolicy",
    "OperatorError",
    "PublishJob",
    "RemoteRef",
    "Skip",
    "TickResult",
    "begin_publish",
    "cancel",
    "claim_now",
    "claim_replies",
    "complete_publish",
    "extend_lease",
    "fail_publish",
    "in_flight",
    "pause",
    "pause_state",
    "release",
    "resume",
    "retry",
    "tick",
]


def claim_now(
    store: Store, delivery_ids: Sequence[int], now: datetime, policy: DispatchPolicy, *, actor: str
) -> list[Claim]:
    """Claim these scheduled deliveries at once (for `post-now`), with the same guard and lease as a tick."""
    with store.transaction() as session:
        deliveries = session.scalars(
            _locked(
                session,
                select(Delivery).where(Delivery.id.in_(list(delivery_ids)), Delivery.state == State.SCHEDULED),
            )
        ).all()
        return [_claim(session, d, now, policy, actor=actor, reason="post-now") for d in deliveries]


def claim_replies(store: Store, parent_id: int, now: datetime, policy: DispatchPolicy, *, actor: str) -> list[Claim]:
    """Claim the thread parts that answer a part just published, so they follow at once instead of waiting
    for the next tick."""
    with store.transaction() as session:
        replies = session.scalars(
            _locked(session, select(Delivery).where(Delivery.parent_id == parent_id, Delivery.state == State.SCHEDULED))
        ).all()
        return [
            _claim(session, reply, now, policy, actor=actor, reason="the part it answers is out")
            for reply in replies
            if max(reply.due_at, reply.next_attempt_at or reply.due_at) <= now + policy.claim_window
        ]
