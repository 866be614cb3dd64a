"""Check a calendar file completely: every problem in one run, each with file, post id, line, message and fix.

Problem codes (stable; `severity` in brackets):

- reading: file-not-found, file-unreadable, not-utf8, unsupported-file, yaml-syntax, yaml-merge, csv-syntax, csv-header,
  csv-row, unknown-column, missing-column, empty-file, not-a-calendar, not-a-post, missing-posts,
  wrong-type, unknown-key, duplicate-key, ignored-column [warning], ignored-sheet [warning]
- campaign: no-campaign, unknown-campaign, campaign-missing, campaign-invalid, secret-in-file,
  unknown-timezone, invalid-anchor
- ids: missing-id, invalid-id, duplicate-id
- times: missing-time, invalid-time, relative-without-anchor, nonexistent-time, ambiguous-time,
  in-the-past [warning], offset-mismatch, us-date-order, date-order-ambiguous [warning],
  outside-campaign-dates [warning]
- content: text-comment [warning], empty-text, bluesky-too-long, bluesky-too-many-bytes, mastodon-too-long,
  invalid-status, unknown-platform, no-platforms, invalid-language, missing-hashtag [warning],
  helpline-missing [warning], bluesky-no-content-warning [warning], empty-calendar [warning]
- input safety: control-character (also when a YAML file cannot be read for one), secret-in-text
- platform settings: unknown-label, unknown-reply-rule, unknown-visibility
- links: link-missing-url, link-invalid-url
- images: too-many-images, missing-alt, alt-too-long, missing-image, image-missing, image-outside-campaign,
  image-unsupported, image-too-large, invalid-focus
- video: video-and-images, video-missing, video-wrong-format, video-unsupported, video-too-large, video-too-long,
  video-too-many-pixels, video-frame-rate, video-no-captions, captions-missing, captions-not-webvtt,
  captions-too-large, too-many-captions, media-outside-campaign (and missing-alt, alt-too-long)
- render-failed: a bug in rendering, reported rather than crashing the check.
- accessibility and safe messaging (validate/accessibility.py): alt-file-name, alt-placeholder, alt-image-of,
  alt-too-short, alt-repeats-text, alt-missing-card-text, hashtag-one-case, too-many-emoji, emoji-starts-line
  [warnings], protection-missing
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from content_calendar.loaders import load_calendar_detailed
from content_calendar.model import (
    DEFAULT_LIMITS,
    PLATFORM_NAMES,
    Calendar,
    Campaign,
    PlatformLimits,
    Problem,
    RenderedPart,
)
from content_calendar.validate.accessibility import protect_loaded
from content_calendar.validate.checker import CalendarChecker
from content_calendar.validate.safety import check_input_safety, cleaned

__all__ = ["PLATFORM_NAMES", "CheckResult", "check_calendar", "cross_file_problems"]


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
            sheet = result.calendar.source_format != "yaml"
            if key not in first_seen:
                where = f"{file}, row {post.line}" if sheet else f"{file}:{post.line}"
                first_seen[key] = (where if post.line else file, real, post.line)
                continue
            other_where, other_real, _ = first_seen[key]
            if other_real == real:
                continue
            problems.append(
                Problem(
                    "error",
                    "duplicate-id",
                    file,
                    f"The id `{post.id}` is also used in {other_where}, another calendar of the campaign {slug}.",
                    "Give each post of a campaign its own id, across all its calendar files (to move a post from "
                    "one file to another, delete it from the file it leaves).",
                    post_id=post.id,
                    line=post.line,
                    place=f"row {post.line}" if sheet and post.line else None,
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
    secrets: Sequence[str] = (),
) -> CheckResult:
    """Load and check a calendar file; every problem is reported in one run.

    `now` (timezone-aware) enables the warnings about posts in the past; None leaves them out. `secrets` are
    the passwords and tokens the caller signs in with: a calendar containing one is refused, and no message
    repeats it. A post with a control character or a secret is left out of `rendered` (so nothing shows it).
    """
    with _cyclic_gc_paused():
        loaded = load_calendar_detailed(path, campaigns_roots=campaigns_roots, today=now.date() if now else None)
        loaded = protect_loaded(loaded)  # the campaign's topic protections (`apply`) added before any check
        checker = CalendarChecker(loaded, limits, now)
        checker.run()
        safety = check_input_safety(loaded, checker.rendered, secrets)
    calendar_file = loaded.file
    problems = sorted(
        cleaned([*checker.problems, *safety.problems], safety.masks),
        key=lambda p: (p.file == calendar_file, p.line or 0),
    )
    rendered = {key: parts for key, parts in checker.rendered.items() if key not in safety.unsafe_posts}
    return CheckResult(Path(path), loaded.calendar, loaded.campaign, problems, rendered)
