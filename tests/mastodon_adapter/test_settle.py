"""A status written after the client gave up is never posted twice: the retry waits a settle period before it
looks for it, and a retry that posted anew looks once more and deletes a second copy.

The Mastodon test server plays an older Mastodon ("write_late": it looks the Idempotency-Key up, writes the
status after the client's timeout, and holds nothing meanwhile, so a second request with the same key writes
a second status). The real dispatch policy (tick, begin, fail, complete) and the real MastodonAdapter run
in this process against it, on a SQLite store and the system clock, with short times: a client timeout of
0.5 s, a write 1 s late, a settle period of 2 s (production: 10 s and 60 s).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mastodon.errors import MastodonNetworkError
from sqlalchemy import select

from platforms.base import PlatformAdapter
from platforms.mastodon import MastodonAdapter
from scheduler import dispatch
from scheduler.clock import FixedClock, SystemClock
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy
from scheduler.models import FINAL_STATES, Delivery, Event, State
from scheduler.publishing import publish_delivery
from scheduler.settings import load_settings
from scheduler.sync import schedule_calendars
from scheduler.wiring import policy_from
from tests.mastodon_adapter.helpers import adapter_for, campaign_in, mastodon_post
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.engine import calendar_input

pytestmark = pytest.mark.integration

CLIENT_TIMEOUT = 0.5
WRITE_LATE = 1.0
SETTLE = 2.0
SLOW_WRITES = 12


def fast_policy(settle: float) -> DispatchPolicy:
    """Claims only what is due, retries a tenth of a second after a clean failure."""
    return DispatchPolicy(
        claim_window=timedelta(0),
        publish_lease=timedelta(seconds=10),
        base_backoff_seconds=0.1,
        max_backoff_seconds=0.4,
        settle=timedelta(seconds=settle),
    )


def schedule(store: Store, directory: Path, texts: list[str]) -> None:
    at = datetime.now(UTC) + timedelta(milliseconds=300)
    posts = [mastodon_post(f"slow{n}", at, text) for n, text in enumerate(texts)]
    item = calendar_input(directory / "cal.yaml", posts, camp=campaign_in(directory))
    schedule_calendars(store, [item], datetime.now(UTC), actor="test")


def deliveries(store: Store) -> list[Delivery]:
    with store.transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def events(store: Store, action: str) -> list[Event]:
    with store.transaction() as session:
        return list(session.scalars(select(Event).where(Event.action == action).order_by(Event.id)))


def dispatch_until_done(
    store: Store, policy: DispatchPolicy, adapter: Callable[[str, str], PlatformAdapter], *, timeout: float = 30
) -> None:
    """Beat and workers in one process: tick, and publish every claim in a thread of its own."""
    clock = SystemClock()
    deadline = time.monotonic() + timeout
    running: list[Future[object]] = []
    with ThreadPoolExecutor(max_workers=2 * SLOW_WRITES) as pool:
        while not all(d.state in FINAL_STATES for d in deliveries(store)):
            assert time.monotonic() < deadline, [(d.post_id, d.state, d.last_error) for d in deliveries(store)]
            for claim in dispatch.tick(store, clock.now(), policy, actor="test").claimed:
                running.append(
                    pool.submit(
                        publish_delivery,
                        store,
                        claim.delivery_id,
                        adapter_for=adapter,
                        clock=clock,
                        policy=policy,
                        worker=f"worker-{len(running)}",
                    )
                )
            time.sleep(0.02)
    for future in running:
        future.result()


def statuses_per_key(mastodon: MastodonControl) -> Counter[str]:
    mastodon.wait_for_late_writes()
    return Counter(s["idempotency_key"] for s in mastodon.statuses("campaign"))


def test_the_server_writes_late_and_does_not_hold_the_key_meanwhile(
    mastodon: MastodonControl, account: TestAccount
) -> None:
    """The fault is what older Mastodon releases did: both requests with one key write, the later answer wins."""
    mastodon.inject_fault("/api/v1/statuses", "write_late", method="POST", count=2, delay=4 * CLIENT_TIMEOUT)
    impatient = account.client(request_timeout=CLIENT_TIMEOUT)
    for _ in range(2):
        with pytest.raises(MastodonNetworkError):
            impatient.status_post("Written late #ActOnIICSA", idempotency_key="late-1")
    assert mastodon.statuses("campaign") == [] and mastodon.late_writes() == 2
    mastodon.wait_for_late_writes()
    first, second = sorted(mastodon.statuses("campaign"), key=lambda s: int(s["id"]))
    assert first["idempotency_key"] == second["idempotency_key"] == "late-1"
    # Once written, the key is remembered: a repeat answers the last status written with it, writing nothing.
    repeat = account.client().status_post("Written late #ActOnIICSA", idempotency_key="late-1")
    assert str(repeat["id"]) == second["id"] and len(mastodon.statuses("campaign")) == 2


@pytest.mark.parametrize("settle", [SETTLE, 0.0], ids=["settle-2s", "no-settle"])
def test_slow_writes_end_once_each_when_the_retry_waits_for_them(
    settle: float, mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    """Every status is written 1 s late, after the client's 0.5 s timeout. With the settle period each retry
    finds its status and posts nothing; without it the retries come while the writes are still under way,
    find nothing, and post again."""
    mastodon.inject_fault("/api/v1/statuses", "write_late", method="POST", count=1000, delay=WRITE_LATE)
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    schedule(
        store, tmp_path, [f"Slow write {n}: survivors deserve to be heard #ActOnIICSA" for n in range(SLOW_WRITES)]
    )
    adapter = adapter_for(account, request_timeout=CLIENT_TIMEOUT)

    dispatch_until_done(store, fast_policy(settle), lambda campaign, platform: adapter)

    rows = deliveries(store)
    assert len(rows) == SLOW_WRITES and all(d.state == State.PUBLISHED for d in rows), [d.state for d in rows]
    per_key = statuses_per_key(mastodon)
    duplicates = sum(count - 1 for count in per_key.values())
    print(f"\nsettle {settle:g} s: {SLOW_WRITES} slow writes, {duplicates} duplicates")
    if settle:
        assert per_key == Counter({d.idempotency_key: 1 for d in rows})
        assert sorted(s["id"] for s in mastodon.statuses("campaign")) == sorted(d.remote_id for d in rows)
        waits = [e.reason for e in events(store, "retry-later")]
        assert len(waits) == SLOW_WRITES and all("gives the platform 2 s to finish a post" in r for r in waits)
        assert len(mastodon.request_log(method="POST", path="/api/v1/statuses")) == SLOW_WRITES
    else:
        assert duplicates >= SLOW_WRITES // 2, per_key  # the failure the settle period prevents


@pytest.mark.parametrize("late_copy", ["newer", "older", "newer-undeletable"])
def test_a_retry_that_posted_anew_deletes_the_newer_copy_and_says_so(
    late_copy: str, mastodon: MastodonControl, account: TestAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The earlier attempt's status lands after the retry looked for it, once the write outlasts the settle
    period (here 0). "newer": it lands while the retry's own post waits for its answer. "older": it lands
    before the retry's post reaches the server, when the server has already forgotten the key (1 s).
    "newer-undeletable": as "newer", but the server refuses the deletion: a person is told to delete it."""
    mastodon.inject_fault("/api/v1/statuses", "write_late", method="POST", delay=1.5)
    if late_copy.startswith("newer"):
        mastodon.inject_fault("/api/v1/statuses", "delay_after", method="POST", delay=2.0)
        if late_copy == "newer-undeletable":
            mastodon.inject_fault("/api/v1/statuses/*", "error", method="DELETE", status=503)
    else:
        mastodon.configure(idempotency_ttl_seconds=1)
        mastodon.inject_fault("/api/v1/statuses", "delay", method="POST", delay=2.5)
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    schedule(store, tmp_path, ["Written late, then again #ActOnIICSA"])
    # The first attempt gives up after 0.5 s; the retry's client waits long enough for its slow answer.
    adapters = iter([adapter_for(account, request_timeout=CLIENT_TIMEOUT), adapter_for(account, request_timeout=5)])

    with caplog.at_level(logging.ERROR, logger="campaign.publish"):
        dispatch_until_done(store, fast_policy(0.0), lambda campaign, platform: next(adapters))

    mastodon.wait_for_late_writes()
    everything = sorted(mastodon.statuses("campaign", include_deleted=True), key=lambda s: int(s["id"]))
    assert len(everything) == 2, everything
    older, newer = everything
    live = [s["id"] for s in mastodon.statuses("campaign")]
    posts = mastodon.request_log(method="POST", path="/api/v1/statuses")
    assert sorted(r["fault"] for r in posts) == sorted(
        ["write_late", "delay_after" if late_copy.startswith("newer") else "delay"]
    )
    (delivery,) = deliveries(store)
    assert delivery.state == State.PUBLISHED and delivery.remote_id == older["id"]
    (event,) = events(store, "duplicate")
    assert event.delivery_id == delivery.id
    assert "post slow0 on mastodon went out twice" in event.reason and older["url"] in event.reason
    if late_copy == "newer-undeletable":
        assert live == [older["id"], newer["id"]]
        assert event.reason.endswith(f"; delete this copy on the platform, it could not be deleted: {newer['url']}")
    else:
        assert live == [older["id"]]  # the newer copy is deleted
        assert event.reason.endswith(f"; the newer copy was deleted: {newer['url']}")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"post part {delivery.id}: {event.reason}"
    ]
    published = events(store, "published")[-1].reason
    assert published == ("found the earlier attempt's post" if late_copy == "older" else "posted")


def test_only_an_unknown_outcome_waits_the_settle_period(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    schedule(store, tmp_path, ["One #ActOnIICSA", "Two #ActOnIICSA"])
    policy = DispatchPolicy(claim_window=timedelta(minutes=1), settle=timedelta(seconds=60))
    clock = FixedClock(datetime.now(UTC) + timedelta(seconds=1))
    timed_out, refused = (c.delivery_id for c in dispatch.tick(store, clock.now(), policy).claimed)
    for delivery_id in (timed_out, refused):
        dispatch.begin_publish(store, delivery_id, clock.now(), policy, worker="w")
    settled = dispatch.fail_publish(
        store, timed_out, clock.now(), policy, worker="w", error="no answer", permanent=False, outcome_unknown=True
    )
    backed_off = dispatch.fail_publish(store, refused, clock.now(), policy, worker="w", error="503", permanent=False)
    assert settled == clock.now() + timedelta(seconds=60)
    assert backed_off is not None and backed_off <= clock.now() + timedelta(seconds=policy.base_backoff_seconds)
    # A platform's own later reset time still wins over the settle period.
    clock.advance(timedelta(seconds=60))
    dispatch.tick(store, clock.now(), policy)
    dispatch.begin_publish(store, timed_out, clock.now(), policy, worker="w")
    later = dispatch.fail_publish(store, timed_out, clock.now(), policy, worker="w", error="no answer",
                                  permanent=False, retry_after=600, outcome_unknown=True)  # fmt: skip
    assert later == clock.now() + timedelta(seconds=600)


def test_the_settle_period_is_a_setting_well_above_the_mastodon_client_timeout(tmp_path: Path) -> None:
    absent = tmp_path / "no.env"
    assert policy_from(load_settings({}, dotenv_path=absent)).settle == timedelta(seconds=60)
    assert policy_from(load_settings({"CAMPAIGN_SETTLE_SECONDS": "2.5"}, dotenv_path=absent)).settle == timedelta(
        seconds=2.5
    )
    client_timeout = inspect.signature(MastodonAdapter).parameters["request_timeout"].default
    assert policy_from(load_settings({}, dotenv_path=absent)).settle.total_seconds() >= 5 * client_timeout
