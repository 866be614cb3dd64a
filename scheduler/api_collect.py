"""The application API's accounts, collection and reports: who we post as, hashtag mentions and engagement
collected now or by beat, and the weekly reports made from the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from content_calendar.campaign import load_campaign
from content_calendar.model import PLATFORMS, CalendarError
from platforms.base import AccountInfo, AdapterError
from scheduler import reports
from scheduler.api_base import ApiBase
from scheduler.api_listen import ListeningApi
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
from scheduler.demo_flag import is_demo
from scheduler.errors import Refused, UsageRefused
from scheduler.reports.campaign import last_week
from scheduler.status import latest_report
from scheduler.wiring import public_instances


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


class CollectingApi(ListeningApi):  # listening: api_listen.py
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
        """(campaign, platform) of every mention collector: each campaign folder that can be read (none in a demo
        workspace: its mentions are made up)."""
        if is_demo(self.wiring.store):
            return []
        chosen = [platform] if platform else list(PLATFORMS)
        return [(item.slug, name) for item in campaigns_to_collect(self.settings.campaigns_dir, campaign)
                for name in chosen]  # fmt: skip

    def engagement_collectors(self, campaign: str | None = None, platform: str | None = None) -> list[tuple[str, str]]:
        if is_demo(self.wiring.store):
            return []
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
        if is_demo(self.wiring.store):
            raise Refused(
                "This is a demo workspace (made-up data), so nothing is collected here: real mentions would mix "
                "with the made-up ones. Collect in your own workspace."
            )
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

    def collection_notices(self, platforms: Sequence[str] = PLATFORMS, campaign: str | None = None) -> list[str]:
        """What collection cannot read for lack of credentials, and what it reads without an account, in words."""
        if is_demo(self.wiring.store):
            return []  # collecting refuses, saying why
        notices = []
        for platform in (p for p in platforms if not self.settings.configured(p)):
            listed = self._listed_instances(campaign) if platform == "mastodon" else []
            if listed:
                notices.append(
                    f"{NO_CREDENTIALS[platform]}: read without an account: the public hashtag timelines of "
                    f"{', '.join(listed)} (mastodon_instances in campaign.yaml); our own posts' engagement there is "
                    "skipped."
                )
            else:
                notices.append(f"{NO_CREDENTIALS[platform]}: its collectors are skipped.")
        return notices

    def _listed_instances(self, campaign: str | None) -> list[str]:
        try:
            folders = campaigns_to_collect(self.settings.campaigns_dir, campaign)
        except CalendarError:
            return []  # collecting refuses it, saying why
        return list(dict.fromkeys(urlsplit(u).netloc or u for c in folders for u in public_instances(c)))


class ReportsApi(ApiBase):
    def report_campaigns(self, campaign: str | None = None) -> list[str]:
        return [campaign] if campaign else campaigns_in_store(self.wiring.store)

    def report_week(self, text: str | None) -> reports.IsoWeek:
        """The week `--week` names: 2027-W05, a date (the week holding it) or `last` (the default). Refused for
        text that is none of these, NothingToReport for a week that has not begun."""
        now = self.clock.now()
        try:
            week = reports.IsoWeek.chosen(text, now, self.settings.timezone)
        except ValueError as error:
            raise UsageRefused(f"--week: {error}") from None
        if not is_demo(self.wiring.store):  # a demo's made-up week is dated on purpose, maybe ahead of today
            reports.check_week(week, now, self.settings.timezone)
        return week

    def weekly_report(
        self,
        campaign: str,
        week: reports.IsoWeek,
        *,
        output: Path | None = None,
        formats: Sequence[str] | None = None,
        include_handles: bool = False,
    ) -> list[Path]:
        """Write one campaign's report of `week`. NothingToReport (nothing written) when the week has not begun
        or holds no data; Refused when its campaign.yaml cannot be read."""
        now = self.clock.now()
        if not is_demo(self.wiring.store):
            reports.check_week(week, now, self.settings.timezone)
        report = reports.weekly_report_for(
            self.wiring.store, campaign, week, campaigns_dir=self.settings.campaigns_dir,
            include_handles=include_handles, now=now,
        )  # fmt: skip
        reports.require_data(report)
        folder = output or self.settings.reports_dir / campaign
        return reports.write_report(report, folder, formats or reports.DEFAULT_FORMATS)

    def campaign_report(
        self,
        campaign: str,
        *,
        start: str | None = None,
        end: str | None = None,
        output: Path | None = None,
        formats: Sequence[str] | None = None,
    ) -> list[Path]:
        """Write the campaign to date: every week from the one holding `start` (default: the campaign's first)
        to the one holding `end` (default: the last full week). Refused for a date that is not one, a range not
        begun or without data."""
        now = self.clock.now()
        try:
            first = reports.IsoWeek.chosen(start, now, self.settings.timezone) if start else None
            last = reports.IsoWeek.chosen(end, now, self.settings.timezone)
        except ValueError as error:
            raise UsageRefused(f"--from/--to: {error}") from None
        if is_demo(self.wiring.store) and not end:  # a demo's made-up weeks are dated on purpose, maybe ahead
            last = last_week(self.wiring.store, campaign, self.settings.timezone) or last
        elif not is_demo(self.wiring.store):
            reports.check_week(first or last, now, self.settings.timezone)
            if not last.started(now, self.settings.timezone):
                last = reports.IsoWeek.containing(now.astimezone(ZoneInfo(self.settings.timezone)).date())
        report = reports.campaign_report_for(
            self.wiring.store, campaign, first, last, campaigns_dir=self.settings.campaigns_dir, now=now
        )
        folder = output or self.settings.reports_dir / campaign
        return reports.write_campaign_report(report, folder, formats or reports.DEFAULT_FORMATS)

    def write_due_reports(self, campaign: str | None = None) -> list[Path]:
        """Last week's report of every campaign once it is due (Monday 07:00 in the campaign's zone) and not
        written yet."""
        return reports.write_due_reports(
            self.wiring.store, self.settings.reports_dir, self.report_campaigns(campaign), self.clock.now(),
            campaigns_dir=self.settings.campaigns_dir,
        )  # fmt: skip

    def latest_report(self, campaign: str | None = None) -> Path | None:
        return latest_report(self.settings.reports_dir, campaign)
