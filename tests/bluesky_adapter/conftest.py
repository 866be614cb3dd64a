"""Fixtures for the Bluesky adapter's tests: the local AT Protocol network (tests/support/bluesky_fixtures),
an account that posts with an app password, and the engine (real Redis, Celery worker and beat processes)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client, models

from platforms.base import Secret
from platforms.bluesky import BlueskyAdapter
from tests.bluesky_net.proxy import FaultProxy
from tests.support.bluesky_fixtures import BlueskyAccount, BlueskyNetwork

ACCOUNTS_CHECK_FIX = ("Settings > App passwords", "BLUESKY_APP_PASSWORD", "campaign accounts check")


@dataclass
class Publisher:
    """A campaign account: its main password stays with the test (to revoke things), the adapter gets an
    app password, as a charity would set it up. The account is shared by the tests of a session (accounts
    are slow to make: the PDS hashes passwords); `records()` shows only what a test wrote."""

    network: BlueskyNetwork
    account: BlueskyAccount
    app_password: str = field(repr=False)
    app_password_name: str
    owner: Client  # logged in with the main password
    baseline: frozenset[str] = frozenset()  # record URIs that existed when the test began

    @property
    def handle(self) -> str:
        return self.account.handle

    @property
    def did(self) -> str:
        return self.account.did

    def adapter(self, data_dir: Path, **options: Any) -> BlueskyAdapter:
        return BlueskyAdapter(
            service=self.network.pds_url,
            handle=self.handle,
            app_password=Secret(self.app_password),
            data_dir=data_dir,
            **options,
        )

    def env(self) -> dict[str, str]:
        """What a worker process needs to post as this account."""
        return {
            "BLUESKY_SERVICE": self.network.pds_url,
            "BLUESKY_HANDLE": self.handle,
            "BLUESKY_APP_PASSWORD": self.app_password,
        }

    def with_new_app_password(self) -> Publisher:
        """The same account with an app password of its own (for a test that revokes it)."""
        name = f"campaign-scheduler-{secrets.token_hex(3)}"
        created = self.owner.com.atproto.server.create_app_password(
            models.ComAtprotoServerCreateAppPassword.Data(name=name)
        )
        return replace(self, app_password=created.password, app_password_name=name)

    def revoke_app_password(self) -> None:
        self.owner.com.atproto.server.revoke_app_password(
            models.ComAtprotoServerRevokeAppPassword.Data(name=self.app_password_name)
        )

    def records(self, collection: str = "app.bsky.feed.post") -> list[dict[str, Any]]:
        """The records of a collection this test wrote, oldest first, read from the PDS directly (not
        through the fault proxy)."""
        found = list_records(self.network, self.did, collection)
        return sorted((r for r in found if r["uri"] not in self.baseline), key=lambda r: r["uri"])

    def record(self, uri: str) -> dict[str, Any] | None:
        return get_record(self.network, uri)

    def started_now(self) -> Publisher:
        existing = {
            r["uri"]
            for collection in ("app.bsky.feed.post", "app.bsky.feed.threadgate", "app.bsky.feed.postgate")
            for r in list_records(self.network, self.did, collection)
        }
        return replace(self, baseline=frozenset(existing))


def list_records(network: BlueskyNetwork, did: str, collection: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"repo": did, "collection": collection, "limit": "100"}
        if cursor:
            params["cursor"] = cursor
        answer = httpx.get(f"{network.pds_direct_url}/xrpc/com.atproto.repo.listRecords", params=params, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        found.extend(body.get("records", []))
        cursor = body.get("cursor")
        if not cursor or not body.get("records"):
            return found


def get_record(network: BlueskyNetwork, uri: str) -> dict[str, Any] | None:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    answer = httpx.get(
        f"{network.pds_direct_url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": collection, "rkey": rkey},
        timeout=10,
    )
    if answer.status_code == 400 and answer.json().get("error") == "RecordNotFound":
        return None
    answer.raise_for_status()
    return answer.json()


def make_publisher(network: BlueskyNetwork, name: str = "campaign") -> Publisher:
    account = network.create_account(name)
    owner = network.login(account)
    label = f"campaign-scheduler-{secrets.token_hex(3)}"
    created = owner.com.atproto.server.create_app_password(models.ComAtprotoServerCreateAppPassword.Data(name=label))
    return Publisher(network, account, created.password, label, owner)


@pytest.fixture(scope="session")
def campaign_account(bluesky_network: BlueskyNetwork) -> Publisher:
    return make_publisher(bluesky_network, "campaign")


@pytest.fixture
def publisher(campaign_account: Publisher, bluesky_proxy: FaultProxy) -> Publisher:
    """The shared campaign account, with the proxy reset and a baseline of its records."""
    return campaign_account.started_now()
