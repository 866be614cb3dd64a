"""Celery tasks: thin faces over scheduler.dispatch and scheduler.publishing. They take ids, are idempotent,
and hold no logic the CLI cannot reach without a broker."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from scheduler.clock import Clock
from scheduler.dispatch import Claim, tick
from scheduler.publishing import publish_delivery
from scheduler.wiring import get_runtime
from workers.app import app

log = logging.getLogger("campaign.tasks")


def real_eta(clock: Clock, instant: datetime) -> datetime | None:
    """The wall-clock instant at which `instant` arrives on `clock` (None: it already has)."""
    seconds = (instant - clock.now()).total_seconds()
    if seconds <= 0:
        return None
    return datetime.now(UTC) + timedelta(seconds=seconds)


def enqueue(claims: list[Claim], clock: Clock) -> None:
    for claim in claims:
        publish.apply_async((claim.delivery_id,), eta=real_eta(clock, claim.run_at), queue="publish")


@app.task(name="campaign.tick", ignore_result=True)
def tick_task() -> dict[str, int]:
    runtime = get_runtime()
    result = tick(runtime.store, runtime.clock.now(), runtime.policy, actor=f"beat@{runtime.name}")
    for delivery_id in result.missed:
        log.error(
            "MISSED: delivery %s was not published within its misfire grace; `campaign retry` posts it", delivery_id
        )
    enqueue(result.claimed, runtime.clock)
    return {"claimed": len(result.claimed), "rearmed": len(result.rearmed), "missed": len(result.missed)}


@app.task(name="campaign.publish", ignore_result=True, acks_late=True)
def publish(delivery_id: int) -> str:
    runtime = get_runtime()
    outcome = publish_delivery(
        runtime.store,
        delivery_id,
        adapter_for=runtime.adapters,
        clock=runtime.clock,
        policy=runtime.policy,
        worker=f"worker@{runtime.name}",
        limiter=runtime.limiter,
        redact=runtime.redact,
    )
    if outcome.result == "failed":
        log.error("delivery %s failed: %s", delivery_id, outcome.detail)
    enqueue(outcome.follow_ups, runtime.clock)
    return outcome.result
