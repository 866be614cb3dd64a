"""Celery tasks of the `collect` queue: thin faces over scheduler.collecting and scheduler.reports.

Called with no arguments (as beat does), the collector tasks fan out one task per campaign and platform, so
one slow or failing collector holds up nothing else; each collector also takes a lease in the store, so two
runs of the same one never overlap. Every task is idempotent: mentions are stored once, snapshots only when
due, a weekly report only when it is not there yet."""

from __future__ import annotations

import logging
import threading

from content_calendar.campaign import load_campaign
from content_calendar.model import CalendarError
from scheduler.collecting import (
    COLLECT_SECONDS_ENV,
    DEFAULT_COLLECT_SECONDS,
    DEFAULT_ENGAGEMENT_SECONDS,
    ENGAGEMENT_SECONDS_ENV,
    PLATFORMS,
    SettingsAdapters,
    _seconds_from_env,
    campaigns_to_collect,
    collect_engagement,
    collect_mentions,
    engagement_campaigns,
)
from scheduler.collection import campaigns_in_store
from scheduler.reports import IsoWeek, weekly_report_for, write_due_reports, write_report
from scheduler.wiring import Runtime, get_runtime
from workers.app import app

log = logging.getLogger("campaign.collect")

_adapters: dict[int, SettingsAdapters] = {}
_adapters_lock = threading.Lock()


def adapters_for(runtime: Runtime) -> SettingsAdapters:
    """One set of read adapters per runtime (per process), so sessions are reused across runs."""
    with _adapters_lock:
        key = id(runtime)
        if key not in _adapters:
            _adapters.clear()
            _adapters[key] = SettingsAdapters(runtime.settings)
        return _adapters[key]


@app.task(name="campaign.collect_mentions", ignore_result=True)
def collect_mentions_task(campaign: str | None = None, platform: str | None = None) -> list[str]:
    runtime = get_runtime()
    if campaign is None or platform is None:
        expires = _seconds_from_env(COLLECT_SECONDS_ENV, DEFAULT_COLLECT_SECONDS)
        queued = []
        for item in campaigns_to_collect(runtime.settings.campaigns_dir, campaign):
            for name in [platform] if platform else PLATFORMS:
                collect_mentions_task.apply_async((item.slug, name), queue="collect", expires=expires)
                queued.append(f"{item.slug}/{name}")
        return queued
    try:
        subject = load_campaign(runtime.settings.campaigns_dir / campaign)
    except CalendarError as error:
        log.error("campaign %s cannot be read, so its mentions are not collected: %s", campaign, error)
        return [f"{campaign}: campaign.yaml cannot be read"]
    outcomes = collect_mentions(
        runtime.store,
        subject,
        platform,
        adapters_for(runtime),
        clock=runtime.clock,
        owner=f"worker@{runtime.name}",
        redact=runtime.redact,
        actor=f"worker@{runtime.name}",
    )
    for outcome in outcomes:
        log.info("%s", outcome.describe())
    return [outcome.describe() for outcome in outcomes]


@app.task(name="campaign.collect_engagement", ignore_result=True)
def collect_engagement_task(campaign: str | None = None, platform: str | None = None) -> list[str]:
    runtime = get_runtime()
    if campaign is None or platform is None:
        expires = _seconds_from_env(ENGAGEMENT_SECONDS_ENV, DEFAULT_ENGAGEMENT_SECONDS)
        queued = []
        for slug in engagement_campaigns(runtime.store, campaign):
            for name in [platform] if platform else PLATFORMS:
                collect_engagement_task.apply_async((slug, name), queue="collect", expires=expires)
                queued.append(f"{slug}/{name}")
        return queued
    outcome = collect_engagement(
        runtime.store,
        campaign,
        platform,
        adapters_for(runtime),
        clock=runtime.clock,
        owner=f"worker@{runtime.name}",
        redact=runtime.redact,
        actor=f"worker@{runtime.name}",
    )
    log.info("%s", outcome.describe())
    return [outcome.describe()]


@app.task(name="campaign.report_weekly", ignore_result=True)
def report_weekly_task(week: str | None = None, campaign: str | None = None) -> list[str]:
    """With no week: write last week's report of every campaign once it is due (Monday 07:00, campaign zone)
    and not written yet. With a week: write that week's report now (overwriting)."""
    runtime = get_runtime()
    settings = runtime.settings
    campaigns = [campaign] if campaign else campaigns_in_store(runtime.store)
    if week is None:
        paths = write_due_reports(
            runtime.store, settings.reports_dir, campaigns, runtime.clock.now(), campaigns_dir=settings.campaigns_dir
        )
    else:
        paths = []
        for slug in campaigns:
            report = weekly_report_for(
                runtime.store, slug, IsoWeek.parse(week), campaigns_dir=settings.campaigns_dir, now=runtime.clock.now()
            )
            paths += write_report(report, settings.reports_dir / slug)
    for path in paths:
        log.info("weekly report written: %s", path)
    return [str(path) for path in paths]
