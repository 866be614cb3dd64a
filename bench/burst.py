"""A burst against the rate limits: 1,000 Mastodon posts due in the same minute over 10 accounts, each account
limited as the Mastodon adapter is (300 posts per 3 hours and 60 per 5 minutes).

    python -m bench.burst [--accounts 10] [--per-account 100] [--workers 8] [--grace 30]

The real engine in this process: the tick, the claims, `publish_delivery` with the rate limiter on a real Redis,
the Mastodon adapter, against Mastodon test servers (tests/mastodon_server, one account each: the limiter keys
an account by its instance) that count statuses with Mastodon's own limits. `--workers` threads publish what is
due at each instant. The clock jumps to the next instant anything is due; the limiter and the servers take their
time from it, so hours of limits pass in seconds.

Prints the time to drain against the least the limits allow (goal <= 1.1x), the 429 answers (goal 0), the
missed posts (goal 0 where the grace allows it) and whether each account's posts went out in planned order."""

from __future__ import annotations

import argparse
import heapq
import itertools
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from content_calendar.model import Calendar, Campaign, Post
from content_calendar.render import render_post
from platforms.mastodon import MastodonAdapter
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.dispatch import Claim, DispatchPolicy, tick
from scheduler.embedded import EmbeddedRedis
from scheduler.models import Delivery, Event, State
from scheduler.publishing import Outcome, publish_delivery
from scheduler.ratelimit import RateLimiter, platform_limits
from scheduler.sync import CalendarInput, schedule_calendars
from tests.mastodon_server import MastodonControl, MastodonTestServer, ServerConfig

GOALS = {"drain_ratio": 1.1, "responses_429": 0}


def least_drain(planned: Sequence[datetime], limits: Sequence[tuple[int, float]], grace: timedelta) -> list[datetime]:
    """When each post of one account would go out at best: in planned order, each at the first instant no
    window of any limit holds its amount already. A post that could not go out within its grace takes no place."""
    out: list[datetime] = []
    for at in planned:
        earliest = at
        for amount, seconds in limits:
            if len(out) >= amount:
                earliest = max(earliest, out[-amount] + timedelta(seconds=seconds))
        if earliest <= at + grace:
            out.append(earliest)
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--per-account", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8, help="threads publishing what is due at each instant")
    parser.add_argument("--grace", type=float, default=30.0, help="each post's misfire grace, in minutes")
    args = parser.parse_args(argv)
    grace = timedelta(minutes=args.grace)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    spacing = timedelta(seconds=60 / args.per_account)  # every account's posts spread over the one minute
    limits = [(limit.amount, limit.seconds) for limit in platform_limits("mastodon")]

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        redis = EmbeddedRedis(base / "redis", persistent=False)
        redis.start()
        servers: list[MastodonTestServer] = []
        limiter = RateLimiter(redis.url)
        try:
            servers += [MastodonTestServer(ServerConfig()).start() for _ in range(args.accounts)]
            store = Store(f"sqlite:///{base / 'campaign.db'}")
            controls = [MastodonControl(server.base_url) for server in servers]
            adapters: dict[str, MastodonAdapter] = {}
            inputs = []
            for n, control in enumerate(controls):
                slug = f"account{n:02d}"
                token = control.create_account(slug).token
                adapters[slug] = MastodonAdapter(control.base_url, token)
                campaign = Campaign(slug, slug, base, ("#ItsNotOK",), misfire_grace=grace)
                posts = [
                    Post(id=f"p{k:04d}", at=start + k * spacing, text=f"Post {k} #ItsNotOK", platforms=("mastodon",))
                    for k in range(args.per_account)
                ]
                calendar = Calendar(base / f"{slug}.yaml", slug, "Europe/London", tuple(posts))
                inputs.append(CalendarInput(calendar, campaign, {p.id: render_post(p, campaign) for p in posts}))
            schedule_calendars(store, inputs, start - timedelta(minutes=1), actor="bench")
            clock = FixedClock(start - timedelta(seconds=1))
            began = time.monotonic()
            run(store, clock, servers, adapters, limiter, DispatchPolicy(), args.workers)
            wall = time.monotonic() - began
            refused = sum(
                1
                for control in controls
                for request in control.request_log(method="POST", path="/api/v1/statuses")
                if request["status"] == 429
            )
            result = measure(store, start, grace, limits, refused, wall)
        finally:
            try:
                limiter.close()
                for server in servers:
                    server.stop()
            finally:
                redis.stop()  # by its pid: it would outlive us otherwise
    return result


def run(
    store: Store,
    clock: FixedClock,
    servers: Sequence[MastodonTestServer],
    adapters: dict[str, MastodonAdapter],
    limiter: RateLimiter,
    policy: DispatchPolicy,
    workers: int,
) -> None:
    """Beat and workers on a clock that jumps: tick, publish every claim due now on `workers` threads (what
    they make due, thread parts, runs at once), then jump to the next instant something is due."""
    queue: list[tuple[datetime, int, Claim]] = []
    order = itertools.count()

    def publish(claim: Claim) -> Outcome:
        return publish_delivery(
            store,
            claim.delivery_id,
            adapter_for=lambda campaign, _platform: adapters[campaign],
            clock=clock,
            policy=policy,
            worker="bench",
            limiter=limiter,
        )

    with ThreadPoolExecutor(workers) as pool:
        while True:
            for server in servers:
                server.instance.clock.set(clock.now())
            for claim in tick(store, clock.now(), policy, actor="bench").claimed:
                heapq.heappush(queue, (claim.run_at, next(order), claim))
            while queue and queue[0][0] <= clock.now():
                due = []
                while queue and queue[0][0] <= clock.now():
                    due.append(heapq.heappop(queue)[2])
                for outcome in pool.map(publish, due):
                    for claim in outcome.follow_ups:
                        heapq.heappush(queue, (claim.run_at, next(order), claim))
            with store.transaction() as session:
                waiting = session.execute(
                    select(Delivery.due_at, Delivery.next_attempt_at, Delivery.misfire_grace_s).where(
                        Delivery.state == State.SCHEDULED
                    )
                ).all()
            # Its next try, or just past its grace when that comes first: a beat ticking every few seconds
            # marks a post missed then.
            instants = [
                min(max(due, retry or due), due + timedelta(seconds=grace, milliseconds=1))
                for due, retry, grace in waiting
            ] + [at for at, _, _ in queue[:1]]
            if not instants:
                return
            clock.set(max(min(instants), clock.now() + timedelta(milliseconds=1)))


def measure(
    store: Store,
    start: datetime,
    grace: timedelta,
    limits: Sequence[tuple[int, float]],
    refused: int,
    wall: float,
) -> dict[str, float]:
    with store.transaction() as session:
        deliveries = session.scalars(select(Delivery).order_by(Delivery.due_at, Delivery.id)).all()
        published_order = session.scalars(
            select(Event.delivery_id).where(Event.action == "published").order_by(Event.id)
        ).all()
        held = len(session.scalars(select(Event.id).where(Event.action == "held")).all())
    by_account: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_account.setdefault(delivery.campaign, []).append(delivery)
    position = {delivery_id: n for n, delivery_id in enumerate(published_order)}
    in_order = 0
    least_end, must_miss = start, 0
    for planned in by_account.values():
        out = [d for d in planned if d.state == State.PUBLISHED]
        in_order += [d.id for d in out] == sorted((d.id for d in out), key=position.__getitem__)
        best = least_drain([d.due_at for d in planned], limits, grace)
        must_miss += len(planned) - len(best)
        least_end = max([least_end, *best])
    published = [d for d in deliveries if d.state == State.PUBLISHED]
    missed = sum(1 for d in deliveries if d.state == State.MISSED)
    drain = (max(d.published_at for d in published if d.published_at) - start).total_seconds()
    least = (least_end - start).total_seconds()
    ratio = drain / least if least else float("nan")
    result = {
        "drain_s": drain,
        "least_s": least,
        "drain_ratio": ratio,
        "responses_429": refused,
        "missed": missed,
        "must_miss": must_miss,
        "in_order_accounts": in_order,
        "held": held,
        "wall_s": wall,
    }
    accounts = len(by_account)
    shown = ", ".join(str(limit) for limit in platform_limits("mastodon"))
    print(f"{len(deliveries)} posts due in one minute over {accounts} Mastodon accounts ({shown} each), "
          f"grace {grace.total_seconds() / 60:.0f} min")  # fmt: skip
    verdict = "PASS" if ratio <= GOALS["drain_ratio"] else "FAIL"
    print(f"  time to drain   {drain:8.1f} s  vs the least the limits allow {least:.1f} s: ratio {ratio:.3f}  "
          f"goal <= {GOALS['drain_ratio']}: {verdict}")  # fmt: skip
    print(f"  429 answers     {refused:8d}    goal 0: {'PASS' if refused == 0 else 'FAIL'}")
    print(f"  missed          {missed:8d}    the limits and the grace force {must_miss}: "
          f"{'PASS' if missed == must_miss else 'FAIL'}")  # fmt: skip
    print(f"  planned order   {in_order:8d} of {accounts} accounts published in planned order: "
          f"{'PASS' if in_order == accounts else 'FAIL'}")  # fmt: skip
    said = next((d.last_error for d in deliveries if d.state == State.MISSED), None)
    if said:
        print(f"  a missed post says: {said}")
    print(f"  published {len(published)}, held {held} times (a hold is a next try set to the post's turn), "
          f"{wall:.1f} s of real time")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
