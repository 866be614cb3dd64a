"""A second pair of eyes, end to end on the real engine (a real Redis, Celery worker and beat processes, a SQLite
store and the outbox adapter): an unapproved post is held at its time and goes out once approved within its
misfire grace; an approved post that is edited is held again until its new version is approved; a post never
approved is missed, "not approved in time". Then, on the store with the clock passed in: a post claimed while
approved and rejected before its publish is not posted; what changes a version and what does not."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from content_calendar.model import ApprovalRule, Campaign, Post
from platforms.outbox import read_outbox
from scheduler.api import Api, load_settings
from scheduler.approval import AuthorUnknown
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.dispatch import Skip, begin_publish
from scheduler.dispatch.transitions import for_update
from scheduler.models import Delivery, Event, PostRecord, State
from scheduler.sync import SyncRefused, schedule_calendars
from tests.support.engine import LONDON, Engine, calendar_input, campaign, post, started, wait_for
from tests.support.postgres import PostgresServer

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)


def approval_campaign(directory: Path, *, grace: timedelta) -> Campaign:
    return replace(campaign(directory, grace=grace), approval=ApprovalRule(required=True))


def people(api: Api) -> Api:
    api.add_person("alex", "editor", password=None, actor="test")  # schedules
    api.add_person("sam", "approver", password=None, actor="test")  # approves
    return api


@contextmanager
def engine_api(engine: Engine) -> Iterator[Api]:
    """The application on the engine's store, on the real clock (as the worker and beat run)."""
    settings = load_settings(
        {"CAMPAIGN_DATABASE_URL": engine.database_url, "CAMPAIGN_DATA_DIR": str(engine.directory),
         "CAMPAIGN_OUTBOX": str(engine.outbox)},
        dotenv_path=engine.directory / "none.env",
    )  # fmt: skip
    api = people(Api.from_settings(settings))
    try:
        yield api
    finally:
        api.close()


def deliveries(api: Api, post_id: str) -> list[Delivery]:
    with api.wiring.store.transaction() as session:
        return list(session.scalars(select(Delivery).where(Delivery.post_id == post_id).order_by(Delivery.id)))


def events(api: Api, post_id: str, action: str) -> list[Event]:
    with api.wiring.store.transaction() as session:
        return list(session.scalars(select(Event).where(Event.post_id == post_id, Event.action == action)))


def sent(engine: Engine, post_id: str) -> list[dict[str, object]]:
    return [entry for entry in read_outbox(engine.outbox) if entry["post_id"] == post_id]


def schedule(api: Api, directory: Path, posts: list[Post], camp: Campaign, *, by: str = "alex") -> None:
    item = calendar_input(directory / "cal.yaml", posts, camp=camp)
    schedule_calendars(api.wiring.store, [item], api.clock.now(), actor=by)


def held_at_its_time(api: Api, post_id: str) -> bool:
    due = deliveries(api, post_id)[0].due_at
    return datetime.now(UTC) > due and any("awaiting approval" in e.reason for e in events(api, post_id, "held"))


@pytest.mark.integration
@pytest.mark.slow
def test_an_unapproved_post_is_held_at_its_time_and_goes_out_once_approved_within_its_grace(engine: Engine) -> None:
    with engine_api(engine) as api:
        camp = approval_campaign(engine.directory, grace=timedelta(minutes=5))
        schedule(api, engine.directory, [post("held", datetime.now(UTC) + timedelta(seconds=2), thread=["more"])], camp)
        with contextmanager(started)([engine.worker(), engine.beat()]):
            wait_for(lambda: held_at_its_time(api, "held"), timeout=30, what="the post held at its time")
            assert sent(engine, "held") == []
            assert {d.state for d in deliveries(api, "held")} == {State.SCHEDULED}
            assert api.status().posts[0].status == "awaiting approval"
            api.approve(["held"], person="sam", comment="helpline checked")
            wait_for(lambda: all(d.state == State.PUBLISHED for d in deliveries(api, "held")), timeout=30,
                     what="the post published once approved")  # fmt: skip
        assert len(sent(engine, "held")) == 4  # two parts on two platforms, each once
        approved = events(api, "held", "approved")
        assert [(e.actor, e.campaign) for e in approved] == [("sam", camp.slug)]
        with api.wiring.store.transaction() as session:
            version = session.scalar(select(PostRecord.content_hash).where(PostRecord.post_id == "held"))
        assert version is not None and version[:12] in approved[0].reason and "helpline checked" in approved[0].reason


@pytest.mark.integration
@pytest.mark.slow
def test_an_approved_post_that_is_edited_is_held_again_until_its_new_version_is_approved(engine: Engine) -> None:
    with engine_api(engine) as api:
        camp = approval_campaign(engine.directory, grace=timedelta(minutes=5))
        at = datetime.now(UTC) + timedelta(seconds=8)  # beyond the claim window: edited before it is claimed
        steady = post("steady", at, "Approved and left alone #ActOnIICSA", platforms=("mastodon",))
        schedule(api, engine.directory, [post("edited", at, "First words #ActOnIICSA"), steady], camp)
        api.approve(["edited", "steady"], person="sam")
        schedule(api, engine.directory, [post("edited", at, "Second thoughts #ActOnIICSA"), steady], camp)
        with contextmanager(started)([engine.worker(), engine.beat()]):
            wait_for(lambda: held_at_its_time(api, "edited"), timeout=40, what="the edited post held at its time")
            wait_for(lambda: sent(engine, "steady"), timeout=30, what="the post left alone published at its time")
            assert sent(engine, "edited") == []
            api.approve(["edited"], person="sam")
            wait_for(lambda: len(sent(engine, "edited")) == 2, timeout=30, what="the new version published")
        texts = {entry["would_send"]["text"] for entry in sent(engine, "edited")}  # type: ignore[index]
        assert all(text.startswith("Second thoughts") for text in texts)


@pytest.mark.integration
@pytest.mark.slow
def test_a_post_never_approved_is_missed_not_approved_in_time(engine: Engine) -> None:
    with engine_api(engine) as api:
        camp = approval_campaign(engine.directory, grace=timedelta(seconds=2))
        schedule(api, engine.directory, [post("never", datetime.now(UTC) + timedelta(seconds=2))], camp)
        with contextmanager(started)([engine.worker(), engine.beat()]):
            wait_for(lambda: all(d.state == State.MISSED for d in deliveries(api, "never")), timeout=30,
                     what="the post missed")  # fmt: skip
        assert sent(engine, "never") == []
        for delivery in deliveries(api, "never"):
            assert delivery.last_error is not None and "not approved in time" in delivery.last_error
        missed = api.status().posts[0]
        assert missed.status == "missed" and "not approved in time" in (missed.platforms[0].reason or "")


# --- on the store, with the clock passed in ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The application on a store of each kind, on a fixed clock."""
    values = {"CAMPAIGN_DATA_DIR": str(tmp_path)}
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"approval_{next(_databases)}"
        server.create_database(name)
        values["CAMPAIGN_DATABASE_URL"] = server.url(name, driver="psycopg")
    settings = load_settings(values, dotenv_path=tmp_path / "none.env")
    app = people(Api.from_settings(settings, clock=FixedClock(T0 - timedelta(hours=1))))
    yield app
    app.close()


_databases = itertools.count()


def test_a_post_claimed_while_approved_then_rejected_is_not_posted(api: Api, tmp_path: Path) -> None:
    camp = approval_campaign(tmp_path, grace=timedelta(minutes=30))
    schedule(api, tmp_path, [post("p", T0)], camp)
    api.approve(["p"], person="sam")
    executor = api.inline_executor(worker="worker")
    assert isinstance(api.clock, FixedClock)
    api.clock.set(T0)
    assert len(api.tick(executor, actor="beat").claimed) == 2
    with pytest.raises(SyncRefused, match="being published right now"):  # an edit waits until it is out
        schedule(api, tmp_path, [post("p", T0, "Changed while claimed #ActOnIICSA")], camp)
    api.add_person("kim", "approver", password=None, actor="test")
    api.reject("p", person="kim", reason="The helpline number is wrong")
    outcomes = [outcome for _claim, outcome in executor.run_due()]
    assert [outcome.result for outcome in outcomes] == ["skipped", "skipped"]
    assert read_outbox(api.settings.outbox_path) == []
    assert {d.state for d in deliveries(api, "p")} == {State.SCHEDULED}
    holds = [e.reason for e in events(api, "p", "hold")]
    assert len(holds) == 2 and all("rejected by kim: The helpline number is wrong" in reason for reason in holds)


def test_whoever_schedules_posts_that_need_approval_must_be_a_user(api: Api, tmp_path: Path) -> None:
    camp = approval_campaign(tmp_path, grace=timedelta(minutes=30))
    with pytest.raises(AuthorUnknown, match="need approval by a second person"):
        schedule(api, tmp_path, [post("p", T0)], camp, by="someone@laptop")
    schedule(api, tmp_path, [post("p", T0)], replace(camp, approval=ApprovalRule()), by="someone@laptop")


def test_each_change_voids_the_approval_and_says_what_changed(api: Api, tmp_path: Path) -> None:
    camp = approval_campaign(tmp_path, grace=timedelta(minutes=30))
    item = calendar_input(tmp_path / "cal.yaml", [post("p", T0)], camp=camp)
    store, now = api.wiring.store, api.clock.now()
    schedule_calendars(store, [item], now, actor="alex")
    api.approve(["p"], person="sam")
    assert not schedule_calendars(store, [item], now, actor="alex").approval_notes  # the same again: still approved
    assert api.review() == []
    changes = {
        "time": post("p", T0 + timedelta(minutes=5)),
        "text": post("p", T0 + timedelta(minutes=5), "Other words #ActOnIICSA"),
        "platforms": post("p", T0 + timedelta(minutes=5), "Other words #ActOnIICSA", platforms=("mastodon",)),
    }
    for what, changed in changes.items():
        api.approve(["p"], person="sam")
        report = schedule_calendars(store, [calendar_input(tmp_path / "cal.yaml", [changed], camp=camp)], now,
                                    actor="alex")  # fmt: skip
        assert [note.words for note in report.approval_notes] == [
            f"needs approval again: its {what} changed (the earlier version was approved by sam)"
        ]
        assert report.awaiting == {camp.slug: ["p"]}
    # Back to the first version: it was approved before, yet a change back is a change too.
    report = schedule_calendars(store, [item], now, actor="alex")
    assert report.awaiting == {camp.slug: ["p"]}
    assert [review.post_id for review in api.review()] == ["p"]


def test_a_publish_waits_for_a_change_of_the_post_under_way_and_holds_the_new_version(api: Api, tmp_path: Path) -> None:
    """Why the publish path decides: `campaign schedule` locks the post's parts before it changes the post, and
    the publish locks its part before it reads the approvals. A publish that comes while a change is under way
    waits for it (on PostgreSQL, for its row lock) and then sees the new version, which nobody has
    approved: it holds the part instead of sending the version that was approved."""
    if api.wiring.store.dialect != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time: no publish can begin while a change is under way")
    camp = approval_campaign(tmp_path, grace=timedelta(minutes=30))
    schedule(api, tmp_path, [post("p", T0)], camp)
    api.approve(["p"], person="sam")
    assert isinstance(api.clock, FixedClock)
    api.clock.set(T0)
    claim = api.tick(api.inline_executor(worker="w"), actor="beat").claimed[0]
    store, policy = api.wiring.store, api.wiring.policy
    outcome: list[object] = []
    publishing = threading.Thread(
        target=lambda: outcome.append(begin_publish(store, claim.delivery_id, T0, policy, worker="w"))
    )
    with store.transaction() as session:  # a change of the post, as `campaign schedule` makes one: locks first
        session.scalars(for_update(session, select(Delivery).where(Delivery.post_id == "p"))).all()
        record = session.scalars(select(PostRecord).where(PostRecord.post_id == "p")).one()
        record.content_hash = "f" * 64
        session.flush()
        publishing.start()
        wait_for(lambda: waiting_on_a_lock(store), timeout=30, what="the publish waiting for the change")
        assert outcome == []
    publishing.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], Skip) and outcome[0].reason == "awaiting approval"
    assert {d.state for d in deliveries(api, "p")} == {State.SCHEDULED, State.CLAIMED}


def waiting_on_a_lock(store: Store) -> bool:
    with store.transaction() as session:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        return bool(session.execute(text(query)).scalar())
