"""What the collection modules share about the store: inserts that skip rows already there, on SQLite and
PostgreSQL alike, and times as aware UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from scheduler.db import Store


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def insert_ignore(store: Store, model: Any, conflict_columns: Sequence[str]) -> Any:
    if store.dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))
