"""The application API: what every face (the Click CLI, the Celery tasks, the web workspace) calls. Each method
is one use of the application; a face parses its input, makes one call and renders the answer. Refusals are
`scheduler.errors.Refused` (one family, with an exit code), never a half-applied change."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url

from content_calendar.campaign import load_campaign
from content_calendar.ical import to_ical
from content_calendar.model import DEFAULT_LIMITS, PLATFORMS, CalendarError, PlatformLimits
from content_calendar.validate import CheckResult, check_calendar
from platforms.base import AccountInfo, AdapterError
from platforms.outbox import read_outbox
from scheduler import dispatch, heartbeat, reports, users
from scheduler.calendars import (
    CALENDAR_SUFFIXES,
    CalendarRefused,
    CheckedCalendars,
    Scheduled,
    calendar_files,
    check_calendars,
    schedule_paths,
)
from scheduler.clock import Clock
from scheduler.collecting import (
    NO_CREDENTIALS,
    CollectorOutcome,
    Progress,
    campaigns_to_collect,
    collect_engagement,
    collect_mentions,
    engagement_campaigns,
)
from scheduler.collection import campaigns_in_store
from scheduler.db import Store
from scheduler.dispatch import Cancellation, TickResult, operator_actions, previews
from scheduler.dispatch import Claim as DispatchClaim
from scheduler.dispatch.operator_actions import LateChoice, PauseSummary, Restoration
from scheduler.dispatch.previews import PartPreview, PostPreview
from scheduler.display import local_time, platform_name
from scheduler.embedded import CrashLoop, Engine, start_engine
from scheduler.errors import NotFound, Refused, UsageRefused
from scheduler.executor import Executor, InlineExecutor
from scheduler.heartbeat import Heartbeat
from scheduler.publishing import Outcome, claim_post_now, publish_delivery
from scheduler.reports import FORMATS as ReportFormats
from scheduler.reports import IsoWeek
from scheduler.schedule_summary import ScheduleOutcome, summarise
from scheduler.settings import CREDENTIAL_SETTINGS, Settings, debug_requested, load_settings
from scheduler.status import PostStatus, StatusReport, latest_report, status
from scheduler.users import Person, Role, new_password
from scheduler.wiring import Wiring
from scheduler.workspace import write_workspace

if TYPE_CHECKING:
    from scheduler.rehearse import Rehearsal, RehearsedDelivery

__all__ = [
    "CALENDAR_SUFFIXES",
    "CREDENTIAL_SETTINGS",
    "PLATFORMS",
    "AccountCheck",
    "Api",
    "CalendarRefused",
    "Cancellation",
    "CheckResult",
    "CheckedCalendars",
    "Clock",
    "CollectorOutcome",
    "CrashLoop",
    "DispatchClaim",
    "Engine",
    "Executor",
    "Heartbeat",
    "IsoWeek",
    "NotFound",
    "Outcome",
    "PartPreview",
    "PauseSummary",
    "Person",
    "PostPreview",
    "PostStatus",
    "Refused",
    "ReportFormats",
    "Restoration",
    "Role",
    "ScheduleOutcome",
    "Scheduled",
    "Settings",
    "StatusReport",
    "TickResult",
    "UsageRefused",
    "debug_requested",
    "latest_report",
    "load_settings",
    "local_time",
    "new_password",
    "pause_and_drain",
    "platform_name",
    "shared_api",
]


@dataclass(frozen=True)
class AccountCheck:
    """One platform's account as `accounts check` shows it: who we post as, or why we cannot. No secrets."""

    platform: str
    dry_run: bool
    info: AccountInfo | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.dry_run or (self.info is not None and self.info.can_post and not self.problem)

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "platform": self.platform,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "problem": self.problem or None,
            "handle": info.handle if info else None,
            "account_id": info.account_id if info else None,
            "service": info.service if info else None,
            "can_post": info.can_post if info else None,
            "notes": list(info.notes) if info else [],
        }


class Api:
    """The application, as its faces use it. Build it with `Api.from_settings()` (or from a `Wiring`)."""

    def __init__(self, wiring: Wiring):
        self.wiring = wiring

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, clock: Clock | None = None, create_store: bool = True
    ) -> Api:
        """`create_store=False`: a command that must not create a database (see scheduler.db.Store)."""
        return cls(Wiring.from_settings(settings or load_settings(), clock=clock, create_store=create_store))

    @classmethod
    def init_workspace(cls, folder: Path, **choices: str) -> tuple[Api, bool]:
        """Make `folder` a workspace (unless it is one: its file is kept) and create its database. Returns the
        Api on it, and whether the workspace file was written now."""
        file, written = write_workspace(folder, **choices)
        return cls.from_settings(load_settings(workspace=file)), written

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    @property
    def clock(self) -> Clock:
        return self.wiring.clock

    def close(self) -> None:
        self.wiring.close()

    def campaigns_roots(self, campaigns_dir: Path | None = None) -> list[Path]:
        if campaigns_dir is not None:
            return [campaigns_dir]
        default = self.settings.campaigns_dir
        return [default] if default.is_dir() else []

    # --- calendars (nothing is written) -------------------------------------------------------------------

    def calendar_files(self, paths: Sequence[Path]) -> list[Path]:
        return calendar_files(paths)

    def check_calendars(
        self,
        paths: Sequence[Path],
        *,
        now: datetime | None = None,
        campaigns_dir: Path | None = None,
        limits: PlatformLimits = DEFAULT_LIMITS,
    ) -> CheckedCalendars:
        roots, secrets = self.campaigns_roots(campaigns_dir), self.settings.secrets()
        return check_calendars(paths, now=now, campaigns_roots=roots, limits=limits, secrets=secrets)

    def check_calendar(
        self,
        path: Path,
        *,
        now: datetime | None = None,
        campaigns_dir: Path | None = None,
        limits: PlatformLimits = DEFAULT_LIMITS,
    ) -> CheckResult:
        roots, secrets = self.campaigns_roots(campaigns_dir), self.settings.secrets()
        return check_calendar(path, now=now, limits=limits, campaigns_roots=roots, secrets=secrets)

    def export_ical(self, path: Path, *, campaigns_dir: Path | None = None) -> tuple[CheckResult, bytes | None]:
        """The calendar as iCalendar bytes, or None (with the check's problems) when it has errors."""
        result = self.check_calendar(path, campaigns_dir=campaigns_dir)
        if not result.ok or result.calendar is None:
            return result, None
        return result, to_ical(result.calendar, result.rendered, campaign=result.campaign)

    # --- the schedule -------------------------------------------------------------------------------------

    def schedule(self, paths: Sequence[Path], *, actor: str) -> ScheduleOutcome:
        """Validate every calendar (folders expanded), then sync them all in one transaction; summed up per
        campaign, with its next post."""
        w, now = self.wiring, self.wiring.clock.now()
        roots, secrets = self.campaigns_roots(), self.settings.secrets()
        scheduled = schedule_paths(w.store, paths, now=now, campaigns_roots=roots, actor=actor, secrets=secrets)
        return summarise(w.store, scheduled, now)

    def status(self, *, campaign: str | None = None, limit: int = 20) -> StatusReport:
        report = status(self.wiring.store, self.clock.now(), campaign=campaign, limit=limit)
        latest = latest_report(self.settings.reports_dir, campaign)
        report.latest_report = str(latest) if latest else None
        report.dry_run_platforms = self.settings.dry_run_platforms()
        return report

    def heartbeat(self) -> Heartbeat:
        """Whether the scheduler is running: since when, and when it last checked the schedule."""
        return heartbeat.read(self.wiring.store, self.clock.now())

    def outbox(self, *, path: Path | None = None, tail: int = 20) -> tuple[Path, list[dict[str, Any]]]:
        target = path or self.settings.outbox_path
        entries = read_outbox(target)
        return target, entries[-tail:] if tail else entries

    # --- operating ----------------------------------------------------------------------------------------

    def pause(self, *, reason: str, actor: str, wait: timedelta = timedelta(seconds=120)) -> int:
        """Pause posting; see `pause_and_drain`."""
        if not reason.strip():
            raise UsageRefused("Say why posting is paused (--reason): it is kept with the pause for everyone.")
        return pause_and_drain(self.wiring.store, self.clock, reason=reason, actor=actor, wait=wait)

    def resume(self, *, actor: str) -> PauseSummary:
        """Resume posting; returns what the pause was (who, when, why) and the posts whose time came during it."""
        summary = operator_actions.pause_summary(self.wiring.store, self.clock.now())
        if summary.paused:
            dispatch.resume(self.wiring.store, self.clock.now(), actor=actor)
        return summary

    def describe_post(
        self, post_id: str, action: previews.Action, *, campaign: str | None = None, platform: str | None = None
    ) -> PostPreview:
        """What `action` (cancel, retry, post-now, restore) would do to the post now: shown before asking."""
        w = self.wiring
        return previews.describe_post(w.store, post_id, action, w.clock.now(), campaign=campaign, platform=platform)

    def restore(
        self,
        post_id: str,
        *,
        actor: str,
        reason: str = "",
        campaign: str | None = None,
        platform: str | None = None,
        late: LateChoice | None = None,
    ) -> Restoration:
        """Undo `cancel`. A part past its misfire grace is posted late ("post") or left missed ("leave") only as
        `late` says: without it the restore is refused."""
        return operator_actions.restore(
            self.wiring.store, post_id, self.clock.now(), actor=actor, reason=reason, campaign=campaign,
            platform=platform, late=late,
        )  # fmt: skip

    def cancel(self, post_id: str, *, actor: str, campaign: str | None = None) -> Cancellation:
        return dispatch.cancel(self.wiring.store, post_id, self.clock.now(), actor=actor, campaign=campaign)

    def retry(self, post_id: str, *, actor: str, campaign: str | None = None, platform: str | None = None) -> list[int]:
        return dispatch.retry(
            self.wiring.store, post_id, self.clock.now(), actor=actor, campaign=campaign, platform=platform
        )

    def post_now(self, post_id: str, platform: str, *, actor: str, campaign: str | None = None) -> list[Outcome]:
        """Publish one post (and its thread) to one platform now, in this process, through the same path and
        idempotency key as a scheduled delivery: a second call finds it published and posts nothing."""
        w = self.wiring
        claims, outcomes = claim_post_now(
            w.store, post_id, platform, campaign=campaign, clock=w.clock, policy=w.policy, actor=actor
        )
        executor = self.inline_executor(worker=actor)
        executor.submit(claims)
        outcomes += [outcome for _claim, outcome in executor.run_due()]
        return outcomes

    # --- the engine: what beat and the workers call --------------------------------------------------------

    def tick(self, executor: Executor, *, actor: str) -> TickResult:
        """Claim what is due soon (re-arm lost claims, mark missed what is past its grace) and hand the claims
        to `executor`."""
        w, now = self.wiring, self.wiring.clock.now()
        result = dispatch.tick(w.store, now, w.policy, actor=actor)
        executor.submit(result.claimed)
        heartbeat.beat(w.store, now, tick_seconds=self.settings.tick_seconds, by=actor)
        return result

    def publish(self, delivery_id: int, executor: Executor, *, worker: str) -> Outcome:
        """Publish one claimed delivery; the thread parts it makes ready go to `executor`."""
        w = self.wiring
        outcome = publish_delivery(
            w.store,
            delivery_id,
            adapter_for=w.adapters,
            clock=w.clock,
            policy=w.policy,
            worker=worker,
            limiter=w.limiter,
            redact=w.redact,
        )
        executor.submit(outcome.follow_ups)
        return outcome

    def start_engine(self, *, concurrency: int = 4) -> Engine:
        """Start the scheduler's processes here (Redis unless one is configured, beat, the workers)."""
        return start_engine(self.settings, concurrency=concurrency)

    def database_label(self) -> str:
        """The database URL with its password hidden, to say which schedule a command acted on."""
        return make_url(self.settings.database_url).render_as_string(hide_password=True)

    def inline_executor(self, *, worker: str) -> InlineExecutor:
        return InlineExecutor(self.clock, lambda delivery_id, ex: self.publish(delivery_id, ex, worker=worker))

    def rehearse(
        self,
        paths: Sequence[Path],
        *,
        speed: float,
        start: datetime | None = None,
        on_delivery: Callable[[RehearsedDelivery], None] = lambda _d: None,
        max_real_seconds: float | None = None,
    ) -> Rehearsal:
        """Play calendars on a fast clock through this application's own engine, on a rehearsal store and
        outbox of its own (under the data folder): the real schedule is untouched, nothing is posted."""
        from scheduler.rehearse import rehearse  # it drives an Api of its own, built on a rehearsal store

        if (unplaced := self.settings.unplaced()) is not None:  # nothing said where the data folder is
            raise unplaced
        directory = self.settings.data_dir / "rehearsals" / self.clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        return rehearse(
            paths, speed=speed, start=start, settings=self.settings, directory=directory, on_delivery=on_delivery,
            max_real_seconds=max_real_seconds,
        )  # fmt: skip

    # --- accounts and collection -----------------------------------------------------------------------------

    def accounts_check(self) -> list[AccountCheck]:
        """Log in to each configured account (reusing the cached session): who it is and whether it may post."""
        checks = []
        for platform in PLATFORMS:
            account = self.wiring.adapters.account(platform)
            if account is None:
                checks.append(AccountCheck(platform, dry_run=True))
                continue
            try:
                info = account.check_account()
            except AdapterError as error:
                checks.append(AccountCheck(platform, dry_run=False, problem=self.wiring.redact(str(error))))
                continue
            notes = tuple(self.wiring.redact(note) for note in info.notes)
            checks.append(AccountCheck(platform, dry_run=False, info=replace(info, notes=notes)))
        return checks

    def mention_collectors(self, campaign: str | None = None, platform: str | None = None) -> list[tuple[str, str]]:
        """(campaign, platform) of every mention collector: each campaign folder that can be read."""
        chosen = [platform] if platform else list(PLATFORMS)
        return [(item.slug, name) for item in campaigns_to_collect(self.settings.campaigns_dir, campaign)
                for name in chosen]  # fmt: skip

    def engagement_collectors(self, campaign: str | None = None, platform: str | None = None) -> list[tuple[str, str]]:
        chosen = [platform] if platform else list(PLATFORMS)
        return [(slug, name) for slug in engagement_campaigns(self.wiring.store, campaign) for name in chosen]

    def collect_mentions(
        self,
        campaign: str,
        platform: str,
        *,
        actor: str,
        since: datetime | None = None,
        force: bool = False,
        keep_handles: bool = False,
        progress: Progress | None = None,
    ) -> list[CollectorOutcome]:
        w = self.wiring
        try:
            subject = load_campaign(self.settings.campaigns_dir / campaign)
        except CalendarError as error:
            raise Refused(
                f"The campaign {campaign} cannot be read, so its mentions are not collected: {error}"
            ) from None
        return collect_mentions(
            w.store, subject, platform, w.adapters, clock=w.clock, owner=actor, since=since, force=force,
            keep_handles=keep_handles, redact=w.redact, progress=progress, actor=actor,
        )  # fmt: skip

    def collect_engagement(self, campaign: str, platform: str, *, actor: str, force: bool = False) -> CollectorOutcome:
        w = self.wiring
        return collect_engagement(
            w.store, campaign, platform, w.adapters, clock=w.clock, owner=actor, force=force, redact=w.redact,
            actor=actor,
        )  # fmt: skip

    def collect_now(
        self,
        *,
        actor: str,
        campaign: str | None = None,
        platforms: Sequence[str] = PLATFORMS,
        since: datetime | None = None,
        mentions: bool = True,
        engagement: bool = True,
        keep_handles: bool = False,
        on_step: Callable[[str, int, int], None] | None = None,
        progress: Progress | None = None,
    ) -> list[CollectorOutcome]:
        """Every collector now (the `collect` command): mentions of each campaign folder, then engagement of our
        published posts, on each platform asked for. `on_step(description, done, total)` follows along."""
        jobs: list[tuple[str, str, str]] = []
        if mentions:
            try:
                folders = campaigns_to_collect(self.settings.campaigns_dir, campaign)
            except CalendarError as error:
                raise Refused(f"The campaign {campaign} cannot be read: {error}") from None
            jobs += [("mentions", item.slug, p) for item in folders for p in platforms]
        if engagement:
            slugs = engagement_campaigns(self.wiring.store, campaign)
            jobs += [("engagement", slug, p) for slug in slugs for p in platforms]
        outcomes: list[CollectorOutcome] = []
        for done, (kind, slug, platform) in enumerate(jobs):
            if on_step is not None:
                on_step(f"{slug} {platform}: {kind}", done, len(jobs))
            if kind == "mentions":
                outcomes += self.collect_mentions(
                    slug, platform, actor=actor, since=since, force=True, keep_handles=keep_handles, progress=progress
                )
            else:
                outcomes.append(self.collect_engagement(slug, platform, actor=actor, force=True))
        if on_step is not None:
            on_step("done", len(jobs), len(jobs))
        return outcomes

    def collection_notices(self, platforms: Sequence[str] = PLATFORMS) -> list[str]:
        """What collection cannot read for lack of credentials, in words."""
        return [
            f"{NO_CREDENTIALS[p]}: its collectors are skipped." for p in platforms if not self.settings.configured(p)
        ]

    # --- people ------------------------------------------------------------------------------------------

    def people(self) -> list[Person]:
        return users.people(self.wiring.store)

    def person(self, name: str) -> Person:
        """Who `name` is; NotFound when the workspace does not know them."""
        found = users.find_person(self.wiring.store, name)
        if found is None:
            raise NotFound(
                f"There is no user called {name!r} here: an admin adds one with `campaign users add {name} --role ...`."
            )
        return found

    def add_person(self, name: str, role: str, *, password: str | None, actor: str) -> Person:
        return users.add_user(
            self.wiring.store, name, users.role_of(role), password=password, actor=actor, now=self.clock.now()
        )

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        users.set_password(self.wiring.store, name, password, actor=actor, now=self.clock.now())

    def set_role(self, name: str, role: str, *, actor: str) -> Person:
        return users.set_role(self.wiring.store, name, users.role_of(role), actor=actor, now=self.clock.now())

    def remove_person(self, name: str, *, actor: str) -> None:
        users.remove_user(self.wiring.store, name, actor=actor, now=self.clock.now())

    def sign_out_everywhere(self, name: str, *, actor: str) -> None:
        users.end_sessions(self.wiring.store, name, actor=actor, now=self.clock.now())

    def sign_in(self, name: str, password: str) -> users.SignIn:
        return users.authenticate(self.wiring.store, name, password, self.clock.now())

    def first_admin(self, *, actor: str) -> tuple[str, str] | None:
        """On a first start with nobody to sign in: an `admin` with a new password, to be shown once."""
        return users.first_admin(self.wiring.store, actor=actor, now=self.clock.now())

    # --- reports -----------------------------------------------------------------------------------------

    def report_campaigns(self, campaign: str | None = None) -> list[str]:
        return [campaign] if campaign else campaigns_in_store(self.wiring.store)

    def weekly_report(
        self,
        campaign: str,
        week: reports.IsoWeek,
        *,
        output: Path | None = None,
        formats: Sequence[str] = reports.FORMATS,
        include_handles: bool = False,
    ) -> list[Path]:
        report = reports.weekly_report_for(
            self.wiring.store, campaign, week, campaigns_dir=self.settings.campaigns_dir,
            include_handles=include_handles, now=self.clock.now(),
        )  # fmt: skip
        return reports.write_report(report, output or self.settings.reports_dir / campaign, formats)

    def write_due_reports(self, campaign: str | None = None) -> list[Path]:
        """Last week's report of every campaign once it is due (Monday 07:00 in the campaign's zone) and not
        written yet."""
        return reports.write_due_reports(
            self.wiring.store, self.settings.reports_dir, self.report_campaigns(campaign), self.clock.now(),
            campaigns_dir=self.settings.campaigns_dir,
        )  # fmt: skip

    def latest_report(self, campaign: str | None = None) -> Path | None:
        return latest_report(self.settings.reports_dir, campaign)


def pause_and_drain(
    store: Store,
    clock: Clock,
    *,
    reason: str,
    actor: str,
    wait: timedelta = timedelta(seconds=120),
    poll_seconds: float = 0.1,
) -> int:
    """Pause, then wait until no adapter call that began before the pause is still under way.

    When this returns 0, nothing more will be posted until `resume`. Returns how many publishes were still
    in flight when `wait` ran out (they may still complete)."""
    dispatch.pause(store, clock.now(), reason=reason, actor=actor)
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        busy = dispatch.in_flight(store)
        if busy == 0 or time.monotonic() >= deadline:
            return busy
        time.sleep(poll_seconds)


_shared: tuple[int, Api] | None = None
_shared_lock = threading.Lock()


def shared_api() -> Api:
    """One Api per process, built from the environment's settings when first asked (again after a fork), for
    faces that live as long as the process (Celery workers and beat)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), Api.from_settings())
        return _shared[1]


def reset_shared_api() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None and _shared[0] == os.getpid():
            _shared[1].close()
        _shared = None
