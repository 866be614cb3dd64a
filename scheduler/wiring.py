"""What a worker process holds: settings, the store, the clock, the policy, adapters and the limiter.
Built lazily once per process (after any fork), so nothing is shared across processes by accident."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from platforms.base import PlatformAdapter
from platforms.outbox import OutboxAdapter
from scheduler.clock import Clock, SystemClock
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy
from scheduler.publishing import Redactor
from scheduler.ratelimit import RateLimiter
from scheduler.settings import Settings, load_settings


def policy_from(settings: Settings) -> DispatchPolicy:
    return DispatchPolicy(
        claim_window=timedelta(seconds=settings.claim_window_seconds),
        lease=timedelta(seconds=settings.lease_seconds),
        publish_lease=timedelta(seconds=settings.publish_lease_seconds),
        max_attempts=settings.max_attempts,
    )


def redactor_from(settings: Settings) -> Redactor:
    """Every secret a message could carry: the platform credentials and any password in the database or
    Redis URL (a driver's error can quote its connection string)."""
    secrets = [settings.bluesky_app_password.reveal(), settings.mastodon_access_token.reveal()]
    for url in (settings.database_url, settings.redis_url):
        if url:
            with contextlib.suppress(ValueError):
                password = urlsplit(url).password or ""
                secrets += [password, unquote(password)]
    return Redactor(secrets)


@dataclass
class Adapters:
    """Chooses each platform's adapter: the real one where credentials exist, else the dry-run outbox."""

    settings: Settings
    _cache: dict[tuple[str, str], PlatformAdapter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, campaign: str, platform: str) -> PlatformAdapter:
        with self._lock:
            key = (campaign, platform)
            if key not in self._cache:
                self._cache[key] = self._build(platform)
            return self._cache[key]

    def _build(self, platform: str) -> PlatformAdapter:
        if platform == "bluesky" and self.settings.bluesky_configured:
            from platforms.bluesky import BlueskyAdapter

            return BlueskyAdapter.from_settings(self.settings)
        if platform == "mastodon" and self.settings.mastodon_configured:
            from platforms.mastodon import MastodonAdapter

            return MastodonAdapter.from_settings(self.settings)
        return OutboxAdapter(self.settings.outbox_path, platform)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    clock: Clock
    policy: DispatchPolicy
    adapters: Adapters
    limiter: RateLimiter | None
    redact: Redactor
    name: str


_runtime: Runtime | None = None
_runtime_pid: int | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime, _runtime_pid
    with _runtime_lock:
        if _runtime is None or _runtime_pid != os.getpid():
            settings = load_settings()
            _runtime = Runtime(
                settings=settings,
                store=Store(settings.database_url),
                clock=SystemClock(),
                policy=policy_from(settings),
                adapters=Adapters(settings),
                limiter=RateLimiter(settings.redis_url) if settings.redis_url else None,
                redact=redactor_from(settings),
                name=f"{socket.gethostname()}:{os.getpid()}",
            )
            _runtime_pid = os.getpid()
        return _runtime


def reset_runtime() -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.store.dispose()
        _runtime = None
