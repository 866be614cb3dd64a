"""The application API's second pair of eyes (mixed into `scheduler.api.Api`): what awaits approval, shown as each
platform will receive it; approving and rejecting it, by name, each verdict bound to the version read. The rules
are scheduler/approval.py's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS, ApprovalRule, Post, RenderedPart
from scheduler import approval, users
from scheduler.api_base import ApiBase
from scheduler.approval import (
    APPROVED,
    AWAITING,
    REJECTED,
    VOIDED,
    ApprovalRefused,
    ApprovalState,
    AuthorUnknown,
    Verdict,
)
from scheduler.calendars import CalendarRefused, check_calendars
from scheduler.dispatch.operator_actions import first_words
from scheduler.dispatch.transitions import for_update
from scheduler.errors import NotFound, UsageRefused
from scheduler.models import Delivery, PostRecord, State
from scheduler.review_findings import Finding, with_findings
from scheduler.review_models import Approval
from scheduler.users import Person, Role

__all__ = [
    "APPROVED",
    "AWAITING",
    "REJECTED",
    "ApprovalPanel",
    "ApprovalRefused",
    "ApprovalRule",
    "ApprovalState",
    "AuthorUnknown",
    "Decision",
    "FileApproval",
    "ReviewApi",
    "ReviewItem",
    "Verdict",
]


@dataclass(frozen=True)
class ReviewItem:
    """A post awaiting approval, as `campaign calendar show` shows a post: `post` (its id, time in its zone and
    platforms) and `rendered` (platform -> the parts it receives), with where it stands."""

    campaign: str
    post_id: str
    source: str
    timezone: str
    post: Post
    rendered: dict[str, list[RenderedPart]]
    state: ApprovalState
    findings: tuple[Finding, ...] = ()  # accessibility findings in what the platforms will receive

    @property
    def version(self) -> str:
        return approval.short(self.state.content_hash)


@dataclass(frozen=True)
class Decision:
    """A verdict on one post, and where the post stands after it."""

    campaign: str
    post_id: str
    verdict: str  # approved | rejected
    version: str  # the short form of the version decided on
    first_words: str
    at: datetime  # when it goes out
    timezone: str
    state: ApprovalState
    recorded: bool = True  # False: this person had approved this version already
    in_flight: tuple[str, ...] = ()  # a rejection: the parts already being posted (too late to hold)


@dataclass(frozen=True)
class FileApproval:
    """`approve --file`: what was approved, and what was not and why."""

    path: Path
    approved: list[Decision] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # "post-id: why it was not approved"


@dataclass(frozen=True)
class ApprovalPanel:
    """The approval box of a post's page, for the person looking at it."""

    campaign: str
    post_id: str
    required: bool
    state: ApprovalState
    content_hash: str  # the version shown: a verdict on another one is refused
    verdicts: tuple[Verdict, ...]  # every verdict on this version, oldest first
    may_decide: bool  # an approver, and the post has something left to send
    may_approve: bool
    why_not: str  # why this person may not approve, in words ("" when they may)

    @property
    def version(self) -> str:
        return approval.short(self.content_hash)


class ReviewApi(ApiBase):
    # --- reading -------------------------------------------------------------------------------------------------

    def review(self, *, campaign: str | None = None) -> list[ReviewItem]:
        """Every post that awaits approval (of one campaign, or all), soonest first."""
        with self.wiring.store.transaction() as session:
            waiting = approval.awaiting(session, campaign=campaign)
            if campaign is not None and not waiting and campaign not in _campaigns(session):
                raise NotFound(
                    f"There is no campaign called {campaign!r} in the schedule: `campaign status` lists them."
                )
            records = session.scalars(select(PostRecord).where(PostRecord.id.in_(waiting))).all() if waiting else []
            rules = approval.rules(session)
            items = [_item(session, record, rules.get(record.campaign)) for record in records]
        items.sort(key=lambda item: (item.post.at, item.campaign, item.post_id))
        return with_findings(items, self.settings.campaigns_dir)

    def approval_panel(self, campaign: str, post_id: str, *, viewer: str) -> ApprovalPanel:
        """Where the post stands with its approvals, and what `viewer` may do about it."""
        person = users.find_person(self.wiring.store, viewer)
        with self.wiring.store.transaction() as session:
            record = _record(session, campaign, post_id)
            state = approval.state_of(session, record)
            verdicts = session.scalars(
                select(Approval)
                .where(Approval.post_pk == record.id, Approval.content_hash == (record.content_hash or ""))
                .order_by(Approval.id)
            ).all()
            said = tuple(
                Verdict(v.actor, v.verdict, v.comment, v.at, v.content_hash) for v in verdicts if v.verdict != VOIDED
            )
            going = session.scalar(
                select(Delivery.id).where(Delivery.post_pk == record.id, Delivery.state == State.SCHEDULED).limit(1)
            )
            hash_ = record.content_hash or ""
            author = record.author
        may_decide = bool(state.rule.required and going and person is not None and person.may(Role.APPROVER))
        why_not = ""
        if may_decide and person is not None and person.name == author and not state.rule.allow_self_approval:
            why_not = "You scheduled this version, so someone else must approve it."
        elif may_decide and person is not None and any(v.actor == person.name for v in state.approvals):
            why_not = "You have approved this version."
        return ApprovalPanel(campaign, post_id, state.rule.required, state, hash_, said, may_decide,
                             may_decide and not why_not, why_not)  # fmt: skip

    # --- deciding ------------------------------------------------------------------------------------------------

    def approve(
        self,
        post_ids: Sequence[str],
        *,
        person: str,
        campaign: str | None = None,
        comment: str = "",
        expected_hash: str | None = None,
    ) -> list[Decision]:
        """`person` approves the current version of each post, all or none: any refusal records nothing."""
        if not post_ids:
            raise UsageRefused("Name the posts to approve (their ids), or a calendar file with --file.")
        who = self._approver(person)
        now = self.clock.now()
        with self.wiring.store.transaction() as session:
            decisions = []
            for post_id in dict.fromkeys(post_ids):
                record = _record(session, campaign, post_id)
                state, recorded = approval.decide(
                    session, record, actor=who.name, verdict=APPROVED, comment=comment.strip(), now=now,
                    expected_hash=expected_hash,
                )  # fmt: skip
                decisions.append(_decision(session, record, APPROVED, state, recorded))
            return decisions

    def approve_file(self, path: Path, *, person: str, comment: str = "") -> FileApproval:
        """`person` approves every post of a calendar file that awaits approval, in the version the file has now.
        A post scheduled in another version than the file's (changed since) is not approved: schedule it first.
        Their own posts are left for someone else (unless their campaign allows it)."""
        who = self._approver(person)
        checked = check_calendars(
            [path],
            now=None,
            campaigns_roots=self.campaigns_roots(),
            secrets=self.settings.secrets(),
            limits=self.calendar_limits(),
        )
        if checked.errors:
            raise CalendarRefused(checked.errors)
        now, result = self.clock.now(), FileApproval(path)
        with self.wiring.store.transaction() as session:
            for item in checked.inputs:
                source = str(item.calendar.path.resolve())
                waiting = approval.awaiting(session, campaign=item.campaign.slug)
                for post in item.calendar.posts:
                    record = session.scalars(
                        select(PostRecord).where(
                            PostRecord.campaign == item.campaign.slug, PostRecord.post_id == post.id
                        )
                    ).first()
                    if record is None or record.id not in waiting:
                        continue
                    if record.source != source:
                        result.left.append(f"{post.id}: it is scheduled from {record.source}, not this file")
                        continue
                    if approval.version_hash(post.at, item.rendered.get(post.id, {})) != record.content_hash:
                        result.left.append(
                            f"{post.id}: it has changed in the file since it was scheduled; run `campaign schedule "
                            f"{path}` first, then approve what is scheduled"
                        )
                        continue
                    if record.author == who.name and not approval.rule_of(session, record.campaign).allow_self_approval:
                        result.left.append(f"{post.id}: you scheduled this version, so someone else must approve it")
                        continue
                    state, recorded = approval.decide(session, record, actor=who.name, verdict=APPROVED,
                                                      comment=comment.strip(), now=now)  # fmt: skip
                    result.approved.append(_decision(session, record, APPROVED, state, recorded))
        return result

    def reject(
        self,
        post_id: str,
        *,
        person: str,
        reason: str,
        campaign: str | None = None,
        expected_hash: str | None = None,
    ) -> Decision:
        """`person` rejects the post's current version: it does not go out until it changes (and is approved) or
        they approve it after all. The reason is kept with their name."""
        if not reason.strip():
            raise UsageRefused("Say why the post is rejected (--reason): its author reads it to put it right.")
        who = self._approver(person)
        with self.wiring.store.transaction() as session:
            record = _record(session, campaign, post_id)
            # Locked as a publish locks them: a part a worker has already begun to send is named, not hidden.
            parts = session.scalars(
                for_update(session, select(Delivery).where(Delivery.post_pk == record.id).order_by(Delivery.id))
            ).all()
            state, _ = approval.decide(session, record, actor=who.name, verdict=REJECTED, comment=reason.strip(),
                                       now=self.clock.now(), expected_hash=expected_hash)  # fmt: skip
            sending = tuple(_part_name(d) for d in parts if d.state in (State.CLAIMED, State.PUBLISHING))
            decision = _decision(session, record, REJECTED, state, True)
        return Decision(**{**decision.__dict__, "in_flight": sending})

    def _approver(self, name: str) -> Person:
        found = users.find_person(self.wiring.store, name)
        if found is None:
            raise NotFound(f"There is no user called {name!r}: `campaign users list` shows who there is.")
        if not found.may(Role.APPROVER):
            raise ApprovalRefused(
                f"{found.name} is {found.role}: approving and rejecting posts needs the approver role. An admin "
                f"gives it with `campaign users role {found.name} approver`."
            )
        return found


def _campaigns(session: Session) -> set[str]:
    return set(session.scalars(select(PostRecord.campaign).distinct()))


def _record(session: Session, campaign: str | None, post_id: str) -> PostRecord:
    query = select(PostRecord).where(PostRecord.post_id == post_id)
    if campaign:
        query = query.where(PostRecord.campaign == campaign)
    found = session.scalars(query).all()
    if not found:
        place = f" in campaign {campaign}" if campaign else ""
        raise NotFound(
            f"There is no scheduled post {post_id!r}{place}. `campaign review` lists the posts that await approval."
        )
    if len(found) > 1:
        names = ", ".join(sorted(r.campaign for r in found))
        raise UsageRefused(f"The post id {post_id!r} is in several campaigns ({names}): say which with --campaign.")
    return found[0]


def _rendered(session: Session, record: PostRecord) -> dict[str, list[RenderedPart]]:
    """What each platform receives, from the parts scheduled (a post cancelled as a whole shows what it was)."""
    deliveries = session.scalars(select(Delivery).where(Delivery.post_pk == record.id)).all()
    live = [d for d in deliveries if d.state != State.CANCELLED] or list(deliveries)
    by_platform: dict[str, list[RenderedPart]] = {}
    for delivery in sorted(live, key=lambda d: (_order(d.platform), d.part)):
        by_platform.setdefault(delivery.platform, []).append(RenderedPart.from_json(json.loads(delivery.payload)))
    return by_platform


def _order(platform: str) -> int:
    return PLATFORMS.index(platform) if platform in PLATFORMS else len(PLATFORMS)


def _item(session: Session, record: PostRecord, rule: ApprovalRule | None) -> ReviewItem:
    zone = record.timezone or DEFAULT_TIMEZONE
    rendered = _rendered(session, record)
    post = Post(id=record.post_id, at=record.planned_at.astimezone(ZoneInfo(zone)), text=record.summary,
                platforms=tuple(rendered))  # fmt: skip
    state = approval.state_of(session, record, rule)
    return ReviewItem(record.campaign, record.post_id, record.source, zone, post, rendered, state)


def _decision(session: Session, record: PostRecord, verdict: str, state: ApprovalState, recorded: bool) -> Decision:
    due = session.scalar(
        select(Delivery.due_at)
        .where(Delivery.post_pk == record.id, Delivery.state != State.CANCELLED)
        .order_by(Delivery.due_at)
        .limit(1)
    )
    return Decision(record.campaign, record.post_id, verdict, approval.short(record.content_hash),
                    first_words(record.summary), due or record.planned_at, record.timezone or DEFAULT_TIMEZONE,
                    state, recorded)  # fmt: skip


def _part_name(delivery: Delivery) -> str:
    return f"{delivery.platform}" + (f" part {delivery.part + 1}" if delivery.part else "")
