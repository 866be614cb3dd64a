"""engagement events: likes, reposts, replies and quotes of our posts as the repository stream shows them

Listening to Bluesky's repository stream sees each like, repost, reply and quote of our posts as it happens. One
row each, keyed (per campaign) by a keyed hash of the record's URI, so a record seen again is not counted twice
and one taken back can be removed; the author is a keyed hash too. The snapshots' totals stay as they are.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engagement_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.Integer(), sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("author_key", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign", "event_key", name="uq_engagement_events_campaign_event"),
    )
    op.create_index("ix_engagement_events_delivery", "engagement_events", ["delivery_id", "kind"])
    op.create_index("ix_engagement_events_campaign_time", "engagement_events", ["campaign", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_engagement_events_campaign_time", table_name="engagement_events")
    op.drop_index("ix_engagement_events_delivery", table_name="engagement_events")
    op.drop_table("engagement_events")
