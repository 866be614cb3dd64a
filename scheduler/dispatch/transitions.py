"""The guarded change every dispatch decision is made of: lock the rows, change the state, leave an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.models import Delivery, Event, State


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


def skip_locked(session: Session, statement: Any) -> Any:
    """Row locks on PostgreSQL (skipping rows another transaction holds); SQLite's BEGIN IMMEDIATE
    already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


def for_update(session: Session, statement: Any) -> Any:
    """Row locks on PostgreSQL, waiting for a holder (operator actions and outcomes must not skip a row a
    worker is changing, nor overwrite its change); SQLite's BEGIN IMMEDIATE already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update()
    return statement


def locked_delivery(session: Session, delivery_id: int) -> Delivery | None:
    return session.scalars(for_update(session, select(Delivery).where(Delivery.id == delivery_id))).one_or_none()


def minutes(seconds: int) -> str:
    """A lateness or grace as a person reads it in an event's reason."""
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
