"""What the schedule looks like now: the status every face shows. One `PostStatus` a post, its parts and
platforms folded into one state in words, with the reason, attempt count and next try of anything not well and
the links to what was published; the scheduler's heartbeat; the pause and the safeguarding holds (who, why,
since when); failing collectors; listening to Bluesky and its lag; the latest weekly report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS
from scheduler import approval, dispatch, heartbeat
from scheduler.approval import AWAITING
from scheduler.collection import collector_states
from scheduler.db import Store
from scheduler.heartbeat import Heartbeat
from scheduler.holds import HoldView, active_holds
from scheduler.listening_state import ListeningView, listening
from scheduler.models import Delivery, Event, PostRecord, Setting, State
from scheduler.report_files import latest_report as latest_report  # where it was first found

# The states a post is shown in, most pressing first: a post (and each of its platforms) is shown in the state
# of its most pressing part, so one failed part is never hidden behind the parts that went out.
POST_STATES = (
    "failed", "missed", "trying again", "posting now", AWAITING, "scheduled", "published", "cancelled", "draft",
)  # fmt: skip
NOT_WELL = ("failed", "missed", "trying again")
_RANK = {name: rank for rank, name in enumerate(POST_STATES)}


def part_state(state: str, attempts: int) -> str:
    """A part's state in words: a scheduled part that has been tried before is trying again."""
    if state == State.SCHEDULED:
        return "trying again" if attempts > 0 else "scheduled"
    if state in (State.CLAIMED, State.PUBLISHING):
        return "posting now"
    return str(state)


def _most_pressing(states: Iterable[str]) -> str:
    return min(states, key=lambda name: _RANK.get(name, len(_RANK)))


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


@dataclass
class DeliveryView:
    """One part of a post to one platform."""

    id: int
    campaign: str
    post_id: str
    platform: str
    part: int
    state: str  # as stored: scheduled, claimed, publishing, published, failed, missed, cancelled
    due_at: datetime
    attempts: int
    published_at: datetime | None = None
    url: str | None = None
    last_error: str | None = None
    dry_run: bool = False
    next_attempt_at: datetime | None = None
    timezone: str = DEFAULT_TIMEZONE  # the campaign's zone: the one its times are shown in
    status: str = "scheduled"  # in words: one of POST_STATES
    reason: str | None = None  # why it is not well, or why it was cancelled

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("due_at", "published_at", "next_attempt_at"):
            data[key] = _iso(data[key])
        return data


@dataclass
class PlatformStatus:
    """One post on one platform, its parts folded: the state of the most pressing part, and that part's reason,
    attempts and next try; the link to the post once it is out."""

    platform: str
    status: str
    parts: int
    published_parts: int
    attempts: int = 0
    reason: str | None = None
    next_attempt_at: datetime | None = None
    url: str | None = None  # the first part's: a thread's replies hang under it
    published_at: datetime | None = None
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["next_attempt_at"] = _iso(self.next_attempt_at)
        data["published_at"] = _iso(self.published_at)
        return data


@dataclass
class PostStatus:
    """One post of a campaign, every part on every platform folded into one state."""

    campaign: str
    post_id: str
    status: str  # one of POST_STATES
    at: datetime  # when it goes out (its first part due), or went out (its first part published)
    planned_at: datetime  # as the calendar says
    timezone: str
    summary: str  # its first words
    source: str  # the calendar file
    platforms: list[PlatformStatus] = field(default_factory=list)
    parts: list[DeliveryView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "post_id": self.post_id,
            "status": self.status,
            "at": self.at.isoformat(),
            "planned_at": self.planned_at.isoformat(),
            "timezone": self.timezone,
            "summary": self.summary,
            "source": self.source,
            "platforms": [p.to_json() for p in self.platforms],
            "parts": [v.to_json() for v in self.parts],
        }


@dataclass(frozen=True)
class PauseView:
    reason: str
    by: str | None
    since: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "by": self.by, "since": _iso(self.since)}


@dataclass
class CollectorView:
    campaign: str
    kind: str
    platform: str
    source: str
    consecutive_failures: int
    last_error: str | None
    next_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["next_attempt_at"] = _iso(self.next_attempt_at)
        return data


SECTIONS = ("upcoming", "in_flight", "published", "failed", "missed")


@dataclass
class StatusReport:
    now: datetime
    paused: bool
    pause_reason: str
    counts: dict[str, int]  # parts by stored state
    timezone: str = DEFAULT_TIMEZONE  # the campaigns' zone when they share one: the header's times are in it
    scheduler: Heartbeat = field(default_factory=lambda: Heartbeat("never started"))
    pause: PauseView | None = None
    post_counts: dict[str, int] = field(default_factory=dict)  # every post of the schedule, by state in words
    posts: list[PostStatus] = field(default_factory=list)  # those shown: not well, posting now, next, latest out
    # The parts of the posts shown, by stored state (the shape `status --json` had before posts were folded).
    upcoming: list[DeliveryView] = field(default_factory=list)
    in_flight: list[DeliveryView] = field(default_factory=list)
    published: list[DeliveryView] = field(default_factory=list)
    failed: list[DeliveryView] = field(default_factory=list)
    missed: list[DeliveryView] = field(default_factory=list)
    failing_collectors: list[CollectorView] = field(default_factory=list)
    listening: list[ListeningView] = field(default_factory=list)  # Bluesky's stream: each listener and its lag
    dry_run_platforms: list[str] = field(default_factory=list)
    latest_report: str | None = None
    holds: list[HoldView] = field(default_factory=list)  # the safeguarding holds standing now: who, why, since when
    demo: bool = False  # a demo workspace (`campaign demo`): its data is made up

    def posts_in(self, *states: str) -> list[PostStatus]:
        return [post for post in self.posts if post.status in states]

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "timezone": self.timezone,
            "scheduler": self.scheduler.to_json(),
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "pause": self.pause.to_json() if self.pause else None,
            "counts": self.counts,
            "post_counts": self.post_counts,
            "posts": [p.to_json() for p in self.posts],
            "latest_report": self.latest_report,
            "dry_run_platforms": self.dry_run_platforms,
            "holds": [h.to_json() for h in self.holds],
            "demo": self.demo,
            "failing_collectors": [c.to_json() for c in self.failing_collectors],
            "listening": [v.to_json() for v in self.listening],
            **{name: [v.to_json() for v in getattr(self, name)] for name in SECTIONS},
        }


# --- folding ---------------------------------------------------------------------------------------------


def _post_state(record_status: str, part_states: Sequence[str]) -> str:
    if record_status == "draft" and "published" not in part_states:
        return "draft"
    if not part_states:
        return "cancelled"
    return _most_pressing(part_states)


def _platform(name: str, views: list[DeliveryView]) -> PlatformStatus:
    state = _most_pressing(v.status for v in views)
    pressing = [v for v in views if v.status == state]
    out = sorted((v for v in views if v.status == "published"), key=lambda v: v.part)
    retries = [v.next_attempt_at for v in pressing if v.next_attempt_at is not None]
    return PlatformStatus(
        platform=name,
        status=state,
        parts=len(views),
        published_parts=len(out),
        attempts=max(v.attempts for v in pressing),
        reason=next((v.reason for v in pressing if v.reason), None),
        next_attempt_at=min(retries) if state == "trying again" and retries else None,
        url=next((v.url for v in out if v.url), None),
        published_at=min((v.published_at for v in out if v.published_at), default=None),
        dry_run=any(v.dry_run for v in out),
    )


def _fold(record: PostRecord, views: list[DeliveryView]) -> PostStatus:
    by_platform: dict[str, list[DeliveryView]] = defaultdict(list)
    for view in sorted(views, key=lambda v: (v.platform, v.part)):
        by_platform[view.platform].append(view)
    order = [*[p for p in PLATFORMS if p in by_platform], *sorted(set(by_platform) - set(PLATFORMS))]
    platforms = [_platform(name, by_platform[name]) for name in order]
    state = _post_state(record.status, [v.status for v in views])
    going = [v.due_at for v in views if v.status not in ("published", "cancelled")]
    out = [v.published_at for v in views if v.published_at is not None]
    if state == "published" and out:
        at = min(out)
    elif going:
        at = min(going)
    else:
        at = record.planned_at
    return PostStatus(
        campaign=record.campaign,
        post_id=record.post_id,
        status=state,
        at=at,
        planned_at=record.planned_at,
        timezone=record.timezone or DEFAULT_TIMEZONE,
        summary=record.summary,
        source=record.source,
        platforms=platforms,
        parts=[v for name in order for v in by_platform[name]],
    )


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """Ids a few hundred at a time: a database takes only so many parameters in one IN."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _reasons(session: Session, deliveries: Sequence[Delivery]) -> dict[int, str]:
    """Why each part not well (or cancelled) is as it is: the reason recorded when it came to its state."""
    wanted = [d.id for d in deliveries if part_state(d.state, d.attempts) in (*NOT_WELL, "cancelled")]
    latest: dict[int, tuple[str | None, str]] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(Event.delivery_id, Event.to_state, Event.reason)
            .where(Event.delivery_id.in_(chunk), Event.to_state.is_not(None))
            .order_by(Event.id)
        ).all()
        for delivery_id, to_state, reason in rows:
            if delivery_id is not None:
                latest[delivery_id] = (to_state, reason)
    reasons: dict[int, str] = {}
    asked = set(wanted)
    for d in deliveries:
        if d.id not in asked:
            continue
        to_state, recorded = latest.get(d.id, (None, ""))
        from_event = recorded if to_state == d.state and recorded else None
        # Trying again or failed: the last attempt's error (the count is shown beside it). Missed, cancelled:
        # what was said when it became so (an error left from an earlier attempt is not why).
        pressing = d.state in (State.SCHEDULED, State.FAILED)
        found = (d.last_error or from_event) if pressing else (from_event or d.last_error)
        if found:
            reasons[d.id] = found
    return reasons


def _posts(session: Session, records: dict[int, PostRecord], pks: Iterable[int]) -> dict[int, PostStatus]:
    wanted = list(dict.fromkeys(pks))
    deliveries: list[Delivery] = []
    for chunk in _chunks(wanted):
        deliveries += session.scalars(select(Delivery).where(Delivery.post_pk.in_(chunk))).all()
    reasons = _reasons(session, deliveries)
    views: dict[int, list[DeliveryView]] = defaultdict(list)
    for d in deliveries:
        zone = records[d.post_pk].timezone or DEFAULT_TIMEZONE
        views[d.post_pk].append(
            DeliveryView(
                id=d.id,
                campaign=d.campaign,
                post_id=d.post_id,
                platform=d.platform,
                part=d.part,
                state=d.state,
                due_at=d.due_at,
                attempts=d.attempts,
                published_at=d.published_at,
                url=d.remote_url,
                last_error=d.last_error,
                dry_run=d.dry_run,
                next_attempt_at=d.next_attempt_at,
                timezone=zone,
                status=part_state(d.state, d.attempts),
                reason=reasons.get(d.id),
            )
        )
    return {pk: _fold(records[pk], views.get(pk, [])) for pk in wanted}


def _awaiting(post: PostStatus, word: str) -> None:
    """A scheduled post held until it is approved says so, and so do its platforms."""
    if word != AWAITING:
        return
    post.status = AWAITING
    for platform in post.platforms:
        platform.status = AWAITING if platform.status == "scheduled" else platform.status


def _pause(session: Session) -> PauseView | None:
    if not dispatch.is_paused(session):
        return None
    reason = session.scalar(select(Setting.value).where(Setting.key == dispatch.PAUSE_REASON_KEY)) or ""
    event = session.scalars(select(Event).where(Event.action == "pause").order_by(Event.id.desc()).limit(1)).first()
    if event is not None:
        return PauseView(reason, event.actor or None, event.at)
    switch = session.get(Setting, dispatch.PAUSED_KEY)
    return PauseView(reason, None, switch.updated_at if switch else None)


# --- the report ------------------------------------------------------------------------------------------


def status(store: Store, now: datetime, *, campaign: str | None = None, limit: int = 20) -> StatusReport:
    """Every post not well or posting now; the next `limit` scheduled posts (with the drafts and cancelled
    posts planned among them); the `limit` posts published last. Counts cover the whole schedule."""
    with store.transaction() as session:
        record_query = select(PostRecord)
        part_query = select(Delivery.post_pk, Delivery.state, Delivery.attempts, Delivery.due_at, Delivery.published_at)
        if campaign:
            record_query = record_query.where(PostRecord.campaign == campaign)
            part_query = part_query.where(Delivery.campaign == campaign)
        records = {r.id: r for r in session.scalars(record_query)}
        counts: Counter[str] = Counter()
        states: dict[int, list[str]] = {pk: [] for pk in records}
        going: dict[int, datetime] = {}
        out: dict[int, datetime] = {}
        for pk, state, attempts, due_at, published_at in session.execute(part_query).all():
            counts[state] += 1
            states.setdefault(pk, []).append(part_state(state, attempts))
            if state not in (State.PUBLISHED, State.CANCELLED):
                going[pk] = min(going.get(pk, due_at), due_at)
            if published_at is not None:
                out[pk] = max(out.get(pk, published_at), published_at)
        word = {pk: _post_state(records[pk].status, states[pk]) for pk in records}
        for pk in approval.awaiting(session, campaign=campaign):  # scheduled, but held until approved
            if word.get(pk) == "scheduled":
                word[pk] = AWAITING
        chosen = _choose(word, records, going, out, now, limit)
        posts = _posts(session, records, chosen)
        for pk in chosen:
            _awaiting(posts[pk], word[pk])
        report = StatusReport(
            now=now,
            paused=dispatch.is_paused(session),
            pause_reason="",
            counts=dict(sorted(counts.items())),
            pause=_pause(session),
            holds=active_holds(session),
            post_counts={name: n for name, n in sorted(Counter(word.values()).items(), key=lambda i: _RANK[i[0]])},
        )
    zones = {r.timezone for r in records.values() if r.timezone}
    report.timezone = zones.pop() if len(zones) == 1 else DEFAULT_TIMEZONE
    report.pause_reason = report.pause.reason if report.pause else ""
    report.posts = [posts[pk] for pk in chosen]
    _part_sections(report, limit)
    report.scheduler = heartbeat.read(store, now)
    report.failing_collectors = [
        CollectorView(c.campaign, c.kind, c.platform, c.source, c.consecutive_failures, c.last_error, c.next_attempt_at)
        for c in collector_states(store, campaign)
        if c.consecutive_failures
    ]
    report.listening = listening(store, now, campaign)
    return report


def _choose(
    word: dict[int, str],
    records: dict[int, PostRecord],
    going: dict[int, datetime],
    out: dict[int, datetime],
    now: datetime,
    limit: int,
) -> list[int]:
    """The posts shown, in the order they are shown: not well and posting now (oldest first), then the next
    scheduled, then the latest published."""

    def when(pk: int) -> datetime:
        return going.get(pk, records[pk].planned_at)

    pressing = sorted(
        (pk for pk, w in word.items() if w in (*NOT_WELL, "posting now")), key=lambda pk: (_RANK[word[pk]], when(pk))
    )
    scheduled = sorted((pk for pk, w in word.items() if w in ("scheduled", AWAITING)), key=when)[:limit]
    # Drafts and cancelled posts only where they fall among the scheduled ones shown, so a calendar removed
    # wholesale does not push the posts still to go out off the list.
    horizon = when(scheduled[-1]) if len(scheduled) == limit and scheduled else None
    quiet = sorted(
        (pk for pk, w in word.items() if w in ("draft", "cancelled") and records[pk].planned_at >= now
         and (horizon is None or records[pk].planned_at <= horizon)),
        key=lambda pk: records[pk].planned_at,
    )[:limit]  # fmt: skip
    upcoming = sorted([*scheduled, *quiet], key=when)
    published = sorted(
        (pk for pk, w in word.items() if w == "published"), key=lambda pk: out.get(pk, when(pk)), reverse=True
    )
    return [*pressing, *upcoming, *published[:limit]]


def _part_sections(report: StatusReport, limit: int) -> None:
    parts = [v for post in report.posts for v in post.parts]

    def having(*states: str) -> list[DeliveryView]:
        return sorted((v for v in parts if v.state in states), key=lambda v: (v.due_at, v.id))

    report.upcoming = having(State.SCHEDULED)[:limit]
    report.in_flight = having(State.CLAIMED, State.PUBLISHING)
    report.failed = having(State.FAILED)
    report.missed = having(State.MISSED)
    report.published = sorted(
        (v for v in parts if v.state == State.PUBLISHED and v.published_at), key=lambda v: v.published_at or v.due_at,
        reverse=True,
    )[:limit]  # fmt: skip


def next_post(store: Store, campaign: str) -> PostStatus | None:
    """The campaign's next post to go out (one scheduled, trying again or posting now), folded."""
    with store.transaction() as session:
        pk = session.scalar(
            select(Delivery.post_pk)
            .where(
                Delivery.campaign == campaign, Delivery.state.in_([State.SCHEDULED, State.CLAIMED, State.PUBLISHING])
            )
            .order_by(Delivery.due_at, Delivery.id)
            .limit(1)
        )
        if pk is None:
            return None
        record = session.get(PostRecord, pk)
        if record is None:
            return None
        return _posts(session, {pk: record}, [pk])[pk]
