"""The alert task of the `collect` queue: a thin face over the application API. Beat runs it every minute; it
is idempotent (an alert is recorded once by its key, and sent once)."""

from __future__ import annotations

import logging

from scheduler.api import shared_api
from workers.app import app

log = logging.getLogger("campaign.alerts")


@app.task(name="campaign.alerts", ignore_result=True)
def alerts_task() -> dict[str, int | str]:
    result = shared_api().alerts_sweep()
    if result.found or result.messages or result.failed:
        log.info("alerts: %s new, %s message(s) sent, %s not sent", result.found, result.messages, result.failed)
    return {"found": result.found, "messages": result.messages, "failed": result.failed, "skipped": result.skipped}
