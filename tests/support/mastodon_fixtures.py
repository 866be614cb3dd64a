"""Pytest fixtures for the Mastodon test server (tests/mastodon_server/).

- `mastodon_server` (session): one server in its own process on 127.0.0.1, stopped by pid at the end. It
  is shared: use `mastodon` instead unless you reset it yourself.
- `mastodon` (function): the same server, reset (no data, default limits, real time, no faults).
- `mastodon_account` (function): a fresh account on it with its token (`.client()` gives Mastodon.py).
- `mastodon_federation` (function): two other servers, reset, relaying public statuses to each other.

Each yields a `MastodonControl` (base_url, pid, and the helpers: create_account, post_as, add_engagement,
inject_fault, advance_clock, configure, statuses, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.mastodon_server import MastodonControl, MastodonServerProcess, TestAccount

__all__ = [
    "MastodonFederation",
    "_mastodon_federation_servers",
    "mastodon",
    "mastodon_account",
    "mastodon_federation",
    "mastodon_server",
]


@pytest.fixture(scope="session")
def mastodon_server() -> Iterator[MastodonControl]:
    server = MastodonServerProcess()
    control = server.start()
    try:
        yield control
    finally:
        server.stop()


@pytest.fixture
def mastodon(mastodon_server: MastodonControl) -> MastodonControl:
    mastodon_server.reset()
    return mastodon_server


@pytest.fixture
def mastodon_account(mastodon: MastodonControl) -> TestAccount:
    return mastodon.create_account("campaign", display_name="Campaign account")


@dataclass(frozen=True)
class MastodonFederation:
    """Two instances that relay each other's public statuses (same `uri`, different local `id`)."""

    a: MastodonControl
    b: MastodonControl

    @property
    def instances(self) -> tuple[MastodonControl, MastodonControl]:
        return (self.a, self.b)

    def wait_for_deliveries(self, timeout: float = 5.0) -> None:
        for instance in self.instances:
            instance.wait_for_deliveries(timeout)


@pytest.fixture(scope="session")
def _mastodon_federation_servers() -> Iterator[tuple[MastodonControl, MastodonControl]]:
    servers = [MastodonServerProcess(), MastodonServerProcess()]
    try:
        controls = tuple(server.start() for server in servers)
        yield controls[0], controls[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def mastodon_federation(
    _mastodon_federation_servers: tuple[MastodonControl, MastodonControl],
) -> MastodonFederation:
    a, b = _mastodon_federation_servers
    for instance in (a, b):
        instance.reset()
    a.add_peer(b.base_url)
    b.add_peer(a.base_url)
    return MastodonFederation(a, b)
