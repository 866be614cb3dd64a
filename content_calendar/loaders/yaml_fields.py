"""Reading the values of a YAML calendar: text, flags and name lists from nodes (reporting wrong types),
and a post's nested fields: per-platform overrides, images and their focus, the link, thread replies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content_calendar.loaders.base import PLATFORM_SPLIT, CalendarReader, PartLines
from content_calendar.model import (
    BLUESKY_REPLY_RULES,
    BLUESKY_SELF_LABELS,
    MASTODON_VISIBILITIES,
    PLATFORMS,
    Image,
    Link,
    PlatformOverride,
    ThreadPart,
)
from content_calendar.yaml_source import NULL_TAG, YamlDocument, did_you_mean, mapping_entries, node_line

BLUESKY_KEYS = ("text", "content_warning", "skip", "labels", "reply_rules", "allow_quotes")
MASTODON_KEYS = ("text", "content_warning", "skip", "visibility", "allow_quotes")
PART_KEYS = ("text", "images", "bluesky", "mastodon")
PART_PLATFORM_KEYS = ("text", "skip")
IMAGE_KEYS = ("file", "alt", "focus", "image_text")
LINK_KEYS = ("url", "title", "description", "thumbnail")


class YamlFieldReader(CalendarReader):
    """The values of a composed YAML calendar, each checked for its type, for `YamlReader` to build posts of."""

    def __init__(self, path: Path, campaigns_roots: Sequence[Path], today: date | None, doc: YamlDocument):
        super().__init__(path, campaigns_roots, today)
        self.doc = doc

    # node helpers ------------------------------------------------------------------------------------

    def entries(
        self,
        node: MappingNode,
        where: str,
        known: Sequence[str],
        post_id: str | None = None,
    ) -> dict[str, tuple[int, Node]]:
        """key -> (line of the key, value node); unknown, repeated and credential-like keys are reported."""

        def report(code: str, message: str, fix: str, line: int) -> None:
            self.error(code, message, fix, line, post_id)

        return mapping_entries(self.doc, node, where, known, report)

    def text(self, node: Node, key: str, post_id: str | None) -> str | None:
        """A scalar as the text the user wrote (YAML 1.1 does not turn `yes` or `09:00` into other types)."""
        if isinstance(node, ScalarNode):
            if key == "text" and not node.style:
                self.check_comment_after(node, post_id)
            return None if node.tag == NULL_TAG else node.value
        self.error(
            "wrong-type",
            f"`{key}` must be a single piece of text, not a list or mapping.",
            f"Write `{key}: ...` with one value (use a `|` block for several lines).",
            node_line(node),
            post_id,
        )
        return None

    def check_comment_after(self, node: ScalarNode, post_id: str | None) -> None:
        """In unquoted YAML text, " #" starts a comment: `text: Act now #ActOnIICSA` loses its hashtag."""
        line = node.end_mark.line
        source = self.doc.lines()
        if line < len(source) and source[line][node.end_mark.column :].lstrip().startswith("#"):
            dropped = source[line][node.end_mark.column :].strip()
            self.warning(
                "text-comment",
                f"`{dropped}` after the text is a YAML comment, so it is not part of the post.",
                'Put the whole text in double quotes (text: "... #Hashtag") or use a `|` block.',
                line + 1,
                post_id,
            )

    def flag(self, node: Node, key: str, post_id: str | None) -> bool | None:
        value = self.doc.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool):
            return value
        self.error(
            "wrong-type",
            f"`{key}` must be true or false.",
            f"Write `{key}: true` or `{key}: false`.",
            node_line(node),
            post_id,
        )
        return None

    def string_list(self, node: Node, key: str, post_id: str | None) -> list[str] | None:
        if isinstance(node, ScalarNode):
            if node.tag == NULL_TAG:
                return []
            return [part for part in PLATFORM_SPLIT.split(node.value) if part]
        if isinstance(node, SequenceNode) and all(isinstance(item, ScalarNode) for item in node.value):
            return [item.value for item in node.value]
        self.error(
            "wrong-type", f"`{key}` must be a list of names.", f"Write `{key}: [a, b]`.", node_line(node), post_id
        )
        return None

    # a post's nested fields ---------------------------------------------------------------------------

    def read_override(
        self,
        platform: str,
        node: Node,
        line: int,
        post_id: str | None,
        *,
        top_level: bool,
    ) -> dict[str, Any]:
        """A `bluesky:` / `mastodon:` mapping as a dict of PlatformOverride fields."""
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                f'`{platform}` must be a mapping, e.g. {platform}: {{text: "..."}}.',
                f"Write {platform}'s settings as key: value pairs under `{platform}:`.",
                line,
                post_id,
            )
            return {}
        known = (BLUESKY_KEYS if platform == "bluesky" else MASTODON_KEYS) if top_level else PART_PLATFORM_KEYS
        entries = self.entries(node, f"`{platform}`", known, post_id)
        values: dict[str, Any] = {}
        for key, (key_line, value_node) in entries.items():
            if key in ("text", "content_warning"):
                raw = self.text(value_node, key, post_id)
                values[key] = (raw or "").strip()
            elif key in ("skip", "allow_quotes"):
                flag = self.flag(value_node, key, post_id)
                if flag is not None:
                    values[key] = flag
            elif key == "visibility":
                raw = (self.text(value_node, key, post_id) or "").strip()
                if raw in MASTODON_VISIBILITIES:
                    values[key] = raw
                else:
                    self.error(
                        "unknown-visibility",
                        f"Unknown Mastodon visibility `{raw}`.{did_you_mean(raw, MASTODON_VISIBILITIES)}",
                        f"Use one of: {', '.join(sorted(MASTODON_VISIBILITIES))}.",
                        key_line,
                        post_id,
                    )
            elif key in ("labels", "reply_rules"):
                names = self.string_list(value_node, key, post_id)
                if names is None:
                    continue
                allowed = BLUESKY_SELF_LABELS if key == "labels" else BLUESKY_REPLY_RULES
                good = []
                for name in names:
                    if name in allowed:
                        good.append(name)
                    else:
                        what = "self-label" if key == "labels" else "reply rule"
                        code = "unknown-label" if key == "labels" else "unknown-reply-rule"
                        extra = " ([] means nobody may reply)" if key == "reply_rules" else ""
                        self.error(
                            code,
                            f"Unknown Bluesky {what} `{name}`.{did_you_mean(name, allowed)}",
                            f"Use some of: {', '.join(sorted(allowed))}{extra}.",
                            key_line,
                            post_id,
                        )
                values[key] = tuple(good)
        return values

    def read_images(self, node: Node, line: int, post_id: str | None) -> tuple[list[Image], list[int | None]]:
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return [], []
        items = node.value if isinstance(node, SequenceNode) else None
        if items is None:
            self.error(
                "wrong-type",
                '`images` must be a list: each item `- {file: media/x.jpg, alt: "..."}`.',
                "Start each image with '- '.",
                line,
                post_id,
            )
            return [], []
        images: list[Image] = []
        lines: list[int | None] = []
        for item in items:
            image = self.read_image(item, post_id)
            if image is not None:
                images.append(image)
                lines.append(node_line(item))
        return images, lines

    def read_image(self, item: Node, post_id: str | None) -> Image | None:
        """`media/x.jpg` or `{file: media/x.jpg, alt: "...", focus: [x, y]}`."""
        item_line = node_line(item)
        card = ""
        if isinstance(item, ScalarNode):
            file, alt, focus = ("" if item.tag == NULL_TAG else item.value.strip()), "", None
        elif isinstance(item, MappingNode):
            entries = self.entries(item, "an image", IMAGE_KEYS, post_id)
            file = (self.text(entries["file"][1], "file", post_id) or "").strip() if "file" in entries else ""
            alt = (self.text(entries["alt"][1], "alt", post_id) or "").strip() if "alt" in entries else ""
            focus = self.read_focus(entries["focus"], post_id) if "focus" in entries else None
            if "image_text" in entries:  # the words on a card of text, which its alt text must give
                card = (self.text(entries["image_text"][1], "image_text", post_id) or "").strip()
        else:
            self.error(
                "wrong-type",
                'An image must be `{file: media/x.jpg, alt: "..."}`.',
                "Give each image a file and alt text.",
                item_line,
                post_id,
            )
            return None
        if not file:
            self.error(
                "image-missing",
                "An image has no `file`.",
                "Add `file: media/<name>` (relative to the campaign folder).",
                item_line,
                post_id,
            )
            return None
        image = self.image(file, alt, focus)
        return replace(image, text=card) if card else image

    def read_focus(self, entry: tuple[int, Node], post_id: str | None) -> tuple[float, float] | None:
        line, node = entry
        value = self.doc.value(node)
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and -1.0 <= v <= 1.0 for v in value)
        ):
            return float(value[0]), float(value[1])
        self.error(
            "invalid-focus",
            f"`focus` must be two numbers from -1 to 1, not {value!r}.",
            "Write `focus: [0.0, 0.5]` (x, y; 0,0 is the centre) or leave it out.",
            line,
            post_id,
        )
        return None

    def read_link(self, node: Node, line: int, post_id: str | None) -> Link | None:
        if isinstance(node, ScalarNode):
            url = "" if node.tag == NULL_TAG else node.value.strip()
            if self.link_problem(url, line, post_id):
                return None
            return Link(url=url)
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                '`link` must be `{url: "https://...", title: "..."}`.',
                "Write the link as a mapping with url, title and description.",
                line,
                post_id,
            )
            return None
        entries = self.entries(node, "`link`", LINK_KEYS, post_id)

        def field_text(key: str) -> str:
            return (self.text(entries[key][1], key, post_id) or "").strip() if key in entries else ""

        url = field_text("url")
        thumbnail = self.read_image(entries["thumbnail"][1], post_id) if "thumbnail" in entries else None
        if self.link_problem(url, entries["url"][0] if "url" in entries else line, post_id):
            return None
        return Link(url=url, title=field_text("title"), description=field_text("description"), thumbnail=thumbnail)

    def read_thread(self, node: Node, line: int, post_id: str | None) -> tuple[list[ThreadPart], list[PartLines]]:
        if not isinstance(node, SequenceNode):
            if not (isinstance(node, ScalarNode) and node.tag == NULL_TAG):
                self.error(
                    "wrong-type",
                    "`thread` must be a list of replies, each `- text: ...`.",
                    "Start each reply with '- text: '.",
                    line,
                    post_id,
                )
            return [], []
        parts: list[ThreadPart] = []
        part_lines: list[PartLines] = []
        for item in node.value:
            item_line = node_line(item)
            if isinstance(item, ScalarNode):
                parts.append(ThreadPart(text=item.value.strip(), line=item_line))
                part_lines.append(PartLines(item_line))
                continue
            if not isinstance(item, MappingNode):
                self.error(
                    "wrong-type", "A thread reply must be `- text: ...`.", "Give each reply a text.", item_line, post_id
                )
                continue
            entries = self.entries(item, "a thread reply", PART_KEYS, post_id)
            lines = PartLines(item_line, {key: entry[0] for key, entry in entries.items()})
            text = (self.text(entries["text"][1], "text", post_id) or "").strip() if "text" in entries else ""
            images: list[Image] = []
            if "images" in entries:
                images, lines.images = self.read_images(entries["images"][1], entries["images"][0], post_id)
            overrides: dict[str, PlatformOverride] = {}
            for platform in PLATFORMS:
                if platform in entries:
                    p_line, p_node = entries[platform]
                    values = self.read_override(platform, p_node, p_line, post_id, top_level=False)
                    overrides[platform] = PlatformOverride(**values)
            parts.append(ThreadPart(text=text, images=tuple(images), overrides=overrides, line=item_line))
            part_lines.append(lines)
        return parts, part_lines
