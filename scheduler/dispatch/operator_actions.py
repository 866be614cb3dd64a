"""What an operator asks of the dispatcher for one post: cancel it, retry it, bring it forward, restore it after
a cancel. (What a pause held back, and the choice resuming asks for each, is scheduler/resuming.py.)"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.dispatch.transitions import for_update, minutes, record, transition
from scheduler.errors import Refused, UsageRefused
from scheduler.models import Delivery, Event, PostRecord, State

CANCELLABLE = frozenset({State.SCHEDULED, State.CLAIMED, State.FAILED, State.MISSED})
RETRYABLE = frozenset({State.MISSED, State.FAILED})
LateChoice = Literal["post", "leave"]  # a restored part whose time is past its grace: post it late, or leave it missed


class OperatorError(Refused):
    """A refused operator action; the message says why and what to do."""


def restorable(delivery: Delivery) -> bool:
    """Cancelled with `campaign cancel` (not by `campaign schedule`), or cancelled while being sent."""
    return (delivery.state == State.CANCELLED and delivery.operator_cancelled) or (
        delivery.state == State.PUBLISHING and delivery.cancel_requested
    )


def past_grace(delivery: Delivery, now: datetime) -> bool:
    return now - delivery.due_at > timedelta(seconds=delivery.misfire_grace_s)


def local_time(instant: datetime, zone: str) -> str:
    """An instant as people read it in the campaign's zone, with the zone's abbreviation."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M %Z")


def where(delivery: Delivery) -> str:
    return f"{delivery.platform} part {delivery.part}"


@dataclass
class Cancellation:
    cancelled: list[int]  # deliveries now cancelled
    in_flight: list[str]  # "platform part N" being published right now: cancelled if that attempt fails
    maybe_live: list[str]  # cancelled ones whose last attempt had an unknown outcome: may be posted already


def check_cancel(post_id: str, deliveries: Sequence[Delivery]) -> None:
    if not any(d.state in CANCELLABLE or (d.state == State.PUBLISHING and not d.cancel_requested) for d in deliveries):
        raise OperatorError(
            f"Nothing to cancel for {post_id}: every part is already published or cancelled ({_states(deliveries)})."
        )


def cancel(store: Store, post_id: str, now: datetime, *, actor: str, campaign: str | None = None) -> Cancellation:
    """Cancel every unpublished delivery of a post. A part being published right now cannot be stopped: it is
    marked so that it ends cancelled if that attempt fails, and the parts after it never go out."""
    with store.transaction() as session:
        deliveries = _deliveries_of_post(session, post_id, campaign)
        check_cancel(post_id, deliveries)
        result = Cancellation([], [], [])
        for delivery in deliveries:
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
                result.in_flight.append(where(delivery))
            elif delivery.state in CANCELLABLE:
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
                    result.maybe_live.append(where(delivery))
        return result


def check_retry(post_id: str, deliveries: Sequence[Delivery]) -> None:
    if not any(d.state in RETRYABLE for d in deliveries):
        raise OperatorError(
            f"Nothing to retry for {post_id}: only missed or failed parts can be ({_states(deliveries)})."
        )


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
        check_retry(post_id, deliveries)
        rearmed = []
        for delivery in deliveries:
            if delivery.state in RETRYABLE:
                reason = f"retry requested by operator (was {delivery.state}: {delivery.last_error or 'no error'})"
                delivery.due_at = now
                delivery.next_attempt_at = None
                delivery.attempts = 0
                transition(session, delivery, State.SCHEDULED, action="retry", actor=actor, reason=reason, now=now)
                rearmed.append(delivery.id)
        return rearmed


def set_due_now(store: Store, delivery_ids: Iterable[int], now: datetime, *, actor: str) -> None:
    """Used by `post-now`: bring scheduled deliveries forward to now."""
    with store.transaction() as session:
        for delivery in session.scalars(
            for_update(session, select(Delivery).where(Delivery.id.in_(list(delivery_ids))).order_by(Delivery.id))
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


@dataclass
class Restoration:
    scheduled: list[str]  # "platform part N" back to scheduled at its time
    posted_late: list[str]  # its time was past its grace: due now, as the operator chose
    left_missed: list[str]  # its time was past its grace: missed, as the operator chose (`campaign retry` posts it)
    in_flight: list[str]  # being published right now: no longer cancelled if that attempt fails


def check_restore(post_id: str, deliveries: Sequence[Delivery], post: PostRecord | None) -> None:
    """Refuse a restore that has nothing to bring back, saying why and what would."""
    source = post.source if post else "its calendar file"
    if post is not None and post.status == "removed":
        raise OperatorError(
            f"{source}: post {post_id} is no longer in this calendar file, so there is nothing to restore. "
            f"Put it back in the file and run `campaign schedule {source}`."
        )
    if post is not None and post.status == "draft":
        raise OperatorError(
            f"{source}: post {post_id} is a draft, so there is nothing to restore. Mark it approved in the file "
            f"and run `campaign schedule {source}`."
        )
    if any(restorable(d) for d in deliveries):
        return
    if any(d.state == State.CANCELLED for d in deliveries):
        raise OperatorError(
            f"{source}: post {post_id}: its cancelled parts were cancelled by `campaign schedule` because the file "
            f"no longer has them, not by `campaign cancel`. Change the file and run `campaign schedule {source}`."
        )
    raise OperatorError(f"Nothing to restore for {post_id}: it is not cancelled ({_states(deliveries)}).")


def restore(
    store: Store,
    post_id: str,
    now: datetime,
    *,
    actor: str,
    reason: str = "",
    campaign: str | None = None,
    platform: str | None = None,
    late: LateChoice | None = None,
) -> Restoration:
    """Undo `campaign cancel`: the cancelled, unpublished parts go back to scheduled at their time. A part whose
    time is past its misfire grace is never posted late unasked: `late` says whether to post it now or leave
    it missed, and without it the restore is refused. `campaign schedule` leaves the restored post alone."""
    with store.transaction() as session:
        deliveries = _deliveries_of_post(session, post_id, campaign, platform)
        post = session.get(PostRecord, deliveries[0].post_pk)
        check_restore(post_id, deliveries, post)
        overdue = [d for d in deliveries if d.state == State.CANCELLED and d.operator_cancelled and past_grace(d, now)]
        if overdue and late is None:
            zone = post.timezone if post else "UTC"
            raise UsageRefused(
                f"Nothing was restored: the time of {post_id} ({local_time(overdue[0].due_at, zone)}) is past its "
                f"grace period ({minutes(overdue[0].misfire_grace_s)}), so it would go out late.",
                "Say whether to post it now, late (--post-late), or to leave it missed (--leave-missed).",
            )
        why = _restore_reason(session, deliveries, reason, post.timezone if post else "UTC")
        result = Restoration([], [], [], [])
        for delivery in deliveries:
            if delivery.state == State.PUBLISHING and delivery.cancel_requested:
                delivery.cancel_requested = False
                delivery.operator_cancelled = False
                record(
                    session,
                    action="restore",
                    actor=actor,
                    delivery=delivery,
                    reason=f"{why}; it is being published right now and no longer ends cancelled if this attempt fails",
                    now=now,
                )
                result.in_flight.append(where(delivery))
                continue
            if not restorable(delivery):
                continue
            delivery.operator_cancelled = False
            delivery.attempts = 0
            delivery.next_attempt_at = None
            if delivery in overdue and late == "leave":
                note = "its time was past its grace period: left missed (`campaign retry` posts it late)"
                transition(session, delivery, State.MISSED, action="restore", actor=actor, reason=f"{why}; {note}",
                           now=now)  # fmt: skip
                result.left_missed.append(where(delivery))
            elif delivery in overdue:
                delivery.due_at = now
                note = "its time was past its grace period: posted now, late, as the operator chose"
                transition(session, delivery, State.SCHEDULED, action="restore", actor=actor, reason=f"{why}; {note}",
                           now=now)  # fmt: skip
                result.posted_late.append(where(delivery))
            else:
                transition(session, delivery, State.SCHEDULED, action="restore", actor=actor, reason=why, now=now)
                result.scheduled.append(where(delivery))
        return result


def _restore_reason(session: Session, deliveries: Sequence[Delivery], reason: str, zone: str) -> str:
    """Who restored it is the event's actor; why: the operator's words, and whose cancel it undoes."""
    ids = [d.id for d in deliveries if restorable(d)]
    cancelled = session.scalars(
        select(Event)
        .where(Event.delivery_id.in_(ids), Event.action.in_(["cancel", "cancel-requested"]))
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(1)
    ).first()
    why = "restored by operator"
    if cancelled is not None:
        why += f", undoing the cancel by {cancelled.actor} on {local_time(cancelled.at, zone)}"
    return f"{why}: {reason.strip()}" if reason.strip() else why


def first_words(summary: str, width: int = 60) -> str:
    """The start of a post's first line, cut at a word."""
    if len(summary) <= width:
        return summary
    return summary[:width].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


def _states(deliveries: Sequence[Delivery]) -> str:
    """How a post's parts stand, per platform: "bluesky: published; mastodon: cancelled"."""
    states: dict[str, list[str]] = {}
    for delivery in deliveries:
        found = states.setdefault(delivery.platform, [])
        if delivery.state not in found:
            found.append(delivery.state)
    return "; ".join(f"{platform}: {', '.join(found)}" for platform, found in states.items())


def post_of(session: Session, post_id: str, campaign: str | None, platform: str | None = None) -> Sequence[Delivery]:
    """A post's deliveries (to one platform, or all), without locks: for a preview."""
    return _deliveries_of_post(session, post_id, campaign, platform, lock=False)


def _deliveries_of_post(
    session: Session, post_id: str, campaign: str | None, platform: str | None = None, *, lock: bool = True
) -> Sequence[Delivery]:
    statement = select(Delivery).where(Delivery.post_id == post_id)
    if campaign:
        statement = statement.where(Delivery.campaign == campaign)
    if platform:
        statement = statement.where(Delivery.platform == platform)
    # Locked in id order, as sync locks them, so the two can never wait on each other in a cycle.
    statement = statement.order_by(Delivery.id)
    found = session.scalars(for_update(session, statement) if lock else statement).all()
    deliveries = sorted(found, key=lambda d: (d.campaign, d.platform, d.part))
    if not deliveries:
        place = (f" in campaign {campaign}" if campaign else "") + (f" to {platform}" if platform else "")
        raise OperatorError(
            f"There is no scheduled post {post_id!r}{place}. Check the id with `campaign status`; if its calendar "
            f"is not scheduled yet, run `campaign schedule` first."
        )
    campaigns = {d.campaign for d in deliveries}
    if len(campaigns) > 1:
        raise OperatorError(
            f"The post id {post_id!r} is in several campaigns ({', '.join(sorted(campaigns))}): "
            f"say which with --campaign."
        )
    return deliveries
