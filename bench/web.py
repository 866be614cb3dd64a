"""Do the web workspace's calendar pages cost the same over a big store as over a small one?

Builds two SQLite stores (schema by the project's migrations) of SMALL and LARGE deliveries (defaults 1,000 and
100,000) at the same density: eight posts a day over three campaigns (one in another zone), on both platforms,
every fifth a thread of three, a draft now and then; the past published (with links), a few failed, missed or
cancelled, with their events; the future scheduled. A bigger store is a longer history, not a busier month.
Rows go in with bulk inserts (as bench/tick_scaling.py fills a store).

Then, through the ASGI interface of the real application (signed in, as a browser would), for each store:

- the month view (January 2027) and
- the next-48-hours list (the home page, at 15 January 2027 09:00)

and prints p50/p95 server time of each, the ratio LARGE/SMALL of the medians (goal <= 1.5: the views read a
window of time through an index), the page weight in bytes (goal under 150 kB; images are separate requests),
and SQLite's plan for the window read.

    .venv/bin/python -m bench.web [--small 1000] [--large 100000] [--repeat 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from scheduler.api import Api, load_settings
from scheduler.clock import FixedClock
from scheduler.models import Delivery, Event, PostRecord, State
from web.app import create_app

GOAL_RATIO = 1.5
GOAL_BYTES = 150_000
NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
MONTH = (2027, 1)
POSTS_PER_DAY = 8
CAMPAIGNS = (("bench-week", "Europe/London"), ("bench-iicsa", "Europe/London"), ("bench-nyc", "America/New_York"))
PASSWORD = "bench bench bench"
WORDS = (
    "Today's theme: support, and how to find it. Keep these numbers to hand, for yourself or for someone else "
    "who may need them this week. #ItsNotOK"
)


def _payload(campaign: str, post_id: str, platform: str, part: int, at: datetime) -> str:
    body = f"{WORDS} (part {part + 1})"
    return json.dumps({
        "campaign": campaign, "post_id": post_id, "platform": platform, "part": part, "at": at.isoformat(),
        "text": body, "length": len(body), "limit": 300 if platform == "bluesky" else 500, "images": [],
        "facets": [{"byte_start": len(body.encode()) - 9, "byte_end": len(body.encode()), "kind": "tag",
                    "value": "ItsNotOK"}] if platform == "bluesky" else [],
        "langs": ["en"], "labels": [], "link_card": None, "reply_rules": None, "allow_quotes": True,
        "spoiler_text": "", "visibility": "public", "language": "en",
    })  # fmt: skip


def _state(at: datetime, rng: random.Random) -> tuple[str, str | None, str | None]:
    """(state, remote url, last error) of a part due at `at`."""
    if at >= NOW:
        return State.SCHEDULED, None, None
    roll = rng.random()
    if roll < 0.02:
        return State.FAILED, None, "gave up after 5 attempts; last error: 503 Service Unavailable"
    if roll < 0.03:
        return State.MISSED, None, "its publish task ran 45 min late, past the misfire grace."
    if roll < 0.04:
        return State.CANCELLED, None, None
    return State.PUBLISHED, f"https://bsky.app/profile/bench.bsky.social/post/{rng.getrandbits(40):x}", None


def build(folder: Path, deliveries: int, seed: int = 11) -> Api:
    """A workspace whose store holds about `deliveries` deliveries, ending a few weeks after NOW."""
    rng = random.Random(seed)
    settings = load_settings({"CAMPAIGN_DATA_DIR": str(folder)}, dotenv_path=folder / "none.env")
    api = Api.from_settings(settings, clock=FixedClock(NOW))
    api.add_person("bench", "viewer", password=PASSWORD, actor="bench")
    per_day = POSTS_PER_DAY * 2 * 1.4  # both platforms, every fifth post a thread of three
    days = max(int(deliveries / per_day), 40)
    first = datetime.combine(NOW.date() + timedelta(days=30 - days), datetime.min.time(), UTC)
    posts, rows, events = [], [], []
    count = 0
    for day in range(days):
        for slot in range(POSTS_PER_DAY):
            campaign, zone = CAMPAIGNS[slot % len(CAMPAIGNS)]
            at = first + timedelta(days=day, hours=7 + slot * 1.5, minutes=rng.choice((0, 15, 30)))
            pk = len(posts) + 1
            draft = rng.random() < 0.02
            posts.append(dict(id=pk, campaign=campaign, post_id=f"p{pk}", source="bench.yaml",
                              status="draft" if draft else "approved", planned_at=at, timezone=zone,
                              summary=WORDS[:120], author="bench", content_hash="x", topics="[]", created_at=first,
                              updated_at=first))  # fmt: skip
            if draft:
                continue
            for platform in ("bluesky", "mastodon"):
                for part in range(3 if pk % 5 == 0 else 1):
                    count += 1
                    state, url, error = _state(at, rng)
                    rows.append(dict(id=count, post_pk=pk, campaign=campaign, post_id=f"p{pk}", platform=platform,
                                     part=part, state=state, due_at=at, misfire_grace_s=1800,
                                     payload=_payload(campaign, f"p{pk}", platform, part, at), payload_hash="x",
                                     idempotency_key=f"k{count}", attempts=5 if state == State.FAILED else 1,
                                     attempt_serial=1, last_error=error, outcome_unknown=False, dry_run=False,
                                     remote_url=url, published_at=at if url else None, created_at=first,
                                     updated_at=first))  # fmt: skip
                    events.append(
                        dict(
                            at=first,
                            delivery_id=count,
                            campaign=campaign,
                            post_id=f"p{pk}",
                            to_state=State.SCHEDULED,
                            action="schedule",
                            reason="added",
                            actor="bench",
                        )
                    )
                    if state != State.SCHEDULED:
                        events.append(
                            dict(
                                at=at,
                                delivery_id=count,
                                campaign=campaign,
                                post_id=f"p{pk}",
                                to_state=state,
                                action=str(state),
                                reason=error or "",
                                actor="worker",
                            )
                        )
    with api.wiring.store.transaction() as session:
        for table, values in ((PostRecord, posts), (Delivery, rows), (Event, events)):
            for start in range(0, len(values), 5000):
                session.execute(insert(table), values[start : start + 5000])
    with api.wiring.store.transaction() as session:
        session.execute(text("ANALYZE"))
    return api


async def _timed(
    apis: dict[int, Api], paths: dict[str, str], repeat: int
) -> dict[int, dict[str, tuple[list[float], int]]]:
    """Each page of each store `repeat` times, the stores taking turns request by request (so both see the same
    machine: a busy moment slows both, not one)."""
    browsers = {}
    for size, api in apis.items():
        app = create_app(api, secret_key="b" * 48)
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        signed = await browser.post("/login", data={"name": "bench", "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303, signed.text
        browsers[size] = browser
    results: dict[int, dict[str, tuple[list[float], int]]] = {size: {} for size in apis}
    for name, path in paths.items():
        samples: dict[int, list[float]] = {size: [] for size in apis}
        for turn in range(repeat + 2):
            for size, browser in browsers.items():
                started = time.perf_counter()
                answer = await browser.get(path)
                elapsed = time.perf_counter() - started
                assert answer.status_code == 200, (path, answer.status_code)
                if turn >= 2:  # the first two warm the caches
                    samples[size].append(elapsed)
                results[size][name] = (samples[size], len(answer.content))
    for browser in browsers.values():
        await browser.aclose()
    return results


def _window_plan(api: Api) -> list[str]:
    with api.wiring.store.transaction() as session:
        rows = session.execute(text(
            "EXPLAIN QUERY PLAN SELECT deliveries.id FROM deliveries INDEXED BY ix_deliveries_due "
            "JOIN posts ON posts.id = deliveries.post_pk WHERE deliveries.due_at >= :a AND deliveries.due_at < :b"
        ), {"a": "2027-01-01", "b": "2027-02-01"}).all()  # fmt: skip
    return [str(row[-1]) for row in rows]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args(argv)
    paths = {"month view": f"/calendar/month/{MONTH[0]}-{MONTH[1]:02d}", "next 48 hours": "/"}
    with tempfile.TemporaryDirectory() as tmp:
        apis = {}
        for size in (args.small, args.large):
            started = time.perf_counter()
            api = apis[size] = build(Path(tmp) / str(size), size)
            with api.wiring.store.transaction() as session:
                held = session.scalar(text("SELECT count(*) FROM deliveries"))
            in_month = api.calendar_month(*MONTH)
            print(f"store of {held:,} deliveries built in {time.perf_counter() - started:.1f} s; "
                  f"{len(in_month.items)} posts in the month shown")  # fmt: skip
        print("  plan of the window read:", "; ".join(_window_plan(apis[args.large])))
        measured = asyncio.run(_timed(apis, paths, args.repeat))
        for api in apis.values():
            api.close()
    worst = 0.0
    for name in paths:
        for size in (args.small, args.large):
            samples, weight = measured[size][name]
            print(f"{name:>14} over {size:>7,} deliveries: p50 {statistics.median(samples) * 1000:6.1f} ms, "
                  f"p95 {percentile(samples, 0.95) * 1000:6.1f} ms, page {weight:,} bytes "
                  f"(goal < {GOAL_BYTES:,}: {'PASS' if weight < GOAL_BYTES else 'FAIL'})")  # fmt: skip
        ratio = statistics.median(measured[args.large][name][0]) / statistics.median(measured[args.small][name][0])
        worst = max(worst, ratio)
        print(f"{name:>14} ratio {args.large:,}/{args.small:,}: {ratio:.2f} "
              f"(goal <= {GOAL_RATIO}: {'PASS' if ratio <= GOAL_RATIO else 'FAIL'})")  # fmt: skip
    return worst


if __name__ == "__main__":
    main()
