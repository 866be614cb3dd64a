"""Fault helpers shared by the fault tests and the fault suite (bench/chaos.py): a Redis that comes back empty, and
what a child process wrote to its log since a moment."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scheduler.embedded import ChildProcess, EmbeddedRedis

# Celery's consumer after a failed attempt to reconnect: "... Trying again in 4.00 seconds... (2/None)".
_RETRY = re.compile(r"consumer: Cannot connect to .*\n?Trying again in [0-9.]+ seconds\.\.\. \((\d+)/")


def wipe_redis_data(redis: EmbeddedRedis) -> None:
    """Delete a stopped Redis's files, so it starts again empty (a Redis whose disk was lost, or flushed)."""
    assert not redis.alive(), "stop or kill Redis before wiping its data"
    shutil.rmtree(redis.directory / "appendonlydir", ignore_errors=True)
    (redis.directory / "dump.rdb").unlink(missing_ok=True)


class LogMark:
    """A child's log from the moment this mark was made."""

    def __init__(self, child: ChildProcess):
        assert child.log_path is not None, f"{child.name} has no log file"
        self.path: Path = child.log_path
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            return handle.read().decode("utf-8", "replace")

    def failed_reconnects(self) -> int:
        """How many times a Celery worker has tried to reconnect to its broker, and failed, since the mark."""
        attempts = [int(found[1]) for found in _RETRY.finditer(self.text())]
        return max(attempts, default=0)

    def reconnected(self) -> bool:
        """The worker lost its broker and has connected again since the mark."""
        text = self.text()
        lost = text.find("Connection to broker lost")
        return lost >= 0 and "Connected to " in text[lost:]
