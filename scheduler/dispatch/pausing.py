"""The pause switch: while it is on, nothing is claimed and no claimed delivery starts publishing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.dispatch.transitions import record
from scheduler.models import Delivery, Setting, State

PAUSED_KEY = "paused"
PAUSE_REASON_KEY = "paused_reason"


def is_paused(session: Session, *, for_publish: bool = False) -> bool:
    statement = select(Setting.value).where(Setting.key == PAUSED_KEY)
    if for_publish and session.get_bind().dialect.name == "postgresql":
        # Shares the lock that `pause` takes for update: a pause waits for publishes deciding right now,
        # and a publish that starts after the pause sees it.
        statement = statement.with_for_update(read=True)
    return session.scalar(statement) == "1"


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
