"""Placing and lifting safeguarding holds (scheduler/holds.py says what one covers).

Placing a hold gives back, in the same transaction, every claim on a post it covers that has not started
publishing, so nothing it covers goes out after it is placed (a part being sent at that very moment cannot be
called back: it is named). Lifting one lists every post whose time came while it stood, and asks what to do with
each: post it now, late, or leave it missed. Nothing that was held goes out late without that choice."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.dispatch.operator_actions import first_words
from scheduler.dispatch.transitions import for_update, record, transition
from scheduler.display import local_time, platform_name
from scheduler.errors import NotFound, Refused, UsageRefused
from scheduler.holds import TOPIC, HoldView, active_holds, first_covering, post_facts, topic_name, view
from scheduler.models import Delivery, PostRecord, State
from scheduler.review_models import Hold

LateChoice = Literal["post", "leave"]
PLACED, RELEASED = "hold-placed", "hold-released"  # the events a hold leaves


@dataclass(frozen=True)
class Placed:
    hold: HoldView
    posts: int  # posts still to go out that it covers now
    in_flight: tuple[str, ...]  # "campaign/post on platform" being sent this moment: cannot be called back
    created: bool = True  # False: an equal hold already stood (it is the one returned)


@dataclass(frozen=True)
class PassedPost:
    """A post whose time came while the hold stood."""

    campaign: str
    post_id: str
    first_words: str
    timezone: str
    due_at: datetime
    platforms: tuple[str, ...]
    missed: bool  # already missed (past its grace); else it would go out now, late
    still_held_by: int | None = None  # another hold that still covers it: nothing to decide yet
    grace_minutes: int = 0  # how late a post of its campaign may go out before it is missed

    @property
    def key(self) -> str:
        return f"{self.campaign}/{self.post_id}"


@dataclass(frozen=True)
class ReleasePreview:
    hold: HoldView
    passed: tuple[PassedPost, ...]

    @property
    def to_decide(self) -> tuple[PassedPost, ...]:
        return tuple(p for p in self.passed if p.still_held_by is None)


@dataclass(frozen=True)
class Released:
    hold: HoldView
    posted_late: tuple[str, ...]
    left_missed: tuple[str, ...]
    still_held: tuple[str, ...]


# --- placing ---------------------------------------------------------------------------------------------------


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def window_bounds(first: str, last: str, zone: str) -> tuple[datetime, datetime]:
    """`--from` and `--to` as instants: a date is the whole day (the last one included), in `zone`; a date with
    a time (2027-02-01 09:00) is that minute."""

    def read(text: str, *, end: bool) -> datetime:
        raw = text.strip().replace("T", " ")
        try:
            if _DAY.fullmatch(raw):
                day = date.fromisoformat(raw) + timedelta(days=1 if end else 0)
                return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise UsageRefused(
                f"{text!r} is not a date: write it as 2027-02-01 (a whole day) or 2027-02-01 09:00 ({zone} time)."
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))

    starts, ends = read(first, end=False), read(last, end=True)
    if ends <= starts:
        raise UsageRefused(f"The window ends ({last}) before it starts ({first}): give --from first, then --to.")
    return starts, ends


def place_hold(
    store: Store,
    now: datetime,
    *,
    kind: str,
    reason: str,
    actor: str,
    campaign: str | None = None,
    topic: str | None = None,
    platform: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    zone: str = "UTC",
) -> Placed:
    if not reason.strip():
        raise UsageRefused("Say why (--reason): it is kept with the hold, and everyone sees it until it is released.")
    if topic is not None:
        topic = topic_name(topic)
        if not TOPIC.fullmatch(topic):
            raise UsageRefused(
                f"{topic!r} is not a topic name: topics are lower-case letters, digits and hyphens, as the "
                "calendars' `topics:` write them."
            )
    with store.transaction() as session:
        if (
            campaign is not None
            and session.scalar(select(PostRecord.id).where(PostRecord.campaign == campaign)) is None
        ):
            known = sorted(set(session.scalars(select(PostRecord.campaign))))
            raise NotFound(
                f"There is no campaign {campaign!r} in the schedule"
                + (f" (it has {', '.join(known)})" if known else "")
                + ": check the name (the campaign's folder name), or run `campaign schedule` first."
            )
        row = Hold(
            kind=kind,
            campaign=campaign,
            topic=platform if kind == "platform" else topic,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason.strip(),
            actor=actor,
            created_at=now,
        )
        same = _same_as(session, view(row))
        if same is not None:
            return Placed(same, _covered_posts(session, same), (), created=False)
        session.add(row)
        session.flush()
        hold = view(row)
        in_flight = _give_back_claims(session, hold, now, actor)
        record(session, action=PLACED, actor=actor, reason=f"hold {hold.id}: {hold.describe(zone)}: {hold.reason}",
               now=now, campaign=campaign)  # fmt: skip
        return Placed(hold, _covered_posts(session, hold), tuple(in_flight))


def _same_as(session: Session, wanted: HoldView) -> HoldView | None:
    """An active hold covering exactly what `wanted` would (then it is not placed twice)."""
    fields = ("kind", "campaign", "topic", "platform", "starts_at", "ends_at")
    for hold in active_holds(session):
        if all(getattr(hold, name) == getattr(wanted, name) for name in fields):
            return hold
    return None


def _covered(
    session: Session,
    hold: HoldView,
    states: Sequence[str],
    *,
    lock: bool = False,
    due_by: datetime | None = None,
    missed_since: datetime | None = None,
) -> list[Delivery]:
    statement = select(Delivery).where(Delivery.state.in_(list(states)))
    if due_by is not None:
        statement = statement.where(Delivery.due_at <= due_by)
    if missed_since is not None:  # a missed post counts only when its time came since then
        statement = statement.where(or_(Delivery.state != State.MISSED, Delivery.due_at >= missed_since))
    if hold.campaign is not None:
        statement = statement.where(Delivery.campaign == hold.campaign)
    if hold.kind == "platform":
        statement = statement.where(Delivery.platform == hold.platform)
    statement = statement.order_by(Delivery.id)
    deliveries = session.scalars(for_update(session, statement) if lock else statement).all()
    facts = post_facts(session, (d.post_pk for d in deliveries))
    return [d for d in deliveries if first_covering([hold], d, facts.get(d.post_pk)) is not None]


def _covered_posts(session: Session, hold: HoldView) -> int:
    return len({d.post_pk for d in _covered(session, hold, [State.SCHEDULED, State.CLAIMED])})


def _give_back_claims(session: Session, hold: HoldView, now: datetime, actor: str) -> list[str]:
    in_flight = []
    for delivery in _covered(session, hold, [State.CLAIMED, State.PUBLISHING], lock=True):
        if delivery.state == State.PUBLISHING:
            in_flight.append(f"{delivery.campaign}/{delivery.post_id} on {delivery.platform}")
            continue
        delivery.lease_until = None
        delivery.claimed_by = None
        transition(session, delivery, State.SCHEDULED, action="hold", actor=actor, reason=f"held by hold {hold.id}",
                   now=now)  # fmt: skip
    return in_flight


def hold_for_refused_login(store: Store, platform: str, problem: str, now: datetime, *, actor: str) -> Placed:
    """Hold every post to `platform`, whose login was refused: one hold, however many find it refused."""
    reason = (
        f"{platform_name(platform)} refused our login: {problem}. Nothing is posted there until the login is fixed "
        "and this hold is released"
    )
    return place_hold(store, now, kind="platform", platform=platform, reason=reason, actor=actor)


def holds(store: Store, *, everything: bool = False) -> list[HoldView]:
    """The holds standing now (oldest first), or every hold ever placed."""
    with store.transaction() as session:
        if not everything:
            return active_holds(session)
        return [view(row) for row in session.scalars(select(Hold).order_by(Hold.id))]


# --- releasing -------------------------------------------------------------------------------------------------


def _hold(session: Session, hold_id: int, zone: str) -> HoldView:
    row = session.get(Hold, hold_id)
    if row is None:
        raise NotFound(f"There is no hold {hold_id}: `campaign holds` lists the holds standing now.")
    if row.released_at is not None:
        raise Refused(
            f"Hold {hold_id} was already released by {row.released_by or 'someone'} on "
            f"{local_time(row.released_at, zone)}: nothing to do (`campaign holds` lists those standing)."
        )
    return view(row)


def passed_during(session: Session, hold: HoldView, now: datetime) -> list[tuple[PassedPost, list[Delivery]]]:
    """Every post whose time came while `hold` stood (still to go out, or missed since it was placed), with its
    parts, locked: what lifting it asks about. A post another active hold still covers is named, not asked about.
    The pause is read as a hold of everything (scheduler/resuming.py)."""
    others = [h for h in active_holds(session) if h.id != hold.id]
    states = [State.SCHEDULED, State.CLAIMED, State.MISSED]
    found = _covered(session, hold, states, lock=True, due_by=now, missed_since=hold.created_at)
    facts = post_facts(session, (d.post_pk for d in found))
    records = {
        r.id: r for r in session.scalars(select(PostRecord).where(PostRecord.id.in_({d.post_pk for d in found})))
    }
    posts: dict[int, list[Delivery]] = {}
    for delivery in sorted(found, key=lambda d: (d.due_at, d.campaign, d.post_id, d.platform, d.part)):
        posts.setdefault(delivery.post_pk, []).append(delivery)
    passed = []
    for pk, parts in posts.items():
        record_ = records[pk]
        still = next((h for d in parts if (h := first_covering(others, d, facts.get(pk))) is not None), None)
        passed.append(
            (
                PassedPost(
                    campaign=record_.campaign,
                    post_id=record_.post_id,
                    first_words=first_words(record_.summary),
                    timezone=record_.timezone,
                    due_at=min(d.due_at for d in parts),
                    platforms=tuple(sorted({d.platform for d in parts})),
                    missed=any(
                        d.state == State.MISSED or now - d.due_at > timedelta(seconds=d.misfire_grace_s) for d in parts
                    ),
                    still_held_by=still.id if still else None,
                    grace_minutes=max(d.misfire_grace_s for d in parts) // 60,
                ),
                parts,
            )
        )
    return passed


def release_preview(store: Store, hold_id: int, now: datetime, *, zone: str) -> ReleasePreview:
    with store.transaction() as session:
        hold = _hold(session, hold_id, zone)
        return ReleasePreview(hold, tuple(p for p, _parts in passed_during(session, hold, now)))


def release_hold(
    store: Store,
    hold_id: int,
    now: datetime,
    *,
    actor: str,
    choices: Mapping[str, LateChoice],
    zone: str,
) -> Released:
    """Lift a hold. Every post whose time came while it stood (and that no other hold still covers) must have a
    choice in `choices` ("campaign/post_id" -> post | leave): without one, nothing is released."""
    with store.transaction() as session:
        hold = _hold(session, hold_id, zone)
        passed = passed_during(session, hold, now)
        names = undecided(passed, choices)
        if names:
            raise UsageRefused(
                f"Nothing was released: the time of {names} came while hold {hold_id} stood, so lifting it would "
                "post late.",
                "Say for each whether to post it now, late, or leave it missed (--post-late or --leave-missed).",
            )
        row = session.get(Hold, hold_id)
        assert row is not None
        row.released_at, row.released_by = now, actor
        posted, left, still = apply_choices(session, passed, choices, now, actor=actor,
                                            why=f"hold {hold_id} was released by {actor}")  # fmt: skip
        released = view(row)
        said = f"hold {hold_id}: {hold.describe(zone)}" + (f"; posted late: {', '.join(posted)}" if posted else "")
        said += f"; left missed: {', '.join(left)}" if left else ""
        record(session, action=RELEASED, actor=actor, now=now, campaign=hold.campaign, reason=said)
        return Released(released, tuple(posted), tuple(left), tuple(still))


def undecided(passed: Sequence[tuple[PassedPost, Sequence[Delivery]]], choices: Mapping[str, LateChoice]) -> str:
    """The posts (at most five named) that need a choice and have none, in words; "" when every one has one."""
    keys = [p.key for p, _ in passed if p.still_held_by is None and p.key not in choices]
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def apply_choices(
    session: Session,
    passed: Sequence[tuple[PassedPost, Sequence[Delivery]]],
    choices: Mapping[str, LateChoice],
    now: datetime,
    *,
    actor: str,
    why: str,
    left_note: Callable[[PassedPost], str] | None = None,
    action: str = "release",
) -> tuple[list[str], list[str], list[str]]:
    """Apply each post's choice to its parts (a post another hold still covers is left as it is): the keys posted
    late, left missed, and still held."""
    posted: list[str] = []
    left: list[str] = []
    still: list[str] = []
    for post, parts in passed:
        if post.still_held_by is not None:
            still.append(post.key)
            continue
        choice = choices[post.key]
        note = left_note(post) if left_note else None
        for delivery in parts:
            decide(session, delivery, choice, now, actor=actor, why=why, left_note=note, action=action)
        (posted if choice == "post" else left).append(post.key)
    return posted, left, still


def decide(
    session: Session,
    delivery: Delivery,
    choice: LateChoice,
    now: datetime,
    *,
    actor: str,
    why: str,
    left_note: str | None = None,
    action: str = "release",
) -> None:
    """Apply one choice to one part: "post" schedules it now (late), "leave" leaves it missed. `left_note`: the
    reason a part left missed keeps (also when it was missed already); else one made from `why`."""
    if choice == "post":
        delivery.due_at = now
        delivery.next_attempt_at = None
        delivery.lease_until = None
        delivery.claimed_by = None
        if delivery.state == State.MISSED:
            delivery.attempts = 0
            delivery.last_error = None
        reason = f"{why}: posted now, late, as they chose"
        if delivery.state == State.SCHEDULED:
            record(session, action=action, actor=actor, delivery=delivery, reason=reason, now=now)
        else:
            transition(session, delivery, State.SCHEDULED, action=action, actor=actor, reason=reason, now=now)
        return
    note = left_note or f"{why}: left missed, as they chose (`campaign retry {delivery.post_id}` posts it late)"
    if delivery.state == State.MISSED:
        if left_note is not None:
            delivery.last_error = note
        record(session, action=action, actor=actor, delivery=delivery, reason=note, now=now)
        return
    delivery.lease_until = None
    delivery.claimed_by = None
    delivery.last_error = note
    transition(session, delivery, State.MISSED, action=action, actor=actor, reason=note, now=now)
