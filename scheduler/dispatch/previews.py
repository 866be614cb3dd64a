"""What an operator action on one post would do, before it is done: the post (campaign, file, first words,
planned time and zone) and, part by part, how it stands and what the action changes. Every face shows this
and asks before `cancel`, `retry`, `post-now` and `restore`. A request the action would refuse is refused here
already, with the same words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from scheduler import approval
from scheduler.db import Store
from scheduler.dispatch.operator_actions import (
    CANCELLABLE,
    RETRYABLE,
    OperatorError,
    check_cancel,
    check_restore,
    check_retry,
    first_words,
    past_grace,
    post_of,
    restorable,
)
from scheduler.dispatch.pausing import is_paused
from scheduler.dispatch.transitions import minutes
from scheduler.models import Delivery, PostRecord, State

Action = Literal["cancel", "retry", "post-now", "restore"]
ACTIONS: tuple[Action, ...] = ("cancel", "retry", "post-now", "restore")


@dataclass(frozen=True)
class PartPreview:
    id: int  # the application's own id for this part on this platform (outcomes name it)
    platform: str
    part: int  # 0 = the post, 1.. = thread replies
    state: str  # as it stands now
    effect: str  # what the action does to it, in words
    changes: bool  # whether the action changes it
    due_at: datetime  # when it is (or was) due
    published_at: datetime | None = None
    url: str | None = None
    late: bool = False  # its time is past its misfire grace: it would go out late
    maybe_live: bool = False  # its last attempt ended with an unknown outcome: it may be live already


@dataclass(frozen=True)
class PostPreview:
    action: Action
    campaign: str
    post_id: str
    source: str  # the calendar file it came from
    first_words: str
    timezone: str  # the campaign's zone: the one its times are shown in
    planned_at: datetime
    misfire_grace: timedelta
    paused: bool  # posting is paused: nothing goes out until `campaign resume`
    parts: tuple[PartPreview, ...]

    @property
    def changing(self) -> tuple[PartPreview, ...]:
        return tuple(p for p in self.parts if p.changes)

    @property
    def staying(self) -> tuple[PartPreview, ...]:
        return tuple(p for p in self.parts if not p.changes)

    @property
    def late(self) -> tuple[PartPreview, ...]:
        """The parts the action would send late (restore asks first whether to)."""
        return tuple(p for p in self.changing if p.late)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["misfire_grace_minutes"] = int(self.misfire_grace.total_seconds() // 60)
        del data["misfire_grace"]
        data["planned_at"] = self.planned_at.isoformat()
        for part in data["parts"]:
            for key in ("due_at", "published_at"):
                part[key] = part[key].isoformat() if part[key] else None
        return data


def describe_post(
    store: Store,
    post_id: str,
    action: Action,
    now: datetime,
    *,
    campaign: str | None = None,
    platform: str | None = None,
) -> PostPreview:
    """What `action` would do to the post now. Refuses (with the action's own words) what it would refuse."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    with store.transaction() as session:
        deliveries = post_of(session, post_id, campaign, platform)
        post = session.get(PostRecord, deliveries[0].post_pk)
        assert post is not None  # every delivery belongs to a post record
        paused = is_paused(session)
        if action == "cancel":
            check_cancel(post_id, deliveries)
        elif action == "retry":
            check_retry(post_id, deliveries)
        elif action == "restore":
            check_restore(post_id, deliveries, post)
        else:
            _check_post_now(post_id, deliveries, post, platform)
            approval.refuse_unapproved(session, post)
        parts = tuple(_part(action, d, now) for d in deliveries)
        return PostPreview(
            action=action,
            campaign=post.campaign,
            post_id=post_id,
            source=post.source,
            first_words=first_words(post.summary),
            timezone=post.timezone,
            planned_at=post.planned_at,
            misfire_grace=timedelta(seconds=deliveries[0].misfire_grace_s),
            paused=paused,
            parts=parts,
        )


def _check_post_now(post_id: str, deliveries: Sequence[Delivery], post: PostRecord, platform: str | None) -> None:
    if platform is None:
        raise OperatorError(f"Say where to post {post_id} now with --platform.")
    if post.status in ("removed", "draft"):
        why = "is a draft" if post.status == "draft" else "is no longer in this calendar file"
        raise OperatorError(f"{post.source}: post {post_id} {why}, so it is not posted.")
    if any(d.state == State.CANCELLED and d.operator_cancelled for d in deliveries):
        raise OperatorError(
            f"{post_id} is cancelled on {platform} (`campaign cancel`), so it is not posted now. To post it, run "
            f"`campaign restore {post_id} --platform {platform}` first."
        )


def _part(action: Action, d: Delivery, now: datetime) -> PartPreview:
    effect, changes, late = _effect(action, d, now)
    return PartPreview(
        id=d.id,
        platform=d.platform,
        part=d.part,
        state=d.state,
        effect=effect,
        changes=changes,
        due_at=d.due_at,
        published_at=d.published_at,
        url=d.remote_url,
        late=late,
        maybe_live=d.outcome_unknown,
    )


def _effect(action: Action, d: Delivery, now: datetime) -> tuple[str, bool, bool]:
    """(what happens to it, whether it changes, whether it goes out late)."""
    state = State(d.state)
    if state == State.PUBLISHED:
        return "already published: it stays up", False, False
    if action == "cancel":
        if state == State.PUBLISHING:
            if d.cancel_requested:
                return "being sent right now: already cancelled if this attempt fails", False, False
            return "being sent right now: it cannot be called back; cancelled only if this attempt fails", True, False
        if state in CANCELLABLE:
            return "cancelled: it will not be posted", True, False
        return "already cancelled", False, False
    if action == "restore":
        if state == State.PUBLISHING and d.cancel_requested:
            return "being sent right now: no longer cancelled if this attempt fails", True, False
        if not restorable(d):
            if state == State.CANCELLED:
                return "cancelled by `campaign schedule` (the file no longer has it): it stays cancelled", False, False
            return f"not cancelled ({state}): it stays as it is", False, False
        if past_grace(d, now):
            grace = minutes(d.misfire_grace_s)
            return f"its time is past its grace period ({grace}): post it now, late, or leave it missed", True, True
        if d.due_at < now:
            late_by = minutes(int((now - d.due_at).total_seconds()))
            return f"back to scheduled: it goes out at once, {late_by} late (within its grace)", True, False
        return "back to scheduled", True, False
    if state in (State.CLAIMED, State.PUBLISHING):
        return "being sent right now", False, False
    if state == State.CANCELLED:
        if action == "retry":
            return "cancelled: it stays cancelled (`campaign restore` brings it back)", False, False
        return "no longer in the post (the file dropped it): not posted", False, False
    if state in RETRYABLE:
        looked_for = " (looked for on the platform first: posted only if it is not there)" if d.outcome_unknown else ""
        return f"posted now, late{looked_for}", True, True
    if action == "retry":
        return "not missed or failed: it stays scheduled", False, False
    early = d.due_at > now
    return ("posted now, before its time" if early else "posted now"), True, False
