"""Claiming: the tick (re-arm lost claims, mark misfires, claim what is due) and the claims made at once
for `post-now` and for the thread parts that follow a published one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.dispatch.pausing import is_paused
from scheduler.dispatch.policy import Claim, DispatchPolicy, TickResult
from scheduler.dispatch.transitions import minutes, skip_locked, transition
from scheduler.models import Delivery, State


def tick(store: Store, now: datetime, policy: DispatchPolicy, *, actor: str = "beat") -> TickResult:
    """Re-arm lost claims, mark misfires, and claim what is due within the window."""
    with store.transaction() as session:
        rearmed = _rearm_expired_leases(session, now, actor)
        paused = is_paused(session)
        horizon = now + policy.claim_window
        candidates = session.scalars(
            skip_locked(
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
                    f"not published within its misfire grace ({minutes(delivery.misfire_grace_s)}); "
                    f"{minutes(int(late.total_seconds()))} late. Use `campaign retry` to post it now."
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


def claim_now(
    store: Store, delivery_ids: Sequence[int], now: datetime, policy: DispatchPolicy, *, actor: str
) -> list[Claim]:
    """Claim these scheduled deliveries at once (for `post-now`), with the same guard and lease as a tick."""
    with store.transaction() as session:
        deliveries = session.scalars(
            skip_locked(
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
            skip_locked(
                session, select(Delivery).where(Delivery.parent_id == parent_id, Delivery.state == State.SCHEDULED)
            )
        ).all()
        return [
            _claim(session, reply, now, policy, actor=actor, reason="the part it answers is out")
            for reply in replies
            if max(reply.due_at, reply.next_attempt_at or reply.due_at) <= now + policy.claim_window
        ]


def _waiting_past_due(session: Session, now: datetime, horizon: datetime) -> Sequence[Delivery]:
    """Deliveries past their due time that wait for a retry beyond this tick (a platform's reset, a backoff):
    few at any time. Checked against their misfire grace now, so a post that can no longer go out in time is
    reported missed at once rather than when its retry time comes."""
    return session.scalars(
        skip_locked(
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
        skip_locked(
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
