"""One post as each platform will show it, from the parts we will send (the stored rendered parts, exactly what
the renderer made): Bluesky's text with its facets, content warning line, images and their alt text, link card,
thread and reply and quote settings; Mastodon's folded content warning, its character count and media
descriptions. Under them, the post's history: every attempt, when, how it ended and why, and who acted."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from content_calendar.images import SUPPORTED_IMAGE_SUFFIXES
from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS, RenderedImage, RenderedPart
from content_calendar.render import file_sha256
from scheduler.db import Store
from scheduler.dispatch.operator_actions import first_words
from scheduler.display import link_notes
from scheduler.errors import NotFound
from scheduler.models import Delivery, Event, PostRecord, State
from scheduler.status import part_state
from scheduler.views.calendar import AWAITING, STATES, awaiting_approval, part_reasons
from scheduler.views.clock_changes import ClockChange, clock_change_near
from scheduler.views.text import (
    VISIBILITY_WORDS,
    Segment,
    bluesky_segments,
    hidden_characters,
    host_of,
    mastodon_segments,
    web_address,
    who_may_quote,
    who_may_reply,
)


@dataclass(frozen=True)
class ImageView:
    sha256: str  # names the image in its address: only images a part of this post sends are served
    alt: str
    name: str  # the file's name, for a person to find it
    available: bool  # the file is still there, unchanged since the post was scheduled


@dataclass(frozen=True)
class CardView:
    url: str
    href: str | None
    host: str
    title: str
    description: str
    thumbnail: ImageView | None


@dataclass(frozen=True)
class PartView:
    platform: str
    part: int  # 0 = the post, 1.. = its replies
    state: str  # in words
    due_at: datetime
    rendered: RenderedPart
    segments: tuple[Segment, ...]
    images: tuple[ImageView, ...]
    card: CardView | None = None
    published_at: datetime | None = None
    url: str | None = None  # the published post, http(s) only
    reason: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class PlatformPreview:
    platform: str
    state: str
    parts: tuple[PartView, ...]
    notes: tuple[str, ...]  # who may reply and quote, visibility, labels, language: in words

    @property
    def root(self) -> RenderedPart:
        return self.parts[0].rendered


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    what: str  # in words
    platform: str | None
    part: int | None
    to_state: str | None
    reason: str
    actor: str


@dataclass(frozen=True)
class PostPage:
    campaign: str
    post_id: str
    source: str  # the calendar file
    timezone: str
    planned_at: datetime
    at: datetime  # when it goes (or went) out: its first part's time
    status: str  # as the file says: approved, draft, or removed from the file
    state: str  # in words, the most pressing of its platforms'
    summary: str
    platforms: tuple[PlatformPreview, ...]
    history: tuple[HistoryEntry, ...]
    clock_change: ClockChange | None
    hidden_characters: tuple[str, ...]
    campaign_name: str = ""  # from campaign.yaml, when its folder can be read
    accounts: Mapping[str, str] = field(default_factory=dict)  # platform -> the handle it posts as

    @property
    def first_words(self) -> str:
        """How a person names the post: its first words (its id is for files and commands)."""
        return first_words(self.summary, 60)


# An event's action as a person reads it.
_ACTIONS = {
    "schedule": "Scheduled",
    "update": "Changed in the calendar",
    "claim": "Picked up to be posted",
    "publish": "Attempt began",
    "published": "Published",
    "retry-later": "Attempt failed: it will be tried again",
    "failed": "Failed",
    "misfire": "Missed",
    "cancel": "Cancelled",
    "cancel-requested": "Cancel asked for while posting",
    "retry": "Retry asked for",
    "post-now": "Post now asked for",
    "restore": "Restored",
    "hold": "Held back",
    "resume-choice": "Posting resumed: what to do with it chosen",
    "release": "Hold released: what to do with it chosen",
    "held": "Held back",
    "lease-expired": "Its worker stopped: tried again",
    "duplicate": "A second copy was found",
    "stale-attempt": "An earlier attempt ended late",
}


def _images(images: tuple[RenderedImage, ...]) -> tuple[ImageView, ...]:
    return tuple(
        ImageView(image.sha256, image.alt, Path(image.path).name, file_sha256(Path(image.path)) == image.sha256)
        for image in images
    )


def _part_view(delivery: Delivery, rendered: RenderedPart, reason: str | None) -> PartView:
    if rendered.platform == "bluesky":
        segments = bluesky_segments(rendered.text, rendered.facets)
    else:
        segments = mastodon_segments(rendered.text)
    card = None
    if rendered.link_card is not None:
        link = rendered.link_card
        thumbnail = _images((link.thumbnail,))[0] if link.thumbnail is not None else None
        card = CardView(link.url, web_address(link.url), host_of(link.url), link.title, link.description, thumbnail)
    published = delivery.state == State.PUBLISHED
    return PartView(
        platform=delivery.platform,
        part=delivery.part,
        state=part_state(delivery.state, delivery.attempts),
        due_at=delivery.due_at,
        rendered=rendered,
        segments=segments,
        images=_images(rendered.images),
        card=card,
        published_at=delivery.published_at,
        url=web_address(delivery.remote_url or "") if published else None,
        reason=reason,
        attempts=delivery.attempts,
    )


# A language tag as people say it: the languages of UK and Irish charities' audiences first.
LANGUAGE_NAMES = {
    "en": "English", "cy": "Welsh", "ga": "Irish", "gd": "Scottish Gaelic", "kw": "Cornish", "gv": "Manx",
    "sco": "Scots", "bsl": "British Sign Language", "pl": "Polish", "ro": "Romanian", "pa": "Punjabi",
    "ur": "Urdu", "bn": "Bengali", "gu": "Gujarati", "ar": "Arabic", "so": "Somali", "pt": "Portuguese",
    "es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "lt": "Lithuanian", "tr": "Turkish",
    "zh": "Chinese", "uk": "Ukrainian", "ru": "Russian", "fa": "Persian", "ta": "Tamil",
}  # fmt: skip


def language_name(tag: str) -> str:
    """A language tag in words: en is English, en-GB is English (en-GB); a tag not known here is as it is."""
    name = LANGUAGE_NAMES.get(tag.split("-", 1)[0].lower())
    if name is None:
        return tag
    return name if "-" not in tag else f"{name} ({tag})"


def _notes(root: RenderedPart) -> tuple[str, ...]:
    notes = []
    if root.platform == "bluesky":
        notes.append(who_may_reply(root.reply_rules))
        notes.append(who_may_quote(root.allow_quotes, "bluesky"))
        if root.labels:
            notes.append("Content labels: " + ", ".join(root.labels) + ".")
        if root.langs:
            notes.append("Language: " + ", ".join(language_name(lang) for lang in root.langs) + ".")
    else:
        notes.append(f"Visible to: {VISIBILITY_WORDS.get(root.visibility, root.visibility)}.")
        notes.append(who_may_quote(root.allow_quotes, "mastodon"))
        if root.language:
            notes.append(f"Language: {language_name(root.language)}.")
    return tuple(notes)


def _previews(deliveries: list[Delivery], reasons: dict[int, str]) -> tuple[PlatformPreview, ...]:
    by_platform: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        by_platform[delivery.platform].append(delivery)
    previews = []
    for name in sorted(by_platform, key=lambda p: (PLATFORMS.index(p) if p in PLATFORMS else len(PLATFORMS), p)):
        parts = sorted(by_platform[name], key=lambda d: d.part)
        # What will be sent: the parts still in the post. A post cancelled as a whole shows what it was.
        live = [d for d in parts if d.state != State.CANCELLED] or parts
        views = tuple(_part_view(d, RenderedPart.from_json(json.loads(d.payload)), reasons.get(d.id)) for d in live)
        state = min((v.state for v in views), key=lambda w: STATES.index(w) if w in STATES else len(STATES))
        notes = (*_notes(views[0].rendered), *link_notes(name, [v.rendered for v in views]))
        previews.append(PlatformPreview(name, state, views, notes))
    return tuple(previews)


def _history(session: Session, record: PostRecord, deliveries: list[Delivery]) -> tuple[HistoryEntry, ...]:
    where = {d.id: (d.platform, d.part) for d in deliveries}
    events = list(session.scalars(select(Event).where(Event.delivery_id.in_(list(where))))) if where else []
    # Events about the post as a whole (no single part): few, and found through the same index (no part).
    events += session.scalars(
        select(Event).where(
            Event.delivery_id.is_(None), Event.campaign == record.campaign, Event.post_id == record.post_id
        )
    ).all()
    entries = []
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        platform, part = where.get(event.delivery_id, (None, None)) if event.delivery_id else (None, None)
        entries.append(HistoryEntry(event.at, _ACTIONS.get(event.action, event.action.replace("-", " ").capitalize()),
                                    platform, part, event.to_state, event.reason, event.actor))  # fmt: skip
    return tuple(entries)


def _awaiting(preview: PlatformPreview) -> PlatformPreview:
    parts = tuple(replace(part, state=AWAITING) if part.state == "scheduled" else part for part in preview.parts)
    return replace(preview, state=AWAITING if preview.state == "scheduled" else preview.state, parts=parts)


def post_page(store: Store, campaign: str, post_id: str) -> PostPage:
    with store.transaction() as session:
        record = session.scalars(
            select(PostRecord).where(PostRecord.campaign == campaign, PostRecord.post_id == post_id)
        ).first()
        if record is None:
            raise NotFound(
                f"There is no post {post_id} in the campaign {campaign}: check its calendar, or schedule it."
            )
        deliveries = list(session.scalars(select(Delivery).where(Delivery.post_pk == record.id)))
        reasons = part_reasons(session, ((d.id, d.state, d.attempts, d.last_error) for d in deliveries))
        previews = _previews(deliveries, reasons)
        history = _history(session, record, deliveries)
        waiting = record.id in awaiting_approval(session, [record.id])
    if waiting:  # nothing of it goes out until approved: no platform or part is simply "scheduled"
        previews = tuple(_awaiting(preview) for preview in previews)
    words = [p.state for p in previews]
    if record.status == "draft" and "published" not in words:
        state = "draft"
    elif not words:
        state = "cancelled"
    else:
        state = min(words, key=lambda w: STATES.index(w) if w in STATES else len(STATES))
        state = AWAITING if waiting and state == "scheduled" else state
    zone = record.timezone or DEFAULT_TIMEZONE
    texts = [record.summary, *(v.rendered.text for p in previews for v in p.parts)]
    texts += [v.rendered.spoiler_text for p in previews for v in p.parts]
    texts += [i.alt for p in previews for v in p.parts for i in v.images]
    at = min((v.due_at for p in previews for v in p.parts), default=record.planned_at)
    return PostPage(
        campaign=record.campaign,
        post_id=record.post_id,
        source=record.source,
        timezone=zone,
        planned_at=record.planned_at,
        at=at,
        status=record.status,
        state=state,
        summary=record.summary,
        platforms=previews,
        history=history,
        clock_change=clock_change_near(at, zone),
        hidden_characters=hidden_characters(*texts),
    )


@dataclass(frozen=True)
class PostImage:
    data: bytes
    media_type: str


def post_image(store: Store, campaign: str, post_id: str, sha256: str) -> PostImage:
    """An image one of the post's parts sends (or its link card's thumbnail), by the hash of its bytes: nothing
    else is served, and a file changed since it was scheduled is not shown as if it were what goes out."""
    missing = NotFound(f"Post {post_id} of {campaign} sends no such image.")
    with store.transaction() as session:
        payloads = session.scalars(
            select(Delivery.payload)
            .join(PostRecord, PostRecord.id == Delivery.post_pk)
            .where(PostRecord.campaign == campaign, PostRecord.post_id == post_id)
        ).all()
    for payload in payloads:
        rendered = RenderedPart.from_json(json.loads(payload))
        card = rendered.link_card
        images = [*rendered.images, *([card.thumbnail] if card is not None and card.thumbnail is not None else [])]
        for image in images:
            if image.sha256 == sha256 and sha256:
                return _read(Path(image.path), sha256)
    raise missing


def _read(path: Path, sha256: str) -> PostImage:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_IMAGE_SUFFIXES or not path.is_file():
        raise NotFound(f"The image {path.name} is no longer in the campaign folder: put it back, or schedule again.")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise NotFound(f"The image {path.name} has changed since the post was scheduled: schedule it again.")
    return PostImage(data, mimetypes.types_map.get(suffix, "application/octet-stream"))
