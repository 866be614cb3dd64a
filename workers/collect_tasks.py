"""Celery tasks of the `collect` queue: thin faces over the application API.

Called with no arguments (as beat does), the collector tasks fan out one task per campaign and platform, so
one slow or failing collector holds up nothing else; each collector also takes a lease in the store, so two
runs of the same one never overlap. Every task is idempotent: mentions are stored once, snapshots only when
due, a weekly report only when it is not there yet."""

from __future__ import annotations

import logging

from scheduler.api import IsoWeek, Refused, shared_api
from workers.app import app

log = logging.getLogger("campaign.collect")


@app.task(name="campaign.collect_mentions", ignore_result=True)
def collect_mentions_task(campaign: str | None = None, platform: str | None = None) -> list[str]:
    api = shared_api()
    if campaign is None or platform is None:
        queued = api.mention_collectors(campaign, platform)
        for slug, name in queued:
            collect_mentions_task.apply_async((slug, name), queue="collect", expires=api.settings.collect_seconds)
        return [f"{slug}/{name}" for slug, name in queued]
    actor = f"worker@{api.wiring.name}"
    try:
        outcomes = api.collect_mentions(campaign, platform, actor=actor)
    except Refused as refused:
        log.error("%s", refused)
        return [str(refused)]
    for outcome in outcomes:
        log.info("%s", outcome.describe())
    return [outcome.describe() for outcome in outcomes]


@app.task(name="campaign.collect_engagement", ignore_result=True)
def collect_engagement_task(campaign: str | None = None, platform: str | None = None) -> list[str]:
    api = shared_api()
    if campaign is None or platform is None:
        queued = api.engagement_collectors(campaign, platform)
        for slug, name in queued:
            collect_engagement_task.apply_async((slug, name), queue="collect", expires=api.settings.engagement_seconds)
        return [f"{slug}/{name}" for slug, name in queued]
    outcome = api.collect_engagement(campaign, platform, actor=f"worker@{api.wiring.name}")
    log.info("%s", outcome.describe())
    return [outcome.describe()]


@app.task(name="campaign.report_weekly", ignore_result=True)
def report_weekly_task(week: str | None = None, campaign: str | None = None) -> list[str]:
    """With no week: write last week's report of every campaign once it is due (Monday 07:00, campaign zone)
    and not written yet. With a week: write that week's report now (overwriting)."""
    api = shared_api()
    if week is None:
        paths = api.write_due_reports(campaign)
    else:
        paths = [
            path for slug in api.report_campaigns(campaign) for path in api.weekly_report(slug, IsoWeek.parse(week))
        ]
    for path in paths:
        log.info("weekly report written: %s", path)
    return [str(path) for path in paths]
