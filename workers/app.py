"""The Celery app: Redis broker, a `publish` queue for posting and a `collect` queue for collection, and
beat running `tick` every few seconds. The database is the schedule; Celery only carries ids."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from scheduler.api import Settings, load_settings

REPORT_CHECK_SECONDS = 600.0  # the weekly report task checks whether last week's report is due


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """tick every few seconds on `publish`; on `collect`: mentions every CAMPAIGN_COLLECT_SECONDS (default 300),
    engagement every CAMPAIGN_ENGAGEMENT_SECONDS (default 600), and the weekly report check every 10 minutes (it
    writes last week's report once it is Monday 07:00 in the campaign's zone, and catches up after downtime)."""
    return {
        "tick": {
            "task": "campaign.tick",
            "schedule": settings.tick_seconds,
            "options": {"queue": "publish", "expires": settings.tick_seconds * 2},
        },
        "collect-mentions": {
            "task": "campaign.collect_mentions",
            "schedule": settings.collect_seconds,
            "options": {"queue": "collect", "expires": settings.collect_seconds},
        },
        "collect-engagement": {
            "task": "campaign.collect_engagement",
            "schedule": settings.engagement_seconds,
            "options": {"queue": "collect", "expires": settings.engagement_seconds},
        },
        "report-weekly": {
            "task": "campaign.report_weekly",
            "schedule": REPORT_CHECK_SECONDS,
            "options": {"queue": "collect", "expires": REPORT_CHECK_SECONDS},
        },
    }


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    broker = settings.redis_url or "redis+socket:///nonexistent-set-CAMPAIGN_REDIS_URL-or-use-campaign-run"
    app = Celery("campaign", broker=broker, include=["workers.tasks", "workers.collect_tasks"])
    app.conf.update(
        task_queues=(Queue("publish"), Queue("collect")),
        task_default_queue="publish",
        task_routes={"campaign.collect*": {"queue": "collect"}, "campaign.report*": {"queue": "collect"}},
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
    )
    return app


app = make_celery()
