"""The schema Alembic builds is the schema the models describe, on SQLite and on PostgreSQL: a model changed
without its migration (or the other way round) fails here, not on someone's upgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import scheduler.collection_models
import scheduler.review_models
import scheduler.users  # noqa: F401
from scheduler.db import Store
from scheduler.models import Base
from tests.support.postgres import PostgresServer


def differences(store: Store) -> list[object]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        found = compare_metadata(context, Base.metadata)
    # SQLite cannot say whether an index is unique the way a model writes it; server defaults differ in spelling.
    return [
        d for d in found if not (isinstance(d, tuple) and d[0] in ("remove_table",) and d[1].name == "alembic_version")
    ]


def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    try:
        assert differences(store) == []
    finally:
        store.dispose()


@pytest.mark.integration
def test_postgresql_schema_matches_the_models(postgres_server: PostgresServer) -> None:
    store = Store(postgres_server.create_database("schema_check").replace("postgresql://", "postgresql+psycopg://"))
    try:
        assert differences(store) == []
    finally:
        store.dispose()
