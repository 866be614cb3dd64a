"""Workspaces in tests: an environment that names no database (so only a workspace can), and the `campaign`
CLI as a real process, optionally inside a private mount namespace where its data folder is read-only or full
(tests run as root, and chmod does not stop root; a mount does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from scheduler.workspace import FILE_NAME

# Everything that could name a database, a workspace or an account, from the machine running the tests.
UNSET = (
    "CAMPAIGN_DATA_DIR", "CAMPAIGN_DATABASE_URL", "CAMPAIGN_CAMPAIGNS_DIR", "CAMPAIGN_OUTBOX", "CAMPAIGN_REPORTS_DIR",
    "CAMPAIGN_WORKSPACE", "CAMPAIGN_REDIS_URL", "CAMPAIGN_DEBUG", "CAMPAIGN_TIMEZONE",
)  # fmt: skip
NO_CREDENTIALS = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")


def no_workspace_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process's environment names no database and no workspace, and no workspace is above tmp_path (else
    a test of "no workspace" could not fail)."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name in NO_CREDENTIALS:
        monkeypatch.setenv(name, "")
    above = [folder / FILE_NAME for folder in tmp_path.parents if (folder / FILE_NAME).exists()]
    assert above == [], f"a workspace above the test's folder spoils these tests: {above}"


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of a `campaign` process: this one's, less anything that names a database or workspace."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(dict.fromkeys(NO_CREDENTIALS, ""))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def campaign_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def run_campaign(
    *args: str, cwd: Path, env: dict[str, str] | None = None, wrap: Sequence[str] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`campaign ARGS` run as its own process in `cwd` (inside `wrap`, a command that execs what follows it)."""
    return subprocess.run(
        [*wrap, *campaign_command(*args)],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _mount_namespaces() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def _in_private_mounts(script: str) -> list[str]:
    if not _mount_namespaces():
        pytest.skip("needs root and `unshare -m` (a private mount namespace) to make a real read-only or full folder")
    # The mounts exist only in the new namespace, which ends with the command: nothing outside sees them.
    return ["unshare", "-m", "sh", "-euc", f'{script}\nexec "$@"', "sh"]


def read_only(folder: Path) -> list[str]:
    """A wrapper running its command with `folder` bound read-only onto itself (a read-only disk, even for root)."""
    return _in_private_mounts(f"mount --bind '{folder}' '{folder}'\nmount -o remount,ro,bind '{folder}'")


def full(folder: Path, *, copy: Path, room_kb: int) -> list[str]:
    """A wrapper running its command with `folder` a tmpfs holding `copy` and `room_kb` KiB more (a full disk)."""
    size = copy.stat().st_size // 1024 + room_kb
    return _in_private_mounts(f"mount -t tmpfs -o size={size}k tmpfs '{folder}'\ncp '{copy}' '{folder / copy.name}'")
