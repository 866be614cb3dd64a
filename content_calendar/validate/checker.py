"""The check of one loaded calendar: every post (its texts, images, care warnings, rendering) and repeated ids."""

from __future__ import annotations

from content_calendar.loaders import PostLines
from content_calendar.model import PlatformOverride, Post
from content_calendar.render import render_post
from content_calendar.validate.accessibility import check_accessibility
from content_calendar.validate.campaign_dates import check_campaign_dates
from content_calendar.validate.image_checks import ImageChecks
from content_calendar.validate.sheet_places import name_sheet_places
from content_calendar.validate.text_checks import TextChecks
from content_calendar.validate.video_checks import VideoChecks


class CalendarChecker(TextChecks, ImageChecks, VideoChecks):
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
        check_campaign_dates(self)
        name_sheet_places(self)  # last: names the cells of every problem found above

    def duplicate_id(self, lines: PostLines, first: int | None) -> None:
        unit = "line" if self.source == "yaml" else "row"
        where = f" (first on {unit} {first})" if first else ""
        if lines.generated_id:
            # A row without an id is known by its time and text: a second identical row is the same post again.
            other = f"row {first}" if first else "another row"
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
        self.check_video(post, lines, targets)
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
        check_accessibility(self, post, lines, rendered)
        if lines.timed:
            self.rendered[post.id] = rendered

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
                "Move it to a future time or remove it: a post later than its grace period is not sent.",
                lines.at("at"),
                post_id,
            )
