"""The Mastodon adapter inside the real engine: a real Redis, Celery worker and beat processes (started and
killed by pid), a SQLite store, and the Mastodon test server. Every test reads the statuses back from the
server and checks each delivery is there exactly once, as the calendar asked."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from content_calendar.model import Post, RenderedPart
from content_calendar.render import mastodon_length
from scheduler.db import Store
from scheduler.models import Delivery, Event, State
from scheduler.review_models import Hold
from scheduler.sync import schedule_calendars
from tests.mastodon_adapter.helpers import CW, api_status, campaign_in, make_image, mastodon_post, source_of
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.engine import Engine, calendar_input, database_held, started, wait_for
from tests.support.worker_stacks import wait_until_blocked_recording

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOUR_AND_A_BIT = 3700  # past the server's one-hour Idempotency-Key memory
FAST_LEASES = {"CAMPAIGN_PUBLISH_LEASE_SECONDS": "3", "CAMPAIGN_LEASE_SECONDS": "3"}


def mastodon_env(account: TestAccount) -> dict[str, str]:
    return {"MASTODON_API_BASE_URL": account.base_url, "MASTODON_ACCESS_TOKEN": account.token}


def schedule(engine: Engine, posts: Sequence[Post]) -> Store:
    store = Store(engine.database_url)
    camp = campaign_in(engine.directory)
    schedule_calendars(
        store, [calendar_input(engine.directory / "cal.yaml", posts, camp=camp)], datetime.now(UTC), actor="test"
    )
    return store


def deliveries(store: Store) -> list[Delivery]:
    with store.transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def events_of(store: Store, delivery_id: int) -> list[Event]:
    with store.transaction() as session:
        return list(session.scalars(select(Event).where(Event.delivery_id == delivery_id).order_by(Event.id)))


def in_state(store: Store, state: str) -> list[Delivery]:
    return [d for d in deliveries(store) if d.state == state]


def assert_each_delivery_once_on_the_server(store: Store, mastodon: MastodonControl) -> list[dict]:
    """Every delivery published, its status on the server exactly once (by idempotency key and id)."""
    rows = deliveries(store)
    assert all(d.state == State.PUBLISHED for d in rows), [(d.post_id, d.part, d.state, d.last_error) for d in rows]
    statuses = mastodon.statuses("campaign")
    keys = Counter(s["idempotency_key"] for s in statuses)
    assert keys == Counter({d.idempotency_key: 1 for d in rows}), f"statuses per key: {keys}"
    assert sorted(s["id"] for s in statuses) == sorted(d.remote_id for d in rows)
    return statuses


def test_the_calendar_goes_out_as_it_asked(
    engine: Engine, mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(image_processing_polls=3)  # each image needs three polls before it can be attached
    image = make_image(tmp_path)
    at = datetime.now(UTC) + timedelta(seconds=2)
    long_text = "Read the report: https://www.iicsa.org.uk/reports-recommendations/publications/inquiry/final-report "
    long_text += "and write to your MP: https://www.parliament.uk/get-involved/contact-an-mp-or-lord/ #ActOnIICSA "
    while mastodon_length(long_text, spoiler_text=CW) < 500:
        long_text += "x"
    posts = [
        mastodon_post("cw", at, "Survivors waited years to be heard. #ActOnIICSA", content_warning=CW),
        mastodon_post(
            "card",
            at,
            "Recommendation 1: mandatory reporting. #ActOnIICSA",
            images=[(image, "A white card reading: mandatory reporting now.", (0.5, 0.25))],
        ),
        mastodon_post("thread", at, "A thread on redress #ActOnIICSA", content_warning=CW, thread=["Two", "Three"]),
        mastodon_post("long", at, long_text, content_warning=CW),
    ]
    store = schedule(engine, posts)
    total = len(deliveries(store))
    assert total == 6
    with contextmanager(started)([engine.worker(**mastodon_env(account)), engine.beat()]):
        wait_for(lambda: len(in_state(store, State.PUBLISHED)) == total, timeout=40, what="all published")

    assert_each_delivery_once_on_the_server(store, mastodon)
    by_key = {(d.post_id, d.part): d for d in deliveries(store)}
    for delivery in by_key.values():
        part = RenderedPart.from_json(json.loads(delivery.payload))
        shown = api_status(account, delivery.remote_id or "")
        assert source_of(account, shown["id"])["text"] == part.text
        assert shown["spoiler_text"] == part.spoiler_text
        assert shown["sensitive"] is bool(part.spoiler_text)
        assert shown["visibility"] == part.visibility and shown["language"] == part.language
        assert shown["url"] == delivery.remote_url and shown["uri"] == delivery.remote_uri
        assert [m["description"] for m in shown["media_attachments"]] == [i.alt for i in part.images]
        parent = by_key.get((delivery.post_id, delivery.part - 1))
        assert shown["in_reply_to_id"] == (parent.remote_id if parent else None)
    long_part = RenderedPart.from_json(json.loads(by_key[("long", 0)].payload))
    assert mastodon_length(long_part.text, spoiler_text=long_part.spoiler_text) == 500  # exactly at the limit
    (card,) = api_status(account, by_key[("card", 0)].remote_id or "")["media_attachments"]
    assert (card["meta"]["focus"]["x"], card["meta"]["focus"]["y"]) == (0.5, 0.25)
    polls = [r["status"] for r in mastodon.request_log(method="GET") if r["path"].startswith("/api/v1/media/")]
    assert polls == [206, 206, 200]


def test_a_dropped_answer_after_the_status_was_stored_is_reconciled_not_reposted(
    engine: Engine, mastodon: MastodonControl, account: TestAccount
) -> None:
    """The server stores the status and the connection drops before the answer. By the retry the server has
    forgotten the Idempotency-Key (its clock moved past the hour): only the reconcile can prevent a repost."""
    mastodon.inject_fault("/api/v1/statuses", "drop_after", method="POST")
    store = schedule(
        engine, [mastodon_post("dropped", datetime.now(UTC) + timedelta(seconds=1), "Dropped #ActOnIICSA")]
    )
    with contextmanager(started)([engine.worker(**mastodon_env(account)), engine.beat()]):
        wait_for(lambda: mastodon.statuses("campaign"), timeout=30, what="the status stored by the first attempt")
        mastodon.advance_clock(HOUR_AND_A_BIT)  # the retry comes at least 2.5 s later (the engine's backoff)
        wait_for(lambda: in_state(store, State.PUBLISHED), timeout=30, what="the delivery published")
    (delivery,) = deliveries(store)
    assert_each_delivery_once_on_the_server(store, mastodon)
    assert len(mastodon.request_log(method="POST", path="/api/v1/statuses")) == 1
    reasons = [e.reason for e in events_of(store, delivery.id)]
    assert any("no answer from" in r for r in reasons), reasons
    assert any("reconciling an unknown outcome" in r for r in reasons), reasons
    assert reasons[-1] == "found the earlier attempt's post"


def test_worker_killed_after_the_server_stored_the_status_retry_finds_it(
    engine: Engine, mastodon: MastodonControl, account: TestAccount
) -> None:
    """The hard case: the status exists, the worker is killed (SIGKILL) while it waits to record it, and the
    server has forgotten the key by the time a surviving worker takes the delivery over."""
    mastodon.inject_fault("/api/v1/statuses", "delay", method="POST", delay=2.0)  # time to take the DB lock
    store = schedule(engine, [mastodon_post("victim", datetime.now(UTC) + timedelta(seconds=1), "Victim #ActOnIICSA")])
    env = {**mastodon_env(account), **FAST_LEASES}
    with contextmanager(started)([engine.beat(**FAST_LEASES)]):
        victim = engine.worker("victim", concurrency=1, **env)
        victim.start()
        try:
            (publishing,) = wait_for(
                lambda: in_state(store, State.PUBLISHING), timeout=30, what="the delivery being published"
            )
            with database_held(engine) as state_of:
                wait_for(lambda: mastodon.statuses("campaign"), timeout=10, what="the status stored")
                wait_until_blocked_recording(victim, deliveries=1)  # it has its answer: kill it there
                victim.kill()
                assert state_of(publishing.id) == State.PUBLISHING
        finally:
            victim.kill()
        (delivery,) = deliveries(store)
        mastodon.advance_clock(HOUR_AND_A_BIT)
        with contextmanager(started)([engine.worker("survivor", **env)]):
            wait_for(lambda: in_state(store, State.PUBLISHED), timeout=30, what="published by the survivor")
    assert_each_delivery_once_on_the_server(store, mastodon)
    assert len(mastodon.request_log(method="POST", path="/api/v1/statuses")) == 1
    actions = [(e.action, e.reason) for e in events_of(store, delivery.id)]
    assert ("lease-expired", "the worker publishing it was lost; the next attempt reconciles before posting") in actions
    assert actions[-1] == ("published", "found the earlier attempt's post")


def test_a_429_storm_ends_with_every_post_out_once(
    engine: Engine, mastodon: MastodonControl, account: TestAccount
) -> None:
    mastodon.configure(throttles={"statuses": {"limit": 2, "period": 3}})  # two statuses every 3 s
    at = datetime.now(UTC) + timedelta(seconds=1)
    store = schedule(engine, [mastodon_post(f"storm{n}", at, f"Storm {n} #ActOnIICSA") for n in range(5)])
    with contextmanager(started)([engine.worker(**mastodon_env(account)), engine.beat()]):
        wait_for(lambda: len(in_state(store, State.PUBLISHED)) == 5, timeout=60, what="all five published")
    assert_each_delivery_once_on_the_server(store, mastodon)
    refused = [r for r in mastodon.request_log(method="POST", path="/api/v1/statuses") if r["status"] == 429]
    assert refused, "the storm never happened"
    limited = {
        d.post_id for d in deliveries(store) if any("rate limit reached" in e.reason for e in events_of(store, d.id))
    }
    assert len(limited) >= len({r["idempotency_key"] for r in refused}) >= 1
    assert all(d.attempts <= 5 for d in deliveries(store))  # each retry waited for the reset


def test_credentials_revoked_mid_run_hold_the_rest_with_what_to_do(
    engine: Engine, mastodon: MastodonControl, account: TestAccount
) -> None:
    """A refused login holds the platform's posts (one hold, alerted) instead of failing them one by one."""
    now = datetime.now(UTC)
    before = mastodon_post("before", now + timedelta(seconds=1), "Before #ActOnIICSA")
    store = schedule(engine, [before])
    with contextmanager(started)([engine.worker("w1", **mastodon_env(account)), engine.beat()]):
        wait_for(lambda: in_state(store, State.PUBLISHED), timeout=30, what="the first published")
        mastodon.revoke_token(account.token)  # e.g. someone tidied up Preferences > Development
        schedule(engine, [before, mastodon_post("after", datetime.now(UTC) + timedelta(seconds=1), "After")])
        wait_for(lambda: any(d.attempts and d.last_error for d in deliveries(store) if d.post_id == "after"),
                 timeout=30, what="the second held with its reason")  # fmt: skip
    first, second = deliveries(store)
    assert first.state == State.PUBLISHED and second.state == State.SCHEDULED  # held, not failed
    assert second.attempts == 1  # not tried again while the hold stands
    with store.transaction() as session:
        holds = session.scalars(select(Hold).where(Hold.kind == "platform", Hold.released_at.is_(None))).all()
    assert [h.topic for h in holds] == ["mastodon"]
    message = second.last_error or ""
    for words in ("revoked", "MASTODON_ACCESS_TOKEN", "write:statuses write:media read", "campaign accounts check"):
        assert words in message, message
    assert len(mastodon.statuses("campaign")) == 1
    stored_text = message + " ".join(e.reason for e in events_of(store, second.id))
    assert account.token not in stored_text
    assert account.token not in (engine.directory / "w1.log").read_text(errors="replace")
