"""collection: mentions, mention_authors, mention_author_weeks, engagement_snapshots, collector_state, collector_runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("uri_key", sa.String(length=64), nullable=False),
        sa.Column("author_key", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_on", sa.String(length=255), nullable=False),
        sa.Column("matched_tag", sa.String(length=128), nullable=False),
        sa.Column("reply_to_delivery_id", sa.Integer(), nullable=True),
        sa.Column("allow_listed", sa.Boolean(), nullable=False),
        sa.Column("author_handle", sa.String(length=255), nullable=True),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["reply_to_delivery_id"], ["deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign", "uri_key", name="uq_mentions_campaign_uri"),
    )
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mentions_week",
            ["campaign", "created_at", "platform", "author_key", "reply_to_delivery_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_mentions_named",
            ["campaign", "created_at"],
            unique=False,
            sqlite_where=sa.text("author_handle IS NOT NULL"),
            postgresql_where=sa.text("author_handle IS NOT NULL"),
        )

    op.create_table(
        "mention_authors",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("author_key", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("first_mention_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "author_key"),
    )
    with op.batch_alter_table("mention_authors", schema=None) as batch_op:
        batch_op.create_index("ix_mention_authors_first", ["campaign", "first_mention_at"], unique=False)

    op.create_table(
        "mention_author_weeks",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("author_key", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "week_start", "author_key"),
    )

    op.create_table(
        "engagement_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("quotes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("engagement_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_delivery_time", ["delivery_id", "taken_at"], unique=False)
        batch_op.create_index("ix_snapshots_campaign_time", ["campaign", "taken_at"], unique=False)

    op.create_table(
        "collector_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("cursor_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign", "kind", "platform", "source", name="uq_collector_state_key"),
    )

    op.create_table(
        "collector_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("ignored", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.create_index("ix_collector_runs_campaign_started", ["campaign", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_collector_runs_campaign_started")
    op.drop_table("collector_runs")
    op.drop_table("collector_state")
    with op.batch_alter_table("engagement_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_campaign_time")
        batch_op.drop_index("ix_snapshots_delivery_time")
    op.drop_table("engagement_snapshots")
    op.drop_table("mention_author_weeks")
    with op.batch_alter_table("mention_authors", schema=None) as batch_op:
        batch_op.drop_index("ix_mention_authors_first")
    op.drop_table("mention_authors")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_named")
        batch_op.drop_index("ix_mentions_week")
    op.drop_table("mentions")
