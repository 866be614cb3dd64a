"""an index on posts.planned_at for calendar windows

A draft has no parts to send, only its planned time: the calendar finds the drafts of a week or a month by it,
and an index keeps that a range scan however long the schedule's history grows (as ix_deliveries_due does for
the parts).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:20:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_posts_planned", "posts", ["planned_at"])


def downgrade() -> None:
    op.drop_index("ix_posts_planned", table_name="posts")
