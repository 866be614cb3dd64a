from alembic import context

import scheduler.collection_models  # noqa: F401  (registers the collection tables on Base.metadata)
from scheduler.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through scheduler.db.migrate(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
context.run_migrations()
