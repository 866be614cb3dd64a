"""The report's posts as people know them: named by their first words, with a small copy of their first image,
one row a post with the platforms side by side ("What people did", "What went out"), and what went wrong.

The planned time is always the calendar's (the post's own time), never a delivery's due time, which a retry or
`post-now` moves; whether a post was on time is measured against the calendar's time too.
"""

from __future__ import annotations

import base64
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, select

from content_calendar.model import PLATFORM_NAMES, PLATFORMS
from scheduler.db import Store
from scheduler.models import Delivery, Event, PostRecord, State
from scheduler.reports.model import OutRow, PlatformGain, PostEngagement, PostRow, SentLine, Trouble, local_time

ON_TIME = timedelta(minutes=5)  # published within this of its planned time counts as on time
FIRST_WORDS = 8
FIRST_CHARACTERS = 60
THUMBNAIL_PIXELS = 96


def first_words(text: str, words: int = FIRST_WORDS, characters: int = FIRST_CHARACTERS) -> str:
    """A post's name: its first few words (at most `words`, cut at a word within `characters`), "…" if cut."""
    found = " ".join(text.split()).split(" ")
    kept: list[str] = []
    for word in found:
        if not word:
            continue
        if len(kept) == words or (kept and len(" ".join([*kept, word])) > characters):
            return " ".join(kept).rstrip(",;:.-\u2013\u2014") + "\u2026"
        kept.append(word)
    if len(kept) == 1 and len(kept[0]) > characters:
        return kept[0][: characters - 1] + "\u2026"
    return " ".join(kept)


@lru_cache(maxsize=256)
def thumbnail(path: str, sha256: str = "") -> str:
    """A small JPEG copy of an image as a data: URI, so the report stays one file ("" if it cannot be read).
    `sha256` (the calendar's hash of the file) is part of the cache key: a changed image is read again."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=70)
    except (OSError, ValueError):
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _first_image(payload: str) -> tuple[str, str] | None:
    try:
        images = json.loads(payload).get("images") or ()
    except (ValueError, AttributeError):
        return None
    if not images or not isinstance(images[0], dict) or not images[0].get("path"):
        return None
    return str(images[0]["path"]), str(images[0].get("sha256", ""))


def post_pictures(store: Store, campaign: str, post_ids: Iterable[str]) -> dict[str, str]:
    """post id -> the thumbnail of its first image (the first part's, on the first platform that has one)."""
    wanted = sorted(set(post_ids))
    found: dict[str, str] = {}
    with store.transaction() as session:
        for chunk in range(0, len(wanted), 500):
            for post_id, payload in session.execute(
                select(Delivery.post_id, Delivery.payload)
                .where(Delivery.campaign == campaign, Delivery.part == 0)
                .where(Delivery.post_id.in_(wanted[chunk : chunk + 500]))
                .order_by(Delivery.post_id, Delivery.platform)
            ):  # fmt: skip
                if post_id in found:
                    continue
                image = _first_image(payload)
                if image is not None:
                    found[post_id] = thumbnail(*image)
    return {post_id: picture for post_id, picture in found.items() if picture}


def people_rows(store: Store, campaign: str, posts: Sequence[PostEngagement]) -> list[PostRow]:
    """What people did: one row a post (platforms folded side by side), most engagement gained first; a post
    whose gain is unknown on every platform comes after those measured."""
    by_post: dict[str, list[PostEngagement]] = defaultdict(list)
    for post in posts:
        by_post[post.post_id].append(post)
    pictures = post_pictures(store, campaign, by_post)
    rows = []
    for post_id, parts in by_post.items():
        platforms = {
            p.platform: PlatformGain(p.platform, p.growth if p.tracked and p.growth_known else None, p.total, p.url)
            for p in parts
        }
        first = min(parts, key=lambda p: (p.published_local == "", PLATFORMS.index(p.platform)
                                          if p.platform in PLATFORMS else 99))  # fmt: skip
        name = first_words(first.summary) or post_id
        rows.append(PostRow(post_id, name, first.published_local, pictures.get(post_id, ""), platforms))

    def measured(row: PostRow) -> bool:
        return any(p.gained is not None for p in row.platforms.values())

    rows.sort(key=lambda r: (not measured(r), -r.gained, -r.total, r.name.lower(), r.post_id))
    return rows


_WORST = ("failed", "missed", "not yet sent", "late", "dry run", "on time")


def _platform_state(parts: Sequence[Any], planned: datetime) -> tuple[str, Any]:
    """One platform's outcome for a post (its parts together) and the part that decides its time."""
    live = [d for d in parts if d.state != State.CANCELLED]
    if not live:
        return "cancelled", parts[0]
    states = []
    for d in live:
        if d.state == State.PUBLISHED and d.dry_run:
            states.append("dry run")
        elif d.state == State.PUBLISHED:
            late = d.published_at is not None and d.published_at - planned > ON_TIME
            states.append("late" if late and d.part == 0 else "on time")
        elif d.state in (State.FAILED, State.MISSED):
            states.append(str(d.state))
        else:
            states.append("not yet sent")
    first = min(live, key=lambda d: d.part)
    return min(states, key=_WORST.index), first


def went_out(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> list[OutRow]:
    """What went out: each post the calendar planned in [start, end), its planned time and each platform's."""
    statement = (
        select(PostRecord.post_id, PostRecord.summary, PostRecord.planned_at, Delivery)
        .join(Delivery, Delivery.post_pk == PostRecord.id)
        .where(PostRecord.campaign == campaign, PostRecord.planned_at >= start, PostRecord.planned_at < end)
        .order_by(PostRecord.planned_at, PostRecord.post_id, Delivery.platform, Delivery.part)
    )
    grouped: dict[str, tuple[str, datetime, dict[str, list[Any]]]] = {}
    with store.transaction() as session:
        for post_id, summary, planned, delivery in session.execute(statement):
            entry = grouped.setdefault(post_id, (summary or "", planned, defaultdict(list)))
            entry[2][delivery.platform].append(delivery)
        rows = []
        for post_id, (summary, planned, by_platform) in grouped.items():
            sent = {}
            for platform in sorted(by_platform, key=lambda p: PLATFORMS.index(p) if p in PLATFORMS else 99):
                state, first = _platform_state(by_platform[platform], planned)
                when = local_time(first.published_at, zone) if first.state == State.PUBLISHED else ""
                sent[platform] = SentLine(platform, state, when, first.remote_url or "")
            rows.append(OutRow(post_id, first_words(summary) or post_id, local_time(planned, zone), sent))
    return rows


def who(actor: str) -> str:
    """The person (or "the scheduler") behind an event, as the audit records them."""
    if not actor or actor.split("@", 1)[0] in ("beat", "worker", "scheduler", "sync", "system"):
        return "the scheduler"
    if "@" in actor and actor.split("@", 1)[0] in ("cli", "web", "post-now", "api"):
        return actor.split("@", 1)[1]
    return actor


_HELD = ("hold", "held", "hold-placed")


def _by_time(item: tuple[Any, tuple[datetime | None, Any, Any]]) -> tuple[bool, datetime | None]:
    when = item[1][0]
    return when is None, when


def troubles(store: Store, campaign: str, start: datetime, end: datetime, zone: str) -> list[Trouble]:
    """What went wrong: posts planned in [start, end) that failed, were missed or cancelled (who, why, when, from
    the audit's last word on each), the holds placed during it, and the scheduler's pauses and resumes."""
    found: dict[tuple[str, str, str, str], tuple[datetime | None, list[str], str]] = {}

    def add(what: str, post: str, platform: str, actor: str, why: str, at: datetime | None) -> None:
        key = (what, post, who(actor), why)
        when, platforms, _ = found.get(key, (at, [], ""))
        if platform and platform not in platforms:
            platforms.append(platform)
        found[key] = (min(when, at) if when and at else (when or at), platforms, what)

    with store.transaction() as session:
        failed = session.execute(
            select(Delivery.id, Delivery.state, Delivery.platform, Delivery.last_error, Delivery.updated_at,
                   PostRecord.summary, PostRecord.post_id)
            .join(PostRecord, PostRecord.id == Delivery.post_pk)
            .where(PostRecord.campaign == campaign, PostRecord.planned_at >= start, PostRecord.planned_at < end,
                   Delivery.state.in_([State.FAILED, State.MISSED, State.CANCELLED]))
            .order_by(Delivery.id)
        ).all()  # fmt: skip
        for row in failed:
            last = session.execute(
                select(Event.at, Event.actor, Event.reason)
                .where(Event.delivery_id == row.id, Event.to_state == row.state)
                .order_by(Event.id.desc())
                .limit(1)
            ).first()
            at, actor, reason = last if last is not None else (None, "", "")
            name = first_words(row.summary or "") or row.post_id
            add(str(row.state), name, row.platform, actor or "", reason or row.last_error or "", at)
        events = session.execute(
            select(Event.at, Event.action, Event.actor, Event.reason, Event.post_id, Event.delivery_id)
            .where(Event.at >= start, Event.at < end)
            .where(or_(Event.action.in_(("pause", "resume")),
                       (Event.campaign == campaign) & Event.action.in_(_HELD)))
            .order_by(Event.at, Event.id)
        ).all()  # fmt: skip
        names = dict(
            session.execute(
                select(PostRecord.post_id, PostRecord.summary).where(
                    PostRecord.campaign == campaign, PostRecord.post_id.in_({e.post_id for e in events if e.post_id})
                )
            ).all()
        )
        platforms = dict(
            session.execute(
                select(Delivery.id, Delivery.platform).where(
                    Delivery.id.in_({e.delivery_id for e in events if e.delivery_id})
                )
            ).all()
        )
    for event in events:
        what = {"pause": "paused", "resume": "resumed"}.get(event.action, "held")
        post = (first_words(names.get(event.post_id) or "") or event.post_id or "") if what == "held" else ""
        add(what, post, platforms.get(event.delivery_id, ""), event.actor, event.reason or "", event.at)
    lines = [
        Trouble(what, post, ", ".join(PLATFORM_NAMES.get(p, p) for p in sorted(platforms)), actor, why,
                local_time(when, zone))
        for (_, post, actor, why), (when, platforms, what) in sorted(found.items(), key=_by_time)
    ]  # fmt: skip
    return lines
