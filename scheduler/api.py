"""The application API: what every face (the Click CLI, the Celery tasks, the web workspace) calls. Each method
is one use of the application; a face parses its input, makes one call and renders the answer. Refusals are
`scheduler.errors.Refused` (one family, with an exit code), never a half-applied change."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from content_calendar.ical import to_ical
from content_calendar.model import PLATFORMS
from content_calendar.validate import CheckResult, check_calendar
from content_calendar.validate.findings import FindingsReport, findings_report
from platforms.outbox import read_outbox
from scheduler import dispatch, heartbeat, resuming
from scheduler.api_alerts import AlertsApi, Delivered, Health, HoldView, LoginCheck, Placed, Released, ReleasePreview
from scheduler.api_collect import AccountCheck, CollectingApi, ReportsApi
from scheduler.api_demo import DEMO_LABEL, DemoApi  # rehearsals and the demo workspace
from scheduler.api_people import PeopleApi
from scheduler.api_review import ApprovalPanel, AuthorUnknown, Decision, FileApproval, ReviewApi, ReviewItem
from scheduler.api_views import ViewsApi  # the web workspace's calendar and post pages
from scheduler.api_workspace import (
    AuditEntry,
    AuditPage,
    CalendarFileCheck,
    ReportFile,
    SchedulerBanner,
    ShownProblem,
    WorkspaceCalendars,
    WorkspaceReads,
)
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
    CollectorOutcome,
)
from scheduler.db import Store
from scheduler.dispatch import Cancellation, TickResult, operator_actions, previews
from scheduler.dispatch import Claim as DispatchClaim
from scheduler.dispatch.operator_actions import LateChoice, Restoration
from scheduler.dispatch.previews import PartPreview, PostPreview
from scheduler.display import local_time, platform_name
from scheduler.embedded import CrashLoop, Engine, ExtraProcess, start_engine
from scheduler.errors import NotFound, Refused, UsageRefused
from scheduler.executor import Executor, InlineExecutor
from scheduler.heartbeat import Heartbeat
from scheduler.hold_actions import PassedPost
from scheduler.publishing import Outcome, claim_post_now, publish_delivery
from scheduler.reports import FORMATS as ReportFormats
from scheduler.reports import IsoWeek
from scheduler.resuming import Resumed, ResumePreview
from scheduler.schedule_summary import ScheduleOutcome, summarise
from scheduler.settings import CREDENTIAL_SETTINGS, Settings, debug_requested, load_settings
from scheduler.status import PostStatus, StatusReport, latest_report, status
from scheduler.users import Person, Role, new_password
from scheduler.wiring import Wiring
from scheduler.workspace import write_workspace

__all__ = [
    "CALENDAR_SUFFIXES",
    "CREDENTIAL_SETTINGS",
    "DEMO_LABEL",
    "PLATFORMS",
    "AccountCheck",
    "Api",
    "ApprovalPanel",
    "AuditEntry",
    "AuditPage",
    "AuthorUnknown",
    "CalendarFileCheck",
    "CalendarRefused",
    "Cancellation",
    "CheckResult",
    "CheckedCalendars",
    "Clock",
    "CollectorOutcome",
    "CrashLoop",
    "Decision",
    "Delivered",
    "DispatchClaim",
    "Engine",
    "Executor",
    "FileApproval",
    "Health",
    "Heartbeat",
    "HoldView",
    "IsoWeek",
    "LoginCheck",
    "NotFound",
    "Outcome",
    "PartPreview",
    "PassedPost",
    "Person",
    "Placed",
    "PostPreview",
    "PostStatus",
    "Refused",
    "ReleasePreview",
    "Released",
    "ReportFile",
    "ReportFormats",
    "Restoration",
    "ResumePreview",
    "Resumed",
    "ReviewItem",
    "Role",
    "ScheduleOutcome",
    "Scheduled",
    "SchedulerBanner",
    "Settings",
    "ShownProblem",
    "StatusReport",
    "TickResult",
    "UsageRefused",
    "WorkspaceCalendars",
    "debug_requested",
    "latest_report",
    "load_settings",
    "local_time",
    "new_password",
    "pause_and_drain",
    "platform_name",
    "shared_api",
]


class Api(CollectingApi, PeopleApi, ReportsApi, WorkspaceReads, ViewsApi, DemoApi, ReviewApi, AlertsApi):
    """The application, as its faces use it. Build it with `Api.from_settings()` (or from a `Wiring`). Its
    methods come in families: this module (calendars, the schedule, operating, the engine) and the mixins it
    inherits (scheduler/api_collect.py: accounts, collection and reports; scheduler/api_people.py: people)."""

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

    # --- calendars (nothing is written) -------------------------------------------------------------------

    def calendar_files(self, paths: Sequence[Path]) -> list[Path]:
        return calendar_files(paths)

    def check_calendars(
        self,
        paths: Sequence[Path],
        *,
        now: datetime | None = None,
        campaigns_dir: Path | None = None,
        mastodon_max_characters: int | None = None,
    ) -> CheckedCalendars:
        roots, secrets = self.campaigns_roots(campaigns_dir), self.settings.secrets()
        limits = self.calendar_limits(mastodon_max_characters=mastodon_max_characters)
        return check_calendars(paths, now=now, campaigns_roots=roots, limits=limits, secrets=secrets)

    def calendar_findings(
        self,
        paths: Sequence[Path],
        *,
        accessibility: bool = False,
        now: datetime | None = None,
        campaigns_dir: Path | None = None,
    ) -> tuple[CheckedCalendars, FindingsReport]:
        """The calendars checked, and their findings grouped by file and post with a count per kind (only the
        accessibility and safe-messaging ones when `accessibility`): `campaign calendar check`."""
        checked = self.check_calendars(paths, now=now, campaigns_dir=campaigns_dir)
        return checked, findings_report(checked.problems, accessibility=accessibility)

    def check_calendar(
        self,
        path: Path,
        *,
        now: datetime | None = None,
        campaigns_dir: Path | None = None,
        mastodon_max_characters: int | None = None,
    ) -> CheckResult:
        roots, secrets = self.campaigns_roots(campaigns_dir), self.settings.secrets()
        limits = self.calendar_limits(mastodon_max_characters=mastodon_max_characters)
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
        scheduled = schedule_paths(
            w.store, paths, now=now, campaigns_roots=roots, actor=actor, secrets=secrets, limits=self.calendar_limits()
        )
        return summarise(w.store, scheduled, now)

    def status(self, *, campaign: str | None = None, limit: int = 20) -> StatusReport:
        report = status(self.wiring.store, self.clock.now(), campaign=campaign, limit=limit)
        latest = latest_report(self.settings.reports_dir, campaign)
        report.latest_report = str(latest) if latest else None
        report.dry_run_platforms = self.settings.dry_run_platforms()
        report.demo = self.is_demo()
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

    def resume(self, *, actor: str, choices: Mapping[str, LateChoice] | None = None) -> Resumed:
        """Resume posting, as releasing a hold of every post (see `resume_preview`): `choices` ("campaign/post_id"
        -> "post" or "leave") must answer for every post whose time came while paused, or nothing changes and
        posting stays paused. Nothing held back goes out late unchosen. Not paused: nothing changes."""
        return resuming.resume(self.wiring.store, self.clock.now(), actor=actor, choices=choices or {},
                               zone=self.settings.timezone)  # fmt: skip

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

    def start_engine(self, *, concurrency: int = 4, extra: Sequence[ExtraProcess] = ()) -> Engine:
        """Start the scheduler's processes here (Redis unless one is configured, beat, the workers, and `extra`:
        what a face asks to run beside them, such as the web workspace)."""
        return start_engine(self.settings, concurrency=concurrency, extra=extra)

    def database_label(self) -> str:
        """The database URL with its password hidden, to say which schedule a command acted on."""
        return make_url(self.settings.database_url).render_as_string(hide_password=True)

    def inline_executor(self, *, worker: str) -> InlineExecutor:
        return InlineExecutor(self.clock, lambda delivery_id, ex: self.publish(delivery_id, ex, worker=worker))


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
