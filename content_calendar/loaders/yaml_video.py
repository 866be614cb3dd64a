"""A YAML post's `video:`: its file, alt text, caption files (WebVTT, each with a language) or why it has none.

    video:
      file: media/launch.mp4
      alt: "A volunteer opens the helpline office and waves."
      captions:
        - {file: media/launch.en.vtt, lang: en}
        - {file: media/launch.cy.vtt, lang: cy}
      # or, for a video without speech:
      # no_captions: "Music only, no speech."

`captions` may also be one file (`captions: media/launch.en.vtt`): its language is then the post's own.
"""

from __future__ import annotations

from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content_calendar.loaders.yaml_fields import YamlFieldReader
from content_calendar.model import Captions, Video
from content_calendar.yaml_source import NULL_TAG, node_line

VIDEO_KEYS = ("file", "alt", "captions", "no_captions")
CAPTION_KEYS = ("file", "lang")
_VIDEO_EXAMPLE = '`video: {file: media/x.mp4, alt: "...", captions: media/x.vtt}`'


class YamlVideoReader(YamlFieldReader):
    def read_video(self, node: Node, line: int, post_id: str | None, language: str | None) -> Video | None:
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return None
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                f"`video` must be a mapping, e.g. {_VIDEO_EXAMPLE}.",
                "Give the video a file, alt text and its captions (or `no_captions:` saying why it has none).",
                line,
                post_id,
            )
            return None
        entries = self.entries(node, "`video`", VIDEO_KEYS, post_id)

        def field_text(key: str) -> str:
            return (self.text(entries[key][1], key, post_id) or "").strip() if key in entries else ""

        file = field_text("file")
        if not file:
            self.error(
                "video-missing",
                "The video has no `file`.",
                "Add `file: media/<name>.mp4` (relative to the campaign folder) under `video:`.",
                line,
                post_id,
            )
            return None
        captions: list[Captions] = []
        if "captions" in entries:
            captions = self.read_captions(entries["captions"][1], entries["captions"][0], post_id, language)
        return Video(
            file=file,
            path=self.media_path(file),
            alt=field_text("alt"),
            captions=tuple(captions),
            no_captions=field_text("no_captions"),
        )

    def read_captions(self, node: Node, line: int, post_id: str | None, language: str | None) -> list[Captions]:
        if isinstance(node, ScalarNode):
            return [] if node.tag == NULL_TAG else self.caption(node.value.strip(), None, line, post_id, language)
        items = node.value if isinstance(node, SequenceNode) else [node]
        captions: list[Captions] = []
        for item in items:
            item_line = node_line(item)
            if isinstance(item, ScalarNode):
                captions.extend(self.caption(item.value.strip(), None, item_line, post_id, language))
            elif isinstance(item, MappingNode):
                entries = self.entries(item, "a caption file", CAPTION_KEYS, post_id)
                file = (self.text(entries["file"][1], "file", post_id) or "").strip() if "file" in entries else ""
                lang = (self.text(entries["lang"][1], "lang", post_id) or "").strip() if "lang" in entries else ""
                lang_line = entries["lang"][0] if "lang" in entries else item_line
                captions.extend(self.caption(file, lang or None, lang_line, post_id, language))
            else:
                self.error(
                    "wrong-type",
                    "A caption file must be `{file: media/x.vtt, lang: en}`.",
                    "Give each caption file its file and language.",
                    item_line,
                    post_id,
                )
        return captions

    def caption(
        self, file: str, lang: str | None, line: int | None, post_id: str | None, language: str | None
    ) -> list[Captions]:
        if not file:
            self.error(
                "captions-missing",
                "A caption file has no `file`.",
                "Write `captions: media/<name>.vtt` (a WebVTT file in the campaign folder).",
                line,
                post_id,
            )
            return []
        chosen = self.language(lang, line, post_id) if lang else None
        if lang and chosen is None:
            return []  # reported by language()
        campaign_language = self.campaign.language if self.campaign is not None else "en"
        return [Captions(file=file, path=self.media_path(file), lang=chosen or language or campaign_language)]

    def media_path(self, file: str) -> Path:
        return self.image(file, "", None).path  # resolved from the campaign folder as an image's is
