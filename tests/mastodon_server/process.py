"""Run a test server in its own process (what the fixtures do): started with a free port on 127.0.0.1,
stopped by pid. The child exits by itself if its parent dies (it watches its stdin)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .control import MastodonControl

REPO_ROOT = Path(__file__).resolve().parents[2]


class MastodonServerProcess:
    def __init__(self, config: dict[str, Any] | None = None, *, startup_timeout: float = 20.0) -> None:
        self.config = config or {}
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.control: MastodonControl | None = None
        self.stderr_path: Path | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def base_url(self) -> str:
        assert self.control is not None
        return self.control.base_url

    def start(self) -> MastodonControl:
        handle, name = tempfile.mkstemp(prefix="mastodon-test-server-", suffix=".log")
        self.stderr_path = Path(name)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.mastodon_server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--config",
                json.dumps(self.config),
                "--exit-on-stdin-eof",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=handle,
        )
        os.close(handle)
        assert self.process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            if self.process.poll() is not None:
                break
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line += os.read(self.process.stdout.fileno(), 4096)
        if not line.endswith(b"\n"):
            self.stop()
            raise RuntimeError(f"Mastodon test server did not start; its stderr:\n{self.stderr()}")
        announced = json.loads(line)
        self.control = MastodonControl(announced["base_url"], pid=self.process.pid)
        return self.control

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")[-20000:]

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        if self.stderr_path is not None:
            self.stderr_path.unlink(missing_ok=True)
        self.process = None

    def __enter__(self) -> MastodonControl:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
