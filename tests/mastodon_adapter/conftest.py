"""Fixtures for the Mastodon adapter tests: the shared Mastodon test server fixtures (`mastodon`, reset for
each test; `mastodon_account`; `mastodon_federation`), and the engine: a real Redis for worker and beat
processes, as in tests/dispatch/test_engine.py."""

from __future__ import annotations

import pytest

from tests.mastodon_server import TestAccount


@pytest.fixture
def account(mastodon_account: TestAccount) -> TestAccount:
    """The campaign's account ("campaign") on the reset `mastodon` server, with its token."""
    return mastodon_account
