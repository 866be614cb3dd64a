"""Where each listener is in Bluesky's repository stream, as stored in its campaigns' collector state (kind
`listen`), and how far behind it is: read by status, the banner and the alerts without the listener itself."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from scheduler.collection.sql import utc
from scheduler.collection_models import CollectorState, EngagementEvent
from scheduler.db import Store

LISTEN = "listen"  # the collector kind of a listener's state rows
PLATFORM = "bluesky"


@dataclass(frozen=True)
class Position:
    """What a listener's state row's cursor holds."""

    seq: int | None = None
    event_time: datetime | None = None  # the relay's time of the newest event written
    head_at: datetime | None = None  # when the listener last found nothing waiting (it was at the head)
    backfill: str = ""  # why and from when search reads a gap back, if it had to

    def to_json(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "time": self.event_time.isoformat() if self.event_time else None,
                "head_at": self.head_at.isoformat() if self.head_at else None,
                "backfill": self.backfill or None,
            }
        )

    @classmethod
    def parse(cls, cursor: str | None) -> Position:
        try:
            data = json.loads(cursor or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        seq = data.get("seq")
        return cls(
            seq if isinstance(seq, int) else None,
            parse_instant(data.get("time")),
            parse_instant(data.get("head_at")),
            str(data.get("backfill") or ""),
        )


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def owner_gone(owner: str) -> bool:
    """Whether the listener named `owner` (listener@host:pid) is known not to run any more: on this host, with a
    pid that is not running or is this process's own (a container restarted gets the same pid again)."""
    host, _, pid = owner.removeprefix("listener@").rpartition(":")
    if not owner.startswith("listener@") or host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lag_of(position: Position, now: datetime) -> timedelta | None:
    """How far behind the stream's head: since the newest event written or since the listener last found
    nothing waiting, whichever is later (a quiet stream is not a late listener; a stopped one grows late)."""
    known = [moment for moment in (position.event_time, position.head_at) if moment is not None]
    return max(timedelta(0), now - max(known)) if known else None


@dataclass(frozen=True)
class ListeningView:
    """One campaign's listener as status shows it."""

    campaign: str
    source: str
    seq: int | None
    lag: timedelta | None
    last_error: str | None
    backfill: str

    @property
    def lag_words(self) -> str:
        return "not started" if self.lag is None else _span(self.lag)

    def describe(self) -> str:
        behind = "not started" if self.lag is None else f"{_span(self.lag)} behind"
        extra = f"; {self.last_error}" if self.last_error else ""
        note = f"; {self.backfill}" if self.backfill else ""
        return f"{self.campaign}: listening to {self.source}, {behind}{extra}{note}"

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "source": self.source,
            "seq": self.seq,
            "lag_seconds": None if self.lag is None else round(self.lag.total_seconds(), 1),
            "last_error": self.last_error,
            "backfill": self.backfill or None,
        }


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def listening(store: Store, now: datetime, campaign: str | None = None) -> list[ListeningView]:
    """Every listener's state: where it is in the stream and how far behind."""
    with store.transaction() as session:
        statement = select(CollectorState).where(CollectorState.kind == LISTEN).order_by(CollectorState.campaign)
        if campaign:
            statement = statement.where(CollectorState.campaign == campaign)
        rows = list(session.execute(statement).scalars())
    views = []
    for row in rows:
        position = Position.parse(row.cursor)
        views.append(
            ListeningView(
                row.campaign, row.source, position.seq, lag_of(position, now), row.last_error, position.backfill
            )
        )
    return views


def engagement_heard(
    store: Store, campaign: str, start: datetime | None = None, end: datetime | None = None
) -> dict[int, dict[str, int]]:
    """Likes, reposts, replies and quotes of each of our posts as listening heard them (heard in [start, end)
    when given: when the stream brought them, not the time their author's app claims): delivery id -> kind ->
    count. Taken-back likes and reposts are not in it. For reports, next to
    the snapshots' totals (which also count what happened before listening began)."""
    statement = select(EngagementEvent.delivery_id, EngagementEvent.kind, func.count()).where(
        EngagementEvent.campaign == campaign
    )
    if start is not None:
        statement = statement.where(EngagementEvent.seen_at >= start)
    if end is not None:
        statement = statement.where(EngagementEvent.seen_at < end)
    heard: dict[int, dict[str, int]] = {}
    with store.transaction() as session:
        for delivery_id, kind, count in session.execute(
            statement.group_by(EngagementEvent.delivery_id, EngagementEvent.kind)
        ):
            heard.setdefault(delivery_id, {})[kind] = count
    return heard
