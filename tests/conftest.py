"""Fixtures shared across the suite. Server-backed fixtures are session-scoped and stop their servers by pid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, private_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server
