"""`campaign schedule`: bring the store in line with calendar files, atomically.

New posts are added, changed unpublished ones updated, posts gone from their file cancelled, published ones
never touched. Any refusal (a change to a delivery in flight, an id used twice) rolls everything back.
Running it twice changes nothing.

Each post's version (scheduler.approval.version_hash) and who scheduled the change that made it are recorded
with it; in a campaign that requires approval, a new version waits for approval again, and whoever schedules
must be a user of the workspace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from content_calendar.loaders import load_calendar_detailed
from content_calendar.model import NO_APPROVAL, Calendar, Campaign, Post, RenderedPart, written_alike
from scheduler import approval
from scheduler.db import Store
from scheduler.dispatch import record, transition
from scheduler.errors import Refused
from scheduler.models import Delivery, PostRecord, State
from scheduler.users import UserRecord

Action = Literal[
    "added", "updated", "rescheduled", "cancelled", "unchanged", "kept-published", "kept-cancelled", "draft"
]


@dataclass(frozen=True)
class CalendarInput:
    """A calendar that validated clean, with its campaign and rendered parts (post id -> platform -> parts)."""

    calendar: Calendar
    campaign: Campaign
    rendered: dict[str, dict[str, list[RenderedPart]]]


def without_approval(inputs: Sequence[CalendarInput]) -> list[CalendarInput]:
    """The calendars as if their campaigns required no approval: for a rehearsal, which plays the timing on a store
    of its own and sends nothing off the machine."""
    return [replace(item, campaign=replace(item.campaign, approval=NO_APPROVAL)) for item in inputs]


@dataclass(frozen=True)
class Change:
    action: Action
    campaign: str
    post_id: str
    platform: str | None = None
    part: int | None = None
    detail: str = ""


@dataclass
class SyncReport:
    changes: list[Change] = field(default_factory=list)
    approval_notes: list[approval.ApprovalNote] = field(default_factory=list)
    # Per campaign that requires approval: the posts still to go out that wait for it, after this run.
    awaiting: dict[str, list[str]] = field(default_factory=dict)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def changed(self) -> bool:
        return any(c.action not in ("unchanged", "kept-published", "kept-cancelled", "draft") for c in self.changes)


class SyncRefused(Refused):
    """Calendar files the store cannot be brought in line with; every reason says which post and the fix."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(*reasons)
        self.reasons = reasons


def delivery_key(campaign: str, post_id: str, platform: str, part: int) -> str:
    """The idempotency key of a delivery: stable across every retry, reschedule and restart."""
    return hashlib.sha256(f"{campaign}/{post_id}/{platform}/{part}".encode()).hexdigest()[:32]


def _summary(post: Post) -> str:
    first_line = post.text.strip().splitlines()[0] if post.text.strip() else ""
    return first_line[:120]


def schedule_calendars(
    store: Store, inputs: Sequence[CalendarInput], now: datetime, *, actor: str, author: str | None = None
) -> SyncReport:
    """`author`: the person whose change this is (default: `actor`); in a campaign that requires approval, a
    user of the workspace, or nothing is scheduled (AuthorUnknown)."""
    author = author or actor
    report = SyncReport()
    refusals: list[str] = []
    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (campaign, post id) -> (file, where in it)
    for item in inputs:
        for post in item.calendar.posts:
            key = (item.campaign.slug, post.id)
            if key in seen and seen[key][0] != str(item.calendar.path):
                refusals.append(
                    f"{_where(item.calendar, post.line)}: post {post.id}: the id is also used in {seen[key][1]} "
                    f"(campaign {item.campaign.slug}). Fix: give one of them another id."
                )
            seen.setdefault(key, (str(item.calendar.path), _where(item.calendar, post.line)))
    if refusals:
        raise SyncRefused(refusals)

    with store.transaction() as session:
        needing = sorted({item.campaign.slug for item in inputs if item.campaign.approval.required})
        known = select(UserRecord.id).where(UserRecord.name == author, UserRecord.disabled.is_(False))
        if needing and session.scalar(known) is None:
            raise approval.AuthorUnknown(author, needing)
        refusals.extend(_posts_of_other_files(session, inputs))
        if refusals:
            raise SyncRefused(refusals)
        for item in inputs:
            _sync_one(session, item, now, actor, author, report, refusals)
        if refusals:
            raise SyncRefused(refusals)  # leaving the block rolls everything back
        for slug in needing:
            waiting = approval.awaiting(session, campaign=slug)
            names = select(PostRecord.post_id).where(PostRecord.id.in_(waiting))
            report.awaiting[slug] = sorted(session.scalars(names)) if waiting else []
    return report


def _sync_one(
    session: Session,
    item: CalendarInput,
    now: datetime,
    actor: str,
    author: str,
    report: SyncReport,
    refusals: list[str],
) -> None:
    campaign = item.campaign.slug
    source = str(item.calendar.path.resolve())
    grace = int(item.campaign.misfire_grace.total_seconds())
    records = {r.post_id: r for r in session.scalars(select(PostRecord).where(PostRecord.campaign == campaign)).all()}
    deliveries: dict[str, list[Delivery]] = {}
    statement = select(Delivery).where(Delivery.campaign == campaign).order_by(Delivery.id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()  # a worker's claim or publish waits for this sync, or it for them
    for delivery in session.scalars(statement):
        deliveries.setdefault(delivery.post_id, []).append(delivery)
    approval.save_rule(
        session, campaign, item.campaign.approval, now
    )  # after the locks: a publish reads it after its own

    in_file = {post.id for post in item.calendar.posts}
    for post_id, known in records.items():
        if known.source == source and post_id not in in_file and known.status != "removed":
            cancelled = _cancel_unpublished(
                session, deliveries.get(post_id, []), now, actor, "removed from the calendar file", refusals
            )
            known.status = "removed"
            for delivery in cancelled:
                report.changes.append(
                    Change("cancelled", campaign, post_id, delivery.platform, delivery.part, "removed")
                )

    for post in item.calendar.posts:
        post_record = records.get(post.id)
        planned = post.at
        version = approval.version_hash(planned, item.rendered.get(post.id, {}))
        if post_record is None:
            post_record = PostRecord(
                campaign=campaign,
                post_id=post.id,
                source=source,
                status=post.status,
                planned_at=planned,
                timezone=item.calendar.timezone,
                summary=_summary(post),
                topics=json.dumps(list(post.topics)),  # what safeguarding holds match
                author=author,
                content_hash=version,
                created_at=now,
                updated_at=now,
            )
            session.add(post_record)
            session.flush()
        else:
            if post_record.content_hash != version:
                _new_version(
                    session, item, post, post_record, version, deliveries.get(post.id, []), author, report, now
                )
            post_record.source = source
            post_record.status = post.status
            post_record.planned_at = planned
            post_record.timezone = item.calendar.timezone
            post_record.summary = _summary(post)
            post_record.topics = json.dumps(list(post.topics))
        existing = {(d.platform, d.part): d for d in deliveries.get(post.id, [])}
        if post.status == "draft":
            for delivery in _cancel_unpublished(session, list(existing.values()), now, actor, "now a draft", refusals):
                report.changes.append(Change("cancelled", campaign, post.id, delivery.platform, delivery.part, "draft"))
            report.changes.append(Change("draft", campaign, post.id, detail="draft: checked, never posted"))
            continue
        wanted: set[tuple[str, int]] = set()
        for platform, parts in item.rendered.get(post.id, {}).items():
            parent: Delivery | None = None
            for part in parts:
                wanted.add((platform, part.part))
                delivery = _upsert(
                    session,
                    post_record,
                    existing.get((platform, part.part)),
                    part,
                    parent,
                    grace,
                    now,
                    actor,
                    report,
                    refusals,
                )
                parent = delivery
        leftovers = [d for k, d in existing.items() if k not in wanted]
        for delivery in leftovers:
            delivery.operator_cancelled = False  # the file keeps it out now: `campaign restore` must not bring it back
        for delivery in _cancel_unpublished(
            session,
            leftovers,
            now,
            actor,
            "no longer in the post (platform skipped or thread shortened)",
            refusals,
        ):
            report.changes.append(Change("cancelled", campaign, post.id, delivery.platform, delivery.part))


def _new_version(
    session: Session,
    item: CalendarInput,
    post: Post,
    post_record: PostRecord,
    version: str,
    deliveries: list[Delivery],
    author: str,
    report: SyncReport,
    now: datetime,
) -> None:
    """The post changed: its new version is `author`'s, and whatever was said of the old one does not carry over."""
    rule = item.campaign.approval
    before = approval.state_of(session, post_record, rule) if post_record.content_hash is not None else None
    if rule.required and before is not None and (before.approvals or before.rejections or before.own):
        old = {(d.platform, d.part): json.loads(d.payload) for d in deliveries if d.state != State.CANCELLED}
        new = {(p.platform, p.part): p.to_json() for parts in item.rendered.get(post.id, {}).values() for p in parts}
        changed = approval.what_changed(old, new, post_record.planned_at, post.at)
        report.approval_notes.append(approval.ApprovalNote(item.campaign.slug, post.id, changed, before.words()))
    post_record.content_hash = version
    post_record.author = author
    approval.mark_changed_back(session, post_record, actor=author, now=now)


def _upsert(
    session: Session,
    post_record: PostRecord,
    delivery: Delivery | None,
    part: RenderedPart,
    parent: Delivery | None,
    grace: int,
    now: datetime,
    actor: str,
    report: SyncReport,
    refusals: list[str],
) -> Delivery:
    payload = json.dumps(part.to_json(), sort_keys=True, ensure_ascii=False)
    payload_hash = part.content_hash()
    due = part.at
    change = Change("added", part.campaign, part.post_id, part.platform, part.part)
    if delivery is None:
        delivery = Delivery(
            post_pk=post_record.id,
            campaign=part.campaign,
            post_id=part.post_id,
            platform=part.platform,
            part=part.part,
            parent_id=parent.id if parent else None,
            state=State.SCHEDULED,
            due_at=due,
            misfire_grace_s=grace,
            payload=payload,
            payload_hash=payload_hash,
            idempotency_key=delivery_key(part.campaign, part.post_id, part.platform, part.part),
            attempts=0,
            outcome_unknown=False,
            dry_run=False,
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        session.flush()
        record(
            session,
            action="schedule",
            actor=actor,
            delivery=delivery,
            to_state=State.SCHEDULED,
            reason="added",
            now=now,
        )
        report.changes.append(change)
        return delivery

    if delivery.state != State.CANCELLED and _planned_at(delivery) == due:
        # An operator's decision on its time (retry, post-now, a late restore) stands while the file keeps the
        # time it was planned for: resetting it would make a post they chose to send late missed again.
        due = delivery.due_at
    same_time = delivery.due_at == due.astimezone(delivery.due_at.tzinfo)
    unchanged = delivery.payload_hash == payload_hash and same_time and delivery.misfire_grace_s == grace
    if unchanged and delivery.state != State.CANCELLED:
        report.changes.append(Change("unchanged", part.campaign, part.post_id, part.platform, part.part))
        return delivery
    if unchanged and delivery.operator_cancelled:
        report.changes.append(
            Change(
                "kept-cancelled",
                part.campaign,
                part.post_id,
                part.platform,
                part.part,
                "cancelled with `campaign cancel`: stays cancelled until the post changes in the file",
            )
        )
        return delivery
    where = f"{part.campaign}/{part.post_id} on {part.platform}" + (f" (thread part {part.part})" if part.part else "")
    if delivery.state == State.PUBLISHED and written_alike(json.loads(delivery.payload), part.to_json()):
        report.changes.append(Change("unchanged", part.campaign, part.post_id, part.platform, part.part))
        return delivery  # nothing in the file changed for it (its folder moved, a new grace period): nothing to say
    if delivery.state == State.PUBLISHED:
        report.changes.append(
            Change(
                "kept-published",
                part.campaign,
                part.post_id,
                part.platform,
                part.part,
                "already published, so the change in the file does not reach it (change it on the platform if it must)",
            )
        )
        return delivery
    if delivery.state in (State.CLAIMED, State.PUBLISHING):
        refusals.append(
            f"{post_record.source}: post {part.post_id}: {where} is being published right now ({delivery.state}); "
            f"the change cannot apply to it. Fix: wait until `campaign status` shows it published, then run "
            f"`campaign schedule` again (or `campaign cancel {part.post_id}` first if it must not go out)."
        )
        return delivery
    if delivery.outcome_unknown and not unchanged:
        # The last attempt may have posted the old version: changing what we would send could make the
        # reconcile (which compares content) miss it and post twice.
        if delivery.state == State.CANCELLED:
            fix = (
                "Fix: check the account: if it is there, leave this post as it was (it stays cancelled); to post "
                "the changed version, give it a new id in the calendar."
            )
        else:
            fix = (
                f"Fix: run `campaign post-now {part.post_id} --platform {part.platform}` to settle it (it finds "
                f"the earlier post or posts it), then `campaign schedule` again; or `campaign cancel "
                f"{part.post_id}`."
            )
        refusals.append(
            f"{post_record.source}: post {part.post_id}: {where} may already be posted (its last attempt ended "
            f"with an unknown outcome: {delivery.last_error or 'worker lost'}), so it cannot be changed. {fix}"
        )
        return delivery
    delivery.payload = payload
    delivery.payload_hash = payload_hash
    delivery.due_at = due
    delivery.misfire_grace_s = grace
    delivery.parent_id = parent.id if parent else None
    if delivery.state == State.CANCELLED or (not same_time and delivery.state in (State.MISSED, State.FAILED)):
        delivery.operator_cancelled = False
        delivery.attempts = 0
        delivery.next_attempt_at = None
        delivery.last_error = None
        transition(
            session,
            delivery,
            State.SCHEDULED,
            action="schedule",
            actor=actor,
            reason="re-added or rescheduled",
            now=now,
        )
        report.changes.append(Change("rescheduled", part.campaign, part.post_id, part.platform, part.part))
    else:
        detail = ""
        if delivery.state in (State.MISSED, State.FAILED):
            detail = f"still {delivery.state}: run `campaign retry {part.post_id}` to post it"
        record(
            session,
            action="update",
            actor=actor,
            delivery=delivery,
            reason="content or time changed",
            now=now,
        )
        report.changes.append(Change("updated", part.campaign, part.post_id, part.platform, part.part, detail))
    return delivery


def _planned_at(delivery: Delivery) -> datetime:
    """The time the file gave the part when it was last scheduled (its payload keeps it)."""
    return datetime.fromisoformat(json.loads(delivery.payload)["at"])


def _cancel_unpublished(
    session: Session, deliveries: list[Delivery], now: datetime, actor: str, reason: str, refusals: list[str]
) -> list[Delivery]:
    cancelled = []
    for delivery in deliveries:
        if delivery.state in (State.PUBLISHED, State.CANCELLED):
            continue
        if delivery.state in (State.CLAIMED, State.PUBLISHING):
            refusals.append(
                f"post {delivery.post_id}: {delivery.platform} part {delivery.part} is being published right now; "
                f"it cannot be cancelled ({reason}). Fix: run `campaign schedule` again once it is published."
            )
            continue
        transition(session, delivery, State.CANCELLED, action="cancel", actor=actor, reason=reason, now=now)
        cancelled.append(delivery)
    return cancelled


# --- one post, one file ------------------------------------------------------------------------------


def _posts_of_other_files(session: Session, inputs: Sequence[CalendarInput]) -> list[str]:
    """A post is scheduled from one file. A post the store has from another file that still exists and still
    has it (a copy of a calendar, or a post pasted into a second file) is refused rather than silently moved;
    once it is deleted from the old file, or both files are scheduled together, it may move."""
    given = {str(item.calendar.path.resolve()) for item in inputs}
    old_files: dict[str, dict[str, str] | None] = {}
    refusals: list[str] = []
    for item in inputs:
        source = str(item.calendar.path.resolve())
        records = session.scalars(select(PostRecord).where(PostRecord.campaign == item.campaign.slug)).all()
        known = {
            r.post_id: r for r in records if r.source != source and r.source not in given and r.status != "removed"
        }
        for post in item.calendar.posts:
            record = known.get(post.id)
            if record is None:
                continue
            if record.source not in old_files:
                old_files[record.source] = _post_places(Path(record.source))
            places = old_files[record.source]
            if places is None or post.id not in places:
                continue  # the old file is gone, or no longer has the post: it moves to this one
            old = Path(record.source)
            refusals.append(
                f"{_where(item.calendar, post.line)}: post {post.id}: this post is already scheduled from "
                f"{places[post.id]}, and that file still has it: scheduling this file would move the post here. "
                f"Fix: if this file is a copy, give its posts new ids (or leave it out); to move the post on "
                f"purpose, delete it from {old.name} first, then schedule again (this file alone, or both together)."
            )
    return refusals


def _post_places(path: Path) -> dict[str, str] | None:
    """Where each post of a calendar file is ("file:12", or "file, row 12" in a spreadsheet); None when the
    file is gone."""
    if not path.is_file():
        return None
    loaded = load_calendar_detailed(path)
    places: dict[str, str] = {}
    for post, lines in loaded.posts:
        if post.id in places:
            continue
        place = loaded.sheet.place(lines.line) if loaded.sheet is not None else None
        if place:
            places[post.id] = f"{path}, {place}"
        else:
            places[post.id] = f"{path}:{lines.line}" if lines.line else str(path)
    return places


def _where(calendar: Calendar, line: int | None) -> str:
    if line is None:
        return str(calendar.path)
    return f"{calendar.path}:{line}" if calendar.source_format == "yaml" else f"{calendar.path}, row {line}"
