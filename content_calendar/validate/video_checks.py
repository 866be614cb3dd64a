"""Checks of a post's video: not with images, alt text, captions (or why none), where the files are, and whether
each platform it goes to takes it (container, codec, length, size, pixels, frame rate: probed from the file's
headers, cached per file state, against the documented limits in PlatformLimits; the live instance's figures are
checked again when posting)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from content_calendar.loaders import PostLines
from content_calendar.model import PLATFORM_NAMES, Post, Video
from content_calendar.validate.context import CheckContext
from content_calendar.video import (
    SUPPORTED_VIDEO_SUFFIXES,
    VideoFacts,
    VideoProblem,
    check_captions,
    probe_video,
    video_problems,
)

_FIX_PLACE = "Put the file in the campaign's media/ folder and write its path from there, e.g. media/film.mp4."


@functools.lru_cache(maxsize=256)
def _probe(path: str, mtime_ns: int, size: int) -> VideoFacts | VideoProblem:
    try:
        return probe_video(Path(path))
    except VideoProblem as problem:
        return problem


class VideoChecks(CheckContext):
    def check_video(self, post: Post, lines: PostLines, targets: tuple[str, ...]) -> None:
        video = post.video
        if video is None:
            return
        post_id = lines.display_id
        line = lines.at("video")
        label = f"Video {video.file}"
        if post.images:
            self.add(
                "error",
                "video-and-images",
                f"The post has {len(post.images)} image(s) and a video; a post carries images or one video, not both.",
                "Keep the video and move the images to a thread reply, or drop the video.",
                line,
                post_id,
            )
        if not video.alt:
            place = '`alt: "..."` under `video:`' if self.source == "yaml" else "the row's `video_alt` cell"
            self.add(
                "error",
                "missing-alt",
                f"{label} has no alt text.",
                f"Describe the video for people who cannot see it in {place} (what happens, who is in it, any "
                "text shown).",
                line,
                post_id,
            )
        elif "mastodon" in targets and len(video.alt) > self.limits.mastodon_alt_characters:
            over = len(video.alt) - self.limits.mastodon_alt_characters
            self.add(
                "error",
                "alt-too-long",
                f"{label}: the alt text is {len(video.alt)} characters, {over} over Mastodon's limit of "
                f"{self.limits.mastodon_alt_characters} ({self.limits.mastodon_from()}).",
                f"Shorten the alt text by at least {over} characters; put a transcript in the captions.",
                line,
                post_id,
            )
        self.check_captions_of(video, targets, line, post_id, label)
        if self.located(video.file, video.path, label, line, post_id):
            self.check_video_file(video, targets, line, post_id, label)

    def check_captions_of(
        self, video: Video, targets: tuple[str, ...], line: int | None, post_id: str | None, label: str
    ) -> None:
        if not video.captions and not video.no_captions:
            yaml = self.source == "yaml"
            self.add(
                "error",
                "video-no-captions",
                f"{label} has no captions: people who are deaf or watch without sound miss what is said.",
                "Add a WebVTT file (`captions: media/<name>.vtt` under `video:`), or say why none is needed, e.g. "
                '`no_captions: "Music only, no speech."`.'
                if yaml
                else "Put a WebVTT file in the row's `captions` cell (e.g. media/film.vtt), or say why none is "
                "needed in its `no_captions` cell (e.g. Music only, no speech).",
                line,
                post_id,
            )
        limits = self.limits.bluesky_video
        if "bluesky" in targets and len(video.captions) > limits.max_captions:
            self.add(
                "error",
                "too-many-captions",
                f"{label} has {len(video.captions)} caption files; Bluesky takes at most {limits.max_captions}.",
                f"Keep {limits.max_captions} languages.",
                line,
                post_id,
            )
        max_bytes = limits.max_caption_bytes if "bluesky" in targets else None
        for captions in video.captions:
            where = f"Captions {captions.file}"
            if not self.located(captions.file, captions.path, where, line, post_id):
                continue
            try:
                check_captions(captions.path, max_bytes)
            except VideoProblem as problem:
                message = problem.message.removeprefix(f"{captions.path.name}: ")
                self.add("error", problem.code, f"{where}: {message}", problem.fix, line, post_id)

    def check_video_file(
        self, video: Video, targets: tuple[str, ...], line: int | None, post_id: str | None, label: str
    ) -> None:
        if video.path.suffix.lower() not in SUPPORTED_VIDEO_SUFFIXES:
            self.add(
                "error",
                "video-wrong-format",
                f"{label}: {video.path.suffix or 'a file without a suffix'} is not a video file that can be posted.",
                "Export it as an MP4 file with H.264 video (.mp4).",
                line,
                post_id,
            )
            return
        info = video.path.stat()
        found = _probe(str(video.path), info.st_mtime_ns, info.st_size)
        if isinstance(found, VideoProblem):
            message = found.message.removeprefix(f"{video.path.name}: ")
            self.add("error", found.code, f"{label}: {message}", found.fix, line, post_id)
            return
        seen: set[tuple[str, str]] = set()
        for platform in targets:
            limits = self.limits.bluesky_video if platform == "bluesky" else self.limits.mastodon_video
            source = self.limits.mastodon_from() if platform == "mastodon" else ""
            for problem in video_problems(found, limits, PLATFORM_NAMES.get(platform, platform), source):
                if (problem.code, problem.message) not in seen:
                    seen.add((problem.code, problem.message))
                    self.add("error", problem.code, f"{label} {problem.message}", problem.fix, line, post_id)

    def located(self, raw: str, resolved: Path, label: str, line: int | None, post_id: str | None) -> bool:
        """Whether the file is a file inside the campaign folder; says what is wrong when it is not."""
        campaign = self.loaded.campaign
        if campaign is None:
            return False  # no campaign folder to resolve against: already reported
        root = campaign.directory.resolve()
        lexical = Path(os.path.normpath(root / raw))
        if os.path.isabs(raw) or raw.startswith("~") or not lexical.is_relative_to(root):
            message = f"{label}: the path leads outside the campaign folder."
        elif not resolved.is_relative_to(root):
            message = f"{label}: is a symbolic link to a file outside the campaign folder."
        elif not resolved.is_file():
            what = "is a folder, not a file" if resolved.is_dir() else "does not exist"
            code = "captions-missing" if label.startswith("Captions") else "video-missing"
            self.add(
                "error",
                code,
                f"{label} {what} (looked for {lexical}).",
                "Check the file name (it is case-sensitive) and that it is in the campaign folder.",
                line,
                post_id,
            )
            return False
        else:
            return True
        self.add("error", "media-outside-campaign", message, _FIX_PLACE, line, post_id)
        return False
