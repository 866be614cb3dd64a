"""Who did what, when: the events table read newest first, a page at a time, for the audit page. Every operator
action, scheduling change, sign-in and change to the people table is an event; so is every step the scheduler
takes with a post, which the page leaves out unless asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.models import Delivery, Event

# What a person does (at the command line, in the browser or by scheduling a calendar), as opposed to the steps
# the scheduler takes on its own (claim, publish, retry later, missed ...).
PEOPLE_ACTIONS = (
    "pause", "resume", "resume-choice", "hold-placed", "hold-released", "release",
    "cancel", "cancel-requested", "restore", "retry", "post-now", "schedule", "update",
    "signed-in", "sign-in-locked", "user-added", "password-set", "role-set", "user-removed", "signed-out-everywhere",
)  # fmt: skip

# Each action in words a comms officer reads.
WORDS = {
    "pause": "paused posting",
    "resume": "resumed posting",
    "resume-choice": "chose, on resuming, what became of a post the pause held back",
    "hold-placed": "placed a hold",
    "hold-released": "released a hold",
    "release": "chose, on releasing a hold, what became of a post it held back",
    "cancel": "cancelled",
    "cancel-requested": "cancelled while it was being sent",
    "restore": "restored",
    "retry": "asked to post it late",
    "post-now": "posted it now",
    "schedule": "scheduled",
    "update": "changed it (calendar updated)",
    "signed-in": "signed in",
    "sign-in-locked": "locked out after wrong passwords",
    "user-added": "added a person",
    "password-set": "set a new password",
    "role-set": "changed a role",
    "user-removed": "removed a person",
    "signed-out-everywhere": "signed someone out everywhere",
    "claim": "picked it up to post",
    "publish": "started posting it",
    "published": "published",
    "failed": "failed",
    "retry-later": "will try again later",
    "misfire": "missed its time",
    "hold": "held it back",
    "lease-expired": "took it back from a stopped worker",
    "stale-attempt": "ignored an old attempt",
    "duplicate": "found a second copy",
}
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str  # as stored
    what: str  # the action in words
    reason: str
    campaign: str | None = None
    post_id: str | None = None
    platform: str | None = None
    part: int | None = None
    from_state: str | None = None
    to_state: str | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int  # from 1
    per_page: int
    total: int  # events matching the filter, on every page
    actors: list[str]  # everyone who appears in the events, for the filter

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _conditions(
    *, who: str | None, campaign: str | None, post_id: str | None, people_only: bool
) -> list[ColumnElement[bool]]:
    conditions = []
    if who:
        conditions.append(Event.actor == who)
    if campaign:
        conditions.append(Event.campaign == campaign)
    if post_id:
        conditions.append(Event.post_id == post_id)
    if people_only:
        conditions.append(Event.action.in_(PEOPLE_ACTIONS))
    return conditions


def audit(
    store: Store,
    *,
    who: str | None = None,
    campaign: str | None = None,
    post_id: str | None = None,
    people_only: bool = True,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    """Events newest first, `per_page` at a time, by one person and of one post when asked."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    conditions = _conditions(who=who, campaign=campaign, post_id=post_id, people_only=people_only)
    with store.transaction() as session:
        total = session.scalar(select(func.count(Event.id)).where(*conditions)) or 0
        rows = session.execute(
            select(Event, Delivery.platform, Delivery.part)
            .where(*conditions)
            .outerjoin(Delivery, Delivery.id == Event.delivery_id)
            .order_by(Event.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).all()
        entries = [_entry(event, platform, part) for event, platform, part in rows]
        return AuditPage(entries, page, per_page, total, _actors(session))


def _entry(event: Event, platform: str | None, part: int | None) -> AuditEntry:
    return AuditEntry(
        id=event.id,
        at=event.at,
        actor=event.actor or "",
        action=event.action,
        what=WORDS.get(event.action, event.action.replace("-", " ")),
        reason=event.reason or "",
        campaign=event.campaign,
        post_id=event.post_id,
        platform=platform,
        part=part,
        from_state=event.from_state,
        to_state=event.to_state,
    )


def _actors(session: Session) -> list[str]:
    names = session.scalars(select(Event.actor).where(Event.actor != "").distinct().order_by(Event.actor).limit(500))
    return list(names)


def latest_event_id(store: Store) -> int:
    """The newest event's id: it changes whenever anything is done to the schedule or the people."""
    with store.transaction() as session:
        return session.scalar(select(func.max(Event.id))) or 0
