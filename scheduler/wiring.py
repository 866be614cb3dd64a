"""The one place the application is put together: settings in, a `Wiring` out (store, clock, dispatch policy,
adapters, rate limiter, redactor). The CLI, the Celery tasks, rehearsal and the web face all start here, so
they all post through the same adapters and redact the same secrets."""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from content_calendar.model import Campaign
from platforms.base import AccountAdapter, PlatformAdapter
from platforms.outbox import OutboxAdapter
from scheduler.clock import Clock, SystemClock
from scheduler.collecting import NO_CREDENTIALS, EngagementReader, MentionSource, NotConfigured
from scheduler.collection import search_tags
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy
from scheduler.instance_facts import MastodonInstanceRecorder
from scheduler.ratelimit import RateLimiter
from scheduler.redaction import Redactor
from scheduler.settings import Settings

if TYPE_CHECKING:  # imported when first built: the SDKs are slow to import and a calendar check needs neither
    from platforms.bluesky import BlueskyAdapter
    from platforms.mastodon import MastodonAdapter, MastodonReader

log = logging.getLogger("campaign.wiring")


def public_instances(campaign: Campaign) -> list[str]:
    """The Mastodon instances a campaign lists (campaign.yaml `mastodon_instances`): read without an account
    when there is none."""
    return list(dict.fromkeys(u.strip().rstrip("/") for u in campaign.mastodon_instances if u.strip()))


def _tags(campaign: Campaign) -> tuple[str, ...]:
    return (*campaign.hashtags, *campaign.hashtag_variants)


def policy_from(settings: Settings) -> DispatchPolicy:
    return DispatchPolicy(
        claim_window=timedelta(seconds=settings.claim_window_seconds),
        lease=timedelta(seconds=settings.lease_seconds),
        publish_lease=timedelta(seconds=settings.publish_lease_seconds),
        max_attempts=settings.max_attempts,
        settle=timedelta(seconds=settings.settle_seconds),
    )


class Adapters:
    """Every platform adapter the application uses, built once per process from settings: the real one where
    the platform has credentials, else the dry-run outbox for posting (and nothing to read from, but the public
    hashtag timelines of the Mastodon instances a campaign lists).

    It is what publishing is typed by (`adapters(campaign, platform)` -> PlatformAdapter) and what the
    collectors are typed by (`scheduler.collecting.AdapterProvider`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: DispatchPolicy | None = None,
        bluesky_options: dict[str, Any] | None = None,
        mastodon_options: dict[str, Any] | None = None,
    ):
        self.settings = settings
        # One attempt's wait for a video (or images) to be taken and processed stays inside its publish lease.
        self.media_deadline = (policy or policy_from(settings)).media_deadline.total_seconds()
        self._options = {"bluesky": bluesky_options or {}, "mastodon": mastodon_options or {}}
        self._lock = threading.Lock()
        self._real: dict[str, BlueskyAdapter | MastodonAdapter] = {}
        self._outbox: dict[str, OutboxAdapter] = {}
        self._public: MastodonReader | None = None

    def _build(self, platform: str) -> BlueskyAdapter | MastodonAdapter:
        settings, options = self.settings, self._options.get(platform, {})
        if platform == "bluesky":
            from platforms.bluesky import BlueskyAdapter

            return BlueskyAdapter(
                service=settings.bluesky_service,
                handle=settings.bluesky_handle,
                app_password=settings.bluesky_app_password,
                data_dir=settings.data_dir,
                **{"video_service": settings.bluesky_video_service, "video_deadline": self.media_deadline, **options},
            )
        if platform == "mastodon":
            from platforms.mastodon import MastodonAdapter

            return MastodonAdapter(
                settings.mastodon_api_base_url,
                settings.mastodon_access_token.reveal(),
                **{"media_deadline": self.media_deadline, **options},
            )
        raise NotConfigured(f"There is no platform called {platform!r}.")

    def real(self, platform: str) -> BlueskyAdapter | MastodonAdapter:
        """The platform's own adapter; NotConfigured when it has no credentials."""
        if not self.settings.configured(platform):
            raise NotConfigured(NO_CREDENTIALS.get(platform, f"There is no platform called {platform!r}."))
        with self._lock:
            if platform not in self._real:
                self._real[platform] = self._build(platform)
            return self._real[platform]

    def __call__(self, campaign: str, platform: str) -> PlatformAdapter:
        """Who posts `campaign`'s parts on `platform`."""
        if self.settings.configured(platform):
            return self.real(platform)
        with self._lock:
            if platform not in self._outbox:
                self._outbox[platform] = OutboxAdapter(self.settings.outbox_path, platform)
            return self._outbox[platform]

    def account(self, platform: str) -> AccountAdapter | None:
        """The account check of a platform with credentials (None: a dry run)."""
        return self.real(platform) if self.settings.configured(platform) else None

    # --- the read side, as the collectors ask for it ------------------------------------------------------

    def mention_sources(self, campaign: Campaign, platform: str) -> list[MentionSource]:
        if platform == "mastodon" and not self.settings.mastodon_configured:
            # No account: the instances campaign.yaml lists show their hashtag timelines to anyone, so they are
            # still read (our own instance is unknown, and our posts' engagement needs the account).
            listed = public_instances(campaign)
            if not listed:
                raise NotConfigured(f"{NO_CREDENTIALS['mastodon']} and campaign.yaml lists no mastodon_instances")
            return self._mastodon_sources(self.public_reader(), listed, tuple(search_tags(_tags(campaign))))
        adapter = self.real(platform)
        tags = _tags(campaign)
        if platform == "bluesky":
            # Every spelling, not one per case-folded tag: a case-sensitive search backend (the reference app
            # view) then still finds each; the store keeps each post once whichever search found it.
            spellings = tuple(dict.fromkeys(t.strip().lstrip("#") for t in tags if t.strip("# ")))
            bluesky = cast("BlueskyAdapter", adapter)

            def read_bluesky(tags: Sequence[str], since: datetime | None, cursor: str | None) -> Any:
                return bluesky.search_mentions(tags, since=since, cursor=cursor)

            return [MentionSource("bluesky", bluesky.service, "sweep", read_bluesky, spellings)]
        # Mastodon: our own instance and each watched one, separately, so one instance failing (or rate
        # limiting us) holds up only its own collector.
        mastodon = cast("MastodonAdapter", adapter)
        instances = list(dict.fromkeys(u.rstrip("/") for u in (mastodon.api_base_url, *campaign.mastodon_instances)))
        return self._mastodon_sources(mastodon, instances, tuple(search_tags(tags)))

    def public_reader(self) -> MastodonReader:
        """The reader of other instances' public timelines, without an account (built once)."""
        with self._lock:
            if self._public is None:
                from platforms.mastodon import MastodonReader

                accepted = inspect.signature(MastodonReader).parameters
                options = {k: v for k, v in self._options["mastodon"].items() if k in accepted}
                self._public = MastodonReader(**options)
            return self._public

    @staticmethod
    def _mastodon_sources(
        reader: MastodonAdapter | MastodonReader, instances: Sequence[str], tags: tuple[str, ...]
    ) -> list[MentionSource]:
        sources = []
        for instance in instances:
            # One budget per instance for this run: it bounds the run's requests there, and keeps our token's
            # last requests for posting when our instance must be read with it (see MastodonAdapter).
            budget = reader.read_budget()

            def read_instance(
                tags: Sequence[str],
                since: datetime | None,
                cursor: str | None,
                *,
                instance: str = instance,
                budget: Any = budget,
            ) -> Any:
                return reader.search_mentions_on([instance], tags, since=since, cursor=cursor, budget=budget)

            sources.append(MentionSource("mastodon", instance, "position", read_instance, tags, reader.rewind_cursor))
        return sources

    def engagement_reader(self, platform: str) -> EngagementReader:
        return self.real(platform)

    def own_accounts(self, campaign: Campaign, platform: str) -> list[str]:
        names = [campaign.accounts[platform]] if platform in campaign.accounts else []
        if platform == "bluesky" and self.settings.bluesky_handle:
            names.append(self.settings.bluesky_handle)
        if platform == "mastodon" and self.settings.mastodon_configured:
            try:
                adapter = cast("MastodonAdapter", self.real("mastodon"))
                me = adapter.me()
                acct, url, uri = (str((me.get(k) if isinstance(me, dict) else getattr(me, k, "")) or "")
                                  for k in ("acct", "url", "uri"))  # fmt: skip
                if acct and "@" not in acct:
                    acct = f"{acct}@{adapter.account}"  # as mentions qualify a local acct: with the instance's host
                names += [n for n in (acct, uri, url) if n]  # our own instance's answer about us: url is trusted
            except Exception as error:  # who we are is a nicety here: our own posts are also known by URI
                log.info("could not read our Mastodon account (%s); own posts are recognised by URI", type(error))
        return names

    def close(self) -> None:
        with self._lock:
            for adapter in self._real.values():
                close = getattr(adapter, "close", None)
                if close is not None:
                    close()
            self._real.clear()


@dataclass
class Wiring:
    """Everything a face needs, built once: hand it to `scheduler.api.Api`."""

    settings: Settings
    store: Store
    clock: Clock
    policy: DispatchPolicy
    adapters: Adapters
    limiter: RateLimiter | None
    redact: Redactor
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    instance_recorder: MastodonInstanceRecorder | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock | None = None, limiter: bool = True, create_store: bool = True
    ) -> Wiring:
        """`create_store=False`: the store creates no database, and is checked when first used."""
        store = Store(
            settings.database_url, create=create_store, refusal=settings.unplaced(), label=settings.database_label()
        )
        clock = clock or SystemClock()
        policy = policy_from(settings)
        # What the Mastodon adapter reads of its instance is kept for checking calendars (instance_facts.py).
        recorder = MastodonInstanceRecorder(store, clock, settings.mastodon_api_base_url)
        return cls(
            settings=settings,
            store=store,
            clock=clock,
            policy=policy,
            adapters=Adapters(settings, policy=policy, mastodon_options={"on_limits": recorder}),
            limiter=RateLimiter(settings.redis_url) if limiter and settings.redis_url else None,
            redact=Redactor.for_settings(settings),
            instance_recorder=recorder,
        )

    def close(self) -> None:
        if self.instance_recorder is not None:
            self.instance_recorder.flush()  # what the adapter last read of its instance is kept before the store goes
        self.adapters.close()
        self.store.dispose()
