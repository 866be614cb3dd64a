"""Checks of what a post says: empty texts, lengths as each platform counts them, the campaign's hashtags."""

from __future__ import annotations

import re
from datetime import datetime

from content_calendar.loaders import LoadedCalendar, PostLines
from content_calendar.model import PLATFORM_NAMES, PlatformLimits, Post, RenderedPart
from content_calendar.validate.context import CheckContext

# Where a post's text is written in each source format: fix texts name the file's own keys or columns.
_SHEET_TEXT = {
    "csv": "the row's `text` cell",
    "hootsuite": "the row's message (column B)",
    "sprout": "the row's `message_text` cell",
}


class TextChecks(CheckContext):
    def __init__(self, loaded: LoadedCalendar, limits: PlatformLimits, now: datetime | None):
        super().__init__(loaded, limits, now)
        campaign = loaded.campaign
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
            unit = "characters (as Bluesky counts them)" if platform == "bluesky" else "characters"
            self.add(
                "error",
                f"{platform}-too-long",
                f"{where} is {part.length} {unit} on {name}: {part.length - part.limit} over the limit "
                f"of {part.limit}{_length_note(post, platform, part, self.limits)}.",
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


def _length_note(post: Post, platform: str, part: RenderedPart, limits: PlatformLimits) -> str:
    """Where Mastodon's limit came from, and what the count includes."""
    source = f" ({limits.mastodon_from(characters=True)})" if platform == "mastodon" else ""
    notes = []
    if part.part == 0 and post.helpline:
        notes.append("the helpline")
    if platform == "bluesky" and part.text.startswith("CW: "):
        notes.append('the "CW:" line')
    if platform == "mastodon" and part.spoiler_text:
        notes.append("the content warning")
    if platform == "mastodon" and part.part == 0 and post.link is not None:
        notes.append(f"the link ({limits.mastodon_url_weight})")
    counting = f"counting {' and '.join(notes)}" if notes else ""
    if not source:
        return f" ({counting})" if counting else ""
    return source + (f", {counting}" if counting else "")
