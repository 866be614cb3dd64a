"""Fixtures for the Mastodon adapter tests: the shared Mastodon test server fixtures (`mastodon`, reset for
each test; `mastodon_account`; `mastodon_federation`), and the engine: a real Redis for worker and beat
processes, as in tests/dispatch/test_engine.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.embedded import EmbeddedRedis
from tests.mastodon_server import TestAccount
from tests.support.engine import Engine, redis_dir


@pytest.fixture
def account(mastodon_account: TestAccount) -> TestAccount:
    """The campaign's account ("campaign") on the reset `mastodon` server, with its token."""
    return mastodon_account


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    redis = EmbeddedRedis(redis_dir(tmp_path), persistent=True)
    redis.start()
    try:
        yield Engine(tmp_path, redis, f"sqlite:///{tmp_path / 'campaign.db'}", tmp_path / "outbox.jsonl")
    finally:
        redis.stop()
