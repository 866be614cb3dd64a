"""How far behind listening to Bluesky is, where people see it: `campaign status` (and --json), the banner of
every web page, and one alert (at a real webhook receiver) when it falls further behind than
CAMPAIGN_LISTEN_LAG_ALERT_SECONDS. The listener is the real one on a real store, fed frames made here so the
clock is the test's; a gap longer than the replay window is read back by search, and the state says so. Also:
one listener per relay and schedule, a dropped stream joined again, engagement on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import libipld
import pytest
import sqlalchemy
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from content_calendar.model import Campaign
from platforms.base import TransientError
from scheduler.api import Api, Refused
from scheduler.clock import FixedClock
from scheduler.collection_models import CollectorState, EngagementEvent, MentionRecord
from scheduler.db import Store
from scheduler.listening import HeldElsewhere, Listener, ListenOptions, listening
from scheduler.listening_state import engagement_heard
from scheduler.models import State
from tests.alerts.receivers import HttpReceiver, SmtpReceiver
from tests.alerts.test_alerts import make_api
from tests.reports.builders import StoreBuilder
from tests.support.firehose_frames import commit_frame, info_frame, post, subject_record

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
RELAY = "https://relay.example"
CAMPAIGN = Campaign(slug="act-on-iicsa", name="Act", directory=Path("."), hashtags=("#ActOnIICSA",))


def listener(
    api: Api, owner: str | None = None, read_back: Callable[[datetime], dict[str, str]] | None = None, **options: object
) -> Listener:
    backfills: list[datetime] = []

    def backfill(since: datetime) -> dict[str, str]:
        backfills.append(since)
        return read_back(since) if read_back else {CAMPAIGN.slug: "read back: 2 new"}

    made = Listener(api.wiring.store, [CAMPAIGN], {}, source=RELAY, clock=api.clock, owner=owner,
                    options=ListenOptions(**options), backfill=backfill)  # type: ignore[arg-type]  # fmt: skip
    made.backfills = backfills  # type: ignore[attr-defined]
    return made


def tagged(seq: int, at: datetime) -> bytes:
    return commit_frame(seq, "did:plc:fan", [("create", f"app.bsky.feed.post/3k{seq}", post("#ActOnIICSA now", at=at,
                                                                                             facet_tags=["ActOnIICSA"]))],
                        time=at)  # fmt: skip


def test_lag_is_shown_in_status_and_the_banner_and_alerted_once_past_the_threshold(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0)
    api = make_api(tmp_path, [http.url()], clock, CAMPAIGN_LISTEN_LAG_ALERT_SECONDS="300")
    api.alerts_sweep()  # the first look only sets where alerts start
    first = listener(api)
    assert first.start() is None  # never listened: from the head
    first.take(tagged(41, T0))
    first.take(None)  # nothing waiting: at the head, written now
    (view,) = api.status().listening
    assert (view.seq, view.lag) == (41, timedelta(0))
    from web.app import _templates

    def banner() -> str:
        return (
            _templates()
            .get_template("_scheduler_banner.html")
            .render(scheduler_banner=api.banner(), visitor=None, scheduler_holds=[])
        )

    assert "Listening to Bluesky as it happens (0 s behind)" in banner()
    api.alerts_sweep()
    assert http.posts == []

    clock.advance(timedelta(minutes=4))  # the listener stopped (nothing written since): under the threshold
    api.alerts_sweep()
    assert http.posts == [] and "(4 min behind)" in banner()
    clock.advance(timedelta(minutes=2))
    api.alerts_sweep()
    api.alerts_sweep()
    assert len(http.posts) == 1  # once, however many looks
    body = http.posts[0].body
    assert body["title"] == "Listening to Bluesky is 6 minutes behind"
    assert f"listening to {RELAY} was last up to date at Mon 01 Feb 2027 09:00 GMT" in body["message"]
    assert "Listening to Bluesky is behind:" in banner() and "6 min late" in banner()
    shown = api.status().to_json()["listening"]
    assert shown[0]["lag_seconds"] == 360.0 and shown[0]["seq"] == 41

    # Started again: it resumes after event 41; caught up, the lag is gone; behind again later is a new alert.
    second = listener(api)
    assert second.start() == 41
    second.take(tagged(42, clock.now()))
    second.take(None)
    assert listening(api.wiring.store, clock.now())[0].lag == timedelta(0)
    assert second.backfills == []  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=10))
    api.alerts_sweep()
    assert len(http.posts) == 2


def test_a_gap_longer_than_the_replay_window_is_read_back_by_search_and_says_so(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0)
    api = make_api(tmp_path, [http.url()], clock)
    first = listener(api)
    first.start()
    first.take(tagged(7, T0))
    first.take(None)
    clock.advance(timedelta(hours=80))  # stopped longer than the relay keeps events (72 h)
    second = listener(api)
    assert second.start() == 7
    assert second.backfills == [T0]  # type: ignore[attr-defined]
    (view,) = api.listening()
    assert view.backfill == "listening stopped for longer than the relay keeps events: read back: 2 new"  # what came

    # A relay that says the cursor is too old (it keeps less than we thought): read back too.
    third = listener(api, replay_window=timedelta(days=30))
    assert third.start() == 7 and third.backfills == []  # type: ignore[attr-defined]
    third.take(info_frame("OutdatedCursor"))
    assert third.backfills == [T0]  # type: ignore[attr-defined]
    assert "the relay no longer has the events" in api.listening()[0].backfill


def test_a_long_read_back_by_search_keeps_the_hold_and_a_failed_one_says_so(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    api = make_api(tmp_path, [], clock)
    first = listener(api)
    first.start()
    first.take(tagged(7, T0))
    first.take(None)
    clock.advance(timedelta(hours=80))
    seen: list[str] = []

    def slow(since: datetime) -> dict[str, str]:
        """Minutes of search: the listener's hold would run out meanwhile, were it not renewed."""
        seen.append(api.listening()[0].backfill)  # while it runs, the state says what is going on
        clock.advance(timedelta(minutes=5))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and listening_held_until(api) <= clock.now():
            time.sleep(0.02)
        with pytest.raises(HeldElsewhere):
            listener(api).start()  # still held: renewed meanwhile
        raise TransientError("search is down")

    second = listener(api, owner="listener@another-host:1", read_back=slow, lease=timedelta(seconds=0.4))
    assert second.start() == 7
    assert seen == ["listening stopped for longer than the relay keeps events: reading back mentions since "
                    "2027-02-01 09:00 UTC by hashtag search"]  # fmt: skip
    (view,) = api.listening()
    assert view.backfill == ("listening stopped for longer than the relay keeps events: the mentions since "
                             "2027-02-01 09:00 UTC could not be read back by search")  # fmt: skip


def listening_held_until(api: Api) -> datetime:
    with api.wiring.store.transaction() as session:
        until = session.scalar(select(func.min(CollectorState.lease_until)).where(CollectorState.kind == "listen"))
    assert until is not None
    return until


def test_one_listener_per_relay_and_schedule_unless_the_one_holding_it_is_gone(tmp_path: Path) -> None:
    api = make_api(tmp_path, [], FixedClock(T0))
    elsewhere = listener(api, owner="listener@another-host:4242")
    elsewhere.start()
    elsewhere.take(tagged(3, T0))
    with pytest.raises(HeldElsewhere):
        listener(api).start()  # it may still run on the other host: refused
    folder = tmp_path / "campaigns" / CAMPAIGN.slug
    folder.mkdir(parents=True)
    (folder / "campaign.yaml").write_text(f'slug: {CAMPAIGN.slug}\nname: "Act"\nhashtags: ["#ActOnIICSA"]\n')
    said: list[str] = []
    api.listen(actor="test", relay=RELAY, stop=lambda: bool(said), on_wait=said.append)  # `campaign listen` waits
    assert said == ["Another listener is running on this schedule: waiting until it stops."]  # said once, plainly
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone = listener(api, owner=f"listener@{socket.gethostname()}:{dead.pid}")
    with api.wiring.store.transaction() as session:  # as if that process had taken it and then died
        session.execute(update(CollectorState).values(lease_owner=gone.owner))
    assert listener(api).start() == 3  # its process is gone: taken over at once, where it stopped
    elsewhere.fail("the repository stream closed", T0)  # one that lost its hold writes nothing over the new one's
    assert api.listening()[0].last_error is None


def test_a_supervised_listener_with_nothing_to_listen_to_waits_rather_than_ends(tmp_path: Path) -> None:
    """Under `campaign run` or a container started again whenever it ends: no relay set is said, then waited."""
    api = make_api(tmp_path, [], FixedClock(T0))
    with pytest.raises(Refused, match="set BLUESKY_RELAY"):
        api.listen(actor="test", stop=lambda: False)  # `campaign listen` by hand: one line, and it ends
    said: list[str] = []
    looks: list[bool] = []

    def stop() -> bool:
        looks.append(bool(said))
        return len(looks) > 2

    totals = api.listen(actor="test", stop=stop, supervised=True, on_wait=said.append)
    assert said == ["Not listening: Listening needs a relay to follow: set BLUESKY_RELAY (for the public network: "
                    "https://bsky.network)."]  # fmt: skip
    assert looks == [True, True, True] and totals.events == 0  # said first, then waited for the stop


def test_a_dropped_stream_is_joined_again_from_where_it_stopped_losing_and_doubling_nothing(tmp_path: Path) -> None:
    api = make_api(tmp_path, [], FixedClock(T0))
    frames = [tagged(seq, T0) for seq in range(1, 11)]
    asked: list[int | None] = []
    seen: list[str] = []

    def stream(cursor: int | None) -> Iterator[bytes | None]:
        """A relay: from after `cursor`; the first connection drops after four frames."""
        asked.append(cursor)
        for n, frame in enumerate(frames[cursor or 0 :]):
            if len(asked) == 1 and n == 4:
                raise TransientError("the repository stream of https://relay.example closed: reset")
            yield frame
        yield None  # nothing more waiting
        seen.append(listening(api.wiring.store, T0)[0].last_error or "")

    made = listener(api, reconnect_base=0.01, flush_seconds=0.0)
    made.start()
    totals = made.run(stream, stop=lambda: bool(seen))
    assert asked[0] is None and asked[1] is not None and 1 <= asked[1] <= 4  # joined again after what was written
    assert totals.mentions.stored == 10 and totals.mentions.duplicates == 4 - asked[1]
    assert seen == [""]  # the drop was recorded, then cleared by the next write
    (view,) = listening(api.wiring.store, T0)
    assert view.seq == 10


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_engagement_is_counted_once_and_taken_back_on_either_database(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database == "postgresql":
        server = request.getfixturevalue("postgres_server")
        server.create_database("listening")
        store = Store(server.url("listening", driver="psycopg"))
    else:
        store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    ours = "at://did:plc:ours/app.bsky.feed.post/3ours"
    build = StoreBuilder(store, CAMPAIGN.slug)
    build.delivery(build.post("p1", T0), "p1", "bluesky", T0, State.PUBLISHED, published=T0, remote_id=ours)
    made = Listener(store, [CAMPAIGN], {}, source=RELAY, clock=FixedClock(T0), options=ListenOptions(flush_seconds=0))
    made.start()
    reply = {"root": {"uri": ours, "cid": "bafy"}, "parent": {"uri": ours, "cid": "bafy"}}
    fan = "did:plc:fan"
    for frame in (
        commit_frame(1, fan, [("create", "app.bsky.feed.like/3b", subject_record("like", ours, at=T0))], time=T0),
        commit_frame(2, fan, [("create", "app.bsky.feed.post/3c", post("Thank you", at=T0, reply=reply))], time=T0),
        commit_frame(3, fan, [("create", "app.bsky.feed.like/3b", subject_record("like", ours, at=T0))], time=T0),
        commit_frame(4, "did:plc:ours", [("create", "app.bsky.feed.post/3d", post("Part 2", at=T0, reply=reply))],
                     time=T0),  # our own thread: not engagement
        tagged(5, T0),
        commit_frame(6, fan, [("delete", "app.bsky.feed.post/3c", None)], time=T0),  # the reply taken back
    ):  # fmt: skip
        made.take(frame)
    (heard,) = engagement_heard(store, CAMPAIGN.slug).values()
    assert heard == {"like": 1}
    assert listening(store, T0)[0].seq == 6
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(MentionRecord)) == 1


class FlakyStore(Store):
    """A store whose next `failures` transactions fail as they commit (the database locked, the connection
    dropped): what they wrote is rolled back."""

    failures = 0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with super().transaction() as session:
            yield session
            if self.failures:
                self.failures -= 1
                raise OperationalError("COMMIT", {}, Exception("database is locked"))


@pytest.mark.parametrize("failures", [1, 2])
def test_a_write_the_store_refuses_loses_nothing_and_moves_the_position_past_nothing(
    failures: int, tmp_path: Path
) -> None:
    store = FlakyStore(f"sqlite:///{tmp_path / 'campaign.db'}")
    plain = [commit_frame(seq, "did:plc:x", [("create", f"app.bsky.feed.post/3p{seq}", post("hello", at=T0))],
                          time=T0) for seq in (3, 4)]  # fmt: skip
    frames = [tagged(1, T0), tagged(2, T0), *plain]
    asked: list[int | None] = []

    def stream(cursor: int | None) -> Iterator[bytes | None]:
        asked.append(cursor)
        for frame in frames[cursor or 0 :]:
            yield frame
            if len(asked) == 1 and frame is frames[0]:  # 1 is written: the write of 2-4 fails (then its retry)
                store.failures = failures
        yield None

    made = Listener(store, [CAMPAIGN], {}, source=RELAY, clock=FixedClock(T0),
                    options=ListenOptions(batch_events=3, flush_seconds=1e9, heartbeat_seconds=1e9,
                                          reconnect_base=0.0))  # fmt: skip
    made.start()
    totals = made.run(stream, stop=lambda: len(asked) >= 2 and listening(store, T0)[0].seq == 4)
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(MentionRecord)) == 2
    # Written on the retry, or (refused again) read again from after event 1, the last position written.
    assert asked == ([None, 4] if failures == 1 else [None, 1])
    assert totals.mentions.stored == 2 and listening(store, T0)[0].seq == 4


def timeless(seq: int, path: str, record: dict[str, Any]) -> bytes:
    """A frame whose event and record carry no time (createdAt gone)."""
    record = {k: v for k, v in record.items() if k != "createdAt"}
    header, body = libipld.decode_dag_cbor_multi(commit_frame(seq, "did:plc:fan", [("create", path, record)], time=T0))
    body["time"] = ""
    return bytes(libipld.encode_dag_cbor(header) + libipld.encode_dag_cbor(body))


def test_engagement_is_counted_by_when_it_was_heard_not_the_time_its_app_claims(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    ours = "at://did:plc:ours/app.bsky.feed.post/3ours"
    build = StoreBuilder(store, CAMPAIGN.slug)
    build.delivery(build.post("p1", T0), "p1", "bluesky", T0, State.PUBLISHED, published=T0, remote_id=ours)
    clock = FixedClock(T0 + timedelta(days=1))
    made = Listener(store, [CAMPAIGN], {}, source=RELAY, clock=clock, options=ListenOptions(flush_seconds=0))
    made.start()
    backdated = T0 - timedelta(days=30)  # a like whose app says it was made a month ago
    like = subject_record("like", ours, at=backdated)
    made.take(commit_frame(1, "did:plc:fan", [("create", "app.bsky.feed.like/3b", like)], time=clock.now()))
    week = (clock.now() - timedelta(days=3), clock.now() + timedelta(days=4))
    (heard,) = engagement_heard(store, CAMPAIGN.slug, *week).values()
    assert heard == {"like": 1}
    assert engagement_heard(store, CAMPAIGN.slug, backdated - timedelta(days=1), backdated + timedelta(days=1)) == {}

    # Neither the record nor the event says when: the time it was heard (the listener's clock), never a guess.
    clock.advance(timedelta(hours=1))
    made.take(timeless(2, "app.bsky.feed.repost/3r", subject_record("repost", ours, at=T0)))
    made.take(timeless(3, "app.bsky.feed.post/3t", post("#ActOnIICSA", at=T0, facet_tags=["ActOnIICSA"])))
    with store.transaction() as session:
        (mention_at,) = session.scalars(select(MentionRecord.created_at))
        (repost_at,) = session.scalars(select(EngagementEvent.created_at).where(EngagementEvent.kind == "repost"))
    assert mention_at == repost_at == clock.now()


def test_only_deletions_of_our_engagement_are_looked_for(tmp_path: Path) -> None:
    """The stream carries every post, like and repost deleted on the network: the store is asked about ours only
    (a DELETE with all of them would pass PostgreSQL's 65,535 parameters on a busy batch)."""
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    ours = "at://did:plc:ours/app.bsky.feed.post/3ours"
    build = StoreBuilder(store, CAMPAIGN.slug)
    build.delivery(build.post("p1", T0), "p1", "bluesky", T0, State.PUBLISHED, published=T0, remote_id=ours)
    asked: list[int] = []  # the keys each DELETE of engagement names

    def watch(_conn: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        if statement.startswith("DELETE FROM engagement_events"):
            asked.append(len(parameters))

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", watch)
    made = Listener(store, [CAMPAIGN], {}, source=RELAY, clock=FixedClock(T0),
                    options=ListenOptions(batch_events=2, flush_seconds=1e9))  # fmt: skip
    made.start()
    fan = "did:plc:fan"
    for frame in (
        commit_frame(1, fan, [("create", "app.bsky.feed.like/3b", subject_record("like", ours, at=T0))], time=T0),
        commit_frame(2, "did:plc:other", [("delete", f"app.bsky.feed.like/x{n}", None) for n in range(3)], time=T0),
        commit_frame(3, fan, [("delete", "app.bsky.feed.like/3b", None)], time=T0),  # taken back: stored before
        commit_frame(4, fan, [("create", "app.bsky.feed.like/3c", subject_record("like", ours, at=T0))], time=T0),
        commit_frame(5, fan, [("delete", "app.bsky.feed.like/3c", None)], time=T0),  # taken back in the same batch
    ):
        made.take(frame)
    assert asked == [1, 1]
    assert engagement_heard(store, CAMPAIGN.slug) == {} and made.totals.removed == 2
