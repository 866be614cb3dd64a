"""The words of the calendar domain, as plain immutable types.

A `Calendar` is what a file says; a `RenderedPart` is exactly what one platform will receive for one part
(the post itself, or one reply of its thread). Nothing here touches the network, a database or the clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from content_calendar.care import DEFAULT_ACCESSIBILITY, AccessibilityRule, TopicProtection

PLATFORMS: tuple[str, ...] = ("bluesky", "mastodon")
PLATFORM_NAMES: Mapping[str, str] = {"bluesky": "Bluesky", "mastodon": "Mastodon"}  # as people read them
DEFAULT_TIMEZONE = "Europe/London"  # the zone of a campaign.yaml that names none
BLUESKY_SELF_LABELS: frozenset[str] = frozenset({"sexual", "nudity", "porn", "graphic-media"})
MASTODON_VISIBILITIES: frozenset[str] = frozenset({"public", "unlisted", "private", "direct"})
# Who may reply on Bluesky (threadgate rules): "mentioned", "following", "followers"; an empty tuple means nobody.
BLUESKY_REPLY_RULES: frozenset[str] = frozenset({"mentioned", "following", "followers"})

PostStatus = Literal["approved", "draft"]
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Image:
    file: str  # as written in the calendar, relative to the campaign folder
    path: Path  # resolved absolute path (may not exist: validation says so)
    alt: str
    focus: tuple[float, float] | None = None  # Mastodon focal point, -1.0..1.0
    text: str = ""  # the words on a card of text (`image_text:`), which its alt text must give; never sent


@dataclass(frozen=True)
class Captions:
    """A WebVTT caption file of a video, in one language."""

    file: str  # as written in the calendar, relative to the campaign folder
    path: Path  # resolved absolute path (may not exist: validation says so)
    lang: str  # BCP 47, e.g. "en", "cy"


@dataclass(frozen=True)
class Video:
    """A post's one video (instead of images): alt text, caption files, or why it has none."""

    file: str
    path: Path
    alt: str
    captions: tuple[Captions, ...] = ()
    no_captions: str = ""  # why the video needs no captions (e.g. "music only, no speech"); "" = not said


@dataclass(frozen=True)
class Link:
    url: str
    title: str = ""
    description: str = ""
    thumbnail: Image | None = None  # optional card thumbnail (Bluesky); alt text unused by the card


@dataclass(frozen=True)
class PlatformOverride:
    """A post's per-platform settings (`bluesky: {...}` / `mastodon: {...}` in YAML)."""

    skip: bool = False
    text: str | None = None
    content_warning: str | None = None  # "" switches the warning off for this platform
    visibility: str | None = None  # Mastodon only
    labels: tuple[str, ...] | None = None  # Bluesky self-labels only
    reply_rules: tuple[str, ...] | None = None  # Bluesky threadgate; () = nobody may reply
    allow_quotes: bool | None = None  # Bluesky postgate / Mastodon quote policy


NO_OVERRIDE = PlatformOverride()


@dataclass(frozen=True)
class ThreadPart:
    text: str
    images: tuple[Image, ...] = ()
    overrides: Mapping[str, PlatformOverride] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class Post:
    id: str
    at: datetime  # timezone-aware, in the calendar's zone
    text: str
    platforms: tuple[str, ...]
    status: PostStatus = "approved"
    content_warning: str | None = None
    language: str | None = None
    link: Link | None = None
    images: tuple[Image, ...] = ()
    thread: tuple[ThreadPart, ...] = ()
    overrides: Mapping[str, PlatformOverride] = field(default_factory=dict)
    video: Video | None = None  # one video, on the post itself (not its replies); a post has images or a video
    helpline: bool = False  # append the campaign's helpline line to the text
    line: int | None = None  # line of the post in its file, where the loader knows it
    # What the post is about, for safeguarding holds (`campaign hold --topic`): lower-case names, as the calendar's
    # `topics:` (and its defaults') write them. Nothing a platform receives.
    topics: tuple[str, ...] = ()
    # What the campaign's topic protections added (`apply`), in plain words, for previews. Nothing sent as such.
    protected: tuple[str, ...] = ()
    # Support lines a topic's protection adds (its own helpline, e.g. "Samaritans 116 123"), sent after the text as
    # the campaign's helpline line is (and with it, as the thread's last reply when the post is full).
    support_lines: tuple[str, ...] = ()

    def override(self, platform: str) -> PlatformOverride:
        return self.overrides.get(platform, NO_OVERRIDE)

    def targets(self) -> tuple[str, ...]:
        """The platforms this post goes to, after per-platform `skip`."""
        return tuple(p for p in self.platforms if not self.override(p).skip)


@dataclass(frozen=True)
class CampaignDates:
    """The days a campaign runs, both included (campaign.yaml `dates: {from: ..., to: ...}`), as local dates."""

    first: date
    last: date

    def __contains__(self, day: date) -> bool:
        return self.first <= day <= self.last

    def describe(self) -> str:
        """In words: "1 to 7 February 2027", "28 January to 3 February 2027", "1 February 2027"."""
        last = f"{self.last.day} {self.last:%B %Y}"
        if self.first == self.last:
            return last
        if (self.first.year, self.first.month) == (self.last.year, self.last.month):
            return f"{self.first.day} to {last}"
        if self.first.year == self.last.year:
            return f"{self.first.day} {self.first:%B} to {last}"
        return f"{self.first.day} {self.first:%B %Y} to {last}"


@dataclass(frozen=True)
class ApprovalRule:
    """campaign.yaml `approval: required`: a post goes out only once `approvers` people (other than whoever
    scheduled its current version, unless `allow_self_approval`) have approved exactly that version."""

    required: bool = False
    approvers: int = 1
    allow_self_approval: bool = False

    def describe(self) -> str:
        """In words: "1 approval by someone other than its author"."""
        count = "1 approval" if self.approvers == 1 else f"{self.approvers} approvals"
        return count + (
            " (its author may give one)" if self.allow_self_approval else " by someone other than its author"
        )


NO_APPROVAL = ApprovalRule()


@dataclass(frozen=True)
class Campaign:
    """A campaign folder's campaign.yaml: everything but secrets."""

    slug: str
    name: str
    directory: Path
    hashtags: tuple[str, ...]  # with '#', first is the main one
    hashtag_variants: tuple[str, ...] = ()  # other spellings that count as mentions (matched case-insensitively)
    timezone: str = DEFAULT_TIMEZONE
    accounts: Mapping[str, str] = field(default_factory=dict)  # platform -> handle / acct (no secrets)
    organisation_accounts: tuple[str, ...] = ()  # handles that reports may name
    # campaign.yaml `reports: {keep_handles: true}`: collection (beat included) keeps third parties' handles,
    # never their text, so `report weekly --include-handles` can name them. Off by default (privacy).
    keep_handles: bool = False
    mastodon_instances: tuple[str, ...] = ()  # base URLs whose hashtag timelines are watched
    helpline: str = ""
    misfire_grace: timedelta = timedelta(minutes=30)
    reply_rules: tuple[str, ...] | None = None  # Bluesky threadgate default for the campaign
    allow_quotes: bool = True
    mastodon_visibility: str = "public"
    language: str = "en"
    dates: CampaignDates | None = None  # the campaign's window: a post outside it is warned about
    approval: ApprovalRule = NO_APPROVAL  # a second pair of eyes before anything goes out
    accessibility: AccessibilityRule = DEFAULT_ACCESSIBILITY  # how strict the accessibility checks are
    protections: tuple[TopicProtection, ...] = ()  # what posts on sensitive topics must carry


@dataclass(frozen=True)
class Calendar:
    path: Path
    campaign: str  # campaign slug
    timezone: str
    posts: tuple[Post, ...]
    anchor: date | None = None
    source_format: Literal["yaml", "csv", "hootsuite", "sprout"] = "yaml"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    code: str  # stable machine-readable name, e.g. "duplicate-id", "bluesky-too-long"
    file: str
    message: str  # what is wrong
    fix: str  # what to do about it
    post_id: str | None = None
    line: int | None = None
    # In a spreadsheet, where a person finds it: "row 4, column C (time)" (`line` is then the row number).
    place: str | None = None
    # A library's own words for it (the YAML reader's), for `--debug`: messages are in plain words.
    detail: str | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        if self.place:
            return f"{self.file}, {self.place}"
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def format(self) -> str:
        who = f" post {self.post_id}:" if self.post_id else ""
        return f"{self.where}:{who} {self.severity}: {self.message} Fix: {self.fix}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["detail"]  # not part of the documented shape (docs/json.md)
        if self.place is None:
            del data["place"]
        return data


class CalendarError(Exception):
    """Raised where a calendar cannot be used at all; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.format() for p in problems))


@dataclass(frozen=True)
class VideoLimits:
    """What one platform takes as a video. None: no limit of that kind."""

    containers: tuple[str, ...]  # "mp4", "mov", "webm"
    codecs: tuple[str, ...] | None  # of the video stream ("h264"); None: the platform re-encodes anything
    max_bytes: int
    max_seconds: float | None = None
    max_pixels: int | None = None  # width x height
    max_frame_rate: float | None = None
    max_captions: int = 0  # caption files sent; 0: the platform takes none
    max_caption_bytes: int | None = None


# Bluesky: app.bsky.embed.video (atproto lexicons, commit b2de0ee1 of August 2026) takes one video/mp4 blob of at most
# 300,000,000 bytes and up to 20 text/vtt captions of at most 20,000 bytes each; the length limit of 3 minutes is
# Bluesky's announcement of March 2025 (no lexicon states it). Its video service re-encodes, but a video sent as a
# blob on the PDS is played as it is, so H.264 is asked for.
BLUESKY_VIDEO = VideoLimits(("mp4",), ("h264",), 300_000_000, 180.0, max_captions=20, max_caption_bytes=20_000)
# Mastodon: the defaults of /api/v2/instance configuration.media_attachments (video_size_limit 99 MiB,
# video_matrix_limit 8,294,400 = 4096x2160, video_frame_rate_limit 120); it re-encodes with ffmpeg, has no
# length limit and no caption files. The instance's own figures are used when posting.
MASTODON_VIDEO = VideoLimits(("mp4", "mov", "webm"), None, 99 * 1024 * 1024, None, 8_294_400, 120.0)


@dataclass(frozen=True)
class PlatformLimits:
    bluesky_graphemes: int = 300
    bluesky_bytes: int = 3000
    bluesky_blob_bytes: int = 2_000_000
    bluesky_thumbnail_bytes: int = 999_999  # a link card thumbnail must be under 1,000,000 bytes
    mastodon_characters: int = 500
    mastodon_url_weight: int = 23
    mastodon_attachments: int = 4
    # Mastodon's media description (alt text) limit when our instance has not said its own; the core passes the
    # figure its /api/v2/instance gives (configuration.media_attachments.description_limit), see
    # scheduler/instance_facts.py. 1,500 is MediaAttachment::MAX_DESCRIPTION_LENGTH as Mastodon 4 long shipped
    # it and the figure its API documentation shows; newer releases advertise 10,000 (4.7.3, as recorded in
    # Mastodon.py's test cassettes, and mastodon.social). The smaller is the default: what it accepts, any
    # Mastodon 4 instance accepts.
    mastodon_alt_characters: int = 1500
    mastodon_image_bytes: int = 16 * 1024 * 1024
    max_images: int = 4
    bluesky_video: VideoLimits = BLUESKY_VIDEO
    mastodon_video: VideoLimits = MASTODON_VIDEO
    # Where the Mastodon figures above come from, as messages name it after a limit: "" for the defaults here;
    # the core says which instance gave them and when (scheduler/instance_facts.py), or that they are defaults.
    mastodon_source: str = ""
    mastodon_characters_source: str = ""  # when the character limit was given apart (it wins over the instance's)

    def mastodon_from(self, *, characters: bool = False) -> str:
        """Where a Mastodon limit came from, as a message says it in brackets after the figure."""
        if characters and self.mastodon_characters_source:
            return self.mastodon_characters_source
        return self.mastodon_source or "Mastodon's default"


DEFAULT_LIMITS = PlatformLimits()


# --- what a platform receives ------------------------------------------------------------------------


@dataclass(frozen=True)
class Facet:
    """A Bluesky rich-text facet: UTF-8 byte range of the text and what it means."""

    byte_start: int
    byte_end: int
    kind: Literal["link", "tag", "mention"]
    value: str  # link: the URI; tag: the tag without '#'; mention: the handle without '@' (DID resolved later)


@dataclass(frozen=True)
class RenderedImage:
    path: str  # absolute path of the source file
    alt: str
    sha256: str  # of the source file's bytes, so a changed image changes the delivery
    focus: tuple[float, float] | None = None


@dataclass(frozen=True)
class RenderedCaptions:
    path: str
    lang: str
    sha256: str


@dataclass(frozen=True)
class RenderedVideo:
    path: str  # absolute path of the source file
    alt: str
    sha256: str  # of the file's bytes, so a changed video changes what is sent
    captions: tuple[RenderedCaptions, ...] = ()  # sent to Bluesky; Mastodon takes no caption file


@dataclass(frozen=True)
class LinkCard:
    url: str
    title: str
    description: str
    thumbnail: RenderedImage | None = None


@dataclass(frozen=True)
class RenderedPart:
    """Exactly what one platform receives for one part of one post (part 0 = the post, 1.. = replies)."""

    campaign: str
    post_id: str
    platform: str
    part: int
    at: datetime  # planned instant, timezone-aware
    text: str
    length: int  # as the platform counts it
    limit: int
    images: tuple[RenderedImage, ...] = ()
    video: RenderedVideo | None = None  # left out of to_json when None, so parts without one hash as before
    # Bluesky
    facets: tuple[Facet, ...] = ()
    langs: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    link_card: LinkCard | None = None
    reply_rules: tuple[str, ...] | None = None  # threadgate on the root only; None = no gate
    allow_quotes: bool = True
    # Mastodon
    spoiler_text: str = ""
    visibility: str = "public"
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        if data["video"] is None:
            del data["video"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RenderedPart:
        values = dict(data)
        values["at"] = datetime.fromisoformat(values["at"])

        def image(d: Mapping[str, Any] | None) -> RenderedImage | None:
            if d is None:
                return None
            focus = d.get("focus")
            return RenderedImage(d["path"], d["alt"], d["sha256"], tuple(focus) if focus else None)

        values["images"] = tuple(image(i) for i in values.get("images", ()))
        video = values.get("video")
        if video is not None:
            captions = tuple(RenderedCaptions(c["path"], c["lang"], c["sha256"]) for c in video.get("captions", ()))
            values["video"] = RenderedVideo(video["path"], video["alt"], video["sha256"], captions)
        values["facets"] = tuple(Facet(**f) for f in values.get("facets", ()))
        for key in ("langs", "labels"):
            values[key] = tuple(values.get(key, ()))
        if values.get("reply_rules") is not None:
            values["reply_rules"] = tuple(values["reply_rules"])
        card = values.get("link_card")
        if card is not None:
            values["link_card"] = LinkCard(
                card["url"], card["title"], card["description"], image(card.get("thumbnail"))
            )
        return cls(**values)

    def content_hash(self) -> str:
        """Changes whenever anything the platform would receive changes (image bytes included)."""
        canonical = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def written_alike(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether two renderings of a part (RenderedPart.to_json) say the same: words, images, alt text, settings and
    planned time. What is worked out from them (lengths, facets), where the images are on disk and a field that
    only one of them has (from another version of this tool) do not count."""

    def written(data: Mapping[str, Any]) -> dict[str, Any]:
        data = json.loads(json.dumps(data))  # tuples as lists, as a stored payload has them
        kept = {key: value for key, value in data.items() if key not in ("length", "limit", "facets")}
        kept["at"] = datetime.fromisoformat(data["at"]) if "at" in data else None
        kept["images"] = [_unplaced(image) for image in data.get("images") or ()]
        if kept.get("video"):
            video = kept["video"]
            kept["video"] = {
                **(_unplaced(video) or {}),
                "captions": [_unplaced(c) for c in video.get("captions") or ()],
            }
        if kept.get("link_card"):
            kept["link_card"] = {**kept["link_card"], "thumbnail": _unplaced(kept["link_card"].get("thumbnail"))}
        return kept

    first, second = written(before), written(after)
    return all(first[key] == second[key] for key in first.keys() & second.keys())


def _unplaced(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if image is None else {key: value for key, value in image.items() if key != "path"}
