"""The dry-run outbox: a JSON Lines file of exactly what would have been sent, written exactly once per
idempotency key (a file lock serialises writers; a retry finds the earlier line instead of adding one)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from content_calendar.model import RenderedPart
from platforms.base import PublishOutcome, RemotePost, ThreadRefs


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every complete entry of an outbox file, in the order written. A line torn by a crash is skipped."""
    if not path.exists():
        return []
    entries = []
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                entries.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return entries


class OutboxAdapter:
    dry_run = True

    def __init__(self, path: Path, platform: str, *, account: str = "dry-run"):
        self.path = path
        self.platform = platform
        self.account = account
        self._seen: dict[str, dict[str, Any]] = {}
        self._read_upto = 0
        self._inode: int | None = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _refresh(self) -> None:
        """Read what other processes appended since we last looked."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen.clear()
            self._read_upto = 0
            self._inode = None
            return
        if stat.st_ino != self._inode or stat.st_size < self._read_upto:
            self._seen.clear()
            self._read_upto = 0
            self._inode = stat.st_ino
        with self.path.open("rb") as handle:
            handle.seek(self._read_upto)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a torn last line from a crash: ignored, and overwritten by nothing
                self._read_upto += len(raw)
                try:
                    entry = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                self._seen[entry["idempotency_key"]] = entry

    def _post_of(self, entry: dict[str, Any]) -> RemotePost:
        key = entry["idempotency_key"]
        return RemotePost(
            remote_id=f"outbox:{self.platform}:{key}",
            url=f"{self.path.as_uri()}#{key}",
            uri=f"outbox:{self.platform}:{key}",
            cid=None,
            created_at=datetime.fromisoformat(entry["written_at"]),
        )

    def find_published(
        self, part: RenderedPart, idempotency_key: str, *, written_at: datetime | None = None
    ) -> RemotePost | None:
        with self._locked():
            self._refresh()
            entry = self._seen.get(idempotency_key)
            return self._post_of(entry) if entry else None

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        with self._locked():
            self._refresh()
            existing = self._seen.get(idempotency_key)
            if existing is not None:
                return PublishOutcome(self._post_of(existing), already_existed=True)
            entry = {
                "idempotency_key": idempotency_key,
                "written_at": datetime.now(UTC).isoformat(),
                "platform": self.platform,
                "campaign": part.campaign,
                "post_id": part.post_id,
                "part": part.part,
                "planned_at": part.at.isoformat(),
                "in_reply_to": (
                    {"root": reply_to.root.remote_id, "parent": reply_to.parent.remote_id} if reply_to else None
                ),
                "would_send": part.to_json(),
            }
            line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._refresh()
            return PublishOutcome(self._post_of(entry), already_existed=False)
