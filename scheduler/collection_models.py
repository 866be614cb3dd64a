"""Tables of the collection side (Alembic 0002): hashtag mentions, the accounts behind them (as keyed hashes),
engagement snapshots of our own posts, the collectors' state (cursor, back-off, lease) and a log of runs.

Privacy is decided here, at rest: a third party's mention is kept as a keyed hash of its URI and of its author,
its time, platform and whether it answers one of our posts. Its text, handle and URI are kept only for accounts
the campaign allow-lists (campaign.yaml `organisation_accounts`), so the store cannot expose a survivor who
used a hashtag.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models import Base, UTCDateTime, utcnow


class MentionRecord(Base):
    """One post that used a campaign hashtag, stored once per campaign whatever instance or page it came from."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("campaign", "uri_key", name="uq_mentions_campaign_uri"),
        # Covers every aggregate the weekly report runs over a week's mentions: the table itself is not read.
        Index("ix_mentions_week", "campaign", "created_at", "platform", "author_key", "reply_to_delivery_id"),
        # The few rows that carry a handle (allow-listed accounts), found without scanning the week.
        Index(
            "ix_mentions_named",
            "campaign",
            "created_at",
            sqlite_where=text("author_handle IS NOT NULL"),
            postgresql_where=text("author_handle IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    uri_key: Mapped[str] = mapped_column(String(64))  # keyed hash of the at:// URI / ActivityPub uri
    # Keyed 64-bit hash of the author's DID / account URL: an integer, so counting distinct accounts is cheap.
    author_key: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_on: Mapped[str] = mapped_column(String(255), default="")  # the service or instance it was first read from
    matched_tag: Mapped[str] = mapped_column(String(128))  # the campaign's spelling of the hashtag it used
    reply_to_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), nullable=True)
    allow_listed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Only for allow-listed authors (handle also when collection was asked to keep handles); else NULL.
    author_handle: Mapped[str | None] = mapped_column(String(255), nullable=True)
    uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)


class MentionAuthor(Base):
    """When each (hashed) account first mentioned the campaign: new versus returning, without a scan."""

    __tablename__ = "mention_authors"
    __table_args__ = (Index("ix_mention_authors_first", "campaign", "first_mention_at"),)

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    author_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    first_mention_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MentionAuthorWeek(Base):
    """Which (hashed) accounts mentioned the campaign in which week (Monday, in the campaign's zone): the
    report's count of accounts per week, without a DISTINCT over the week's mentions."""

    __tablename__ = "mention_author_weeks"

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    author_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))


class EngagementSnapshot(Base):
    """The counts of one of our published posts at one moment: a time series per delivery."""

    __tablename__ = "engagement_snapshots"
    __table_args__ = (
        Index("ix_snapshots_delivery_time", "delivery_id", "taken_at"),
        Index("ix_snapshots_campaign_time", "campaign", "taken_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    campaign: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    likes: Mapped[int] = mapped_column(Integer)  # likes / favourites
    reposts: Mapped[int] = mapped_column(Integer)  # reposts / boosts
    replies: Mapped[int] = mapped_column(Integer)
    quotes: Mapped[int] = mapped_column(Integer, default=0)


class CollectorState(Base):
    """One collector (campaign x kind x platform x source): where it stopped, whether it is backing off, and
    who holds it now. The cursor is written in the same transaction as the mentions it led to."""

    __tablename__ = "collector_state"
    __table_args__ = (UniqueConstraint("campaign", "kind", "platform", "source", name="uq_collector_state_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # mentions | engagement
    platform: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255), default="")  # instance / service URL; "" for engagement
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    cursor_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CollectorRun(Base):
    """What one collector run did, or why it failed (messages are safe to show: no secrets)."""

    __tablename__ = "collector_runs"
    __table_args__ = (Index("ix_collector_runs_campaign_started", "campaign", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | failed | rate_limited | skipped
    pages: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)  # items the platform returned
    stored: Mapped[int] = mapped_column(Integer, default=0)  # new mentions / snapshots written
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    ignored: Mapped[int] = mapped_column(Integer, default=0)  # not a campaign hashtag, or our own post
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    actor: Mapped[str] = mapped_column(String(128), default="")


class EngagementEvent(Base):
    """A like, repost, reply or quote of one of our posts, as the repository stream showed it happen (Alembic
    0007): counted per post by kind, next to the snapshots' totals. Kept as keyed hashes, as mentions are: the
    record's URI (so a record seen twice, or taken back, is found) and its author."""

    __tablename__ = "engagement_events"
    __table_args__ = (
        UniqueConstraint("campaign", "event_key", name="uq_engagement_events_campaign_event"),
        Index("ix_engagement_events_delivery", "delivery_id", "kind"),
        Index("ix_engagement_events_campaign_time", "campaign", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    kind: Mapped[str] = mapped_column(String(16))  # like | repost | reply | quote
    event_key: Mapped[str] = mapped_column(String(64))  # keyed hash of the like's / repost's / post's URI
    author_key: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when its author's client says it was made
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the stream brought it to us
