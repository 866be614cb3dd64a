"""What an operator asks of the dispatcher for one post: cancel it, retry it, bring it forward."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.dispatch.transitions import for_update, record, transition
from scheduler.errors import Refused
from scheduler.models import Delivery, State


class OperatorError(Refused):
    """A refused operator action; the message says why and what to do."""


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


def _deliveries_of_post(
    session: Session, post_id: str, campaign: str | None, platform: str | None = None
) -> Sequence[Delivery]:
    statement = select(Delivery).where(Delivery.post_id == post_id)
    if campaign:
        statement = statement.where(Delivery.campaign == campaign)
    if platform:
        statement = statement.where(Delivery.platform == platform)
    # Locked in id order, as sync locks them, so the two can never wait on each other in a cycle.
    locked = session.scalars(for_update(session, statement.order_by(Delivery.id))).all()
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
