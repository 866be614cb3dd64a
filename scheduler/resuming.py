"""Resuming after `campaign pause`, the way a safeguarding hold is released: the pause is read as a hold of every
post, placed when posting was paused (scheduler/hold_actions.py lists and decides what such a hold kept back).

While paused, nothing is claimed and nothing claimed starts publishing (scheduler/dispatch/pausing.py); a post
kept back past its grace is missed with the pause named, exactly as under a hold. Resuming lists every post whose
time came meanwhile (still to go out, or missed since the pause) and needs a choice for each: post it now, late,
or leave it missed. Without a choice for every one, nothing changes and posting stays paused; with them, the
choices and the switch turning off are one transaction, so no post of the list goes out late unchosen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db import Store
from scheduler.dispatch.pausing import PAUSED_KEY, is_paused
from scheduler.dispatch.transitions import record
from scheduler.display import local_time
from scheduler.errors import UsageRefused
from scheduler.hold_actions import LateChoice, PassedPost, apply_choices, passed_during, undecided
from scheduler.holds import HoldView
from scheduler.models import Event, Setting

RESUME_CHOICE = "resume-choice"  # the event of one part's choice; "resume" is the resume itself


@dataclass(frozen=True)
class ResumePreview:
    """Whether posting is paused; who paused it, when and why; every post whose time came while it was."""

    paused: bool
    paused_by: str = ""
    paused_at: datetime | None = None
    reason: str = ""
    passed: tuple[PassedPost, ...] = ()

    @property
    def to_decide(self) -> tuple[PassedPost, ...]:
        """The posts that need a choice (a post a hold still covers waits for that hold's release)."""
        return tuple(p for p in self.passed if p.still_held_by is None)


@dataclass(frozen=True)
class Resumed:
    """What resuming did: the pause it ended (as the preview said) and what became of each post it kept back."""

    pause: ResumePreview
    posted_late: tuple[str, ...] = ()
    left_missed: tuple[str, ...] = ()
    still_held: tuple[str, ...] = ()

    @property
    def paused(self) -> bool:
        """False: posting was not paused, and nothing changed."""
        return self.pause.paused


def _pause_events(session: Session) -> tuple[Event, Event] | None:
    """The first pause since the last resume (since when posting has been paused) and the latest (who paused
    last, and why: pausing again replaces the reason)."""
    last_resume = session.scalar(select(Event.id).where(Event.action == "resume").order_by(Event.id.desc()).limit(1))
    since = select(Event).where(Event.action == "pause", Event.id > (last_resume or 0))
    first = session.scalars(since.order_by(Event.id).limit(1)).first()
    latest = session.scalars(since.order_by(Event.id.desc()).limit(1)).first()
    return (first, latest) if first is not None and latest is not None else None


def pause_hold(session: Session, now: datetime) -> tuple[ResumePreview, HoldView] | None:
    """The pause standing now as a hold of every post (not a row of `holds`: id 0), or None when not paused."""
    if not is_paused(session):
        return None
    found = _pause_events(session)
    if found is None:  # paused outside the application (no event): since now, by nobody named
        first_at, actor, reason = now, "", ""
    else:
        first, latest = found
        first_at, actor, reason = first.at, latest.actor, latest.reason
    hold = HoldView(id=0, kind="all", campaign=None, topic=None, platform=None, starts_at=None, ends_at=None,
                    reason=reason, actor=actor, created_at=first_at)  # fmt: skip
    shown_at = found[1].at if found is not None else None
    return ResumePreview(True, actor, shown_at, reason), hold


def resume_preview(store: Store, now: datetime) -> ResumePreview:
    """What resuming would ask about now (nothing changes)."""
    with store.transaction() as session:
        found = pause_hold(session, now)
        if found is None:
            return ResumePreview(False)
        preview, hold = found
        passed = tuple(post for post, _parts in passed_during(session, hold, now))
        return ResumePreview(True, preview.paused_by, preview.paused_at, preview.reason, passed)


def resume(store: Store, now: datetime, *, actor: str, choices: Mapping[str, LateChoice], zone: str) -> Resumed:
    """Turn posting back on. Every post whose time came while paused (and that no hold still covers) must have a
    choice in `choices` ("campaign/post_id" -> "post" or "leave"): without one, nothing changes."""
    with store.transaction() as session:
        pg = session.get_bind().dialect.name == "postgresql"
        setting = session.get(Setting, PAUSED_KEY, with_for_update=pg)  # publishes deciding now finish first
        found = pause_hold(session, now)
        if found is None or setting is None:
            return Resumed(ResumePreview(False))
        shown, hold = found
        passed = passed_during(session, hold, now)
        names = undecided(passed, choices)
        if names:
            raise UsageRefused(
                f"Nothing changed, posting is still paused: the time of {names} came while it was paused, and "
                "resuming needs a choice for each: post it now, late (--post-late), or leave it missed "
                "(--leave-missed)."
            )
        paused_words = f"the pause of {shown.paused_by or 'someone'} on {local_time(shown.paused_at or now, zone)}"
        why = f"posting was resumed by {actor} after {paused_words}"
        posted, left, still = apply_choices(
            session, passed, choices, now, actor=actor, why=why, action=RESUME_CHOICE,
            left_note=lambda post: (
                f"Held back by {paused_words} ({shown.reason or 'no reason given'}); left missed by {actor} on "
                f"resume (`campaign retry {post.post_id}` posts it late)"
            ),
        )  # fmt: skip
        setting.value = "0"
        setting.updated_at = now
        record(session, action="resume", actor=actor, now=now, reason=_said(shown, posted, left, still, zone))
        return Resumed(ResumePreview(True, shown.paused_by, shown.paused_at, shown.reason, tuple(p for p, _ in passed)),
                       tuple(posted), tuple(left), tuple(still))  # fmt: skip


def _said(shown: ResumePreview, posted: list[str], left: list[str], still: list[str], zone: str) -> str:
    """The resume event's reason: whose pause it ended, and the choices (the "resumed" alert tells these)."""
    at = f" on {local_time(shown.paused_at, zone)}" if shown.paused_at else ""
    said = f"ended the pause of {shown.paused_by or 'someone'}{at} ({shown.reason or 'no reason given'})"
    if not (posted or left or still):
        return f"{said}; no post's time came while it was paused"
    parts = [
        f"{_count(len(posted), 'post')} posted now, late" + (f" ({', '.join(posted)})" if posted else ""),
        f"{_count(len(left), 'post')} left missed" + (f" ({', '.join(left)})" if left else ""),
    ]
    if still:
        parts.append(f"{_count(len(still), 'post')} still held by a hold ({', '.join(still)})")
    return f"{said}; {'; '.join(parts)}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
