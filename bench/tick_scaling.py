"""The cost of one tick with many future deliveries against few: the tick must only touch what is due.

    python -m bench.tick_scaling [--large 100000] [--small 100] [--repeat 40]

Prints the median tick time at both sizes and their ratio (goal: <= 1.5)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy, tick
from scheduler.models import Delivery, PostRecord, State

DUE_PER_TICK = 10
GOAL = 1.5


def build(path: Path, future: int, now: datetime) -> tuple[Store, list[int]]:
    store = Store(f"sqlite:///{path}")
    with store.transaction() as session:
        post_pk = session.execute(
            insert(PostRecord)
            .values(
                campaign="bench",
                post_id="bench",
                source="bench",
                status="approved",
                planned_at=now,
                timezone="Europe/London",
                summary="",
                created_at=now,
                updated_at=now,
            )
            .returning(PostRecord.id)
        ).scalar_one()
        rows = []
        for i in range(future + DUE_PER_TICK):
            due = now + (timedelta(seconds=1) if i < DUE_PER_TICK else timedelta(days=1, minutes=i))
            rows.append(
                dict(
                    post_pk=post_pk,
                    campaign="bench",
                    post_id=f"p{i}",
                    platform="mastodon",
                    part=0,
                    state=State.SCHEDULED,
                    due_at=due,
                    misfire_grace_s=1800,
                    payload="{}",
                    payload_hash="x",
                    idempotency_key=f"k{i}",
                    attempts=0,
                    outcome_unknown=False,
                    dry_run=False,
                    created_at=now,
                    updated_at=now,
                )
            )
        session.execute(insert(Delivery), rows)
    with store.transaction() as session:
        due_ids = list(
            session.scalars(
                Delivery.__table__.select()
                .with_only_columns(Delivery.id)
                .where(Delivery.due_at < now + timedelta(hours=1))
            )
        )
    return store, due_ids


def time_ticks(store: Store, due_ids: list[int], now: datetime, repeat: int) -> float:
    policy = DispatchPolicy()
    samples = []
    for _ in range(repeat):
        with store.transaction() as session:
            session.execute(
                update(Delivery).where(Delivery.id.in_(due_ids)).values(state=State.SCHEDULED, lease_until=None)
            )
        started = time.perf_counter()
        result = tick(store, now, policy, actor="bench")
        samples.append(time.perf_counter() - started)
        assert len(result.claimed) == DUE_PER_TICK, result
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        small_store, small_due = build(Path(tmp) / "small.db", args.small, now)
        large_store, large_due = build(Path(tmp) / "large.db", args.large, now)
        small = time_ticks(small_store, small_due, now, args.repeat)
        large = time_ticks(large_store, large_due, now, args.repeat)
    ratio = large / small
    print(
        f"tick with {args.small:>7} future deliveries: {small * 1000:7.2f} ms (median of {args.repeat}, "
        f"{DUE_PER_TICK} due each tick)"
    )
    print(f"tick with {args.large:>7} future deliveries: {large * 1000:7.2f} ms")
    print(f"ratio large/small: {ratio:.2f} (goal <= {GOAL}: {'PASS' if ratio <= GOAL else 'FAIL'})")
    return ratio


if __name__ == "__main__":
    main()
