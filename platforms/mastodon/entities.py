"""Reading what Mastodon.py answers: entities, their timestamps, and a status as a RemotePost."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from platforms.base import RemotePost


def value_of(entity: Any, key: str, default: Any = None) -> Any:
    """Mastodon.py entities are dicts with attribute access; read them as dicts."""
    if isinstance(entity, Mapping):
        value = entity.get(key, default)
        return default if value is None else value
    return getattr(entity, key, default)


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def remote_post(status: Any) -> RemotePost:
    return RemotePost(
        remote_id=str(value_of(status, "id")),
        url=str(value_of(status, "url") or value_of(status, "uri") or ""),
        uri=str(value_of(status, "uri") or ""),
        cid=None,
        created_at=as_datetime(value_of(status, "created_at")),
    )
