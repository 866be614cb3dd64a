"""Collector state: each collector's cursor, lease and back-off, the record of its runs, and which campaigns
the store knows of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, and_, or_, select, update
from sqlalchemy.orm import Session

from platforms.base import Mention
from scheduler.collection.mentions import MentionWriter, WriteResult
from scheduler.collection.sql import insert_ignore
from scheduler.collection_models import CollectorRun, CollectorState
from scheduler.db import Store
from scheduler.models import Delivery

MENTIONS = "mentions"
ENGAGEMENT = "engagement"


@dataclass(frozen=True)
class CollectorKey:
    campaign: str
    kind: str  # MENTIONS | ENGAGEMENT
    platform: str
    source: str = ""

    def describe(self) -> str:
        where = f" {self.source}" if self.source else ""
        return f"{self.campaign} {self.platform}{where} ({self.kind})"


@dataclass(frozen=True)
class Claim:
    """The outcome of asking to run a collector now."""

    key: CollectorKey
    state_id: int
    granted: bool
    cursor: str | None = None
    consecutive_failures: int = 0
    reason: str = ""  # why not granted
    next_attempt_at: datetime | None = None


class LeaseLost(RuntimeError):
    """Another run took this collector over (our lease expired): stop without writing."""


def _state_row(session: Session, key: CollectorKey) -> CollectorState | None:
    return session.execute(
        select(CollectorState).where(
            CollectorState.campaign == key.campaign,
            CollectorState.kind == key.kind,
            CollectorState.platform == key.platform,
            CollectorState.source == key.source,
        )
    ).scalar_one_or_none()


def _rows_changed(session: Session, statement: Update) -> int:
    # Session.execute is typed as returning a plain Result; an UPDATE's result is a CursorResult.
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def claim_collector(
    store: Store,
    key: CollectorKey,
    now: datetime,
    *,
    owner: str,
    lease: timedelta,
    ignore_backoff: bool = False,
    take_over: str | None = None,
) -> Claim:
    """Take the collector for `lease` unless another run holds it or it is backing off after a failure.
    A guarded UPDATE, so two workers (or a worker and `campaign collect`) never read the same cursor at once.
    `take_over`: an owner whose lease is taken at once, as if it had run out (a long-running collector whose
    process is known to be gone: restarted after a crash, it need not wait for the dead one's lease)."""
    with store.transaction() as session:
        session.execute(
            insert_ignore(store, CollectorState, ["campaign", "kind", "platform", "source"]).values(
                campaign=key.campaign,
                kind=key.kind,
                platform=key.platform,
                source=key.source,
                consecutive_failures=0,
            )
        )
        row = _state_row(session, key)
        assert row is not None
        guard = [
            CollectorState.id == row.id,
            or_(
                CollectorState.lease_until.is_(None),
                CollectorState.lease_until < now,
                *([CollectorState.lease_owner == take_over] if take_over else []),
            ),
        ]
        if not ignore_backoff:
            guard.append(or_(CollectorState.next_attempt_at.is_(None), CollectorState.next_attempt_at <= now))
        taken = _rows_changed(
            session,
            update(CollectorState)
            .where(and_(*guard))
            .values(lease_owner=owner, lease_until=now + lease, last_run_at=now)
            .execution_options(synchronize_session=False),
        )
        session.refresh(row)
        if taken == 1:
            return Claim(key, row.id, True, row.cursor, row.consecutive_failures)
        if row.lease_until is not None and row.lease_until >= now:
            reason = f"another run holds it until {row.lease_until:%H:%M:%S} UTC"
        else:
            reason = f"backing off after {row.consecutive_failures} failure(s): {row.last_error or 'unknown error'}"
        return Claim(key, row.id, False, row.cursor, row.consecutive_failures, reason, row.next_attempt_at)


def advance_cursor(
    session: Session, claim: Claim, owner: str, cursor: str | None, now: datetime, *, lease: timedelta | None = None
) -> None:
    """Move the cursor in the caller's transaction (the one holding the page's mentions), and extend the
    lease, if we still hold it; otherwise raise LeaseLost so the transaction rolls back."""
    values: dict[str, Any] = {"cursor": cursor, "cursor_updated_at": now}
    if lease is not None:
        values["lease_until"] = now + lease
    changed = _rows_changed(
        session,
        update(CollectorState)
        .where(CollectorState.id == claim.state_id, CollectorState.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        raise LeaseLost(f"another collection run took over {claim.key.describe()} and carries on with it")


def store_mention_page(
    store: Store,
    writer: MentionWriter,
    claim: Claim,
    owner: str,
    mentions: Sequence[Mention],
    cursor: str | None,
    now: datetime,
    *,
    lease: timedelta | None = None,
) -> WriteResult:
    """One page: its mentions and the cursor after it, in one transaction, so a crash between pages neither
    loses a page nor reads it twice."""
    with store.transaction() as session:
        advance_cursor(session, claim, owner, cursor, now, lease=lease)
        return writer.write(session, mentions, now)


@dataclass
class RunRecord:
    key: CollectorKey
    started_at: datetime
    actor: str = ""
    pages: int = 0
    result: WriteResult = field(default_factory=WriteResult)


def finish_collector(
    store: Store,
    claim: Claim,
    owner: str,
    run: RunRecord,
    now: datetime,
    *,
    outcome: str = "ok",
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Release the lease and record the run. A failure sets the back-off (`retry_at`) and keeps the message."""
    failed = outcome in ("failed", "rate_limited")
    with store.transaction() as session:
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if failed:
            values.update(
                consecutive_failures=CollectorState.consecutive_failures + 1,
                next_attempt_at=retry_at,
                last_error=error,
            )
        else:
            values.update(consecutive_failures=0, next_attempt_at=None, last_error=None, last_success_at=now)
        session.execute(
            update(CollectorState)
            .where(CollectorState.id == claim.state_id, CollectorState.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.add(
            CollectorRun(
                campaign=run.key.campaign,
                kind=run.key.kind,
                platform=run.key.platform,
                source=run.key.source,
                started_at=run.started_at,
                finished_at=now,
                outcome=outcome,
                pages=run.pages,
                fetched=run.result.fetched,
                stored=run.result.stored,
                duplicates=run.result.duplicates,
                ignored=run.result.ignored,
                error=error,
                retry_at=retry_at,
                actor=run.actor[:128],
            )
        )


def record_skip(store: Store, key: CollectorKey, now: datetime, reason: str, *, actor: str = "") -> None:
    """A run that could not happen (no credentials), kept so `campaign status` and the logs can say why. A skip
    repeating the previous one only moves its time, so a beat every few minutes does not fill the table."""
    with store.transaction() as session:
        last = session.execute(
            select(CollectorRun)
            .where(
                CollectorRun.campaign == key.campaign,
                CollectorRun.kind == key.kind,
                CollectorRun.platform == key.platform,
                CollectorRun.source == key.source,
            )
            .order_by(CollectorRun.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None and last.outcome == "skipped" and last.error == reason:
            last.finished_at = now
            return
        session.add(
            CollectorRun(
                campaign=key.campaign,
                kind=key.kind,
                platform=key.platform,
                source=key.source,
                started_at=now,
                finished_at=now,
                outcome="skipped",
                error=reason,
                actor=actor[:128],
            )
        )


def collector_states(store: Store, campaign: str | None = None) -> list[CollectorState]:
    with store.transaction() as session:
        statement = select(CollectorState).order_by(
            CollectorState.campaign, CollectorState.kind, CollectorState.platform, CollectorState.source
        )
        if campaign:
            statement = statement.where(CollectorState.campaign == campaign)
        return list(session.execute(statement).scalars())


def recent_runs(store: Store, campaign: str | None = None, limit: int = 20) -> list[CollectorRun]:
    with store.transaction() as session:
        statement = select(CollectorRun).order_by(CollectorRun.id.desc()).limit(limit)
        if campaign:
            statement = statement.where(CollectorRun.campaign == campaign)
        return list(session.execute(statement).scalars())


def campaigns_in_store(store: Store) -> list[str]:
    """Campaigns the store knows of: scheduled posts or collectors."""
    with store.transaction() as session:
        names = set(session.execute(select(Delivery.campaign).distinct()).scalars())
        names |= set(session.execute(select(CollectorState.campaign).distinct()).scalars())
    return sorted(names)
