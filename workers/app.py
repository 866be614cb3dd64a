"""The Celery app: Redis broker, a `publish` queue for posting and a `collect` queue for collection, and
beat running `tick` every few seconds. The database is the schedule; Celery only carries ids."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from scheduler.api import Settings, load_settings
from workers.broker import use_for_redis_urls

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
        # What went wrong since the last look, told to the addresses of CAMPAIGN_ALERT_URLS (every minute).
        "alerts": {
            "task": "campaign.alerts",
            "schedule": settings.alert_seconds,
            "options": {"queue": "collect", "expires": settings.alert_seconds},
        },
    }


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    use_for_redis_urls()
    broker = settings.redis_url or "redis+socket:///nonexistent-set-CAMPAIGN_REDIS_URL-or-use-campaign-run"
    app = Celery("campaign", broker=broker, include=["workers.tasks", "workers.collect_tasks", "workers.alert_tasks"])
    app.conf.update(
        task_queues=(Queue("publish"), Queue("collect")),
        task_default_queue="publish",
        task_routes={
            "campaign.collect*": {"queue": "collect"},
            "campaign.report*": {"queue": "collect"},
            "campaign.alerts": {"queue": "collect"},
        },
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        # Losing Redis is an outage to wait out, never the end of a worker: reconnect for as long as it takes
        # (Celery's default gives up after 100 tries, about 50 minutes). What the lost connection held is not
        # needed back: the database's leases re-arm every delivery whose task vanished.
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": 3600,
            "socket_timeout": 15,  # a Redis that stops answering fails a command instead of hanging a thread
            "socket_connect_timeout": 5,
            "socket_keepalive": True,  # TCP only (kombu drops it for a unix socket)
            "health_check_interval": 10,  # a pooled connection idle that long is pinged (and renewed) before use
            # Not retry_on_timeout: a timed-out LPUSH retried may enqueue twice, and kombu then stops batching.
        },
        # A publish under way when Redis goes finishes and records its outcome: the platform call may have
        # happened, so only the database may decide what comes next (its ack is lost with the connection anyway).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
    )
    return app


app = make_celery()
