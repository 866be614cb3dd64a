"""approvals, safeguarding holds, alerts sent once; posts gain author, content_hash and topics; a due_at index

An approval binds to a hash of what will go out (every platform's every part, the planned time, the platforms),
so any change voids it. Holds cover a campaign, a topic or a window of dates. An alert is recorded by subject and
state so it is sent once. Calendar views read deliveries by a window of time whatever their state: an index on
due_at alone keeps that a range scan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("topics", sa.Text(), nullable=False, server_default="[]"))
    op.create_index("ix_deliveries_due", "deliveries", ["due_at"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_pk", sa.Integer(), sa.ForeignKey("posts.id"), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approvals_post", "approvals", ["post_pk", "content_hash"])
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alerts_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_alerts_sent_key"),
    )


def downgrade() -> None:
    op.drop_table("alerts_sent")
    op.drop_table("holds")
    op.drop_index("ix_approvals_post", table_name="approvals")
    op.drop_table("approvals")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("topics")
        batch_op.drop_column("content_hash")
        batch_op.drop_column("author")
