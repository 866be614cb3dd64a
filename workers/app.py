"""The Celery app: Redis broker, a `publish` queue for posting and a `collect` queue for collection, and
beat running `tick` every few seconds. The database is the schedule; Celery only carries ids."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from scheduler.collecting import collect_beat_schedule
from scheduler.settings import load_settings


def make_celery() -> Celery:
    settings = load_settings()
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
        beat_schedule={
            "tick": {
                "task": "campaign.tick",
                "schedule": settings.tick_seconds,
                "options": {"queue": "publish", "expires": settings.tick_seconds * 2},
            },
            **collect_beat_schedule(),
        },
    )
    return app


app = make_celery()
