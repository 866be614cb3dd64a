"""What a Mastodon instance is and says of itself: its address, its limits from /api/v2/instance, its version,
and the ids it gives statuses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

PLATFORM = "mastodon"
TIMELINE_PAGE_SIZE = 40  # the most a Mastodon timeline page holds
STATUSES_BATCH = 20  # GET /api/v1/statuses answers at most 20 ids
_QUOTE_POLICY_SINCE = (4, 5, 0)  # quote_approval_policy arrived with quote posts in Mastodon 4.5
_BATCH_STATUSES_SINCE = (4, 3, 0)  # GET /api/v1/statuses?id[]=


@dataclass(frozen=True)
class InstanceLimits:
    """What /api/v2/instance says about posting on this instance."""

    domain: str = ""
    version: str = ""
    max_characters: int = 500
    characters_reserved_per_url: int = 23
    max_media_attachments: int = 4
    description_limit: int = 1500
    image_size_limit: int = 16 * 1024 * 1024
    video_size_limit: int = 99 * 1024 * 1024
    video_frame_rate_limit: int = 120
    video_matrix_limit: int = 8_294_400  # pixels a frame (4096x2160)

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def supports_quote_policy(self) -> bool:
        return self.version_tuple >= _QUOTE_POLICY_SINCE

    @property
    def supports_batch_statuses(self) -> bool:
        return self.version_tuple >= _BATCH_STATUSES_SINCE

    def describe(self) -> str:
        return (
            f"instance limits: {self.max_characters} characters a status (every URL counts as "
            f"{self.characters_reserved_per_url}), {self.max_media_attachments} attachments, alt text up to "
            f"{self.description_limit} characters, images up to {self.image_size_limit // (1024 * 1024)} MB"
        )

    @classmethod
    def from_instance(cls, data: Mapping[str, Any]) -> InstanceLimits:
        configuration = data.get("configuration") or {}
        statuses = configuration.get("statuses") or {}
        media = configuration.get("media_attachments") or {}
        default = cls()

        def number(section: Mapping[str, Any], key: str, fallback: int) -> int:
            value = section.get(key)
            return int(value) if isinstance(value, int | float) and value > 0 else fallback

        return cls(
            domain=str(data.get("domain") or data.get("uri") or ""),
            version=str(data.get("version") or ""),
            max_characters=number(statuses, "max_characters", default.max_characters),
            characters_reserved_per_url=number(
                statuses, "characters_reserved_per_url", default.characters_reserved_per_url
            ),
            max_media_attachments=number(statuses, "max_media_attachments", default.max_media_attachments),
            description_limit=number(media, "description_limit", default.description_limit),
            image_size_limit=number(media, "image_size_limit", default.image_size_limit),
            video_size_limit=number(media, "video_size_limit", default.video_size_limit),
            video_frame_rate_limit=number(media, "video_frame_rate_limit", default.video_frame_rate_limit),
            video_matrix_limit=number(media, "video_matrix_limit", default.video_matrix_limit),
        )


def parse_version(version: str) -> tuple[int, int, int]:
    """Versions such as "4.3.0+glitch" or "4.5.0-beta.2" -> (4, 3, 0) / (4, 5, 0); anything unreadable -> (0, 0, 0)."""
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", version.split(" ")[0].split("+")[0])
    if not match:
        return (0, 0, 0)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def snowflake_at(moment: datetime) -> int:
    """The smallest Mastodon id a status created at `moment` can have (ids are milliseconds << 16)."""
    return int(moment.timestamp() * 1000) << 16


def host_of(base_url: str) -> str:
    return urlsplit(base_url if "://" in base_url else f"https://{base_url}").netloc or base_url


def normal_base_url(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    return base_url if "://" in base_url else f"https://{base_url}"
