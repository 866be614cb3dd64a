"""Celery tasks of the `publish` queue: thin faces over the application API. They take ids, are idempotent, and
hold no logic the CLI cannot reach without a broker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from scheduler.api import Clock, DispatchClaim, shared_api
from workers.app import app

log = logging.getLogger("campaign.tasks")


def real_eta(clock: Clock, instant: datetime) -> datetime | None:
    """The wall-clock instant at which `instant` arrives on `clock` (None: it already has)."""
    seconds = (instant - clock.now()).total_seconds()
    if seconds <= 0:
        return None
    return datetime.now(UTC) + timedelta(seconds=seconds)


class CeleryExecutor:
    """Runs each claim as a `publish(delivery_id)` task with an ETA seconds ahead at most (claims are made only
    for what is due within the claim window): never a long ETA, which Redis would redeliver and post twice."""

    def __init__(self, clock: Clock):
        self.clock = clock

    def submit(self, claims: Sequence[DispatchClaim]) -> None:
        for claim in claims:
            publish.apply_async((claim.delivery_id,), eta=real_eta(self.clock, claim.run_at), queue="publish")


@app.task(name="campaign.tick", ignore_result=True)
def tick_task() -> dict[str, int]:
    api = shared_api()
    result = api.tick(CeleryExecutor(api.clock), actor=f"beat@{api.wiring.name}")
    for delivery_id in result.missed:
        log.error("MISSED: post part %s was not published within its grace period; `campaign retry` posts it",
                  delivery_id)  # fmt: skip
    return {"claimed": len(result.claimed), "rearmed": len(result.rearmed), "missed": len(result.missed)}


@app.task(name="campaign.publish", ignore_result=True, acks_late=True)
def publish(delivery_id: int) -> str:
    api = shared_api()
    outcome = api.publish(delivery_id, CeleryExecutor(api.clock), worker=f"worker@{api.wiring.name}")
    if outcome.result == "failed":
        log.error("post part %s failed: %s", delivery_id, outcome.detail)
    return outcome.result
