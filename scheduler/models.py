"""The durable store's tables (SQLAlchemy 2). Every time is stored as UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class State(StrEnum):
    SCHEDULED = "scheduled"
    CLAIMED = "claimed"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    MISSED = "missed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({State.PUBLISHED, State.FAILED, State.MISSED, State.CANCELLED})
IN_FLIGHT_STATES = frozenset({State.CLAIMED, State.PUBLISHING})


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


class PostRecord(Base):
    """A calendar post as last scheduled."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("campaign", "post_id", name="uq_posts_campaign_post"),
        Index("ix_posts_planned", "planned_at"),  # calendar views find a window's drafts by their planned time
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    post_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(Text)  # the calendar file it came from
    status: Mapped[str] = mapped_column(String(16))  # approved | draft | removed
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    # Who scheduled the change that made the current content (the author a second pair of eyes checks), and a
    # hash of what will go out (every platform's every part, the planned time, the platforms): an approval binds
    # to it, so any change voids it.
    author: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    topics: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")  # JSON list: what holds match
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One part of one post to one platform: the unit that is published exactly once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign", "post_id", "platform", "part", name="uq_deliveries_identity"),
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_due", "due_at"),  # calendar views read a window of time, whatever the state
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_pk: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    campaign: Mapped[str] = mapped_column(String(64))
    post_id: Mapped[str] = mapped_column(String(128))
    platform: Mapped[str] = mapped_column(String(16))
    part: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=State.SCHEDULED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    misfire_grace_s: Mapped[int] = mapped_column(Integer, default=1800)
    payload: Mapped[str] = mapped_column(Text)  # RenderedPart as JSON: exactly what the platform receives
    payload_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Numbers every attempt ever begun and is never reset (`attempts` is, by retry and reschedule): a worker's
    # outcome and lease extensions apply only while its attempt is still the current one.
    attempt_serial: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False)
    # Cancelled while an attempt was under way: if that attempt fails, the delivery ends cancelled.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Cancelled with `campaign cancel`: `campaign schedule` leaves it cancelled until the post changes in the file.
    operator_cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the attempt that may have written this delivery began: set by each attempt with a clean history,
    # kept while the outcome is unknown. Platforms stamp the post with it and reconcile from it.
    write_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    remote_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_cid: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Event(Base):
    """Every state change and every operator action: who, when, why."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), nullable=True)
    campaign: Mapped[str | None] = mapped_column(String(64), nullable=True)
    post_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(128), default="")


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
