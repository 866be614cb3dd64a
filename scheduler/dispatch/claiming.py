"""Claiming: the tick (re-arm lost claims, mark misfires, claim what is due) and the claims made at once
for `post-now` and for the thread parts that follow a published one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from scheduler import approval
from scheduler.db import Store
from scheduler.dispatch.attempts import HELD, NEXT_TRY
from scheduler.dispatch.pausing import is_paused
from scheduler.dispatch.policy import Claim, DispatchPolicy, TickResult
from scheduler.dispatch.transitions import minutes, record, skip_locked, transition
from scheduler.holds import HoldView, holding, zone_of
from scheduler.models import Delivery, Event, PostRecord, State


def tick(store: Store, now: datetime, policy: DispatchPolicy, *, actor: str = "beat") -> TickResult:
    """Re-arm lost claims, mark misfires, and claim what is due within the window. A post that needs an
    approval it does not have is not claimed: it waits, held, until it is approved or its grace runs out."""
    with store.transaction() as session:
        rearmed = _rearm_expired_leases(session, now, actor)
        paused = is_paused(session)
        horizon = now + policy.claim_window
        unapproved = approval.unapproved_sql(session, Delivery.campaign, Delivery.post_pk)
        approved = [] if unapproved is None else [~unapproved]
        candidates = session.scalars(
            skip_locked(
                session,
                select(Delivery)
                .where(
                    Delivery.state == State.SCHEDULED,
                    Delivery.due_at <= horizon,
                    or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= horizon),
                    *approved,
                )
                .order_by(Delivery.due_at, Delivery.id)
                .limit(policy.claim_batch),
            )
        ).all()
        candidates = [*candidates, *_waiting_past_due(session, now, horizon, approved)]
        missed = [] if unapproved is None else _hold_unapproved(session, now, unapproved, actor)
        parent_states = _states_of(session, {d.parent_id for d in candidates if d.parent_id is not None})
        held = holding(session, candidates)  # safeguarding holds: what they cover is never claimed
        claimed: list[Claim] = []
        for delivery in candidates:
            if now - delivery.due_at > timedelta(seconds=delivery.misfire_grace_s):
                late = now - delivery.due_at
                cause = held_back_by(session, held[delivery.id], delivery) if delivery.id in held else ""
                cause = cause or what_kept_it_back(session, delivery, now)
                reason = (
                    f"{cause[:1].upper()}{cause[1:]}, so it was not published within its grace period "
                    f"({minutes(delivery.misfire_grace_s)}); {minutes(int(late.total_seconds()))} late. "
                    "Use `campaign retry` to post it now."
                )
                if delivery.outcome_unknown:
                    reason += (
                        " Its last attempt ended with an unknown outcome, so it may be live already: "
                        "`campaign retry` looks for it first and posts only if it is not there."
                    )
                delivery.last_error = reason  # what `campaign status` shows beside a missed post
                transition(session, delivery, State.MISSED, action="misfire", actor=actor, reason=reason, now=now)
                missed.append(delivery.id)
                continue
            if paused or delivery.id in held:
                continue
            if delivery.next_attempt_at is not None and delivery.next_attempt_at > horizon:
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


def _waiting_past_due(
    session: Session, now: datetime, horizon: datetime, approved: Sequence[ColumnElement[bool]]
) -> Sequence[Delivery]:
    """Deliveries past their due time that wait for a retry beyond this tick (a platform's reset, a backoff):
    few at any time. Checked against their misfire grace now, so a post that can no longer go out in time is
    reported missed at once rather than when its retry time comes."""
    return session.scalars(
        skip_locked(
            session,
            select(Delivery).where(
                Delivery.state == State.SCHEDULED, Delivery.due_at < now, Delivery.next_attempt_at > horizon, *approved
            ),
        )
    ).all()


def _hold_unapproved(session: Session, now: datetime, unapproved: ColumnElement[bool], actor: str) -> list[int]:
    """Deliveries past their time whose post still waits for approval: held (said once, in their history), and
    missed once their misfire grace has run out. Returns those missed."""
    held = session.scalars(
        skip_locked(
            session,
            select(Delivery).where(Delivery.state == State.SCHEDULED, Delivery.due_at < now, unapproved),
        )
    ).all()
    posts = {pk: session.get(PostRecord, pk) for pk in {d.post_pk for d in held}}
    states = {pk: approval.state_of(session, post) for pk, post in posts.items() if post is not None}
    missed = []
    for delivery in held:
        state = states.get(delivery.post_pk)
        words = state.words() if state is not None else "its post is gone"
        late = now - delivery.due_at
        if late > timedelta(seconds=delivery.misfire_grace_s):
            reason = (
                f"It was not approved in time ({words}): its grace period ({minutes(delivery.misfire_grace_s)}) "
                f"ran out; {minutes(int(late.total_seconds()))} late. To post it now, approve it (`campaign approve "
                f"{delivery.post_id}`), then `campaign retry {delivery.post_id}`."
            )
            delivery.last_error = reason
            transition(session, delivery, State.MISSED, action="misfire", actor=actor, reason=reason, now=now)
            missed.append(delivery.id)
        elif delivery.last_error != f"{approval.AWAITING}: {words}":
            delivery.last_error = f"{approval.AWAITING}: {words}"
            record(session, action=HELD, actor=actor, delivery=delivery, reason=delivery.last_error, now=now)
    return missed


def _claim(
    session: Session, delivery: Delivery, now: datetime, policy: DispatchPolicy, *, actor: str, reason: str
) -> Claim:
    run_at = max(delivery.due_at, delivery.next_attempt_at or delivery.due_at)
    delivery.lease_until = max(now, run_at) + policy.lease
    delivery.claimed_by = actor
    transition(session, delivery, State.CLAIMED, action="claim", actor=actor, reason=reason, now=now)
    return Claim(delivery.id, run_at)


def held_back_by(session: Session, hold: HoldView, delivery: Delivery) -> str:
    """Why a delivery a safeguarding hold covers is still not out: the hold, with who set it and why."""
    return f"it was held by {hold.named(zone_of(session, delivery))}; `campaign release {hold.id}` lifts the hold"


def what_kept_it_back(session: Session, delivery: Delivery, now: datetime) -> str:
    """Why a delivery is still not out, from its own history: the last hold or error it met (our rate limit, a
    platform failing since a given time), the pause switch, the part it replies to, or nothing at all (no
    scheduler running). A clause, in plain words, with times in the post's own zone."""
    zone = ZoneInfo(session.scalar(select(PostRecord.timezone).where(PostRecord.id == delivery.post_pk)) or "UTC")

    def at(instant: datetime) -> str:
        local, today = instant.astimezone(zone), now.astimezone(zone)
        return f"{local:%H:%M %Z}" if local.date() == today.date() else f"{local:%a %d %b %H:%M %Z}"

    history = session.scalars(
        select(Event).where(Event.delivery_id == delivery.id).order_by(Event.id.desc()).limit(_HISTORY)
    ).all()
    last = next((e for e in history if e.action in (HELD, "hold", "retry-later", "lease-expired")), None)
    pause = _last_pause(session) if is_paused(session) or (last and last.reason == "paused") else None
    if pause is not None and (last is None or last.reason == "paused" or pause.at >= last.at):
        why = f" ({pause.reason})" if pause.reason else ""
        return f"posting was paused by {pause.actor} at {at(pause.at)}{why}"
    if last is not None and last.action == HELD:  # "held back by Mastodon's rate limit for ...: 300 posts per 3 hours"
        return f"held back by {last.reason.rsplit(NEXT_TRY, 1)[0]}"
    if last is not None and last.action == "retry-later":
        streak = []
        for event in history:
            if event.action not in ("retry-later", "claim", "publish", "stale-attempt"):
                break
            streak.append(event)
        first = min((e.at for e in streak if e.action == "retry-later"), default=last.at)
        return f"its attempts failed from {at(first)} on; the last error: {delivery.last_error or last.reason}"
    if last is not None and last.action == "lease-expired":
        return f"its publish task was lost at {at(last.at)} (a worker or broker restart) and did not run again in time"
    if delivery.parent_id is not None:
        parent = session.scalar(select(Delivery.state).where(Delivery.id == delivery.parent_id))
        if parent != State.PUBLISHED:
            return f"the part it replies to is {parent or 'gone'}, not published"
    if last is not None:
        return f"it was held back at {at(last.at)}: {last.reason}"
    return "nothing picked it up in time: check that `campaign run` (or its beat and workers) is running"


_HISTORY = 200  # events of one delivery read to explain it: far more than one hold-and-retry story needs


def _last_pause(session: Session) -> Event | None:
    return session.scalars(select(Event).where(Event.action == "pause").order_by(Event.id.desc()).limit(1)).first()


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
