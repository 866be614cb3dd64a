"""Start and stop the local AT Protocol network (network.mjs) from Python.

    info = check_installed()                      # raises BlueskyNetNotInstalled with the fix
    with start_network(data_dir, postgres_url=url, pds_public_url=proxy.url) as network:
        network.info.pds_url ...

The node process is stopped by its pid (SIGTERM, then SIGKILL after a grace period). It also exits by
itself when its stdin closes, so a crashed test run does not leave it behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

NET_DIR = Path(__file__).resolve().parent
SCRIPT = NET_DIR / "network.mjs"
LOCK_FILE = NET_DIR / "package-lock.json"
STAMP_FILE = NET_DIR / ".installed-stamp"
SETUP_COMMAND = "scripts/setup_bluesky_net.sh"
DEV_ENV_VERSION = "0.3.215"


class BlueskyNetNotInstalled(RuntimeError):
    """node, or the pinned npm packages, are missing: run scripts/setup_bluesky_net.sh."""


class BlueskyNetStartError(RuntimeError):
    pass


def lock_digest() -> str:
    """scripts/setup_bluesky_net.sh writes this and `node --version` to .installed-stamp after `npm ci`."""
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def node_binary() -> str | None:
    return shutil.which("node")


def check_installed() -> None:
    """Raise BlueskyNetNotInstalled unless node >= 20 and node_modules match package-lock.json."""
    fix = f"run `{SETUP_COMMAND}` (installs node packages with npm ci, about 2 minutes)"
    node = node_binary()
    if node is None:
        raise BlueskyNetNotInstalled(f"node is not on PATH: {fix}")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".", 1)[0])
    except ValueError:
        major = 0
    if major < 20:
        raise BlueskyNetNotInstalled(f"node {version or '?'} is too old: the local network needs node 20 to 22")
    dev_env_manifest = NET_DIR / "node_modules" / "@atproto" / "dev-env" / "package.json"
    if not dev_env_manifest.is_file():
        raise BlueskyNetNotInstalled(f"{NET_DIR / 'node_modules'} is missing: {fix}")
    installed = json.loads(dev_env_manifest.read_text()).get("version")
    if installed != DEV_ENV_VERSION:
        raise BlueskyNetNotInstalled(f"@atproto/dev-env {installed} installed, {DEV_ENV_VERSION} pinned: {fix}")
    stamp = STAMP_FILE.read_text().split() if STAMP_FILE.is_file() else []
    if stamp != [lock_digest(), version]:
        raise BlueskyNetNotInstalled(f"node_modules do not match package-lock.json and node {version}: {fix}")


@dataclass(frozen=True)
class NetworkInfo:
    """What network.mjs printed when ready."""

    pid: int
    plc_url: str
    pds_url: str  # the PDS's public URL: what DID documents say (the fault proxy when there is one)
    pds_direct_url: str  # the PDS itself
    pds_did: str
    handle_domain: str  # ".test": handles are NAME.test
    appview_url: str | None
    appview_did: str | None
    rate_limits: bool
    repo_write_points_per_hour: int | None
    started_ms: int  # node's own start time, from its first line to ready
    start_seconds: float  # wall time seen from Python, process spawn to ready
    data_dir: Path
    admin_password: str = field(repr=False)


class NetworkProcess:
    """A running network.mjs; `stop()` ends it by pid."""

    def __init__(self, process: subprocess.Popen[str], info: NetworkInfo, log_path: Path, log_file: IO[str]):
        self.process = process
        self.info = info
        self.log_path = log_path
        self._log_file = log_file

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM by pid, wait, SIGKILL if needed. Returns the exit code."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=5)
            return self.process.returncode
        finally:
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            self._log_file.close()


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def launch_network(
    data_dir: Path,
    *,
    postgres_url: str | Callable[[], str] | None = None,
    postgres_schema: str = "bsky",
    pds_public_url: str | None = None,
    rate_limits: bool = False,
    repo_write_points_per_hour: int | None = None,
    timeout: float = 60.0,
    debug_logs: bool = False,
) -> NetworkProcess:
    """Start network.mjs and wait for its ready line. With postgres_url the app view runs too; given a
    callable, node starts loading its code (about 3 s) while the callable runs (e.g. starts PostgreSQL)
    and is sent the URL it returns."""
    check_installed()
    data_dir.mkdir(parents=True, exist_ok=True)
    admin_password = secrets.token_hex(16)
    arguments = [node_binary() or "node", str(SCRIPT), "--data-dir", str(data_dir)]
    if callable(postgres_url):
        arguments += ["--postgres-url-on-stdin", "--postgres-schema", postgres_schema]
    elif postgres_url:
        arguments += ["--postgres-url", postgres_url, "--postgres-schema", postgres_schema]
    if pds_public_url:
        arguments += ["--pds-public-url", pds_public_url]
    if rate_limits:
        arguments.append("--rate-limits")
    if repo_write_points_per_hour is not None:
        arguments += ["--repo-write-points-per-hour", str(repo_write_points_per_hour)]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("LOG_", "PDS_", "BSKY_"))}
    environment |= {
        "TMPDIR": str(data_dir / "tmp"),
        "BSKY_NET_ADMIN_PASSWORD": admin_password,
        "BSKY_NET_JWT_SECRET": secrets.token_hex(16),
        "NODE_ENV": "test",
    }
    log_path = data_dir / "network.log"
    if debug_logs or os.environ.get("BLUESKY_NET_DEBUG"):
        environment |= {"LOG_ENABLED": "true", "LOG_LEVEL": "debug", "LOG_DESTINATION": str(log_path)}
    log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by NetworkProcess.stop
    started = time.monotonic()
    process = subprocess.Popen(
        arguments,
        cwd=NET_DIR,
        env=environment,
        stdin=subprocess.PIPE,  # kept open: node exits when it closes
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        start_new_session=True,
    )
    if callable(postgres_url):
        assert process.stdin is not None
        try:
            url = postgres_url()
            process.stdin.write(url + "\n")
            process.stdin.flush()
        except BaseException:
            NetworkProcess(process, _placeholder_info(data_dir), log_path, log_file).stop()
            raise
    ready_line = _read_line_with_deadline(process, started + timeout)
    if ready_line is None:
        failure = "exited" if process.poll() is not None else f"did not get ready within {timeout:.0f} s"
        code = process.returncode
        interim = NetworkProcess(process, _placeholder_info(data_dir), log_path, log_file)
        interim.stop()
        raise BlueskyNetStartError(f"network.mjs {failure} (exit code {code}):\n{_tail(log_path, 40)}")
    ready: dict[str, Any] = json.loads(ready_line)
    info = NetworkInfo(
        pid=int(ready["pid"]),
        plc_url=ready["plc_url"],
        pds_url=ready["pds_url"],
        pds_direct_url=ready["pds_direct_url"],
        pds_did=ready["pds_did"],
        handle_domain=ready["handle_domain"],
        appview_url=ready["appview_url"],
        appview_did=ready["appview_did"],
        rate_limits=bool(ready["rate_limits"]),
        repo_write_points_per_hour=ready["repo_write_points_per_hour"],
        started_ms=int(ready["started_ms"]),
        start_seconds=time.monotonic() - started,
        data_dir=data_dir,
        admin_password=admin_password,
    )
    return NetworkProcess(process, info, log_path, log_file)


def _placeholder_info(data_dir: Path) -> NetworkInfo:
    return NetworkInfo(0, "", "", "", "", "", None, None, False, None, 0, 0.0, data_dir, "")


def _read_line_with_deadline(process: subprocess.Popen[str], deadline: float) -> str | None:
    """The ready line (JSON with "event": "ready"), or None if the process exits or the deadline passes
    first. Anything else a dependency prints on stdout is skipped."""
    assert process.stdout is not None
    stdout = process.stdout
    result: list[str] = []

    def read_until_ready() -> None:
        for line in stdout:
            if line.startswith("{") and '"event":"ready"' in line.replace(" ", ""):
                result.append(line)
                return

    reader = threading.Thread(target=read_until_ready, daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    return result[0] if result else None


@contextlib.contextmanager
def start_network(data_dir: Path, **options: Any) -> Iterator[NetworkProcess]:
    network = launch_network(data_dir, **options)
    try:
        yield network
    finally:
        network.stop()
