"""What the web workspace reads besides the schedule itself, as a mixin of `scheduler.api.Api`: the banner every
page shows (the scheduler's heartbeat and the pause), the audit of who did what, the weekly report files, the
workspace's calendar files checked as `campaign calendar validate` checks them, and a marker that changes
whenever any of these may have (the live pages watch it)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from content_calendar.campaign import load_campaign
from content_calendar.model import CalendarError, PlatformLimits, Problem
from content_calendar.validate.accessibility import ACCESSIBILITY_CODES
from content_calendar.validate.findings import KIND_NAMES
from scheduler import audit, dispatch, heartbeat, resuming
from scheduler.api_base import ApiBase
from scheduler.audit import AuditEntry, AuditPage
from scheduler.calendars import calendar_files, check_calendars
from scheduler.errors import NotFound, UsageRefused
from scheduler.heartbeat import Heartbeat
from scheduler.listening_state import ListeningView, listening
from scheduler.models import Event, Setting
from scheduler.status import PauseView
from scheduler.wiring import Wiring

__all__ = [
    "AuditEntry",
    "AuditPage",
    "CalendarFileCheck",
    "ReportFile",
    "SchedulerBanner",
    "ShownProblem",
    "WorkspaceCalendars",
    "WorkspaceReads",
]

REPORT_NAME = re.compile(r"(?P<campaign>[a-z0-9][a-z0-9-]*)-(?P<year>\d{4})-W(?P<week>\d{2})\.html")
RECHECK_SECONDS = 300.0  # unchanged files are checked again this often: "in the past" warnings follow the clock


@dataclass(frozen=True)
class SchedulerBanner:
    """What every page says at the top: whether the scheduler is running, whether posting is paused, and how far
    behind listening to Bluesky is."""

    heartbeat: Heartbeat
    pause: PauseView | None
    timezone: str  # the workspace's: the banner's times are in it
    marker: str = ""  # `live_marker()` as it was when this was read: a live page starts from it
    listening: tuple[ListeningView, ...] = ()  # Bluesky's stream: the most behind listener of each relay
    lag_limit_seconds: float = 600.0  # behind by more: shown as a problem (and alerted)

    def late(self, view: ListeningView) -> bool:
        return view.lag is None or view.lag.total_seconds() > self.lag_limit_seconds

    @property
    def paused(self) -> bool:
        return self.pause is not None

    @property
    def running(self) -> bool:
        return self.heartbeat.running


@dataclass(frozen=True)
class ReportFile:
    """One weekly report (HTML) under the reports folder."""

    name: str  # <campaign>-<year>-W<week>.html: how the web face asks for it
    campaign: str
    year: int
    week: int
    path: Path
    written_at: datetime
    campaign_name: str = ""  # from campaign.yaml, when its folder can be read

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> str:
        """The week's Monday as people write it: "Mon 1 Feb 2027"."""
        day = date.fromisocalendar(self.year, self.week, 1)
        return f"{day:%a} {day.day} {day:%b %Y}"

    @property
    def week_of(self) -> str:
        return f"week of {self.monday}"

    @property
    def title(self) -> str:
        return f"{self.campaign_name or self.campaign}, {self.week_of}"


@dataclass(frozen=True)
class ShownProblem:
    """A problem of a calendar file as `campaign calendar validate` prints it."""

    where: str  # the file (as named from the workspace) with its line, or its row and column
    post_id: str | None
    severity: str
    code: str
    message: str
    fix: str


@dataclass(frozen=True)
class CalendarFileCheck:
    path: Path
    shown: str  # the file as named from the workspace folder: campaigns/<slug>/calendars/<file>
    campaign: str | None
    posts: int
    modified_at: datetime
    problems: tuple[ShownProblem, ...]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity != "error")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def other_problems(self) -> tuple[ShownProblem, ...]:
        """The problems that are not accessibility or safe-messaging findings (those are listed by post apart)."""
        return tuple(p for p in self.problems if p.code not in ACCESSIBILITY_CODES)

    @property
    def access_posts(self) -> list[tuple[str | None, list[ShownProblem]]]:
        """The accessibility and safe-messaging findings (alt text, hashtags, emoji, captions, topic protections)
        grouped by post, in the order found."""
        groups: dict[str | None, list[ShownProblem]] = {}
        for problem in self.problems:
            if problem.code in ACCESSIBILITY_CODES:
                groups.setdefault(problem.post_id, []).append(problem)
        return list(groups.items())

    @property
    def access_kinds(self) -> list[tuple[str, int]]:
        """How many findings of each kind, in plain words, most first."""
        counts = Counter(p.code for p in self.problems if p.code in ACCESSIBILITY_CODES)
        return [(KIND_NAMES.get(code, code), count) for code, count in counts.most_common()]


@dataclass(frozen=True)
class WorkspaceCalendars:
    folder: Path  # the campaigns folder
    checked_at: datetime
    fingerprint: str  # changes when any file of a campaign folder changes
    files: tuple[CalendarFileCheck, ...]


class WorkspaceReads(ApiBase):
    """Reads for the web workspace (a part of `Api`)."""

    _calendars_memo: tuple[tuple[str, PlatformLimits], float, WorkspaceCalendars] | None = None
    _calendars_lock = threading.Lock()

    def banner(self) -> SchedulerBanner:
        """Whether the scheduler is running (its heartbeat) and whether posting is paused (by whom, why, since
        when)."""
        w = self.wiring
        beat = heartbeat.read(w.store, w.clock.now())
        behind: dict[str, ListeningView] = {}  # one line per relay: its campaigns' listener is one process
        for view in listening(w.store, w.clock.now()):
            known = behind.get(view.source)
            if known is None or (known.lag is not None and (view.lag is None or view.lag > known.lag)):
                behind[view.source] = view
        return SchedulerBanner(beat, _pause(w), w.settings.timezone, _marker(w, beat), tuple(behind.values()),
                               w.settings.listen_lag_alert_seconds)  # fmt: skip

    def audit(
        self,
        *,
        who: str | None = None,
        campaign: str | None = None,
        post_id: str | None = None,
        people_only: bool = True,
        page: int = 1,
        per_page: int = 50,
    ) -> AuditPage:
        """Who did what, when: events newest first, a page at a time; by one person or of one post when asked;
        only what people did unless `people_only` is False."""
        return audit.audit(
            self.wiring.store, who=who or None, campaign=campaign or None, post_id=post_id or None,
            people_only=people_only, page=page, per_page=per_page,
        )  # fmt: skip

    def weekly_reports(self, campaign: str | None = None) -> list[ReportFile]:
        """The weekly HTML reports under the reports folder, latest week first (only files inside it: a link
        that leads out of the folder is not listed)."""
        root = self.wiring.settings.reports_dir
        if not root.is_dir():
            return []
        resolved_root = root.resolve()
        found: dict[str, ReportFile] = {}
        for path in root.glob("**/*.html"):
            match = REPORT_NAME.fullmatch(path.name)
            if match is None or (campaign is not None and match["campaign"] != campaign):
                continue
            try:
                if not path.is_file() or not path.resolve().is_relative_to(resolved_root):
                    continue
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except OSError:
                continue
            report = ReportFile(path.name, match["campaign"], int(match["year"]), int(match["week"]), path, written)
            if path.name not in found or found[path.name].written_at < written:
                found[path.name] = report
        names = {slug: self._campaign_name(slug) for slug in {r.campaign for r in found.values()}}
        named = (replace(r, campaign_name=names[r.campaign]) for r in found.values())
        return sorted(named, key=lambda r: (r.year, r.week, r.campaign), reverse=True)

    def _campaign_name(self, slug: str) -> str:
        try:
            return load_campaign(self.wiring.settings.campaigns_dir / slug).name
        except (CalendarError, OSError):
            return ""  # the report stands without it: its own file names the campaign

    def weekly_report_file(self, name: str) -> ReportFile:
        """The listed report called `name`; NotFound for any other name (never a path made from it)."""
        for report in self.weekly_reports():
            if report.name == name:
                return report
        raise NotFound(f"There is no weekly report called {name!r}: the reports page lists those there are.")

    def workspace_calendars(self) -> WorkspaceCalendars:
        """Every calendar file in the campaigns folder (campaigns/<slug>/calendars/...), checked together as
        `campaign calendar validate` checks them. Checked again when any file of a campaign folder changes."""
        settings = self.wiring.settings
        folder = settings.campaigns_dir
        fingerprint, limits = self.calendars_fingerprint(), self.calendar_limits()
        with self._calendars_lock:
            memo = self._calendars_memo
            if memo is not None and memo[0] == (fingerprint, limits) and time.monotonic() - memo[1] < RECHECK_SECONDS:
                return memo[2]
        files: list[Path] = []
        for calendars in sorted(folder.glob("*/calendars")) if folder.is_dir() else []:
            try:
                files += calendar_files([calendars])
            except UsageRefused:
                continue  # a campaign with no calendar yet
        roots = [folder] if folder.is_dir() else []
        now = self.wiring.clock.now()
        checked = (
            check_calendars(files, now=now, campaigns_roots=roots, limits=limits, secrets=settings.secrets())
            if files
            else None
        )
        results = checked.results if checked else []
        names = {str(result.path): _shown(result.path, folder) for result in results}
        shown = []
        for result in results:
            name = names[str(result.path)]
            try:
                modified = datetime.fromtimestamp(result.path.stat().st_mtime, UTC)
            except OSError:
                modified = now
            shown.append(
                CalendarFileCheck(
                    path=result.path,
                    shown=name,
                    campaign=result.campaign.slug if result.campaign else None,
                    posts=len(result.calendar.posts) if result.calendar else 0,
                    modified_at=modified,
                    problems=tuple(_problem(p, names, folder) for p in result.problems),
                )
            )
        answer = WorkspaceCalendars(folder, now, fingerprint, tuple(shown))
        with self._calendars_lock:
            self._calendars_memo = ((fingerprint, limits), time.monotonic(), answer)
        return answer

    def calendars_fingerprint(self) -> str:
        """A short hash of every file in the campaign folders (name, size, time changed)."""
        folder = self.wiring.settings.campaigns_dir
        digest = hashlib.sha256()
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                try:
                    if path.is_file():
                        stat = path.stat()
                        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
                except OSError:
                    continue
        return digest.hexdigest()[:16]

    def live_marker(self, *, calendars: bool = False) -> str:
        """Changes whenever what the live pages show may have: a new event (anything done to a post, a pause, a
        resume, a sign-in), the scheduler starting or stopping, and (with `calendars`) a calendar file."""
        marker = _marker(self.wiring, heartbeat.read(self.wiring.store, self.wiring.clock.now()))
        return f"{marker}-{self.calendars_fingerprint()}" if calendars else marker

    def resume_preview(self) -> resuming.ResumePreview:
        """What `resume` would ask about now: who paused, when and why, and each post whose time came meanwhile
        (each needs a choice: post it now, late, or leave it missed)."""
        return resuming.resume_preview(self.wiring.store, self.wiring.clock.now())


def _marker(wiring: Wiring, beat: Heartbeat) -> str:
    started = int(beat.started_at.timestamp()) if beat.started_at else 0
    return f"{audit.latest_event_id(wiring.store)}-{beat.state.replace(' ', '_')}-{started}"


def _shown(path: Path, campaigns_dir: Path) -> str:
    """A file as named from the workspace folder (the campaigns folder's parent), as `validate` run there names it."""
    try:
        return str(path.relative_to(campaigns_dir.parent))
    except ValueError:
        return str(path)


def _problem(problem: Problem, names: dict[str, str], campaigns_dir: Path) -> ShownProblem:
    """The problem with every file named as from the workspace folder, in its place and in its words."""
    named = names.get(problem.file) or _shown(Path(problem.file), campaigns_dir)
    message, fix = problem.message, problem.fix
    for checked, name in sorted(names.items(), key=lambda item: -len(item[0])):
        message, fix = message.replace(checked, name), fix.replace(checked, name)
    where = replace(problem, file=named).where
    return ShownProblem(where, problem.post_id, problem.severity, problem.code, message, fix)


def _pause(wiring: Wiring) -> PauseView | None:
    with wiring.store.transaction() as session:
        if not dispatch.is_paused(session):
            return None
        reason = session.scalar(select(Setting.value).where(Setting.key == dispatch.PAUSE_REASON_KEY)) or ""
        event = session.scalars(select(Event).where(Event.action == "pause").order_by(Event.id.desc()).limit(1)).first()
        if event is not None:
            return PauseView(reason, event.actor or None, event.at)
        switch = session.get(Setting, dispatch.PAUSED_KEY)
        return PauseView(reason, None, switch.updated_at if switch else None)
