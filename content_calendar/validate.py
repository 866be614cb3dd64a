"""Check a calendar file completely: every problem in one run, each with file, post id, line, message and fix.

Problem codes (stable; `severity` in brackets):

- reading: file-not-found, file-unreadable, not-utf8, unsupported-file, yaml-syntax, yaml-merge, csv-syntax, csv-header,
  csv-row, unknown-column, missing-column, empty-file, not-a-calendar, not-a-post, missing-posts,
  wrong-type, unknown-key, duplicate-key, ignored-column [warning]
- campaign: no-campaign, unknown-campaign, campaign-missing, campaign-invalid, secret-in-file,
  unknown-timezone, invalid-anchor
- ids: missing-id, invalid-id, duplicate-id
- times: missing-time, invalid-time, relative-without-anchor, nonexistent-time, ambiguous-time,
  in-the-past [warning], offset-mismatch, us-date-order, date-order-ambiguous [warning]
- content: text-comment [warning], empty-text, bluesky-too-long, bluesky-too-many-bytes, mastodon-too-long,
  invalid-status, unknown-platform, no-platforms, invalid-language, missing-hashtag [warning],
  helpline-missing [warning], bluesky-no-content-warning [warning], empty-calendar [warning]
- platform settings: unknown-label, unknown-reply-rule, unknown-visibility
- links: link-missing-url, link-invalid-url
- images: too-many-images, missing-alt, alt-too-long, missing-image, image-missing, image-outside-campaign,
  image-unsupported, image-too-large, invalid-focus
- render-failed: a bug in rendering, reported rather than crashing the check.
"""

from __future__ import annotations

import functools
import gc
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from content_calendar.campaign import did_you_mean
from content_calendar.images import SUPPORTED_IMAGE_SUFFIXES, ImageProblem, prepare_image
from content_calendar.loaders import LoadedCalendar, PostLines, load_calendar_detailed
from content_calendar.model import (
    DEFAULT_LIMITS,
    Calendar,
    Campaign,
    Image,
    PlatformLimits,
    PlatformOverride,
    Post,
    Problem,
    RenderedPart,
)
from content_calendar.render import render_post

PLATFORM_NAMES = {"bluesky": "Bluesky", "mastodon": "Mastodon"}
# Where a post's text is written in each source format: fix texts name the file's own keys or columns.
_SHEET_TEXT = {
    "csv": "the row's `text` cell",
    "hootsuite": "the row's message (column B)",
    "sprout": "the row's `message_text` cell",
}


@dataclass
class CheckResult:
    path: Path
    calendar: Calendar | None
    campaign: Campaign | None
    problems: list[Problem]
    # post id -> platform -> parts, for every post that rendered (drafts included)
    rendered: dict[str, dict[str, list[RenderedPart]]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


@functools.lru_cache(maxsize=512)
def _image_verdict(path: str, mtime_ns: int, size: int, max_bytes: int) -> tuple[str, str, str] | None:
    """None when the image can be posted within max_bytes, else (code, message, fix). Cached per file state."""
    try:
        prepare_image(Path(path), max_bytes)
    except ImageProblem as problem:
        return problem.code, problem.message, problem.fix
    return None


@dataclass
class _ImageJob:
    image: Image
    path: Path
    max_bytes: int
    line: int | None
    post_id: str | None
    where: str


class _Checker:
    def __init__(self, loaded: LoadedCalendar, limits: PlatformLimits, now: datetime | None):
        self.loaded = loaded
        self.file = loaded.file
        self.limits = limits
        self.now = now
        self.source = loaded.calendar.source_format if loaded.calendar is not None else "yaml"
        self.problems: list[Problem] = list(loaded.problems)
        self.rendered: dict[str, dict[str, list[RenderedPart]]] = {}
        self.image_jobs: list[_ImageJob] = []
        campaign = loaded.campaign
        self.campaign_root = campaign.directory.resolve() if campaign else None
        tags = (*campaign.hashtags, *campaign.hashtag_variants) if campaign else ()
        names = sorted({tag.lstrip("#＃").lower() for tag in tags if tag.lstrip("#＃")}, key=len, reverse=True)
        self.hashtag_names = frozenset(names)
        # A hashtag as Mastodon reads it: it starts the text or follows a space or an opening bracket/quote (not
        # a URL's '/'), and ends where the word ends. Bluesky is stricter (only the start or a space, and a tag
        # runs to the next space): there the rendered tag facets are checked instead.
        self.hashtag_pattern = (
            re.compile(
                r"(?:^|(?<=[\s(\[{\"'“‘«]))[#＃](?:" + "|".join(map(re.escape, names)) + r")(?!\w)", re.IGNORECASE
            )
            if names
            else None
        )
        # Rendering needs a campaign; without one (already an error) lengths are still worth checking.
        self.render_campaign = campaign or Campaign(
            slug=loaded.calendar.campaign if loaded.calendar else "",
            name="",
            directory=Path(self.file).parent.absolute(),
            hashtags=(),
        )

    def add(self, severity: str, code: str, message: str, fix: str, line: int | None, post_id: str | None) -> None:
        self.problems.append(Problem(severity, code, self.file, message, fix, post_id=post_id, line=line))  # type: ignore[arg-type]

    # -- whole calendar ------------------------------------------------------------------------------

    def run(self) -> None:
        if self.loaded.calendar is None:
            return
        if not self.loaded.posts and not any(p.severity == "error" for p in self.problems):
            self.add(
                "warning",
                "empty-calendar",
                "The calendar has no posts.",
                "Add posts under `posts:` (or rows to the sheet); nothing will be scheduled.",
                None,
                None,
            )
        seen: dict[str, int | None] = {}
        for post, lines in self.loaded.posts:
            if lines.display_id is not None:
                if lines.display_id in seen:
                    first = seen[lines.display_id]
                    self.duplicate_id(lines, first)
                else:
                    seen[lines.display_id] = lines.at("id")
            self.check_post(post, lines)
        self.check_images()

    def duplicate_id(self, lines: PostLines, first: int | None) -> None:
        where = f" (first on line {first})" if first else ""
        if lines.generated_id:
            # A row without an id is known by its time and text: a second identical row is the same post again.
            other = f"the row on line {first}" if first else "another row"
            self.add(
                "error",
                "duplicate-id",
                f"This row has the same date, time and text as {other}, so it is the same post twice (rows "
                f"without an id are known by their time and text: `{lines.display_id}`).",
                "Delete the repeated row (or change its time or text if it is meant to be a second post).",
                lines.at("id"),
                lines.display_id,
            )
            return
        if self.source == "yaml":
            fix = (
                "Give each post its own id: the id is how a post is found again when the file changes, so never "
                "reuse one."
            )
        else:
            fix = (
                "Give each row its own id in the `id` column (or delete the row if it is a repeat): the id is how "
                "a post is found again when the sheet changes, so never reuse one."
            )
        self.add(
            "error",
            "duplicate-id",
            f"The id `{lines.display_id}` is used twice{where}.",
            fix,
            lines.at("id"),
            lines.display_id,
        )

    # -- one post ------------------------------------------------------------------------------------

    def check_post(self, post: Post, lines: PostLines) -> None:
        post_id = lines.display_id
        targets = post.targets()
        self.check_texts(post, lines, targets)
        self.check_image_list(post.images, lines.images, lines.at("images"), post_id, targets, "The post")
        for number, (part, part_lines) in enumerate(zip(post.thread, lines.thread, strict=False), start=1):
            if not part.images:
                continue
            self.check_image_list(
                part.images,
                part_lines.images,
                part_lines.keys.get("images", part_lines.line),
                post_id,
                targets,
                f"Thread reply {number}",
            )
        if post.link is not None and post.link.thumbnail is not None and "bluesky" in targets:
            self.queue_image(
                post.link.thumbnail,
                self.limits.bluesky_thumbnail_bytes,
                lines.at("link"),
                post_id,
                "The link's thumbnail",
            )
        self.check_care(post, lines, targets)
        try:
            rendered = render_post(post, self.render_campaign, self.limits)
        except Exception as error:  # a bug in rendering must not hide the other problems
            self.add(
                "error",
                "render-failed",
                f"The post could not be rendered ({error!r}).",
                "Report this as a bug, with the post.",
                lines.line,
                post_id,
            )
            return
        self.check_lengths(post, lines, rendered)
        self.check_hashtags(post, lines, rendered)
        if lines.timed:
            self.rendered[post.id] = rendered

    def check_texts(self, post: Post, lines: PostLines, targets: tuple[str, ...]) -> None:
        post_id = lines.display_id
        overrides = post.overrides
        if not post.thread and post.text.strip() and all(o.text is None for o in overrides.values()):
            return  # the common case: the post's own text is used everywhere
        empty_on = [p for p in targets if not _effective_text(post.text, overrides[p].text if p in overrides else None)]
        if empty_on and len(empty_on) == len(targets) and not post.text.strip():
            fix = "Write the post under `text:` (a `|` block keeps line breaks)."
            if self.source != "yaml":
                fix = f"Write the post in {_SHEET_TEXT[self.source]}, or delete the row."
            self.add("error", "empty-text", "The post has no text.", fix, lines.at("text"), post_id)
        else:
            for platform in empty_on:
                name = PLATFORM_NAMES[platform]
                if self.source == "yaml":
                    fix = (
                        f"Write the text under `{platform}: {{text: ...}}`, remove that empty override, or "
                        f"skip {name} with `{platform}: {{skip: true}}`."
                    )
                else:  # only our sheet has per-platform texts: an empty `text` beside a filled `bluesky_text`
                    fix = (
                        f"Fill in the row's `text` cell (or `{platform}_text`), or leave {platform} out of its "
                        "`platforms` cell."
                    )
                self.add(
                    "error", "empty-text", f"The {name} text of the post is empty.", fix, lines.at(platform), post_id
                )
        for number, (part, part_lines) in enumerate(zip(post.thread, lines.thread, strict=False), start=1):
            part_targets = [p for p in targets if not (part.overrides.get(p) and part.overrides[p].skip)]
            empty = [
                p
                for p in part_targets
                if not _effective_text(part.text, part.overrides[p].text if p in part.overrides else None)
            ]
            if empty:
                names = " and ".join(PLATFORM_NAMES[p] for p in empty)
                self.add(
                    "error",
                    "empty-text",
                    f"Thread reply {number} has no text (on {names}).",
                    "Write the reply under `text:` or remove it.",
                    part_lines.keys.get("text", part_lines.line),
                    post_id,
                )

    def check_care(self, post: Post, lines: PostLines, targets: tuple[str, ...]) -> None:
        post_id = lines.display_id
        if targets == ("bluesky",):
            override = post.overrides.get("bluesky") or PlatformOverride()
            warning = override.content_warning if override.content_warning is not None else post.content_warning
            if warning and not override.labels:
                self.add(
                    "warning",
                    "bluesky-no-content-warning",
                    "Bluesky has no content warnings: this post goes to Bluesky only, so its warning will just "
                    f'be a first line "CW: {warning}"{" (on the post and on each reply)" if post.thread else ""} '
                    "and nothing will hide the post.",
                    "If the content must be hidden, add a self-label (bluesky: {labels: [graphic-media]}); "
                    "otherwise this is fine as it is."
                    if self.source == "yaml"
                    else "If the content must be hidden it needs a Bluesky self-label, which only a YAML calendar "
                    "can set (bluesky: {labels: [graphic-media]}); otherwise this is fine as it is.",
                    lines.at("content_warning"),
                    post_id,
                )
        if "bluesky" in targets and post.images and post.link is not None:
            self.add(
                "warning",
                "bluesky-card-and-images",
                "A Bluesky post carries either images or a link card, not both: the images will be posted and "
                "the link card left out (the link stays in the text only if the text has it).",
                "Put the link in the text, or move the images to a thread reply, or keep it as it is."
                if self.source == "yaml"
                else "Put the link in the `text` cell, or clear the `image` or the `link` cell, or keep it as it is.",
                lines.at("link"),
                post_id,
            )
        if post.helpline and self.loaded.campaign is not None and not self.loaded.campaign.helpline.strip():
            self.add(
                "warning",
                "helpline-missing",
                "`helpline: true`, but campaign.yaml has no `helpline`.",
                'Add `helpline: "..."` to campaign.yaml, or drop `helpline: true`.',
                lines.at("helpline"),
                post_id,
            )
        if self.now is not None and lines.timed and post.status == "approved" and post.at < self.now:
            local_now = self.now.astimezone(post.at.tzinfo)
            self.add(
                "warning",
                "in-the-past",
                f"The post is due {post.at:%Y-%m-%d %H:%M}, before now ({local_now:%Y-%m-%d %H:%M}).",
                "Move it to a future time or remove it: a post more than its misfire grace late is not sent.",
                lines.at("at"),
                post_id,
            )

    def check_hashtags(self, post: Post, lines: PostLines, rendered: dict[str, list[RenderedPart]]) -> None:
        """Each platform's rendered thread must carry a campaign hashtag as that platform reads hashtags: on
        Bluesky a tag facet (what search, feeds and our own collector see), on Mastodon a #tag in the text."""
        campaign = self.loaded.campaign
        pattern = self.hashtag_pattern
        if post.status != "approved" or pattern is None or campaign is None or not rendered:
            return
        missing: list[str] = []
        not_a_tag: tuple[RenderedPart, re.Match[str]] | None = None
        for platform, parts in rendered.items():
            if platform == "bluesky":
                if any(f.kind == "tag" and f.value.lower() in self.hashtag_names for p in parts for f in p.facets):
                    continue
                for part in parts:
                    written = pattern.search(part.text) if ("#" in part.text or "＃" in part.text) else None
                    if written is not None:
                        not_a_tag = (part, written)
                        break
            elif any(pattern.search(part.text) for part in parts if "#" in part.text or "＃" in part.text):
                continue
            missing.append(platform)
        if not missing:
            return
        texts = [post.text, *(o.text or "" for o in post.overrides.values())]
        for reply in post.thread:
            texts.append(reply.text)
            texts.extend(o.text or "" for o in reply.overrides.values())
        if not any(text.strip() for text in texts):
            return  # empty-text says so
        post_id = lines.display_id
        main = campaign.hashtags[0]
        tags = ", ".join(campaign.hashtags)
        why = "so the post is part of the campaign (and counted in its reports)"
        if not_a_tag is not None:
            part, written = not_a_tag
            self.add(
                "warning",
                "missing-hashtag",
                _not_a_tag_message(part, written, main, "mastodon" in rendered),
                f"Put the hashtag after a space or a line break, and a space (or the end of the text) after it, "
                f'e.g. end the post with " {main}", {why} on Bluesky too.',
                lines.at("bluesky") if _has_own_text(post, "bluesky") else lines.at("text"),
                post_id,
            )
        elif len(missing) == len(rendered):
            self.add(
                "warning",
                "missing-hashtag",
                f"The post has none of the campaign's hashtags ({tags}).",
                f"Add {main} {why}.",
                lines.at("text"),
                post_id,
            )
        else:
            for platform in missing:
                name = PLATFORM_NAMES.get(platform, platform)
                place = f"`{platform}: {{text: ...}}`" if self.source == "yaml" else f"the `{platform}_text` cell"
                self.add(
                    "warning",
                    "missing-hashtag",
                    f"On {name} the post has none of the campaign's hashtags ({tags}): its own {name} text "
                    "leaves them out.",
                    f"Add {main} to {place} {why}.",
                    lines.at(platform),
                    post_id,
                )

    def check_lengths(self, post: Post, lines: PostLines, rendered: dict[str, list[RenderedPart]]) -> None:
        max_bytes = self.limits.bluesky_bytes
        for platform, parts in rendered.items():
            for part in parts:
                # Fast bound: a UTF-8 character is at most 4 bytes, so short texts cannot be over the byte limit.
                too_many_bytes = (
                    platform == "bluesky"
                    and len(part.text) * 4 > max_bytes
                    and len(part.text.encode("utf-8")) > max_bytes
                )
                if part.length > part.limit or too_many_bytes:
                    self.report_length(post, lines, platform, part, too_many_bytes)

    def report_length(
        self, post: Post, lines: PostLines, platform: str, part: RenderedPart, too_many_bytes: bool
    ) -> None:
        post_id = lines.display_id
        name = PLATFORM_NAMES.get(platform, platform)
        if part.part == 0:
            override = post.overrides.get(platform)
            where = "The text"
            own_text = override is not None and override.text is not None
            line = lines.at(platform) if own_text else lines.at("text")
            if self.source == "yaml":
                shorten = (
                    f"Shorten it, or give {name} its own shorter text under `{platform}: {{text: ...}}`, "
                    "or move some of it into a thread reply."
                )
            elif self.source == "csv":
                shorten = (
                    f"Shorten the row's `{platform}_text` cell."
                    if own_text
                    else f"Shorten the row's `text` cell, or give {name} its own shorter text in a "
                    f"`{platform}_text` column."
                )
            else:
                shorten = f"Shorten {_SHEET_TEXT[self.source]}."
        else:
            # Thread replies skipped on this platform are not rendered: map part numbers back to replies.
            replies = [
                (number, part_lines)
                for number, (reply, part_lines) in enumerate(zip(post.thread, lines.thread, strict=False), start=1)
                if not (platform in reply.overrides and reply.overrides[platform].skip)
            ]
            number, part_lines = replies[part.part - 1] if part.part - 1 < len(replies) else (part.part, None)
            where = f"Thread reply {number}"
            line = part_lines.line if part_lines is not None else lines.line
            shorten = "Shorten the reply or split it into two replies."
        if part.length > part.limit:
            unit = "graphemes" if platform == "bluesky" else "characters"
            self.add(
                "error",
                f"{platform}-too-long",
                f"{where} is {part.length} {unit} on {name}: {part.length - part.limit} over the limit "
                f"of {part.limit}{_length_note(post, platform, part)}.",
                f"{shorten} (Cut at least {part.length - part.limit}.)",
                line,
                post_id,
            )
        if too_many_bytes:
            size = len(part.text.encode("utf-8"))
            self.add(
                "error",
                "bluesky-too-many-bytes",
                f"{where} is {size} bytes on Bluesky: {size - self.limits.bluesky_bytes} over its limit of "
                f"{self.limits.bluesky_bytes} bytes (emoji and accented letters take several bytes each).",
                shorten,
                line,
                post_id,
            )

    # -- images --------------------------------------------------------------------------------------

    def check_image_list(
        self,
        images: Sequence[Image],
        image_lines: Sequence[int | None],
        list_line: int | None,
        post_id: str | None,
        targets: tuple[str, ...],
        owner: str,
    ) -> None:
        if not images:
            return
        maximum = self.limits.max_images
        if "mastodon" in targets:
            maximum = min(maximum, self.limits.mastodon_attachments)
        if len(images) > maximum:
            self.add(
                "error",
                "too-many-images",
                f"{owner} has {len(images)} images; at most {maximum} can be posted.",
                f"Keep {maximum} and move the rest into a thread reply.",
                list_line,
                post_id,
            )
        byte_limits = []
        if "bluesky" in targets:
            byte_limits.append(self.limits.bluesky_blob_bytes)
        if "mastodon" in targets:
            byte_limits.append(self.limits.mastodon_image_bytes)
        max_bytes = min(byte_limits) if byte_limits else self.limits.bluesky_blob_bytes
        for position, image in enumerate(images):
            line = image_lines[position] if position < len(image_lines) else list_line
            label = f"Image {image.file}"
            if not image.alt.strip():
                place = '`alt: "..."`' if self.source == "yaml" else "the row's `image_alt` cell"
                self.add(
                    "error",
                    "missing-alt",
                    f"{label} has no alt text.",
                    f"Describe the image for people who cannot see it in {place} (what it shows, and any text in it).",
                    line,
                    post_id,
                )
            elif "mastodon" in targets and len(image.alt) > self.limits.mastodon_alt_characters:
                over = len(image.alt) - self.limits.mastodon_alt_characters
                self.add(
                    "error",
                    "alt-too-long",
                    f"{label}: the alt text is {len(image.alt)} characters, {over} over Mastodon's limit of "
                    f"{self.limits.mastodon_alt_characters}.",
                    f"Shorten the alt text{'' if self.source == 'yaml' else ' (`image_alt`)'} by at least "
                    f"{over} characters; put long transcripts in the post"
                    f"{' or a thread reply' if self.source == 'yaml' else ' text'}.",
                    line,
                    post_id,
                )
            self.queue_image(image, max_bytes, line, post_id, label)

    def queue_image(self, image: Image, max_bytes: int, line: int | None, post_id: str | None, label: str) -> None:
        """Check where the file is now; queue the expensive decode/re-encode check for later (in parallel)."""
        if self.campaign_root is None:
            return  # no campaign folder to resolve against: already reported
        raw = image.file
        fix_place = "Put the file in the campaign's media/ folder and write its path from there, e.g. media/photo.jpg."
        if os.path.isabs(raw) or raw.startswith("~"):
            self.add(
                "error",
                "image-outside-campaign",
                f"{label}: absolute paths are not allowed; images must be inside the campaign folder.",
                fix_place,
                line,
                post_id,
            )
            return
        lexical = Path(os.path.normpath(self.campaign_root / raw))
        resolved = image.path
        if not lexical.is_relative_to(self.campaign_root):
            self.add(
                "error",
                "image-outside-campaign",
                f"{label}: the path leads outside the campaign folder.",
                fix_place,
                line,
                post_id,
            )
            return
        if not resolved.is_relative_to(self.campaign_root):
            self.add(
                "error",
                "image-outside-campaign",
                f"{label}: is a symbolic link to a file outside the campaign folder.",
                "Copy the file itself into the campaign's media/ folder instead of linking to it.",
                line,
                post_id,
            )
            return
        if not resolved.is_file():
            hint = ""
            if lexical.parent.is_dir() and not resolved.is_dir():
                hint = did_you_mean(lexical.name, [child.name for child in lexical.parent.iterdir()])
            what = "is a folder, not a file" if resolved.is_dir() else "does not exist"
            self.add(
                "error",
                "image-missing",
                f"{label} {what} (looked for {lexical}).{hint}",
                "Check the file name (it is case-sensitive) and that it is in the campaign folder.",
                line,
                post_id,
            )
            return
        if resolved.suffix.lower() not in SUPPORTED_IMAGE_SUFFIXES:
            self.add(
                "error",
                "image-unsupported",
                f"{label}: {resolved.suffix or 'files without a suffix'} cannot be posted.",
                "Convert it to JPEG or PNG (or WebP/GIF).",
                line,
                post_id,
            )
            return
        self.image_jobs.append(_ImageJob(image, resolved, max_bytes, line, post_id, label))

    def check_images(self) -> None:
        if not self.image_jobs:
            return

        def verdict(job: _ImageJob) -> tuple[str, str, str] | None:
            try:
                info = job.path.stat()
            except OSError:
                return "image-missing", f"{job.path.name}: the file cannot be read.", "Check the file."
            return _image_verdict(str(job.path), info.st_mtime_ns, info.st_size, job.max_bytes)

        # Pillow releases the GIL while decoding and encoding: distinct files are checked in parallel.
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            verdicts = list(pool.map(verdict, self.image_jobs))
        for job, result in zip(self.image_jobs, verdicts, strict=True):
            if result is not None:
                code, message, fix = result
                # prepare_image's messages start with the file name; the label already names the file.
                message = message.removeprefix(f"{job.path.name}: ")
                self.add("error", code, f"{job.where}: {message}", fix, job.line, job.post_id)


def _has_own_text(post: Post, platform: str) -> bool:
    override = post.overrides.get(platform)
    return override is not None and override.text is not None


def _not_a_tag_message(part: RenderedPart, written: re.Match[str], main: str, on_mastodon: bool) -> str:
    """Why a campaign hashtag written in a Bluesky text is not a tag there (the official client's rules)."""
    text = part.text
    where = "The post" if part.part == 0 else f"Thread reply {part.part}"
    start = written.start()
    shown = written.group()
    if start and not text[start - 1].isspace():
        before = text[start - 1]
        mastodon = " (Mastodon does read it as a tag)" if on_mastodon else ""
        return (
            f"{where} has `{before}{shown}`, which is not a hashtag on Bluesky: Bluesky only starts a hashtag "
            f'at the start of the text or after a space or a line break, not after "{before}", so the post '
            f"goes out there without the campaign's tag{mastodon}."
        )
    byte_start = len(text[:start].encode("utf-8"))
    facet = next((f for f in part.facets if f.byte_start == byte_start and f.kind == "tag"), None)
    if facet is not None:
        return (
            f"{where} has `{text[start:].split(maxsplit=1)[0]}`, which Bluesky reads as the tag "
            f"#{facet.value}, not {main}: a Bluesky tag runs to the next space (only punctuation at its end "
            "is dropped), so the post goes out there without the campaign's tag."
        )
    return (
        f"{where} has `{shown}`, which is not a hashtag on Bluesky (it is part of a link or a mention there), "
        "so the post goes out there without the campaign's tag."
    )


def _effective_text(text: str, override: str | None) -> str:
    return (override if override is not None else text).strip()


def _length_note(post: Post, platform: str, part: RenderedPart) -> str:
    notes = []
    if part.part == 0 and post.helpline:
        notes.append("the helpline")
    if platform == "bluesky" and part.text.startswith("CW: "):
        notes.append('the "CW:" line')
    if platform == "mastodon" and part.spoiler_text:
        notes.append("the content warning")
    if platform == "mastodon" and part.part == 0 and post.link is not None:
        notes.append("the link (23)")
    return f" (counting {' and '.join(notes)})" if notes else ""


def cross_file_problems(results: Sequence[CheckResult]) -> list[Problem]:
    """Problems only visible across files: the same post id in two calendars of one campaign.

    Ids identify posts within a campaign (updates and idempotency hang on them), so two files of a campaign
    must not share one. Within one file, check_calendar already reports duplicates. Files are told apart by
    their resolved path: one file checked under two spellings (relative and absolute, or through a symbolic
    link) is one file, not two that share every id.
    """
    first_seen: dict[tuple[str, str], tuple[str, Path, int | None]] = {}
    checked: set[Path] = set()
    problems: list[Problem] = []
    for result in results:
        if result.calendar is None:
            continue
        real = result.path.resolve()
        if real in checked:
            continue
        checked.add(real)
        slug = result.campaign.slug if result.campaign is not None else result.calendar.campaign
        file = str(result.path)
        seen_here: set[str] = set()
        for post in result.calendar.posts:
            if post.id in seen_here:
                continue
            seen_here.add(post.id)
            key = (slug, post.id)
            if key not in first_seen:
                first_seen[key] = (file, real, post.line)
                continue
            other_file, other_real, other_line = first_seen[key]
            if other_real == real:
                continue
            where = f"{other_file}:{other_line}" if other_line else other_file
            problems.append(
                Problem(
                    "error",
                    "duplicate-id",
                    file,
                    f"The id `{post.id}` is also used in {where}, another calendar of the campaign {slug}.",
                    "Give each post of a campaign its own id, across all its calendar files.",
                    post_id=post.id,
                    line=post.line,
                )
            )
    return problems


_gc_pause_lock = threading.Lock()
_gc_pause_depth = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Loading allocates hundreds of thousands of small objects without cycles (YAML nodes, posts, parts):
    the cyclic collector's repeated passes over them cost more than the parse itself, and refcounting frees
    them anyway. Paused while any check runs (counted, so concurrent checks in threads cannot leave it off),
    then restored as it was."""
    global _gc_pause_depth, _gc_was_enabled
    with _gc_pause_lock:
        if _gc_pause_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pause_depth += 1
    try:
        yield
    finally:
        with _gc_pause_lock:
            _gc_pause_depth -= 1
            if _gc_pause_depth == 0 and _gc_was_enabled:
                gc.enable()


def check_calendar(
    path: Path | str,
    *,
    now: datetime | None = None,
    limits: PlatformLimits = DEFAULT_LIMITS,
    campaigns_roots: Sequence[Path] = (),
) -> CheckResult:
    """Load and check a calendar file; every problem is reported in one run.

    `now` (timezone-aware) enables the warnings about posts in the past; None leaves them out.
    """
    with _cyclic_gc_paused():
        loaded = load_calendar_detailed(path, campaigns_roots=campaigns_roots, today=now.date() if now else None)
        checker = _Checker(loaded, limits, now)
        checker.run()
    calendar_file = loaded.file
    problems = sorted(checker.problems, key=lambda p: (p.file == calendar_file, p.line or 0))
    return CheckResult(Path(path), loaded.calendar, loaded.campaign, problems, checker.rendered)
