"""`campaign serve` as a real process for browser tests: on a free loopback port, in a workspace given by its
environment; the first admin's password read from what it prints once; stopped by its pid."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.workspaces import campaign_command

FIRST_ADMIN = re.compile(r"sign in as (?P<name>\S+) with the password (?P<password>\S+) ")


@dataclass
class Served:
    url: str
    admin: str
    password: str
    process: subprocess.Popen[str]
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def campaign_serve(env: dict[str, str], cwd: Path, *, timeout: float = 60) -> Iterator[Served]:
    port = free_port()
    log = cwd / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            campaign_command("serve", "--port", str(port)), cwd=cwd, env=env, stdout=output,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"campaign serve stopped at once:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"campaign serve did not answer within {timeout} s:\n{log.read_text()}")
            time.sleep(0.2)
        found = FIRST_ADMIN.search(log.read_text())
        assert found, f"campaign serve did not show a first admin's password:\n{log.read_text()}"
        yield Served(url, found["name"], found["password"], process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
