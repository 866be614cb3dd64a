"""Publish lag through the real thing: beat, a worker and Redis, 500 deliveries due over 60 s, into the
outbox. Lag = the outbox adapter's write time minus the planned instant.

    python -m bench.publish_lag [--deliveries 500] [--over 60]

Prints p50, p99 and max lag, and the worker's peak memory (VmHWM). Goals: p50 <= 30 ms, p99 <= 100 ms,
memory <= 150 MB."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from content_calendar.model import Calendar, Campaign, Post
from content_calendar.render import render_post
from platforms.outbox import read_outbox
from scheduler.db import Store
from scheduler.embedded import EmbeddedRedis, beat_process, celery_env, worker_process
from scheduler.sync import CalendarInput, schedule_calendars

GOALS = {"p50_ms": 30.0, "p99_ms": 100.0, "memory_mb": 150.0}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--over", type=float, default=60.0, help="seconds over which they fall due")
    parser.add_argument("--lead", type=float, default=12.0, help="seconds before the first is due")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        redis = EmbeddedRedis(base / "redis", persistent=True)
        redis.start()
        store = Store(f"sqlite:///{base / 'campaign.db'}")
        campaign = Campaign(slug="bench", name="bench", directory=base, hashtags=("#ItsNotOK",))
        now = datetime.now(UTC)
        posts = [
            Post(
                id=f"p{i:04d}",
                at=now + timedelta(seconds=args.lead + args.over * i / max(1, args.deliveries - 1)),
                text=f"Bench post {i} #ItsNotOK",
                platforms=("mastodon",),
            )
            for i in range(args.deliveries)
        ]
        calendar = Calendar(path=base / "bench.yaml", campaign="bench", timezone="Europe/London", posts=tuple(posts))
        schedule_calendars(
            store,
            [CalendarInput(calendar, campaign, {p.id: render_post(p, campaign) for p in posts})],
            now,
            actor="bench",
        )
        env = celery_env(
            {
                "CAMPAIGN_DATA_DIR": str(base),
                "CAMPAIGN_DATABASE_URL": store.url,
                "CAMPAIGN_REDIS_URL": redis.url,
                "CAMPAIGN_OUTBOX": str(base / "outbox.jsonl"),
                "BLUESKY_HANDLE": "",
                "MASTODON_ACCESS_TOKEN": "",
            }
        )
        worker = worker_process(env, name="bench", log_path=base / "worker.log", loglevel="WARNING")
        beat = beat_process(env, schedule_file=base / "beat-schedule", log_path=base / "beat.log")
        worker.start()
        beat.start()
        try:
            deadline = time.monotonic() + args.lead + args.over + 60
            while len(read_outbox(base / "outbox.jsonl")) < args.deliveries and time.monotonic() < deadline:
                time.sleep(0.5)
            assert worker.pid is not None
            memory = peak_rss_mb(worker.pid)
        finally:
            beat.stop()
            worker.stop()
            redis.stop()
        entries = read_outbox(base / "outbox.jsonl")
    lags = [
        (datetime.fromisoformat(e["written_at"]) - datetime.fromisoformat(e["planned_at"])).total_seconds() * 1000
        for e in entries
    ]
    if len(entries) != args.deliveries:
        raise SystemExit(f"only {len(entries)} of {args.deliveries} deliveries reached the outbox")
    keys = {e["idempotency_key"] for e in entries}
    assert len(keys) == len(entries), "duplicates in the outbox"
    result = {
        "p50_ms": statistics.median(lags),
        "p99_ms": percentile(lags, 0.99),
        "max_ms": max(lags),
        "early": sum(1 for lag in lags if lag < 0),
        "memory_mb": memory,
    }
    print(f"{args.deliveries} deliveries over {args.over:.0f} s through beat, worker and Redis into the outbox")
    for key, unit in (("p50_ms", "ms"), ("p99_ms", "ms"), ("memory_mb", "MB")):
        goal = GOALS[key]
        verdict = "PASS" if result[key] <= goal else "FAIL"
        print(
            f"  {key:<10} {result[key]:8.1f} {unit}   goal <= {goal:.0f} {unit}: {verdict}   "
            f"(ratio to goal {result[key] / goal:.2f})"
        )
    print(f"  max lag    {result['max_ms']:8.1f} ms; posted early: {result['early']}")
    return result


if __name__ == "__main__":
    main()
