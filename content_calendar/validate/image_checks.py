"""Checks of a post's images: how many, alt text, where the file is, and whether it can be posted (decoded
and, if need be, re-encoded under each platform's size limit, files in parallel)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from content_calendar.images import SUPPORTED_IMAGE_SUFFIXES, ImageProblem, prepare_image
from content_calendar.loaders import LoadedCalendar
from content_calendar.model import Image, PlatformLimits
from content_calendar.validate.context import CheckContext
from content_calendar.yaml_source import did_you_mean


@functools.lru_cache(maxsize=512)
def _image_verdict(path: str, mtime_ns: int, size: int, max_bytes: int) -> tuple[str, str, str] | None:
    """None when the image can be posted within max_bytes, else (code, message, fix). Cached per file state."""
    try:
        prepare_image(Path(path), max_bytes)
    except ImageProblem as problem:
        return problem.code, problem.message, problem.fix
    return None


@dataclass
class ImageJob:
    image: Image
    path: Path
    max_bytes: int
    line: int | None
    post_id: str | None
    where: str


class ImageChecks(CheckContext):
    def __init__(self, loaded: LoadedCalendar, limits: PlatformLimits, now: datetime | None):
        super().__init__(loaded, limits, now)
        campaign = loaded.campaign
        self.campaign_root = campaign.directory.resolve() if campaign else None
        self.image_jobs: list[ImageJob] = []

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
        # Bluesky takes max_images; Mastodon as many attachments as the instance says (the smaller binds).
        bluesky = self.limits.max_images if "bluesky" in targets or "mastodon" not in targets else None
        mastodon = self.limits.mastodon_attachments if "mastodon" in targets else None
        maximum = min(n for n in (bluesky, mastodon) if n is not None)
        if len(images) > maximum:
            by_mastodon = bluesky is None or (mastodon is not None and mastodon < bluesky)
            source = f" on Mastodon ({self.limits.mastodon_from()})" if by_mastodon else ""
            self.add(
                "error",
                "too-many-images",
                f"{owner} has {len(images)} images; at most {maximum} can be posted{source}.",
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
                    f"{self.limits.mastodon_alt_characters} ({self.limits.mastodon_from()}).",
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
        self.image_jobs.append(ImageJob(image, resolved, max_bytes, line, post_id, label))

    def check_images(self) -> None:
        if not self.image_jobs:
            return

        def verdict(job: ImageJob) -> tuple[str, str, str] | None:
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
