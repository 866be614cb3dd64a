"""The tables of the second pair of eyes and of the voice when things go wrong: approvals (bound to a post's
content hash), safeguarding holds (a campaign, a topic or a window of dates, with who and why), and the alerts
already sent (one per subject and state: no storms)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models import Base, UTCDateTime, utcnow


class Approval(Base):
    """One person's verdict on one version of a post: `approved` or `rejected`, with a comment."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_post", "post_pk", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_pk: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # approved | rejected
    actor: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Hold(Base):
    """A safeguarding hold: nothing it covers goes out while it stands. `kind` says what it covers: `all`,
    `campaign` (campaign), `topic` (topic, within campaign when given) or `window` (starts_at..ends_at,
    within campaign when given)."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    campaign: Mapped[str | None] = mapped_column(String(64), nullable=True)
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class SentAlert(Base):
    """An alert already sent, by its subject and state (e.g. `delivery:42:failed`), so it is sent once."""

    __tablename__ = "alerts_sent"
    __table_args__ = (UniqueConstraint("key", name="uq_alerts_sent_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: waiting for the digest
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
