"""The pause read as a hold of every post: while paused, what falls due is kept back (and missed past its grace,
the pause named), and resuming asks about each post whose time came meanwhile: post it now, late, or leave it
missed. Without a choice for every one, nothing changes and posting stays paused. On the store with the clock
passed in, then once end to end on the real engine (Redis, Celery worker and beat, the outbox)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from platforms.outbox import read_outbox
from scheduler.api import Api, UsageRefused, load_settings
from scheduler.clock import FixedClock
from scheduler.dispatch.pausing import pause_state
from scheduler.models import Delivery, Event, State
from scheduler.sync import schedule_calendars
from tests.dispatch.test_holds import T0, make_api, reasons, schedule, states, tick
from tests.support.engine import Engine, calendar_input, campaign, post, started, wait_for
from tests.support.postgres import PostgresServer

SLUG = "act-on-iicsa"


def events(api: Api, action: str) -> list[Event]:
    with api.wiring.store.transaction() as session:
        return list(session.scalars(select(Event).where(Event.action == action).order_by(Event.id)))


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def paused(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """On a store of each kind: posts at T0 - 2h (missed before the pause), T0, T0 + 20 min and T0 + 2 days;
    paused by kim at T0 - 1h."""
    clock = FixedClock(T0 - timedelta(days=2))
    if request.param == "sqlite":
        api = make_api(tmp_path, clock)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"resume_{next(_databases)}"
        server.create_database(name)
        env = {"CAMPAIGN_DATA_DIR": str(tmp_path / "var"), "CAMPAIGN_TIMEZONE": "Europe/London",
               "CAMPAIGN_DATABASE_URL": server.url(name, driver="psycopg")}  # fmt: skip
        api = Api.from_settings(load_settings(env, dotenv_path=tmp_path / "none.env"), clock=clock, create_store=True)
    schedule(
        api, tmp_path, SLUG,
        ("before", T0 - timedelta(hours=2), ()), ("due", T0, ()), ("soon", T0 + timedelta(minutes=20), ()),
        ("after", T0 + timedelta(days=2), ()),
    )  # fmt: skip
    api.clock.set(T0 - timedelta(hours=1))  # type: ignore[attr-defined]
    assert len(tick(api).missed) == 1  # "before": nothing ran, so it was missed before the pause
    assert api.pause(reason="news about the inquiry", actor="kim", wait=timedelta(0)) == 0
    yield api
    api.close()


def test_resume_asks_about_each_post_whose_time_came_while_paused_and_nothing_goes_out_late_unasked(
    paused: Api,
) -> None:
    api = paused
    api.clock.set(T0 + timedelta(minutes=35))  # type: ignore[attr-defined]
    result = tick(api)  # "due" is past its grace: missed, the pause named; "soon" is within it: kept back
    assert result.claimed == [] and len(result.missed) == 1
    assert (reasons(api)["due"] or "").startswith("Posting was paused by kim at 08:00 GMT (news about the inquiry)")
    assert states(api)["soon"] == State.SCHEDULED

    preview = api.resume_preview()
    assert (preview.paused, preview.paused_by, preview.reason) == (True, "kim", "news about the inquiry")
    assert preview.paused_at == T0 - timedelta(hours=1)
    assert [(p.key, p.missed) for p in preview.passed] == [(f"{SLUG}/due", True), (f"{SLUG}/soon", False)]

    before = states(api)
    with pytest.raises(UsageRefused, match=r"Nothing changed, posting is still paused: the time of .*due, .*soon"):
        api.resume(actor="ann")
    with pytest.raises(UsageRefused, match=f"the time of {SLUG}/soon came"):
        api.resume(actor="ann", choices={f"{SLUG}/due": "post"})
    assert pause_state(api.wiring.store) == (True, "news about the inquiry") and states(api) == before
    assert tick(api).claimed == [] and events(api, "resume") == []

    resumed = api.resume(actor="ann", choices={f"{SLUG}/due": "leave", f"{SLUG}/soon": "post"})
    assert (resumed.posted_late, resumed.left_missed, resumed.still_held) == ((f"{SLUG}/soon",), (f"{SLUG}/due",), ())
    assert pause_state(api.wiring.store) == (False, "")
    assert (reasons(api)["due"] or "").startswith(
        "Held back by the pause of kim on Mon 01 Feb 2027 08:00 GMT (news about the inquiry); left missed by ann on "
        "resume (`campaign retry due` posts it late)"
    )
    assert [c.delivery_id for c in tick(api).claimed] == [_id(api, "soon")]  # only the one chosen
    assert states(api)["due"] == State.MISSED and states(api)["after"] == State.SCHEDULED
    (resume,) = events(api, "resume")
    assert resume.actor == "ann" and "ended the pause of kim on Mon 01 Feb 2027 08:00 GMT" in resume.reason
    assert f"1 post posted now, late ({SLUG}/soon); 1 post left missed ({SLUG}/due)" in resume.reason
    chosen = {(e.post_id, e.actor) for e in events(api, "resume-choice")}
    assert chosen == {("due", "ann"), ("soon", "ann")}
    assert api.resume(actor="ann").paused is False  # not paused any more: nothing changes
    assert len(events(api, "resume")) == 1


def test_a_post_a_hold_still_covers_is_named_not_asked_about_and_its_release_asks_later(paused: Api) -> None:
    api = paused
    hold = api.place_hold("campaign", campaign=SLUG, reason="the report is out", actor="kim").hold
    api.clock.set(T0 + timedelta(minutes=5))  # type: ignore[attr-defined]
    tick(api)
    (due,) = api.resume_preview().passed
    assert (due.key, due.still_held_by) == (f"{SLUG}/due", hold.id) and api.resume_preview().to_decide == ()
    resumed = api.resume(actor="ann")
    assert resumed.still_held == (f"{SLUG}/due",) and resumed.posted_late == ()
    assert tick(api).claimed == []  # the hold still stands
    assert [p.key for p in api.release_preview(hold.id).to_decide] == [f"{SLUG}/due"]


def test_pausing_twice_keeps_the_first_pause_as_its_start(paused: Api) -> None:
    api = paused
    api.clock.set(T0 + timedelta(minutes=40))  # type: ignore[attr-defined]
    tick(api)  # "due" missed while paused
    assert api.pause(reason="still reading", actor="sam", wait=timedelta(0)) == 0
    preview = api.resume_preview()
    assert (preview.paused_by, preview.reason) == ("sam", "still reading")
    assert [p.key for p in preview.passed] == [f"{SLUG}/due", f"{SLUG}/soon"]  # since kim's pause, not sam's


def _id(api: Api, post_id: str) -> int:
    with api.wiring.store.transaction() as session:
        return int(session.scalar(select(Delivery.id).where(Delivery.post_id == post_id)) or 0)


# --- end to end ------------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_a_post_due_while_paused_waits_on_the_real_engine_until_chosen_then_goes_out_once(engine: Engine) -> None:
    settings = load_settings(
        {"CAMPAIGN_DATABASE_URL": engine.database_url, "CAMPAIGN_DATA_DIR": str(engine.directory),
         "CAMPAIGN_OUTBOX": str(engine.outbox)},
        dotenv_path=engine.directory / "none.env",
    )  # fmt: skip
    api = Api.from_settings(settings)
    try:
        camp = campaign(engine.directory, grace=timedelta(minutes=10))
        due = datetime.now(UTC) + timedelta(seconds=3)
        item = calendar_input(engine.directory / "cal.yaml", [post("held", due, platforms=("mastodon",))], camp=camp)
        schedule_calendars(api.wiring.store, [item], api.clock.now(), actor="sam")
        api.pause(reason="breaking news", actor="kim", wait=timedelta(0))
        sent = lambda: [e for e in read_outbox(engine.outbox) if e["post_id"] == "held"]  # noqa: E731
        with contextmanager(started)([engine.worker(), engine.beat()]):
            wait_for(lambda: api.resume_preview().passed, timeout=30, what="the post's time to come while paused")
            checked_after(api, due, what="the scheduler to check the schedule after the post's time")
            assert sent() == [] and {d.state for d in _deliveries(api)} == {State.SCHEDULED}
            with pytest.raises(UsageRefused):
                api.resume(actor="ann")  # no choice: nothing changes
            checked_after(api, datetime.now(UTC), what="another check by the scheduler")
            assert pause_state(api.wiring.store)[0] is True and sent() == []
            api.resume(actor="ann", choices={f"{camp.slug}/held": "post"})
            wait_for(lambda: {d.state for d in _deliveries(api)} == {State.PUBLISHED}, timeout=30,
                     what="the post published once chosen")  # fmt: skip
            wait_for(lambda: sent(), timeout=10, what="the outbox entry")
        assert len(sent()) == 1  # exactly once
    finally:
        api.close()


def checked_after(api: Api, moment: datetime, *, what: str) -> None:
    def checked() -> bool:
        last = api.heartbeat().last_check_at
        return last is not None and last > moment + timedelta(seconds=1)

    wait_for(checked, timeout=30, what=what)


def _deliveries(api: Api) -> list[Delivery]:
    with api.wiring.store.transaction() as session:
        return list(session.scalars(select(Delivery).where(Delivery.post_id == "held")))
