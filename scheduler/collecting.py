"""The collectors: per campaign and platform, read hashtag mentions and engagement through the read side of
the platform adapters and keep them in the store (scheduler/collection.py).

- Mentions. Bluesky: `searchPosts` through the account's PDS, newest first; a run is a *sweep* from the newest
  post back to `since` (the start of the previous sweep, less an overlap), and the page cursor inside a sweep
  is stored with each page, so a restart resumes the sweep where it stopped. Mastodon: the hashtag timeline of
  every watched instance, one collector per instance; the adapter's cursor is a *position* (min_id per tag)
  that is stored with each page. Each run gets a request budget per instance (read anonymously; see
  MastodonAdapter.search_mentions_on), so collection never spends the rate limit posting needs. Mentions are
  stored once per campaign, keyed by the post's URI, whatever instance or page they come from.
- Engagement. Our published posts (not dry runs): hourly for 7 days, daily to day 30, in batches.
- Failure. A failing collector (rate limit, credentials, network) records why, backs off (to the rate
  limit's reset when known, else exponentially), and never touches posting: collection runs on the `collect`
  queue, posting on `publish`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from content_calendar.campaign import known_campaigns, load_campaign
from content_calendar.model import CalendarError, Campaign
from platforms.base import (
    CredentialsError,
    Engagement,
    MentionPage,
    PermanentError,
    RateLimited,
    TransientError,
)
from scheduler.clock import Clock
from scheduler.collection import (
    ENGAGEMENT,
    MENTIONS,
    CollectorKey,
    LeaseLost,
    MentionPolicy,
    MentionWriter,
    RunRecord,
    SnapshotPolicy,
    WriteResult,
    campaigns_in_store,
    claim_collector,
    finish_collector,
    posts_due_for_snapshot,
    record_skip,
    search_tags,
    store_mention_page,
    store_snapshots,
)
from scheduler.db import Store
from scheduler.settings import Settings

log = logging.getLogger("campaign.collect")

PLATFORMS = ("bluesky", "mastodon")
COLLECT_SECONDS_ENV = "CAMPAIGN_COLLECT_SECONDS"
ENGAGEMENT_SECONDS_ENV = "CAMPAIGN_ENGAGEMENT_SECONDS"
DEFAULT_COLLECT_SECONDS = 300.0  # mentions: every 5 minutes
DEFAULT_ENGAGEMENT_SECONDS = 600.0  # engagement: checked every 10 minutes, snapshots only when due
REPORT_CHECK_SECONDS = 600.0  # the weekly report task checks whether last week's report is due
NO_CREDENTIALS = {
    "bluesky": "Bluesky has no credentials (set BLUESKY_HANDLE and BLUESKY_APP_PASSWORD)",
    "mastodon": "Mastodon has no credentials (set MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN)",
}


# --- configuration ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectOptions:
    lease: timedelta = timedelta(minutes=10)  # a run holding a collector longer than this is presumed dead
    initial_lookback: timedelta = timedelta(days=7)  # how far back a collector's very first run reads
    overlap: timedelta = timedelta(minutes=10)  # re-read at a sweep's edge: late-indexed posts are not missed
    max_calls: int = 50  # adapter calls per collector per run; the cursor keeps the rest for the next run
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_cap: timedelta = timedelta(hours=1)
    credentials_backoff: timedelta = timedelta(minutes=30)
    engagement_batch: int = 100
    snapshots: SnapshotPolicy = field(default_factory=SnapshotPolicy)


def _seconds_from_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default


def collect_beat_schedule() -> dict[str, dict[str, Any]]:
    """Beat entries for workers/app.py: mentions every CAMPAIGN_COLLECT_SECONDS (default 300), engagement
    every CAMPAIGN_ENGAGEMENT_SECONDS (default 600), and the weekly report check every 10 minutes (it writes
    last week's report once it is Monday 07:00 in Europe/London, and catches up after downtime)."""
    mentions = _seconds_from_env(COLLECT_SECONDS_ENV, DEFAULT_COLLECT_SECONDS)
    engagement = _seconds_from_env(ENGAGEMENT_SECONDS_ENV, DEFAULT_ENGAGEMENT_SECONDS)
    return {
        "collect-mentions": {
            "task": "campaign.collect_mentions",
            "schedule": mentions,
            "options": {"queue": "collect", "expires": mentions},
        },
        "collect-engagement": {
            "task": "campaign.collect_engagement",
            "schedule": engagement,
            "options": {"queue": "collect", "expires": engagement},
        },
        "report-weekly": {
            "task": "campaign.report_weekly",
            "schedule": REPORT_CHECK_SECONDS,
            "options": {"queue": "collect", "expires": REPORT_CHECK_SECONDS},
        },
    }


# --- where mentions and counts come from -----------------------------------------------------------------


class NotConfigured(Exception):
    """The platform has no credentials: its collectors are skipped (the message says which settings)."""


ReadPage = Callable[[Sequence[str], "datetime | None", "str | None"], MentionPage]


Rewind = Callable[[str, datetime], str]


@dataclass(frozen=True)
class MentionSource:
    """One place mentions are read from, and how its cursor behaves."""

    platform: str
    source: str  # the service or instance base URL
    paging: Literal["sweep", "position"]  # sweep: cursor None = sweep done; position: store what comes back
    read: ReadPage
    tags: tuple[str, ...]
    # Position paging: a stored cursor moved back so that every tag in it reads again from no later than the
    # instant given (a backfill), keeping each tag's position where it is already earlier.
    rewind: Rewind | None = None


class EngagementReader(Protocol):
    def engagement(self, remote_ids: Sequence[str]) -> list[Engagement]: ...


class AdapterProvider(Protocol):
    def mention_sources(self, campaign: Campaign, platform: str) -> list[MentionSource]:
        """Raises NotConfigured when the platform has no credentials."""
        ...

    def engagement_reader(self, platform: str) -> EngagementReader: ...

    def own_accounts(self, campaign: Campaign, platform: str) -> list[str]:
        """Our account names on the platform (their posts are deliveries, not mentions)."""
        ...


class SettingsAdapters:
    """The real adapters, built once per process from settings (only for platforms with credentials)."""

    def __init__(
        self,
        settings: Settings,
        *,
        bluesky_options: dict[str, Any] | None = None,
        mastodon_options: dict[str, Any] | None = None,
    ):
        self.settings = settings
        self.options = {"bluesky": bluesky_options or {}, "mastodon": mastodon_options or {}}
        self._lock = threading.Lock()
        self._built: dict[str, Any] = {}

    def _adapter(self, platform: str) -> Any:
        with self._lock:
            if platform in self._built:
                return self._built[platform]
            if platform == "bluesky":
                if not self.settings.bluesky_configured:
                    raise NotConfigured(NO_CREDENTIALS["bluesky"])
                from platforms.bluesky import BlueskyAdapter

                if self.options["bluesky"]:
                    adapter: Any = BlueskyAdapter(
                        service=self.settings.bluesky_service,
                        handle=self.settings.bluesky_handle,
                        app_password=self.settings.bluesky_app_password,
                        data_dir=self.settings.data_dir,
                        **self.options["bluesky"],
                    )
                else:
                    adapter = BlueskyAdapter.from_settings(self.settings)
            elif platform == "mastodon":
                if not self.settings.mastodon_configured:
                    raise NotConfigured(NO_CREDENTIALS["mastodon"])
                from platforms.mastodon import MastodonAdapter

                adapter = MastodonAdapter.from_settings(self.settings, **self.options["mastodon"])
            else:
                raise NotConfigured(f"No collector for the platform {platform!r}.")
            self._built[platform] = adapter
            return adapter

    def mention_sources(self, campaign: Campaign, platform: str) -> list[MentionSource]:
        adapter = self._adapter(platform)
        tags = (*campaign.hashtags, *campaign.hashtag_variants)
        if platform == "bluesky":
            # Every spelling, not one per case-folded tag: a case-sensitive search backend (the reference app
            # view) then still finds each; the store keeps each post once whichever search found it.
            spellings = tuple(dict.fromkeys(t.strip().lstrip("#") for t in tags if t.strip("# ")))

            def read_bluesky(tags: Sequence[str], since: datetime | None, cursor: str | None) -> MentionPage:
                return adapter.search_mentions(tags, since=since, cursor=cursor)

            return [MentionSource("bluesky", adapter.service, "sweep", read_bluesky, spellings)]
        # Mastodon: our own instance and each watched one, separately, so one instance failing (or rate
        # limiting us) holds up only its own collector.
        instances = dict.fromkeys(u.rstrip("/") for u in (adapter.api_base_url, *campaign.mastodon_instances))
        folded = tuple(search_tags(tags))
        sources = []
        for instance in instances:
            # One budget per instance for this run: it bounds the run's requests there, and keeps our token's
            # last requests for posting when our instance must be read with it (see MastodonAdapter).
            budget = adapter.read_budget()

            def read_instance(
                tags: Sequence[str],
                since: datetime | None,
                cursor: str | None,
                *,
                instance: str = instance,
                budget: Any = budget,
            ) -> MentionPage:
                return adapter.search_mentions_on([instance], tags, since=since, cursor=cursor, budget=budget)

            sources.append(
                MentionSource("mastodon", instance, "position", read_instance, folded, adapter.rewind_cursor)
            )
        return sources

    def engagement_reader(self, platform: str) -> EngagementReader:
        return self._adapter(platform)  # type: ignore[no-any-return]

    def own_accounts(self, campaign: Campaign, platform: str) -> list[str]:
        names = [campaign.accounts[platform]] if platform in campaign.accounts else []
        if platform == "bluesky" and self.settings.bluesky_handle:
            names.append(self.settings.bluesky_handle)
        if platform == "mastodon" and self.settings.mastodon_configured:
            try:
                adapter = self._adapter("mastodon")
                me = adapter.me()
                acct, url, uri = (str((me.get(k) if isinstance(me, dict) else getattr(me, k, "")) or "")
                                  for k in ("acct", "url", "uri"))  # fmt: skip
                if acct and "@" not in acct:
                    acct = f"{acct}@{adapter.account}"  # as mentions qualify a local acct: with the instance's host
                names += [n for n in (acct, uri, url) if n]  # our own instance's answer about us: url is trusted
            except Exception as error:  # who we are is a nicety here: our own posts are also known by URI
                log.info("could not read our Mastodon account (%s); own posts are recognised by URI", type(error))
        return names


# --- outcomes ----------------------------------------------------------------------------------------------


@dataclass
class CollectorOutcome:
    key: CollectorKey
    outcome: str  # ok | failed | rate_limited | skipped | busy
    detail: str = ""
    pages: int = 0
    result: WriteResult = field(default_factory=WriteResult)
    snapshots: int = 0
    retry_at: datetime | None = None

    def describe(self) -> str:
        if self.outcome == "ok":
            if self.key.kind == ENGAGEMENT:
                return f"{self.key.describe()}: {self.snapshots} snapshot(s)"
            r = self.result
            return (
                f"{self.key.describe()}: {r.stored} new mention(s), {r.duplicates} already stored, "
                f"{r.ignored} ignored, {self.pages} page(s)"
            )
        when = f" (next try after {self.retry_at:%Y-%m-%d %H:%M} UTC)" if self.retry_at else ""
        return f"{self.key.describe()}: {self.outcome}: {self.detail}{when}"


Progress = Callable[[CollectorOutcome], None]


def _failure(
    error: BaseException, failures: int, now: datetime, options: CollectOptions, redact: Callable[[str], str]
) -> tuple[str, str, datetime]:
    """(outcome, safe message, when to try again) for an error of a collector that has failed `failures`
    times before in a row."""
    exponential = min(options.backoff_cap, options.backoff_base * (2 ** min(failures, 16)))
    message = redact(str(error)) or type(error).__name__
    if isinstance(error, RateLimited):
        if error.reset_at is not None and error.reset_at > now:
            retry_at = error.reset_at
        elif error.retry_after:
            retry_at = now + timedelta(seconds=error.retry_after)
        else:
            retry_at = now + exponential
        return "rate_limited", message, retry_at
    if isinstance(error, CredentialsError):
        return "failed", message, now + max(options.credentials_backoff, exponential)
    if isinstance(error, PermanentError):
        return "failed", message, now + options.backoff_cap
    if isinstance(error, TransientError):
        retry_at = now + exponential
        if error.retry_after:
            retry_at = max(retry_at, now + timedelta(seconds=error.retry_after))
        return "failed", message, retry_at
    return "failed", f"{type(error).__name__}: {message}", now + exponential


def _no_redaction(text: str) -> str:
    return text


# --- mentions ------------------------------------------------------------------------------------------


def _decode_state(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class _Paging:
    """How a source's stored cursor turns into requests, and each answer into the state stored with its page."""

    def request(self) -> tuple[datetime | None, str | None]:
        """(since, cursor) for the next call."""
        raise NotImplementedError

    def advance(self, page: MentionPage) -> tuple[str, bool]:
        """(the state to store with this page's mentions, whether this run is done)."""
        raise NotImplementedError


RESTART_SWEEP_AFTER = 3  # consecutive failures resuming a sweep before it is started again


class _Sweep(_Paging):
    """Newest first down to `since`; the server's cursor pages within one sweep and None ends it. The next
    sweep reads down to where this one started, less an overlap, so late-indexed posts are not missed.

    A backfill (`since_override`) sweeps from the newest post down to the earlier of its `since` and where the
    stored cursor would have read down to: once it is done the cursor moves to now, so anything between the
    stored cursor and a later `since` would otherwise never be read."""

    def __init__(
        self,
        state: dict[str, Any],
        now: datetime,
        since_override: datetime | None,
        options: CollectOptions,
        failures: int = 0,
        rewind: Rewind | None = None,
    ):
        self.overlap = options.overlap
        self.started = now
        if since_override is not None:
            # A sweep under way had read down to its page; one that finished would next read to next_since.
            floor = _from_iso(state.get("since")) if state.get("page") else _from_iso(state.get("next_since"))
            self.page = None
            self.since = min(since_override, floor) if floor is not None else since_override
        elif state.get("page") and failures >= RESTART_SWEEP_AFTER:
            # Resuming keeps failing (a server cursor that expired?): read the sweep again from its newest post;
            # what was already stored counts as duplicates.
            self.page, self.since = None, _from_iso(state.get("since")) or now - options.initial_lookback
            self.started = _from_iso(state.get("started")) or now
        elif state.get("page"):  # resume a sweep a crash or the call limit interrupted
            self.page, self.since = str(state["page"]), _from_iso(state.get("since"))
            self.started = _from_iso(state.get("started")) or now
        else:
            self.page = None
            self.since = _from_iso(state.get("next_since")) or now - options.initial_lookback

    def request(self) -> tuple[datetime | None, str | None]:
        return self.since, self.page

    def advance(self, page: MentionPage) -> tuple[str, bool]:
        if page.cursor is None or page.cursor == self.page:
            return json.dumps({"next_since": _iso(self.started - self.overlap)}), True
        self.page = page.cursor
        return json.dumps({"page": self.page, "since": _iso(self.since), "started": _iso(self.started)}), False


class _Position(_Paging):
    """The adapter's cursor is a position returned after every call: store it, pass it back. Reading stops
    when a call moves it no further.

    `since` always goes with it: where a tag without a position of its own starts (a variant added to the
    campaign later, a first run), the campaign's lookback; tags with a position go on from it. A backfill
    (`since_override`) rewinds every tag's position to no later than its `since` (never discards one: the
    statuses between a position and a later `since` would be lost) and starts new tags there."""

    def __init__(
        self,
        state: dict[str, Any],
        now: datetime,
        since_override: datetime | None,
        options: CollectOptions,
        failures: int = 0,
        rewind: Rewind | None = None,
    ):
        stored = state.get("position")
        self.position: str | None = stored if isinstance(stored, str) and stored else None
        if since_override is not None and self.position is not None and rewind is not None:
            self.position = rewind(self.position, since_override)
        self.since = since_override or now - options.initial_lookback

    def request(self) -> tuple[datetime | None, str | None]:
        return self.since, self.position

    def advance(self, page: MentionPage) -> tuple[str, bool]:
        done = page.cursor is None or page.cursor == self.position or not page.mentions
        if page.cursor is not None:
            self.position = page.cursor
        return json.dumps({"position": self.position}), done


def collect_source(
    store: Store,
    writer: MentionWriter,
    source: MentionSource,
    campaign: str,
    *,
    clock: Clock,
    owner: str,
    since: datetime | None = None,
    force: bool = False,
    options: CollectOptions | None = None,
    redact: Callable[[str], str] = _no_redaction,
    progress: Progress | None = None,
    actor: str = "",
) -> CollectorOutcome:
    """Run one mention collector: claim it, read pages until the source has nothing more (or `max_calls`),
    storing each page with its cursor, then release it and record the run. `since` backfills: reading starts
    no later than that instant, nor later than the stored cursor would have (nothing between the two is
    skipped); `force` ignores a back-off (not another run's lease)."""
    options = options or CollectOptions()
    key = CollectorKey(campaign, MENTIONS, source.platform, source.source)
    now = clock.now()
    backfill = since is not None
    claim = claim_collector(store, key, now, owner=owner, lease=options.lease, ignore_backoff=force or backfill)
    if not claim.granted:
        return CollectorOutcome(key, "busy", claim.reason, retry_at=claim.next_attempt_at)
    state = _decode_state(claim.cursor)
    paging: _Paging = (_Sweep if source.paging == "sweep" else _Position)(
        state, now, since, options, claim.consecutive_failures, source.rewind
    )
    run = RunRecord(key, now, actor=actor)
    outcome = CollectorOutcome(key, "ok", result=run.result)
    try:
        for _ in range(options.max_calls):
            since_arg, cursor = paging.request()
            page = source.read(source.tags, since_arg, cursor)
            stored_state, done = paging.advance(page)
            result = store_mention_page(
                store, writer, claim, owner, page.mentions, stored_state, clock.now(), lease=options.lease
            )
            run.pages += 1
            run.result.add(result)
            outcome.pages = run.pages
            if progress is not None:
                progress(outcome)
            if done:
                break
    except LeaseLost as lost:
        outcome.outcome, outcome.detail = "busy", str(lost)
        return outcome
    except Exception as error:
        kind, message, retry_at = _failure(error, claim.consecutive_failures, clock.now(), options, redact)
        finish_collector(store, claim, owner, run, clock.now(), outcome=kind, error=message, retry_at=retry_at)
        log.warning("collector %s %s: %s; next try after %s", key.describe(), kind, message, retry_at.isoformat())
        outcome.outcome, outcome.detail, outcome.retry_at = kind, message, retry_at
        return outcome
    finish_collector(store, claim, owner, run, clock.now())
    return outcome


def mention_policy(
    campaign: Campaign, own_accounts: Sequence[str], platform: str, *, keep_handles: bool = False
) -> MentionPolicy:
    return MentionPolicy.build(
        campaign.slug,
        (*campaign.hashtags, *campaign.hashtag_variants),
        organisation_accounts=campaign.organisation_accounts,
        own_accounts={platform: own_accounts},
        keep_handles=keep_handles,
        zone=campaign.timezone,
    )


def collect_mentions(
    store: Store,
    campaign: Campaign,
    platform: str,
    adapters: AdapterProvider,
    *,
    clock: Clock,
    owner: str,
    since: datetime | None = None,
    force: bool = False,
    keep_handles: bool = False,
    options: CollectOptions | None = None,
    redact: Callable[[str], str] = _no_redaction,
    progress: Progress | None = None,
    actor: str = "",
) -> list[CollectorOutcome]:
    """Every mention collector of one campaign on one platform (Mastodon: one per watched instance). Handles are
    kept when asked (`keep_handles`, `campaign collect --keep-handles`) or when campaign.yaml says so
    (`reports: {keep_handles: true}`): beat honours the campaign's setting."""
    keep_handles = keep_handles or campaign.keep_handles
    try:
        sources = adapters.mention_sources(campaign, platform)
    except NotConfigured as missing:
        key = CollectorKey(campaign.slug, MENTIONS, platform)
        record_skip(store, key, clock.now(), str(missing), actor=actor)
        return [CollectorOutcome(key, "skipped", str(missing))]
    own = adapters.own_accounts(campaign, platform)
    writer = MentionWriter(store, mention_policy(campaign, own, platform, keep_handles=keep_handles))
    return [
        collect_source(
            store,
            writer,
            source,
            campaign.slug,
            clock=clock,
            owner=owner,
            since=since,
            force=force,
            options=options,
            redact=redact,
            progress=progress,
            actor=actor,
        )
        for source in sources
    ]


# --- engagement ------------------------------------------------------------------------------------------


def collect_engagement(
    store: Store,
    campaign: str,
    platform: str,
    adapters: AdapterProvider,
    *,
    clock: Clock,
    owner: str,
    force: bool = False,
    options: CollectOptions | None = None,
    redact: Callable[[str], str] = _no_redaction,
    actor: str = "",
) -> CollectorOutcome:
    """Snapshot the counts of our posts whose next snapshot is due, in batches."""
    options = options or CollectOptions()
    key = CollectorKey(campaign, ENGAGEMENT, platform)
    now = clock.now()
    due = posts_due_for_snapshot(store, campaign, platform, now, options.snapshots)
    if not due:
        return CollectorOutcome(key, "ok", "nothing due")
    try:
        reader = adapters.engagement_reader(platform)
    except NotConfigured as missing:
        record_skip(store, key, now, str(missing), actor=actor)
        return CollectorOutcome(key, "skipped", str(missing))
    claim = claim_collector(store, key, now, owner=owner, lease=options.lease, ignore_backoff=force)
    if not claim.granted:
        return CollectorOutcome(key, "busy", claim.reason, retry_at=claim.next_attempt_at)
    run = RunRecord(key, now, actor=actor)
    outcome = CollectorOutcome(key, "ok", result=run.result)
    try:
        for start in range(0, len(due), options.engagement_batch):
            batch = due[start : start + options.engagement_batch]
            counts = reader.engagement([post.remote_id for post in batch])
            written = store_snapshots(store, campaign, platform, batch, counts, clock.now())
            run.pages += 1
            run.result.fetched += len(counts)
            run.result.stored += written
            outcome.snapshots += written
            outcome.pages = run.pages
    except Exception as error:
        kind, message, retry_at = _failure(error, claim.consecutive_failures, clock.now(), options, redact)
        finish_collector(store, claim, owner, run, clock.now(), outcome=kind, error=message, retry_at=retry_at)
        log.warning("collector %s %s: %s; next try after %s", key.describe(), kind, message, retry_at.isoformat())
        outcome.outcome, outcome.detail, outcome.retry_at = kind, message, retry_at
        return outcome
    finish_collector(store, claim, owner, run, clock.now())
    return outcome


# --- everything at once (the CLI and the beat fan-out) ------------------------------------------------------


def campaigns_to_collect(campaigns_dir: Path, only: str | None = None) -> list[Campaign]:
    """The campaigns with a campaign.yaml (their hashtags say what to collect). Raises CalendarError for a
    named campaign that cannot be read; skips (and logs) unreadable ones otherwise."""
    names = [only] if only else known_campaigns([campaigns_dir])
    campaigns = []
    for name in names:
        try:
            campaigns.append(load_campaign(campaigns_dir / name))
        except CalendarError as error:
            if only:
                raise
            log.error("campaign %s cannot be read, so it is not collected: %s", name, error)
    return campaigns


def engagement_campaigns(store: Store, only: str | None = None) -> list[str]:
    return [only] if only else campaigns_in_store(store)
