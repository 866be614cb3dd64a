from alembic import context

import scheduler.collection_models
import scheduler.review_models
import scheduler.users  # noqa: F401  (and the users table)
from scheduler.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through scheduler.db.migrate(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
context.run_migrations()
