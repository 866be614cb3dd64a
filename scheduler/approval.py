"""The second pair of eyes: a campaign whose campaign.yaml says `approval: required` posts nothing until enough
people other than its author have approved exactly the version that goes out.

A version is a hash of what will go out (every platform's every part as rendered, the planned time, the
platforms): `campaign schedule` records it in `posts.content_hash`, with who scheduled it in `posts.author`.
Each verdict is a row of `approvals` bound to one version, and an event. What counts for a version is each
person's latest verdict on it, given after it last became the post's version (`voided` marks the point where a
post changed back to a version it had before). The rule of each campaign is kept from its campaign.yaml when it
is scheduled (a `settings` row), so the engine applies it without the campaign folder.

The same rule is written twice here, once as SQL (the tick uses it to choose what to claim, the views to show
"awaiting approval") and once in Python (the publish path decides by it, and says why in words); the property
test in tests/dispatch/test_approval_property.py holds them to one another."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, and_, distinct, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from content_calendar.model import NO_APPROVAL, ApprovalRule, RenderedPart
from scheduler.errors import Refused
from scheduler.models import Delivery, Event, PostRecord, Setting, State
from scheduler.review_models import Approval

APPROVED, REJECTED, VOIDED = "approved", "rejected", "voided"
AWAITING = "awaiting approval"  # the state a person reads, in status and the calendar
RULE_PREFIX = "approval:"
_KEY_ROOM = 64 - len(RULE_PREFIX)  # settings.key is 64 characters; a longer slug is named by its hash


def version_hash(at: datetime, rendered: Mapping[str, Sequence[RenderedPart]]) -> str:
    """The version of a post: its planned time, its platforms and every part each receives."""
    canonical = json.dumps(
        {
            "at": at.isoformat(),
            "platforms": sorted(rendered),
            "parts": {platform: [part.content_hash() for part in parts] for platform, parts in rendered.items()},
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def short(content_hash: str | None) -> str:
    """A version as a person can quote it."""
    return (content_hash or "none")[:12]


# --- the rule of each campaign -------------------------------------------------------------------------------


def _rule_key(campaign: str) -> str:
    if len(campaign) <= _KEY_ROOM:
        return RULE_PREFIX + campaign
    return RULE_PREFIX + "#" + hashlib.sha256(campaign.encode()).hexdigest()[: _KEY_ROOM - 1]


def save_rule(session: Session, campaign: str, rule: ApprovalRule, now: datetime) -> None:
    """Keep the campaign's rule as its campaign.yaml says now (none kept: no approval needed)."""
    key = _rule_key(campaign)
    row = session.get(Setting, key)
    if not rule.required:
        if row is not None:
            session.delete(row)
        return
    value = json.dumps(
        {"campaign": campaign, "approvers": rule.approvers, "allow_self_approval": rule.allow_self_approval},
        sort_keys=True,
    )
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now))
    elif row.value != value:
        row.value, row.updated_at = value, now


def rules(session: Session) -> dict[str, ApprovalRule]:
    """The campaigns that require approval, with their rules."""
    found = {}
    for value in session.scalars(select(Setting.value).where(Setting.key.startswith(RULE_PREFIX))):
        data = json.loads(value)
        found[str(data["campaign"])] = ApprovalRule(True, int(data["approvers"]), bool(data["allow_self_approval"]))
    return found


def rule_of(session: Session, campaign: str) -> ApprovalRule:
    return rules(session).get(campaign, NO_APPROVAL)


# --- the rule as SQL ---------------------------------------------------------------------------------------------


# Built once: making aliases is most of the cost of building the rule, and the same rule is asked for every tick.
_YES, _YES_POST, _NO, _NO_POST, _LATER = (aliased(Approval), aliased(PostRecord), aliased(Approval),
                                          aliased(PostRecord), aliased(Approval))  # fmt: skip


def _standing(verdict: type[Approval]) -> ColumnElement[bool]:
    """This verdict is its person's latest on its version, and the version has not changed back since."""
    return ~exists().where(
        _LATER.post_pk == verdict.post_pk,
        _LATER.content_hash == verdict.content_hash,
        _LATER.id > verdict.id,
        or_(_LATER.actor == verdict.actor, _LATER.verdict == VOIDED),
    )


@cache
def approved_sql(post_pk: InstrumentedAttribute[int], rule: ApprovalRule) -> ColumnElement[bool]:
    """True where the post `post_pk` names (a column of the outer query) is approved in its current version."""
    yes, post = _YES, _YES_POST
    counted = [yes.post_pk == post_pk, yes.content_hash == post.content_hash, yes.verdict == APPROVED, _standing(yes)]
    if not rule.allow_self_approval:
        counted.append(or_(post.author.is_(None), yes.actor != post.author))
    approvals = (
        select(func.count(distinct(yes.actor)))
        .select_from(yes)
        .join(post, post.id == yes.post_pk)
        .where(*counted)
        .scalar_subquery()
    )
    no, post_again = _NO, _NO_POST
    rejected = (
        select(no.id)
        .join(post_again, post_again.id == no.post_pk)
        .where(no.post_pk == post_pk, no.content_hash == post_again.content_hash, no.verdict == REJECTED)
        .where(_standing(no))
        .exists()
    )
    return and_(approvals >= rule.approvers, ~rejected)


def unapproved_sql(
    session: Session, campaign: InstrumentedAttribute[str], post_pk: InstrumentedAttribute[int]
) -> ColumnElement[bool] | None:
    """True where a post (by its `campaign` and `post_pk` columns in the outer query) needs an approval it does
    not have; None when no campaign requires approval."""
    required = rules(session)
    if not required:
        return None
    return or_(*(and_(campaign == slug, ~approved_sql(post_pk, rule)) for slug, rule in required.items()))


def awaiting(session: Session, post_pks: Iterable[int] | None = None, *, campaign: str | None = None) -> set[int]:
    """The posts (of `post_pks`, or all) with a part still to go out that need an approval they do not have."""
    gate = unapproved_sql(session, PostRecord.campaign, PostRecord.id)
    if gate is None:
        return set()
    going = exists().where(Delivery.post_pk == PostRecord.id, Delivery.state == State.SCHEDULED)
    query = select(PostRecord.id).where(gate, going, PostRecord.status.not_in(("draft", "removed")))
    if campaign is not None:
        query = query.where(PostRecord.campaign == campaign)
    if post_pks is None:
        return set(session.scalars(query))
    wanted, found = list(post_pks), set[int]()
    for start in range(0, len(wanted), 500):
        found.update(session.scalars(query.where(PostRecord.id.in_(wanted[start : start + 500]))))
    return found


# --- the rule in Python --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    actor: str
    verdict: str  # approved | rejected
    comment: str
    at: datetime
    content_hash: str


@dataclass(frozen=True)
class ApprovalState:
    """Where one post stands with its approvals, in its current version."""

    rule: ApprovalRule
    content_hash: str | None
    author: str | None
    approvals: tuple[Verdict, ...] = ()  # those that count
    rejections: tuple[Verdict, ...] = ()  # standing: the version does not go out while one stands
    own: tuple[Verdict, ...] = ()  # the author's own approvals, which do not count

    @property
    def approved(self) -> bool:
        if not self.rule.required:
            return True
        return self.content_hash is not None and len(self.approvals) >= self.rule.approvers and not self.rejections

    @property
    def missing(self) -> int:
        return max(0, self.rule.approvers - len(self.approvals))

    def words(self) -> str:
        """Where it stands, for a person: "approved by sam", "rejected by sam: ...", "needs 1 more approval"."""
        if not self.rule.required:
            return "no approval needed"
        if self.rejections:
            last = self.rejections[-1]
            return f"rejected by {last.actor}" + (f": {last.comment}" if last.comment else "")
        given = ", ".join(v.actor for v in self.approvals)
        if self.approved:
            return f"approved by {given}"
        more = "1 more approval" if self.missing == 1 else f"{self.missing} more approvals"
        other = (
            "" if self.rule.allow_self_approval or not self.author else f", not from {self.author}, who scheduled it"
        )
        return f"needs {more}{other}" + (f"; approved so far by {given}" if given else "")


def state_of(session: Session, post: PostRecord, rule: ApprovalRule | None = None) -> ApprovalState:
    rule = rule_of(session, post.campaign) if rule is None else rule
    if post.content_hash is None:
        return ApprovalState(rule, None, post.author)
    rows = session.scalars(
        select(Approval)
        .where(Approval.post_pk == post.id, Approval.content_hash == post.content_hash)
        .order_by(Approval.id)
    ).all()
    latest: dict[str, Approval] = {}
    for row in rows:
        if row.verdict == VOIDED:
            latest.clear()
        else:
            latest.pop(row.actor, None)
            latest[row.actor] = row
    views = [Verdict(r.actor, r.verdict, r.comment, r.at, r.content_hash) for r in latest.values()]
    approvals = [v for v in views if v.verdict == APPROVED]
    counted = tuple(v for v in approvals if rule.allow_self_approval or post.author is None or v.actor != post.author)
    return ApprovalState(
        rule,
        post.content_hash,
        post.author,
        approvals=counted,
        rejections=tuple(v for v in views if v.verdict == REJECTED),
        own=tuple(v for v in approvals if v not in counted),
    )


def holds_back(session: Session, delivery: Delivery) -> str | None:
    """Why this delivery may not go out now for want of approval, or None when it may. Read in the same
    transaction that moves it to publishing, after its row is locked: a change of the post (which rewrites this
    row too) or a verdict committed before that point is seen."""
    post = session.get(PostRecord, delivery.post_pk)
    if post is None:
        return "its post is gone"
    state = state_of(session, post)
    return None if state.approved else state.words()


def refuse_unapproved(session: Session, post: PostRecord) -> None:
    """For `post-now`: a post that awaits approval is refused before anything about it changes (posting it now
    would only bring its time forward, to be held and then missed)."""
    state = state_of(session, post)
    if not state.approved:
        raise ApprovalRefused(
            f"{post.campaign}/{post.post_id} awaits approval ({state.words()}), so it is not posted now: an approver "
            f"approves it first (`campaign approve {post.post_id}`, or Approve on its page)."
        )


# --- recording a verdict ---------------------------------------------------------------------------------------


class ApprovalRefused(Refused):
    """A verdict that is not recorded; the line says why and what to do."""


class AuthorUnknown(Refused):
    """Posts that need approval were to be scheduled by someone this workspace does not know."""

    def __init__(self, author: str, campaigns: Sequence[str]) -> None:
        self.author, self.campaigns = author, tuple(campaigns)
        self.why = (
            f"Posts of {', '.join(campaigns)} need approval by a second person, so whoever schedules them must be a "
            "user of this workspace. Nothing was scheduled."
        )
        super().__init__(self.why, f"{author!r} is not a user here: `campaign users add` adds people.")


def what_changed(
    before: Mapping[tuple[str, int], Mapping[str, object]],
    now: Mapping[tuple[str, int], Mapping[str, object]],
    at_before: datetime,
    at_now: datetime,
) -> tuple[str, ...]:
    """What a new version of a post changed, in words, from its parts (platform, part) -> payload, before and now."""
    platforms_before, platforms_now = {key[0] for key in before}, {key[0] for key in now}
    changed = []
    if platforms_before != platforms_now:
        changed.append("platforms")
    if at_before != at_now:
        changed.append("time")
    both = platforms_before & platforms_now
    if {k: p.get("text") for k, p in before.items() if k[0] in both} != {
        k: p.get("text") for k, p in now.items() if k[0] in both
    }:
        changed.append("text")
    if {k: p.get("video") for k, p in before.items() if k[0] in both} != {
        k: p.get("video") for k, p in now.items() if k[0] in both
    }:
        changed.append("video")  # its file, alt text or captions
    return tuple(changed) or ("images or settings",)


@dataclass(frozen=True)
class ApprovalNote:
    """A post whose new version needs approval again: what changed, and what its earlier version had."""

    campaign: str
    post_id: str
    changed: tuple[str, ...]  # "text", "time", "platforms", "images or settings"
    before: str  # where the earlier version stood: "approved by sam", "rejected by sam: ..."

    @property
    def words(self) -> str:
        return f"needs approval again: its {' and '.join(self.changed)} changed (the earlier version was {self.before})"


def mark_changed_back(session: Session, post: PostRecord, *, actor: str, now: datetime) -> None:
    """The post is back at a version it had before: the verdicts given on that version then no longer count."""
    if post.content_hash is None:
        return
    earlier = session.scalar(
        select(func.count())
        .select_from(Approval)
        .where(Approval.post_pk == post.id, Approval.content_hash == post.content_hash, Approval.verdict != VOIDED)
    )
    if earlier:
        session.add(
            Approval(
                post_pk=post.id,
                content_hash=post.content_hash,
                verdict=VOIDED,
                actor=actor,
                comment="changed back to this version: the approvals it had before no longer count",
                at=now,
            )
        )


def decide(
    session: Session,
    post: PostRecord,
    *,
    actor: str,
    verdict: str,
    comment: str,
    now: datetime,
    expected_hash: str | None = None,
) -> tuple[ApprovalState, bool]:
    """Record `actor`'s verdict on the post's current version, and its event. Returns where the post stands
    then, and whether anything was recorded (an approval given again is not). Refuses what may not be decided:
    a post that needs no approval or has nothing left to send, a version other than the one the person read,
    and the author's approval of their own version unless the campaign allows it."""
    rule = rule_of(session, post.campaign)
    place = f"{post.campaign}/{post.post_id}"
    if not rule.required:
        raise ApprovalRefused(
            f"{post.source}: post {post.post_id}: the campaign {post.campaign} does not require approval, so there "
            f"is nothing to approve (its campaign.yaml says `approval: required` when it does)."
        )
    if post.status in ("draft", "removed") or post.content_hash is None:
        why = "is a draft" if post.status == "draft" else "is no longer in its calendar file"
        raise ApprovalRefused(f"{post.source}: post {post.post_id} {why}, so there is nothing to approve.")
    if expected_hash is not None and expected_hash != post.content_hash:
        raise ApprovalRefused(
            f"{place} has changed since you read it (it was scheduled again): nothing was recorded. Read it again, "
            "then approve or reject what it says now."
        )
    going = session.scalars(
        select(Delivery.state).where(Delivery.post_pk == post.id, Delivery.state != State.CANCELLED)
    ).all()
    if verdict == APPROVED and going and all(state == State.PUBLISHED for state in going):
        raise ApprovalRefused(f"{place} is already published: there is nothing left to approve.")
    state = state_of(session, post, rule)
    if verdict == APPROVED and not rule.allow_self_approval and post.author == actor:
        raise ApprovalRefused(
            f"You scheduled this version of {place}, so someone else must approve it (the campaign's "
            "campaign.yaml does not allow authors to approve their own posts). Ask an approver to run "
            f"`campaign approve {post.post_id}`, or to approve it on the post's page."
        )
    mine = [v for v in (*state.approvals, *state.own, *state.rejections) if v.actor == actor]
    if mine and mine[-1].verdict == verdict == APPROVED:
        return state, False
    session.add(
        Approval(post_pk=post.id, content_hash=post.content_hash, verdict=verdict, actor=actor, comment=comment, at=now)
    )
    said = f"version {short(post.content_hash)}" + (f": {comment}" if comment else "")
    session.add(Event(at=now, campaign=post.campaign, post_id=post.post_id, action=verdict, reason=said, actor=actor))
    session.flush()
    return state_of(session, post, rule), True
