"""The YAML calendar: the document's top level (campaign, timezone, anchor), `defaults:` and each post."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content_calendar.campaign import is_valid_slug, slugify
from content_calendar.loaders.base import NO_TIME, POST_KEYS, LoadedCalendar, PostLines
from content_calendar.loaders.times import TimeError, parse_date
from content_calendar.loaders.yaml_video import YamlVideoReader
from content_calendar.model import PLATFORMS, Image, PlatformOverride, Post, ThreadPart
from content_calendar.yaml_source import NULL_TAG, node_line

CALENDAR_KEYS = ("campaign", "timezone", "anchor", "defaults", "posts", "version")
DEFAULT_KEYS = ("platforms", "status", "content_warning", "language", "helpline", "bluesky", "mastodon", "topics")


@dataclass
class _Defaults:
    platforms: tuple[str, ...] = PLATFORMS
    status: str | None = None
    content_warning: str | None = None
    language: str | None = None
    helpline: bool = False
    topics: tuple[str, ...] = ()  # every post carries these, with its own
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the same as PlatformOverride objects, shared by every post that does not override the platform
    platform_overrides: dict[str, PlatformOverride] = field(default_factory=dict)


class YamlReader(YamlVideoReader):
    """A YAML calendar file, read from its composed document."""

    def read(self) -> LoadedCalendar:
        root = self.doc.root
        if root is None:
            self.error("empty-file", "The file is empty.", "Write `campaign:`, `timezone:` and a list of `posts:`.", 1)
            return LoadedCalendar(self.file, None, None, self.problems)
        if not isinstance(root, MappingNode):
            self.error(
                "not-a-calendar",
                "The file is YAML but not a calendar: the top level must be a mapping "
                "with `campaign`, `timezone` and `posts`.",
                "See the calendar file format (v1).",
                node_line(root),
            )
            return LoadedCalendar(self.file, None, None, self.problems)
        top = self.entries(root, "the calendar", CALENDAR_KEYS)

        slug: str | None = None
        slug_line = top["campaign"][0] if "campaign" in top else None
        if "campaign" in top:
            slug = self.text(top["campaign"][1], "campaign", None)
        self.find_campaign(slug.strip() if slug else None, slug_line or 1)
        if not slug and self.campaign is not None:
            slug = self.campaign.slug

        tz_name = None
        tz_line = None
        if "timezone" in top:
            tz_line, tz_node = top["timezone"]
            tz_name = (self.text(tz_node, "timezone", None) or "").strip() or None
        self.set_zone(tz_name, tz_line)

        if "anchor" in top:
            line, node = top["anchor"]
            value = self.doc.value(node) if isinstance(node, ScalarNode) else None
            if isinstance(value, datetime):
                value = value.date()
            if isinstance(value, str):
                try:
                    value = parse_date(value, self.today)
                except TimeError as error:
                    self.error("invalid-anchor", f"Cannot read the anchor: {error}", error.fix, line)
                    value = None
            if isinstance(value, date):
                self.anchor = value
            elif value is not None or not isinstance(node, ScalarNode):
                self.error(
                    "invalid-anchor",
                    "`anchor` must be a date such as 2027-02-01.",
                    "Write `anchor: 2027-02-01` (the date of day 1).",
                    line,
                )

        defaults = self.read_defaults(top["defaults"][1]) if "defaults" in top else _Defaults()

        if "posts" not in top:
            self.error(
                "missing-posts", "The calendar has no `posts:` list.", "Add `posts:` with one entry per post.", 1
            )
        else:
            line, posts_node = top["posts"]
            if isinstance(posts_node, SequenceNode):
                for item in posts_node.value:
                    self.read_post(item, defaults)
            elif not (isinstance(posts_node, ScalarNode) and posts_node.tag == NULL_TAG):
                self.error(
                    "wrong-type",
                    "`posts` must be a list (each post starts with `- id: ...`).",
                    "Indent the posts under `posts:` and start each with '- '.",
                    line,
                )
        for merge_line, what in self.doc.merge_errors:
            self.error(
                "yaml-merge",
                f"A `<<:` merge cannot be applied: {what}.",
                "Merge only mappings: `<<: *anchor` where the anchor names a mapping.",
                merge_line,
            )
        return self.finish("yaml", slug or "")

    def read_defaults(self, node: Node) -> _Defaults:
        defaults = _Defaults()
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                "`defaults` must be a mapping of key: value.",
                "Write e.g. `defaults: {platforms: [bluesky, mastodon]}`.",
                node_line(node),
            )
            return defaults
        entries = self.entries(node, "defaults", DEFAULT_KEYS)
        if "platforms" in entries:
            line, value = entries["platforms"]
            names = self.string_list(value, "platforms", None)
            if names is not None:
                defaults.platforms = self.platforms(names, line, None)
        if "status" in entries:
            line, value = entries["status"]
            raw = self.text(value, "status", None)
            defaults.status = self.status(raw, line, None) if raw else None
        if "content_warning" in entries:
            raw = self.text(entries["content_warning"][1], "content_warning", None)
            defaults.content_warning = raw.strip() if raw and raw.strip() else None
        if "language" in entries:
            line, value = entries["language"]
            defaults.language = self.language((self.text(value, "language", None) or "").strip(), line, None)
        if "helpline" in entries:
            defaults.helpline = bool(self.flag(entries["helpline"][1], "helpline", None))
        if "topics" in entries:
            line, value = entries["topics"]
            names = self.string_list(value, "topics", None)
            defaults.topics = self.topics(names, line, None) if names is not None else ()
        for platform in PLATFORMS:
            if platform in entries:
                line, value = entries[platform]
                defaults.overrides[platform] = self.read_override(platform, value, line, None, top_level=True)
                defaults.platform_overrides[platform] = PlatformOverride(**defaults.overrides[platform])
        return defaults

    def read_post(self, node: Node, defaults: _Defaults) -> None:
        line = node.start_mark.line + 1
        if node.__class__ is not MappingNode:
            self.error(
                "not-a-post",
                "This item of `posts` is not a post (a mapping starting `- id: ...`).",
                "Write each post as `- id: ...` followed by `at:`, `text:` and so on, indented.",
                line,
            )
            return
        # The id first, so that every other problem of this post can name it.
        raw_id: str | None = None
        for key_node, value_node in self.doc.pairs(node):
            if key_node.__class__ is ScalarNode and key_node.value == "id":
                if value_node.__class__ is ScalarNode:
                    raw_id = None if value_node.tag == NULL_TAG else value_node.value.strip() or None
                else:
                    self.text(value_node, "id", None)
        entries = self.entries(node, "a post", POST_KEYS, raw_id)
        nodes = {key: entry[1] for key, entry in entries.items()}
        key_lines = {key: entry[0] for key, entry in entries.items()}
        lines = PostLines(line, raw_id, key_lines)

        if raw_id is None:
            self.error(
                "missing-id",
                "The post has no `id`.",
                "Add a short unique id such as `id: recs-01` (lowercase letters, digits, hyphens).",
                key_lines.get("id", line),
            )
            post_id = f"line-{line}"
        else:
            post_id = raw_id
            if not is_valid_slug(raw_id):
                self.error(
                    "invalid-id",
                    f"The id `{raw_id}` is not a valid id: ids are lowercase letters, digits and hyphens, "
                    "starting with a letter or digit, at most 64 characters.",
                    f"Use e.g. `id: {slugify(raw_id)}`.",
                    key_lines["id"],
                    raw_id,
                )

        at: datetime | None = None
        at_node = nodes.get("at")
        if at_node is None:
            self.error(
                "missing-time",
                "The post has no `at` (when to post it).",
                'Add e.g. `at: "2027-02-01 09:00"` (local time).',
                line,
                raw_id,
            )
        else:
            raw_at = at_node.value if at_node.__class__ is ScalarNode and at_node.tag != NULL_TAG else None
            if at_node.__class__ is not ScalarNode:
                self.text(at_node, "at", raw_id)
            elif raw_at is None or not raw_at.strip():
                self.error(
                    "missing-time",
                    "`at` is empty.",
                    'Write e.g. `at: "2027-02-01 09:00"` (local time).',
                    key_lines["at"],
                    raw_id,
                )
            else:
                at = self.resolve_at(raw_at, key_lines["at"], raw_id)
                lines.date_written = raw_at.split()[0] if raw_at.strip()[:1].isdigit() else None
        lines.timed = at is not None

        text = ""
        text_node = nodes.get("text")
        if text_node is not None:
            if text_node.__class__ is ScalarNode:
                text = "" if text_node.tag == NULL_TAG else text_node.value.strip()
                if not text_node.style:  # plain (libyaml gives "", PyYAML None)
                    self.check_comment_after(text_node, raw_id)
            else:
                self.text(text_node, "text", raw_id)

        status = defaults.status or "approved"
        if "status" in nodes:
            status = self.status(self.text(nodes["status"], "status", raw_id), key_lines["status"], raw_id)

        platforms = defaults.platforms
        if "platforms" in nodes:
            names = self.string_list(nodes["platforms"], "platforms", raw_id)
            if names is not None:
                platforms = self.platforms(names, key_lines["platforms"], raw_id)
                if not names:
                    self.error(
                        "no-platforms",
                        "`platforms` is empty: the post would go nowhere.",
                        "List bluesky and/or mastodon, or leave `platforms` out for both.",
                        key_lines["platforms"],
                        raw_id,
                    )

        content_warning = defaults.content_warning
        if "content_warning" in nodes:
            raw = self.text(nodes["content_warning"], "content_warning", raw_id)
            content_warning = raw.strip() if raw and raw.strip() else None

        language = defaults.language
        if "language" in nodes:
            raw = (self.text(nodes["language"], "language", raw_id) or "").strip()
            language = self.language(raw, key_lines["language"], raw_id)

        helpline = defaults.helpline
        if "helpline" in nodes:
            flag = self.flag(nodes["helpline"], "helpline", raw_id)
            helpline = helpline if flag is None else flag

        topics = defaults.topics
        if "topics" in nodes:
            names = self.string_list(nodes["topics"], "topics", raw_id)
            if names is not None:  # the defaults' topics stay: a hold on one of them still covers the post
                topics = tuple(dict.fromkeys((*topics, *self.topics(names, key_lines["topics"], raw_id))))

        link = self.read_link(nodes["link"], key_lines["link"], raw_id) if "link" in nodes else None

        images: list[Image] = []
        if "images" in nodes:
            images, lines.images = self.read_images(nodes["images"], key_lines["images"], raw_id)

        video = None
        if "video" in nodes:
            video = self.read_video(nodes["video"], key_lines["video"], raw_id, language)

        thread: list[ThreadPart] = []
        if "thread" in nodes:
            thread, lines.thread = self.read_thread(nodes["thread"], key_lines["thread"], raw_id)

        overrides: dict[str, PlatformOverride] = {}
        for platform in PLATFORMS:
            if platform in nodes:
                values = dict(defaults.overrides.get(platform, ()))
                values.update(
                    self.read_override(platform, nodes[platform], key_lines[platform], raw_id, top_level=True)
                )
                overrides[platform] = PlatformOverride(**values)
            elif platform in defaults.platform_overrides:
                overrides[platform] = defaults.platform_overrides[platform]

        self.posts.append(
            (
                Post(
                    id=post_id,
                    at=at or NO_TIME,
                    text=text,
                    platforms=platforms,
                    status=status,  # type: ignore[arg-type]
                    content_warning=content_warning,
                    language=language,
                    link=link,
                    images=tuple(images),
                    video=video,
                    thread=tuple(thread),
                    overrides=overrides,
                    helpline=helpline,
                    line=line,
                    topics=topics,
                ),
                lines,
            )
        )
