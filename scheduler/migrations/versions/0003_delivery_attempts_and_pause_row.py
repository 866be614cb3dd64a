"""deliveries: cancel_requested, operator_cancelled, attempt_serial, write_attempt_at; the pause row seeded

A `cancel` that arrives while a delivery is being published marks it, so a failed attempt ends cancelled
instead of retrying; one cancelled by the operator stays cancelled through `campaign schedule` until the
post changes in the file. attempt_serial numbers attempts and is never reset, so a stale attempt's outcome
is told from the current one's. write_attempt_at is when the attempt that may have written a delivery began: the
platforms stamp the post with it and reconcile from it, so neither depends on the planned time. The `paused`
row is seeded so that a publish deciding at the same moment as the very first `pause` shares a lock with it
on PostgreSQL (a lock on a row that does not exist locks nothing).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("operator_cancelled", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("attempt_serial", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("write_attempt_at", sa.DateTime(timezone=True), nullable=True))
    settings = sa.table(
        "settings",
        sa.column("key", sa.String),
        sa.column("value", sa.Text),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    if connection.execute(sa.select(settings.c.key).where(settings.c.key == "paused")).first() is None:
        op.execute(settings.insert().values(key="paused", value="0", updated_at=sa.func.current_timestamp()))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("write_attempt_at")
        batch_op.drop_column("attempt_serial")
        batch_op.drop_column("operator_cancelled")
        batch_op.drop_column("cancel_requested")
