"""The schedule and the dispatch policy on a real SQLite store, with the clock passed in (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from platforms.outbox import OutboxAdapter, read_outbox
from scheduler import dispatch
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.dispatch import DispatchPolicy, Skip
from scheduler.models import Delivery, Event, State
from scheduler.publishing import publish_delivery
from scheduler.sync import SyncRefused, schedule_calendars
from tests.support.engine import LONDON, calendar_input, campaign, post, wait_for

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
POLICY = DispatchPolicy()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


def deliveries(store: Store) -> list[Delivery]:
    with store.transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.post_id, Delivery.platform, Delivery.part)))


def states(store: Store) -> dict[tuple[str, str, int], str]:
    return {(d.post_id, d.platform, d.part): d.state for d in deliveries(store)}


def test_schedule_adds_then_running_twice_changes_nothing(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    item = calendar_input(
        tmp_path / "cal.yaml", [post("a", T0), post("b", T0 + timedelta(hours=1), thread=["more"])], camp=camp
    )
    first = schedule_calendars(store, [item], T0 - timedelta(days=1), actor="test")
    assert first.count("added") == 6  # a: 2 platforms; b: 2 platforms x 2 parts
    with store.transaction() as session:
        events_after_first = len(session.scalars(select(Event)).all())
    second = schedule_calendars(store, [item], T0 - timedelta(days=1), actor="test")
    assert not second.changed and second.count("unchanged") == 6
    with store.transaction() as session:
        assert len(session.scalars(select(Event)).all()) == events_after_first
    thread_parts = [d for d in deliveries(store) if d.post_id == "b" and d.part == 1]
    assert all(d.parent_id is not None for d in thread_parts)


def test_changed_unpublished_posts_update_removed_cancel_published_untouched(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    path = tmp_path / "cal.yaml"
    schedule_calendars(
        store, [calendar_input(path, [post("a", T0), post("b", T0), post("c", T0)], camp=camp)], T0, actor="t"
    )
    with store.transaction() as session:
        for d in session.scalars(select(Delivery).where(Delivery.post_id == "c")):
            d.state = State.PUBLISHED
    edited = [post("a", T0, "New words #ActOnIICSA"), post("c", T0, "Edited after publishing #ActOnIICSA")]
    report = schedule_calendars(store, [calendar_input(path, edited, camp=camp)], T0, actor="t")
    assert report.count("updated") == 2 and report.count("cancelled") == 2 and report.count("kept-published") == 2
    got = states(store)
    assert got[("b", "bluesky", 0)] == State.CANCELLED
    assert got[("c", "mastodon", 0)] == State.PUBLISHED
    payload = {d.post_id: d.payload for d in deliveries(store) if d.platform == "mastodon"}
    assert "New words" in payload["a"] and "Edited after publishing" not in payload["c"]


def test_a_change_to_a_delivery_in_flight_is_refused_and_nothing_applies(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    path = tmp_path / "cal.yaml"
    schedule_calendars(store, [calendar_input(path, [post("a", T0), post("b", T0)], camp=camp)], T0, actor="t")
    with store.transaction() as session:
        d = session.scalars(select(Delivery).where(Delivery.post_id == "a", Delivery.platform == "bluesky")).one()
        d.state = State.CLAIMED
    before = [(d.id, d.payload, d.state) for d in deliveries(store)]
    changed = [post("a", T0, "changed #ActOnIICSA"), post("b", T0, "also changed #ActOnIICSA"), post("new", T0)]
    with pytest.raises(SyncRefused) as refused:
        schedule_calendars(store, [calendar_input(path, changed, camp=camp)], T0, actor="t")
    assert "post a" in str(refused.value) and "being published right now" in str(refused.value)
    assert [(d.id, d.payload, d.state) for d in deliveries(store)] == before


def test_a_draft_is_never_scheduled_and_a_post_turned_draft_is_cancelled(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    path = tmp_path / "cal.yaml"
    schedule_calendars(
        store, [calendar_input(path, [post("a", T0), post("d", T0, status="draft")], camp=camp)], T0, actor="t"
    )
    assert {k[0] for k in states(store)} == {"a"}
    schedule_calendars(store, [calendar_input(path, [post("a", T0, status="draft")], camp=camp)], T0, actor="t")
    assert set(states(store).values()) == {State.CANCELLED}


def test_tick_claims_only_what_is_due_in_the_window(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    posts = [post("soon", T0), post("later", T0 + timedelta(hours=2))]
    schedule_calendars(store, [calendar_input(tmp_path / "c.yaml", posts, camp=camp)], T0, actor="t")
    result = dispatch.tick(store, T0 - timedelta(seconds=10), POLICY)
    assert sorted(c.delivery_id for c in result.claimed) == sorted(
        d.id for d in deliveries(store) if d.post_id == "soon"
    )
    assert all(c.run_at == T0 for c in result.claimed)
    assert not dispatch.tick(store, T0 - timedelta(seconds=9), POLICY).claimed  # nothing claimed twice


def test_a_late_delivery_becomes_missed_and_is_only_posted_on_retry(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path, grace=timedelta(minutes=30))
    schedule_calendars(
        store, [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"])], camp=camp)], T0, actor="t"
    )
    result = dispatch.tick(store, T0 + timedelta(minutes=31), POLICY)
    assert len(result.missed) == 1 and not result.claimed
    assert states(store)[("a", "mastodon", 0)] == State.MISSED
    with store.transaction() as session:
        why = session.scalars(select(Event.reason).where(Event.to_state == State.MISSED)).one()
    assert "grace period (30 min)" in why and "campaign retry" in why
    later = T0 + timedelta(hours=3)
    assert not dispatch.tick(store, later, POLICY).claimed
    dispatch.retry(store, "a", later, actor="t")
    assert len(dispatch.tick(store, later, POLICY).claimed) == 1


def test_within_grace_a_late_delivery_still_goes_out(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    schedule_calendars(
        store, [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"])], camp=camp)], T0, actor="t"
    )
    assert len(dispatch.tick(store, T0 + timedelta(minutes=29), POLICY).claimed) == 1


def test_expired_leases_are_rearmed_and_an_interrupted_publish_is_marked_for_reconciling(
    store: Store, tmp_path: Path
) -> None:
    camp = campaign(tmp_path)
    schedule_calendars(
        store,
        [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["bluesky", "mastodon"])], camp=camp)],
        T0,
        actor="t",
    )
    claimed = dispatch.tick(store, T0, POLICY).claimed
    job = dispatch.begin_publish(store, claimed[0].delivery_id, T0, POLICY, worker="w1")
    assert not isinstance(job, Skip) and not job.outcome_unknown
    result = dispatch.tick(store, T0 + POLICY.publish_lease + timedelta(seconds=1), POLICY)
    assert set(result.rearmed) == {c.delivery_id for c in claimed}
    by_id = {d.id: d for d in deliveries(store)}
    assert by_id[claimed[0].delivery_id].outcome_unknown is True
    assert by_id[claimed[1].delivery_id].outcome_unknown is False
    assert {c.delivery_id for c in result.claimed} == {c.delivery_id for c in claimed}  # claimed again at once


def test_pause_holds_claimed_deliveries_and_resume_releases_them(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    schedule_calendars(
        store, [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"])], camp=camp)], T0, actor="t"
    )
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.pause(store, T0, reason="breaking news", actor="t")
    assert dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w") == Skip(claim.delivery_id, "paused")
    assert not dispatch.tick(store, T0, POLICY).claimed
    assert dispatch.pause_state(store) == (True, "breaking news")
    dispatch.resume(store, T0, actor="t")
    assert len(dispatch.tick(store, T0, POLICY).claimed) == 1


def test_thread_parts_wait_for_their_parent_and_reply_to_it(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    outbox = tmp_path / "outbox.jsonl"
    adapters = {p: OutboxAdapter(outbox, p) for p in ("bluesky", "mastodon")}
    schedule_calendars(
        store,
        [
            calendar_input(
                tmp_path / "c.yaml", [post("t", T0, platforms=["mastodon"], thread=["two", "three"])], camp=camp
            )
        ],
        T0,
        actor="t",
    )
    clock = FixedClock(T0)
    claims = dispatch.tick(store, T0, POLICY).claimed
    assert len(claims) == 1  # only the root: the replies wait for it
    pending = list(claims)
    while pending:
        outcome = publish_delivery(
            store,
            pending.pop(0).delivery_id,
            adapter_for=lambda _c, p: adapters[p],
            clock=clock,
            policy=POLICY,
            worker="w",
        )
        assert outcome.result == "published"
        pending.extend(outcome.follow_ups)
    entries = read_outbox(outbox)
    assert [e["part"] for e in entries] == [0, 1, 2]
    assert entries[0]["in_reply_to"] is None
    assert entries[2]["in_reply_to"] == {
        "root": f"outbox:mastodon:{entries[0]['idempotency_key']}",
        "parent": f"outbox:mastodon:{entries[1]['idempotency_key']}",
    }


def test_a_publish_whose_outcome_was_unknown_finds_the_earlier_post(store: Store, tmp_path: Path) -> None:
    """The worker wrote to the platform, then died before recording it: the retry must not post again."""
    camp = campaign(tmp_path)
    outbox = tmp_path / "outbox.jsonl"
    adapter = OutboxAdapter(outbox, "mastodon")
    schedule_calendars(
        store, [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"])], camp=camp)], T0, actor="t"
    )
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    job = dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="dies")
    assert not isinstance(job, Skip)
    from content_calendar.model import RenderedPart

    adapter.publish(RenderedPart.from_json(job.payload), job.idempotency_key, reply_to=None, outcome_unknown=False)
    # ... and the worker is gone. The lease runs out; the policy re-arms it; another worker publishes.
    later = T0 + POLICY.publish_lease + timedelta(seconds=1)
    dispatch.tick(store, later, POLICY)
    outcome = publish_delivery(
        store,
        claim.delivery_id,
        adapter_for=lambda _c, _p: adapter,
        clock=FixedClock(later),
        policy=POLICY,
        worker="w2",
    )
    assert outcome.result == "published"
    assert len(read_outbox(outbox)) == 1
    with store.transaction() as session:
        reasons = session.scalars(select(Event.reason).where(Event.delivery_id == claim.delivery_id)).all()
    assert any("reconciling an unknown outcome" in r for r in reasons)
    assert any("found the earlier attempt's post" in r for r in reasons)


def test_transient_errors_back_off_and_permanent_ones_fail_with_the_reason(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    schedule_calendars(
        store, [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"])], camp=camp)], T0, actor="t"
    )
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    next_at = dispatch.fail_publish(
        store, claim.delivery_id, T0, POLICY, worker="w", error="503", permanent=False, retry_after=60
    )
    assert next_at is not None and next_at >= T0 + timedelta(seconds=60)
    assert not dispatch.tick(store, T0 + timedelta(seconds=30), POLICY).claimed or next_at <= T0 + timedelta(seconds=45)
    claim = dispatch.tick(store, next_at, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, next_at, POLICY, worker="w")
    dispatch.fail_publish(
        store,
        claim.delivery_id,
        next_at,
        POLICY,
        worker="w",
        error="Mastodon refused the status: text too long. Shorten it.",
        permanent=True,
    )
    (delivery,) = deliveries(store)
    assert delivery.state == State.FAILED and "Shorten it" in (delivery.last_error or "")


def test_backoff_grows_exponentially_with_jitter_and_honours_the_platform_reset() -> None:
    import random

    rng = random.Random(7)
    delays = [POLICY.backoff(n, None, rng) for n in range(1, 8)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(POLICY.max_backoff_seconds, POLICY.base_backoff_seconds * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert POLICY.backoff(1, 600.0, rng) >= 600.0


@pytest.mark.parametrize(
    ("local", "fold", "utc"),
    [
        # Spring forward, Sunday 28 March 2027: 01:00 GMT becomes 02:00 BST.
        ((2027, 3, 28, 0, 59), 0, (2027, 3, 28, 0, 59)),
        ((2027, 3, 28, 2, 0), 0, (2027, 3, 28, 1, 0)),
        ((2027, 3, 28, 9, 0), 0, (2027, 3, 28, 8, 0)),
        # Fall back, Sunday 31 October 2027: 02:00 BST becomes 01:00 GMT.
        ((2027, 10, 31, 0, 30), 0, (2027, 10, 30, 23, 30)),
        ((2027, 10, 31, 2, 30), 0, (2027, 10, 31, 2, 30)),
    ],
)
def test_clock_changes_in_london_post_at_the_right_instant(
    store: Store, tmp_path: Path, local: tuple[int, ...], fold: int, utc: tuple[int, ...]
) -> None:
    camp = campaign(tmp_path)
    at = datetime(*local, tzinfo=LONDON, fold=fold)
    schedule_calendars(
        store,
        [calendar_input(tmp_path / "c.yaml", [post("dst", at, platforms=["mastodon"])], camp=camp)],
        at - timedelta(days=1),
        actor="t",
    )
    instant = datetime(*utc, tzinfo=UTC)
    policy = DispatchPolicy(claim_window=timedelta(seconds=0))
    assert not dispatch.tick(store, instant - timedelta(seconds=1), policy).claimed
    claims = dispatch.tick(store, instant, policy).claimed
    assert len(claims) == 1 and claims[0].run_at == instant


def test_a_delivery_whose_last_attempt_had_an_unknown_outcome_cannot_be_changed(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    path = tmp_path / "c.yaml"
    schedule_calendars(store, [calendar_input(path, [post("a", T0, platforms=["bluesky"])], camp=camp)], T0, actor="t")
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    dispatch.fail_publish(
        store,
        claim.delivery_id,
        T0,
        POLICY,
        worker="w",
        error="connection dropped",
        permanent=False,
        outcome_unknown=True,
    )
    before = [(d.payload, d.due_at) for d in deliveries(store)]
    moved = [post("a", T0 + timedelta(hours=1), platforms=["bluesky"])]
    with pytest.raises(SyncRefused) as refused:
        schedule_calendars(store, [calendar_input(path, moved, camp=camp)], T0, actor="t")
    assert "unknown outcome" in str(refused.value) and "campaign post-now a --platform bluesky" in str(refused.value)
    assert [(d.payload, d.due_at) for d in deliveries(store)] == before


def _one_mastodon_post(store: Store, tmp_path: Path, *, thread: list[str] | None = None) -> None:
    camp = campaign(tmp_path)
    item = calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"], thread=thread or [])], camp=camp)
    schedule_calendars(store, [item], T0 - timedelta(days=1), actor="t")


def test_a_stale_attempt_cannot_undo_the_attempt_that_took_over(store: Store, tmp_path: Path) -> None:
    """Attempt 1's lease ran out and attempt 2 holds the delivery: attempt 1's late failure changes nothing."""
    _one_mastodon_post(store, tmp_path)
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    first = dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="slow")
    assert not isinstance(first, Skip)
    later = T0 + POLICY.publish_lease + timedelta(seconds=1)
    assert dispatch.tick(store, later, POLICY).rearmed == [claim.delivery_id]
    dispatch.tick(store, later, POLICY)
    second = dispatch.begin_publish(store, claim.delivery_id, later, POLICY, worker="fresh")
    assert not isinstance(second, Skip) and second.attempts == first.attempts + 1
    assert second.outcome_unknown and second.write_attempt_at == first.write_attempt_at == T0

    assert dispatch.fail_publish(
        store, claim.delivery_id, later, POLICY, worker="slow", error="timed out", permanent=False,
        attempt=first.attempts,
    ) is None  # fmt: skip
    (delivery,) = deliveries(store)
    assert delivery.state == State.PUBLISHING and delivery.attempts == second.attempts
    assert not dispatch.extend_lease(store, claim.delivery_id, first.attempt_serial, later + timedelta(hours=1))
    assert dispatch.extend_lease(store, claim.delivery_id, second.attempt_serial, later + timedelta(hours=1))
    with store.transaction() as session:
        actions = session.scalars(select(Event.action).where(Event.delivery_id == claim.delivery_id)).all()
    assert "stale-attempt" in actions


def test_a_clean_retry_is_dated_by_its_own_attempt_an_unknown_one_keeps_the_first(store: Store, tmp_path: Path) -> None:
    _one_mastodon_post(store, tmp_path)
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    next_at = dispatch.fail_publish(store, claim.delivery_id, T0, POLICY, worker="w", error="429", permanent=False)
    assert next_at is not None
    dispatch.tick(store, next_at, POLICY)
    job = dispatch.begin_publish(store, claim.delivery_id, next_at, POLICY, worker="w")
    assert not isinstance(job, Skip) and job.write_attempt_at == next_at  # nothing was written at T0
    dispatch.fail_publish(
        store, claim.delivery_id, next_at, POLICY, worker="w", error="dropped", permanent=False, outcome_unknown=True
    )
    (delivery,) = deliveries(store)
    assert delivery.next_attempt_at is not None
    dispatch.tick(store, delivery.next_attempt_at, POLICY)
    job = dispatch.begin_publish(store, claim.delivery_id, delivery.next_attempt_at, POLICY, worker="w")
    assert not isinstance(job, Skip) and job.write_attempt_at == next_at  # the attempt that may have written it


def test_cancel_during_a_thread_stops_the_rest_and_the_part_in_flight_if_it_fails(store: Store, tmp_path: Path) -> None:
    _one_mastodon_post(store, tmp_path, thread=["two", "three"])
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    job = dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    assert not isinstance(job, Skip) and job.part == 0
    result = dispatch.cancel(store, "a", T0, actor="operator")
    assert result.in_flight == ["mastodon part 0"] and len(result.cancelled) == 2
    dispatch.fail_publish(
        store, job.delivery_id, T0, POLICY, worker="w", error="503", permanent=False, attempt=job.attempt_serial
    )
    assert set(states(store).values()) == {State.CANCELLED}
    # `campaign schedule` of the unchanged calendar leaves an operator's cancel alone.
    again = schedule_calendars(
        store,
        [calendar_input(tmp_path / "c.yaml", [post("a", T0, platforms=["mastodon"], thread=["two", "three"])],
                        camp=campaign(tmp_path))],
        T0 - timedelta(hours=1),
        actor="t",
    )  # fmt: skip
    assert again.count("kept-cancelled") == 3 and not again.changed
    assert set(states(store).values()) == {State.CANCELLED}


def test_a_cancelled_part_that_was_already_posting_counts_as_published(store: Store, tmp_path: Path) -> None:
    _one_mastodon_post(store, tmp_path)
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    dispatch.cancel(store, "a", T0, actor="operator")
    dispatch.complete_publish(
        store,
        claim.delivery_id,
        T0,
        worker="w",
        remote=dispatch.RemoteRef("1", "https://x/1", None, "https://x/1"),
        dry_run=False,
        already_existed=False,
    )
    (delivery,) = deliveries(store)
    assert delivery.state == State.PUBLISHED and not delivery.cancel_requested


def test_retry_of_one_platform_leaves_the_other_alone(store: Store, tmp_path: Path) -> None:
    camp = campaign(tmp_path)
    schedule_calendars(store, [calendar_input(tmp_path / "c.yaml", [post("a", T0)], camp=camp)], T0, actor="t")
    late = T0 + timedelta(hours=2)
    assert len(dispatch.tick(store, late, POLICY).missed) == 2
    dispatch.retry(store, "a", late, actor="operator", platform="mastodon")
    assert states(store) == {("a", "bluesky", 0): State.MISSED, ("a", "mastodon", 0): State.SCHEDULED}


def test_a_slow_adapter_call_keeps_its_lease_and_is_never_attempted_twice(store: Store, tmp_path: Path) -> None:
    """A live worker extends its lease while the platform is slow, so ticks meanwhile do not take the delivery
    for lost and hand it to a second worker. The call lasts more than three leases of the clock the publishing
    code is given: the adapter moves that clock on by less than a lease at a time, ticks, and waits for the lease
    keeper to extend the lease from the new time."""
    clock = FixedClock(T0)
    camp = campaign(tmp_path)
    schedule_calendars(
        store,
        [calendar_input(tmp_path / "c.yaml", [post("slow", T0 + timedelta(days=1), platforms=["mastodon"])],
                        camp=camp)],
        T0,
        actor="t",
    )  # fmt: skip
    policy = DispatchPolicy(publish_lease=timedelta(seconds=0.6))
    step = timedelta(seconds=0.5)  # less than a lease
    outbox = OutboxAdapter(tmp_path / "outbox.jsonl", "mastodon")
    calls = []
    rearmed: list[int] = []

    def extended_from_now() -> bool:
        (delivery,) = deliveries(store)
        return delivery.lease_until is not None and delivery.lease_until >= clock.now() + policy.publish_lease

    class SlowPlatform:
        platform, account, dry_run = "mastodon", "slow", True

        def publish(self, part, key, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(key)
            for _ in range(5):  # 2.5 s: more than three leases
                clock.advance(step)
                rearmed.extend(dispatch.tick(store, clock.now(), policy).rearmed)
                wait_for(extended_from_now, timeout=10, interval=0.01, what="the lease keeper's next extension")
            return outbox.publish(part, key, **kwargs)

        def find_published(self, part, key, **kwargs):  # type: ignore[no-untyped-def]
            return outbox.find_published(part, key)

    (delivery,) = deliveries(store)
    dispatch.set_due_now(store, [delivery.id], clock.now(), actor="t")
    (claim,) = dispatch.claim_now(store, [delivery.id], clock.now(), policy, actor="t")
    outcome = publish_delivery(
        store, claim.delivery_id, adapter_for=lambda _c, _p: SlowPlatform(), clock=clock, policy=policy, worker="w"
    )
    assert outcome.result == "published"
    assert rearmed == [] and len(calls) == 1


def test_an_attempt_from_before_a_retry_cannot_undo_the_attempt_after_it(store: Store, tmp_path: Path) -> None:
    """`campaign retry` starts the attempt count again; the attempt serial does not, so a hung attempt from
    before the retry cannot pass for the new one."""
    _one_mastodon_post(store, tmp_path)
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    hung = dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="hung")
    assert not isinstance(hung, Skip)
    lost = T0 + POLICY.publish_lease + timedelta(seconds=1)
    dispatch.tick(store, lost, POLICY)
    late = T0 + timedelta(hours=1)
    assert dispatch.tick(store, late, POLICY).missed == [claim.delivery_id]
    dispatch.retry(store, "a", late, actor="operator")
    dispatch.tick(store, late, POLICY)
    fresh = dispatch.begin_publish(store, claim.delivery_id, late, POLICY, worker="fresh")
    assert not isinstance(fresh, Skip) and fresh.attempts == hung.attempts == 1
    assert fresh.attempt_serial == hung.attempt_serial + 1
    dispatch.fail_publish(store, claim.delivery_id, late, POLICY, worker="hung", error="x", permanent=True,
                          attempt=hung.attempt_serial)  # fmt: skip
    (delivery,) = deliveries(store)
    assert delivery.state == State.PUBLISHING and delivery.lease_until is not None


def test_a_delivery_waiting_for_a_retry_past_its_grace_is_reported_missed_at_once(store: Store, tmp_path: Path) -> None:
    _one_mastodon_post(store, tmp_path)
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    next_at = dispatch.fail_publish(
        store, claim.delivery_id, T0, POLICY, worker="w", error="429", permanent=False, retry_after=6 * 3600
    )
    assert next_at is not None and next_at >= T0 + timedelta(hours=6)
    assert dispatch.tick(store, T0 + timedelta(minutes=29), POLICY).missed == []
    assert dispatch.tick(store, T0 + timedelta(minutes=31), POLICY).missed == [claim.delivery_id]


def test_an_unknown_outcome_from_before_the_attempt_time_was_kept_is_looked_for_by_the_plan(
    store: Store, tmp_path: Path
) -> None:
    """Rows carried over from before migration 0003 have no write_attempt_at: their earlier attempt keyed and
    dated the post by the planned time, so the reconcile must look there, even after a retry moved due_at."""
    _one_mastodon_post(store, tmp_path)
    claim = dispatch.tick(store, T0, POLICY).claimed[0]
    dispatch.begin_publish(store, claim.delivery_id, T0, POLICY, worker="w")
    dispatch.fail_publish(store, claim.delivery_id, T0, POLICY, worker="w", error="dropped", permanent=False,
                          outcome_unknown=True)  # fmt: skip
    with store.transaction() as session:
        row = session.get(Delivery, claim.delivery_id)
        assert row is not None
        row.write_attempt_at = None
        row.next_attempt_at = None
        row.due_at = T0 + timedelta(minutes=5)  # as `post-now` would move it
    dispatch.tick(store, T0 + timedelta(minutes=5), POLICY)
    job = dispatch.begin_publish(store, claim.delivery_id, T0 + timedelta(minutes=5), POLICY, worker="w")
    assert not isinstance(job, Skip) and job.outcome_unknown and job.write_attempt_at == T0
