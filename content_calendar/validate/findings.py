"""A calendar check as a comms lead fixes it: every finding grouped by post, with a count per kind
(`campaign calendar check --accessibility` and the web workspace's validation page)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from content_calendar.model import Problem
from content_calendar.validate.accessibility import ACCESSIBILITY_CODES

# Each kind of finding in a few plain words (kinds not listed are shown by their code).
KIND_NAMES: dict[str, str] = {
    "alt-file-name": "alt text that is a file name",
    "alt-placeholder": 'alt text that only says "image"',
    "alt-image-of": 'alt text starting "image of"',
    "alt-too-short": "alt text too short to describe",
    "alt-repeats-text": "alt text repeating the post",
    "alt-missing-card-text": "alt text leaving out a card's words",
    "hashtag-one-case": "hashtags in one case",
    "too-many-emoji": "too many emoji",
    "emoji-starts-line": "emoji in place of words",
    "protection-missing": "posts on a topic missing what it needs",
    "missing-alt": "images without alt text",
    "alt-too-long": "alt text too long",
    "helpline-missing": "helpline asked for, none set",
    "bluesky-no-content-warning": "content warnings Bluesky cannot hide",
    "video-no-captions": "videos without captions",
    "captions-missing": "caption files missing",
    "captions-not-webvtt": "caption files not WebVTT",
}


@dataclass
class PostFindings:
    file: str
    post_id: str | None  # None: about the file, not one post
    problems: list[Problem] = field(default_factory=list)


@dataclass
class FindingsReport:
    posts: list[PostFindings]
    kinds: list[tuple[str, str, int]]  # (code, plain name, count), most first

    @property
    def total(self) -> int:
        return sum(len(p.problems) for p in self.posts)

    @property
    def errors(self) -> int:
        return sum(1 for p in self.posts for problem in p.problems if problem.severity == "error")


def findings_report(problems: Iterable[Problem], *, accessibility: bool = False) -> FindingsReport:
    """The problems (only accessibility and safe-messaging ones when `accessibility`) grouped by file and post, in
    the order found."""
    groups: dict[tuple[str, str | None], PostFindings] = {}
    counts: Counter[str] = Counter()
    for problem in problems:
        if accessibility and problem.code not in ACCESSIBILITY_CODES:
            continue
        key = (problem.file, problem.post_id)
        group = groups.get(key)
        if group is None:
            group = groups[key] = PostFindings(problem.file, problem.post_id)
        group.problems.append(problem)
        counts[problem.code] += 1
    kinds = [(code, KIND_NAMES.get(code, code), count) for code, count in counts.most_common()]
    return FindingsReport(list(groups.values()), kinds)
