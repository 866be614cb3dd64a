"""Settings of one test server. Defaults are those of a stock Mastodon 4.x; tests lower them as they need.

Every field can be changed at run time through `POST /_test/config` (a JSON object with the fields to
change), so a worker in another process sees the new limits at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Throttle:
    """A fixed-window request limit, like the Rack::Attack throttles and RateLimiter families of Mastodon:
    windows are aligned on multiples of `period` seconds since the epoch."""

    limit: int
    period: int  # seconds


def _default_throttles() -> dict[str, Throttle]:
    # Names and numbers as in Mastodon's config/initializers/rack_attack.rb and app/lib/rate_limiter.rb.
    return {
        "throttle_authenticated_api": Throttle(1500, 300),  # per account
        "throttle_per_token_api": Throttle(300, 300),  # per access token
        "throttle_unauthenticated_api": Throttle(300, 300),  # per client IP
        "throttle_api_media": Throttle(30, 1800),  # POST /api/v1/media, /api/v2/media per account
        "throttle_authenticated_paging": Throttle(300, 900),  # requests with min_id/max_id/since_id/page
        "throttle_unauthenticated_paging": Throttle(300, 900),
        "throttle_api_delete": Throttle(30, 1800),  # DELETE /api/v1/statuses/:id, POST .../unreblog
        "statuses": Throttle(300, 10800),  # RateLimiter family: statuses created per account
    }


@dataclass
class ServerConfig:
    version: str = "4.7.3"
    title: str = "Mastodon"
    api_version: int = 11
    max_characters: int = 500
    max_media_attachments: int = 4
    characters_reserved_per_url: int = 23
    # Mastodon 4.7.3 (and mastodon.social) advertise 10000; DESIGN.md plans with the older 1500. Configurable.
    description_limit: int = 1500
    image_size_limit: int = 16 * 1024 * 1024
    image_matrix_limit: int = 33177600
    video_size_limit: int = 99 * 1024 * 1024
    video_frame_rate_limit: int = 120
    video_matrix_limit: int = 8_294_400  # pixels a frame (4096x2160)
    # GET /api/v1/media/:id calls before an upload counts as processed (0: POST /api/v2/media answers 200
    # at once). Mastodon processes images synchronously and video/audio/gifv in the background.
    image_processing_polls: int = 0
    video_processing_polls: int = 1
    idempotency_ttl_seconds: int = 3600
    scheduled_min_offset_seconds: int = 300
    scheduled_daily_limit: int = 25
    scheduled_total_limit: int = 300
    default_limit: int = 20  # statuses per page when `limit` is absent
    max_limit: int = 40
    federation_delay_seconds: float = 0.0  # how long a delivery to a peer instance waits
    # Who may read hashtag timelines: "public" (anyone, the default), or "authenticated" (signed-in users only:
    # anonymous requests get 422 "This method requires an authenticated user"), as Mastodon 4.4+'s
    # local_topic_feed_access / remote_topic_feed_access settings (one setting for both here).
    topic_feed_access: str = "public"
    throttles: dict[str, Throttle] = field(default_factory=_default_throttles)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, changes: dict[str, Any]) -> ServerConfig:
        """A copy with `changes` applied. `throttles` may name only the throttles to change, as
        {"statuses": {"limit": 3}} or {"statuses": {"limit": 3, "period": 60}}."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        plain = {key: value for key, value in changes.items() if key != "throttles"}
        new = dataclasses.replace(self, **plain)
        new.throttles = {name: Throttle(t.limit, t.period) for name, t in self.throttles.items()}
        for name, spec in (changes.get("throttles") or {}).items():
            if name not in new.throttles:
                raise ValueError(f"unknown throttle {name!r}; known: {sorted(new.throttles)}")
            current = new.throttles[name]
            new.throttles[name] = Throttle(
                int(spec.get("limit", current.limit)), int(spec.get("period", current.period))
            )
        return new

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ServerConfig:
        return cls().updated(data or {})
