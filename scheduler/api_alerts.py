"""The application API's voice when things go wrong and its safeguarding holds: alerts (the beat sweep, a test
message, what `campaign run` says at once), the scheduler's health for cron and container checks, and holds
finer than the pause (a campaign, a topic, a window of dates; a platform whose login is refused)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from content_calendar.model import PLATFORMS
from platforms.base import AdapterError, CredentialsError
from scheduler import alerts, hold_actions
from scheduler.alert_rules import Alert, Place, hold_placed
from scheduler.alerts import Delivered, SweepResult
from scheduler.api_base import ApiBase
from scheduler.display import local_time
from scheduler.errors import Refused
from scheduler.heartbeat import Heartbeat
from scheduler.heartbeat import read as read_heartbeat
from scheduler.hold_actions import Placed, Released, ReleasePreview
from scheduler.holds import HoldView

HoldKind = Literal["campaign", "topic", "window"]

__all__ = [
    "AlertsApi",
    "Delivered",
    "Health",
    "HoldView",
    "LoginCheck",
    "Placed",
    "ReleasePreview",
    "Released",
    "SweepResult",
]


@dataclass(frozen=True)
class Health:
    """Whether the scheduler is alive, in one line, for cron, systemd or a container's health check."""

    ok: bool
    line: str
    heartbeat: Heartbeat

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "line": self.line, "scheduler": self.heartbeat.to_json()}


@dataclass(frozen=True)
class LoginCheck:
    """One platform's login as `campaign run` checks it when it starts."""

    platform: str
    state: Literal["ok", "refused", "unreachable", "dry run"]
    detail: str = ""  # who we post as, or why not (no secret)
    hold: HoldView | None = None  # the hold now keeping its posts back (refused), or still standing from before
    alerted: bool = False  # the hold is new, and its alert was sent


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds ago"
    minutes = seconds / 60
    return f"{minutes:.0f} minutes ago" if minutes < 120 else f"{minutes / 60:.1f} hours ago"


class AlertsApi(ApiBase):
    """Alerts, health and safeguarding holds (a part of `Api`)."""

    alert_sender: alerts.Sender = staticmethod(alerts.apprise_sender)

    # --- alerts ---------------------------------------------------------------------------------------------

    def alerts_sweep(self) -> SweepResult:
        """What beat runs every minute: find what is alert-worthy since the last look and send what is due."""
        w = self.wiring
        return alerts.sweep(w.store, self.settings, w.clock.now(), sender=self.alert_sender, redact=w.redact)

    def alerts_test(self) -> list[Delivered]:
        """One test alert to each address of CAMPAIGN_ALERT_URLS; says which took it."""
        if not self.settings.alert_url_list():
            raise Refused(
                "No alert addresses are set, so there is nothing to test. Set CAMPAIGN_ALERT_URLS in .env (Apprise "
                "addresses such as mailtos://user:password@example.org or ntfy://ntfy.sh/your-topic), then try again."
            )
        return alerts.send_test(self.settings, self.clock.now(), sender=self.alert_sender, redact=self.wiring.redact)

    def alert_now(self, alert: Alert) -> list[Delivered]:
        w = self.wiring
        return alerts.send_now(w.store, self.settings, alert, w.clock.now(), sender=self.alert_sender, redact=w.redact)

    def alert_crash_loop(self, problem: str) -> list[Delivered]:
        """`campaign run` stopped because a process of it kept dying: nothing is posted until it is started again."""
        now = self.clock.now()
        place = alerts.place_of(self.settings)
        return self.alert_now(
            Alert(
                key=f"crash-loop:{now.isoformat()}",
                kind="stopped",
                title="The scheduler stopped: nothing is being posted",
                body="\n".join(
                    [
                        f"`campaign run` stopped on {local_time(now, self.settings.timezone)}: {problem}",
                        "What to do: read the log it names, fix the cause, then start `campaign run` again; "
                        "`campaign health` says whether it is running.",
                        f"The workspace: {place.page('status')}",
                    ]
                ),
            )
        )

    def check_logins(self, *, actor: str) -> list[LoginCheck]:
        """Log in to each platform with credentials, as `campaign run` starts. A login the platform refuses stops
        that platform loudly: its posts are held (one hold, alerted at once), not failed one by one at post
        time. A platform that cannot be reached is only reported: that is not a refusal."""
        w, checks = self.wiring, []
        standing = {h.platform: h for h in hold_actions.holds(w.store) if h.kind == "platform"}
        for platform in PLATFORMS:
            account = w.adapters.account(platform)
            if account is None:
                checks.append(LoginCheck(platform, "dry run"))
                continue
            try:
                info = account.check_account()
            except CredentialsError as error:
                placed = hold_actions.hold_for_refused_login(
                    w.store, platform, w.redact(str(error)), w.clock.now(), actor=actor
                )
                if placed.created:
                    self.alert_now(_login_alert(placed.hold, self.settings.web_url, self.settings.timezone))
                checks.append(LoginCheck(platform, "refused", w.redact(str(error)), placed.hold, placed.created))
                continue
            except AdapterError as error:
                checks.append(LoginCheck(platform, "unreachable", w.redact(str(error)), standing.get(platform)))
                continue
            except Exception as error:  # an SDK's own surprise: the check must never stop `campaign run` starting
                problem = w.redact(f"unexpected {type(error).__name__}: {error}")
                checks.append(LoginCheck(platform, "unreachable", problem, standing.get(platform)))
                continue
            checks.append(LoginCheck(platform, "ok", f"as {info.handle}", standing.get(platform)))
        return checks

    # --- health ---------------------------------------------------------------------------------------------

    def health(self) -> Health:
        """Whether the scheduler checked the schedule within the last minute (the heartbeat every tick leaves;
        longer only when ticks are set further apart than ten seconds: six missed checks)."""
        now = self.clock.now()
        beat = read_heartbeat(self.wiring.store, now)
        zone = self.settings.timezone
        if beat.running and beat.last_check_at is not None:
            by = f" ({beat.by})" if beat.by else ""
            seconds = (now - beat.last_check_at).total_seconds()
            return Health(True, f"OK: the scheduler checked the schedule {_ago(seconds)}{by}.", beat)
        if beat.last_check_at is None:
            line = (
                "NOT RUNNING: the scheduler has never checked this schedule, so nothing is posted. Start it with "
                "`campaign run` (or its beat and workers)."
            )
            return Health(False, line, beat)
        seconds = (now - beat.last_check_at).total_seconds()
        line = (
            f"NOT RUNNING: the scheduler last checked the schedule {_ago(seconds)} "
            f"({local_time(beat.last_check_at, zone)}), so nothing is posted. Start it with `campaign run` (or its "
            "beat and workers)."
        )
        return Health(False, line, beat)

    # --- safeguarding holds ------------------------------------------------------------------------------

    def place_hold(
        self,
        kind: HoldKind,
        *,
        reason: str,
        actor: str,
        campaign: str | None = None,
        topic: str | None = None,
        window: tuple[str, str] | None = None,
    ) -> Placed:
        """Hold a campaign, the posts carrying a topic (within a campaign when given), or the posts planned in a
        window of dates (`window`: from, to, as typed: 2027-02-01, or 2027-02-01 09:00, in the workspace's zone;
        the last day is included)."""
        zone = self.settings.timezone
        starts_at = ends_at = None
        if kind == "window":
            if window is None:
                raise Refused("A window hold needs its dates: --from and --to.")
            starts_at, ends_at = hold_actions.window_bounds(window[0], window[1], zone)
        return hold_actions.place_hold(
            self.wiring.store, self.clock.now(), kind=kind, reason=reason, actor=actor, campaign=campaign,
            topic=topic if kind == "topic" else None, starts_at=starts_at, ends_at=ends_at, zone=zone,
        )  # fmt: skip

    def holds(self, *, everything: bool = False) -> list[HoldView]:
        """The holds standing now, oldest first (`everything`: the released ones too). The web banner reads these."""
        return hold_actions.holds(self.wiring.store, everything=everything)

    def release_preview(self, hold_id: int) -> ReleasePreview:
        """The hold, and every post whose time came while it stood: what releasing it asks about."""
        w = self.wiring
        return hold_actions.release_preview(w.store, hold_id, w.clock.now(), zone=self.settings.timezone)

    def release_hold(
        self, hold_id: int, *, actor: str, choices: Mapping[str, hold_actions.LateChoice] | None = None
    ) -> Released:
        """Lift a hold. `choices` ("campaign/post_id" -> "post" or "leave") must answer for every post whose time
        came while it stood, or nothing is released: nothing held goes out late unasked."""
        w = self.wiring
        return hold_actions.release_hold(
            w.store, hold_id, w.clock.now(), actor=actor, choices=choices or {}, zone=self.settings.timezone
        )


def _login_alert(hold: HoldView, web_url: str, zone: str) -> Alert:
    return hold_placed(hold, Place(web_url, zone))  # the same words as the sweep's
