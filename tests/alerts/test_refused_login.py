"""A refused login stops its platform loudly, on the real engine (a real Redis, Celery worker and beat processes,
a SQLite store) and the Mastodon test server with a token it does not know: one alert, and the platform's posts
held with that reason (then missed after their grace, naming the hold), never failed one by one; nothing reaches
the server. Checked as `campaign run` starts, and again at post time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.api import Api, load_settings
from scheduler.models import Delivery, State
from scheduler.sync import schedule_calendars
from tests.alerts.receivers import HttpReceiver, Posted, http_receiver
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.engine import Engine, calendar_input, campaign, post, started, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD_TOKEN = "not-our-token-Zk31pQ0w9"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as http:
        yield http


def environment(engine: Engine, account: TestAccount, receiver: HttpReceiver) -> dict[str, str]:
    return engine.env(
        MASTODON_API_BASE_URL=account.base_url,
        MASTODON_ACCESS_TOKEN=BAD_TOKEN,
        CAMPAIGN_ALERT_URLS=receiver.url(),
        CAMPAIGN_ALERT_SECONDS="0.5",
        CAMPAIGN_WEB_URL="https://campaign.example.org/",
    )


def schedule(api: Api, engine: Engine, post_ids: Sequence[str], at: datetime) -> None:
    camp = campaign(engine.directory, slug="act-on-iicsa", grace=timedelta(seconds=8))
    posts = [post(pid, at, f"Post {pid}: survivors deserve to be heard #ActOnIICSA", platforms=("mastodon",))
             for pid in post_ids]  # fmt: skip
    schedule_calendars(api.wiring.store, [calendar_input(engine.directory / "cal.yaml", posts, camp=camp)],
                       datetime.now(UTC), actor="sam")  # fmt: skip


def deliveries(api: Api) -> list[Delivery]:
    with api.wiring.store.transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def login_alerts(receiver: HttpReceiver) -> list[Posted]:
    return [p for p in receiver.posts if "refused our login" in p.body["title"]]


@contextmanager
def worker_and_beat(engine: Engine, env: dict[str, str]) -> Iterator[None]:
    overrides = {k: env[k] for k in ("MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN", "CAMPAIGN_ALERT_URLS",
                                     "CAMPAIGN_ALERT_SECONDS", "CAMPAIGN_WEB_URL")}  # fmt: skip
    with contextmanager(started)([engine.worker(**overrides), engine.beat(**overrides)]):  # publish and collect
        yield


def assert_held_then_missed_never_failed(api: Api, mastodon: MastodonControl, hold_id: int, *, tried: bool) -> None:
    rows = deliveries(api)
    assert [d.state for d in rows] == [State.MISSED] * len(rows), [(d.post_id, d.state, d.last_error) for d in rows]
    for delivery in rows:
        assert (delivery.last_error or "").startswith(
            f"It was held by hold {hold_id} (every post to Mastodon) set by "
        ), delivery.last_error
        assert "Mastodon refused our login" in (delivery.last_error or "")
        assert BAD_TOKEN not in (delivery.last_error or "")
    assert mastodon.statuses("campaign") == []
    if not tried:  # held before any post was tried: no post was even sent to be refused
        assert mastodon.request_log(method="POST", path="/api/v1/statuses") == []


def test_a_token_refused_as_run_starts_holds_the_platform_with_one_alert(
    engine: Engine, mastodon: MastodonControl, mastodon_account: TestAccount, receiver: HttpReceiver
) -> None:
    env = environment(engine, mastodon_account, receiver)
    api = Api.from_settings(load_settings(env, start=engine.directory), create_store=True)
    schedule(api, engine, ["one", "two", "three"], datetime.now(UTC) + timedelta(seconds=3))

    checks = {c.platform: c for c in api.check_logins(actor="sam@laptop")}
    refused = checks["mastodon"]
    assert (refused.state, refused.alerted, checks["bluesky"].state) == ("refused", True, "dry run")
    assert refused.hold is not None and refused.hold.kind == "platform"
    (alert,) = receiver.posts
    assert alert.body["title"] == "Mastodon refused our login: every post to Mastodon is held"
    assert f"`campaign release {refused.hold.id}`" in alert.body["message"]
    assert "MASTODON_ACCESS_TOKEN" in alert.body["message"]
    assert BAD_TOKEN not in alert.everything
    again = {c.platform: c for c in api.check_logins(actor="sam@laptop")}["mastodon"]
    assert (again.state, again.alerted, again.hold and again.hold.id) == ("refused", False, refused.hold.id)

    with worker_and_beat(engine, env):
        wait_for(
            lambda: all(d.state == State.MISSED for d in deliveries(api)), timeout=40, what="all held, then missed"
        )
        wait_for(lambda: any("missed" in p.body["title"] for p in receiver.posts), timeout=20, what="the missed alert")
    assert_held_then_missed_never_failed(api, mastodon, refused.hold.id, tried=False)
    assert len(login_alerts(receiver)) == 1
    assert not any(" failed" in p.body["title"] for p in receiver.posts)
    assert all(BAD_TOKEN not in p.everything for p in receiver.posts)


def test_a_token_refused_at_post_time_holds_the_platform_rather_than_failing_each_post(
    engine: Engine, mastodon: MastodonControl, mastodon_account: TestAccount, receiver: HttpReceiver
) -> None:
    env = environment(engine, mastodon_account, receiver)
    api = Api.from_settings(load_settings(env, start=engine.directory), create_store=True)
    with worker_and_beat(engine, env):
        wait_for(lambda: api.heartbeat().running, timeout=30, what="beat ticking")
        schedule(api, engine, ["one", "two", "three"], datetime.now(UTC) + timedelta(seconds=2))
        wait_for(lambda: api.holds(), timeout=30, what="the platform held at the first refused login")
        wait_for(lambda: all(d.state == State.MISSED for d in deliveries(api)), timeout=40, what="all missed")
        wait_for(lambda: login_alerts(receiver), timeout=20, what="the login alert")
    (hold,) = api.holds()
    assert hold.kind == "platform" and hold.platform == "mastodon"
    assert_held_then_missed_never_failed(api, mastodon, hold.id, tried=True)
    assert len(login_alerts(receiver)) == 1
    assert all(BAD_TOKEN not in p.everything for p in receiver.posts)
