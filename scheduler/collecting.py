"""The collectors: per campaign and platform, read hashtag mentions and engagement through the read side of
the platform adapters and keep them in the store (scheduler/collection/).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from content_calendar.campaign import known_campaigns, load_campaign
from content_calendar.model import PLATFORM_NAMES, CalendarError, Campaign
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
    store_mention_page,
    store_snapshots,
)
from scheduler.db import Store
from scheduler.redaction import no_redaction
from scheduler.settings import CREDENTIAL_SETTINGS

log = logging.getLogger("campaign.collect")

NO_CREDENTIALS = {
    platform: f"{PLATFORM_NAMES[platform]} has no credentials (set {names})"
    for platform, names in CREDENTIAL_SETTINGS.items()
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
        self.since: datetime | None
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
    redact: Callable[[str], str] = no_redaction,
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
    redact: Callable[[str], str] = no_redaction,
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
    redact: Callable[[str], str] = no_redaction,
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
