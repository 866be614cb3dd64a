"""Fixtures shared across the suite. Server-backed fixtures are session-scoped, registered once here (so each
server starts once per run, whichever folders use it) and stop their servers by pid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import Engine, running_engine
from tests.support.postgres import PostgresServer, private_postgres

pytest_plugins = ("tests.support.bluesky_fixtures", "tests.support.mastodon_fixtures")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with running_engine(tmp_path) as engine:
        yield engine
