"""The harness itself: the network listens on loopback only, keeps its files in its data dir, starts in a
few seconds, and never outlives the test run."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.bluesky_net.harness import launch_network
from tests.support.bluesky_fixtures import BlueskyNetwork, poll_until

pytestmark = pytest.mark.integration

START_BUDGET_SECONDS = 20.0  # ~4-5 s on an idle 2-core machine, ~10 s when other work loads it


def _listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found: list[tuple[str, int]] = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = local.split(":")
            raw = bytes.fromhex(address_hex)
            # /proc prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, words), int(port_hex, 16)))
    return found


def test_every_server_listens_on_loopback_only(bluesky_network: BlueskyNetwork) -> None:
    node_sockets = _listening_addresses(bluesky_network.process.pid)
    # PLC, PDS, app view, its data plane and its bsync mock
    assert len(node_sockets) >= 5
    assert {address for address, _ in node_sockets} == {"127.0.0.1"}
    assert bluesky_network.postgres is not None
    postgres_sockets = _listening_addresses(bluesky_network.postgres.pid)
    assert {address for address, _ in postgres_sockets} == {"127.0.0.1"}
    assert bluesky_network.proxy is not None
    assert bluesky_network.proxy._server.server_address[0] == "127.0.0.1"


def test_network_starts_within_budget(bluesky_network: BlueskyNetwork) -> None:
    print(f"local network started in {bluesky_network.start_seconds:.2f} s")
    assert bluesky_network.start_seconds < START_BUDGET_SECONDS


def test_files_stay_in_the_data_dir(bluesky_network: BlueskyNetwork) -> None:
    account = bluesky_network.create_account("files")
    client = bluesky_network.login(account)
    client.upload_blob(b"not really an image, but a blob all the same")
    data_dir = bluesky_network.info.data_dir
    assert (data_dir / "pds" / "account.sqlite").is_file()
    actor_stores = list((data_dir / "pds" / "actors").rglob("store.sqlite"))
    assert any(account.did in str(path) for path in actor_stores)
    assert (data_dir / "pds" / "blobs-tmp" / account.did).is_dir()  # an uploaded blob waits here until used
    assert (data_dir / "tmp").is_dir()


def test_network_exits_by_itself_when_the_test_process_goes_away(bluesky_net_installed: None, tmp_path: Path) -> None:
    """If pytest dies without stopping it, node's stdin closes and node exits: nothing is left running."""
    network = launch_network(tmp_path / "orphan")
    try:
        assert network.is_running()
        assert network.process.stdin is not None
        network.process.stdin.close()
        poll_until(lambda: not network.is_running(), timeout=15, what="node to exit after stdin closed")
        assert network.process.returncode == 0
    finally:
        network.stop()
