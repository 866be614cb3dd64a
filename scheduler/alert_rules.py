"""What raises an alert, found in the store: what happened since the last look (the events after a cursor: a post
failed or missed, a duplicate deleted, posting paused or resumed), and what stands now (a hold placed or released,
a collector failing for an hour, a post still awaiting approval close to its time, a weekly report written).

Each alert has a key naming its subject and state (`post:act-on-iicsa/recs-01:mastodon:failed`), kept in
`alerts_sent` (unique): a fact already alerted is never alerted again, however often it is seen. Every alert
says what happened in plain words, the post's first words and planned time in its campaign's zone, and what to
do: the command, and the web page."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.collection_models import CollectorRun, CollectorState
from scheduler.dispatch.operator_actions import first_words
from scheduler.display import local_time, platform_name
from scheduler.holds import HoldView, view
from scheduler.listening_state import LISTEN, Position, lag_of
from scheduler.models import Delivery, Event, PostRecord, Setting
from scheduler.review_models import Hold

CURSOR_KEY = "alerts_event_cursor"  # the last event looked at
SINCE_KEY = "alerts_since"  # when alerts were first looked for: older reports are not news
COLLECTOR_FAILING = timedelta(hours=1)
_REPORT = re.compile(r"(?P<campaign>[a-z0-9][a-z0-9-]*)-(?P<year>\d{4})-W(?P<week>\d{2})\.html")
_EVENTS_PER_LOOK = 2000


@dataclass(frozen=True)
class Alert:
    key: str  # subject and state: sent once
    kind: str  # failed, missed, duplicate, paused, resumed, hold, released, collector, approval, report, ...
    title: str
    body: str

    def text(self) -> str:
        return f"{self.title}\n\n{self.body}"


@dataclass(frozen=True)
class Place:
    """Where alerts point people: the web workspace's address and the workspace zone."""

    web_url: str
    zone: str

    def page(self, path: str) -> str:
        return self.web_url.rstrip("/") + "/" + path.lstrip("/")

    def post_page(self, campaign: str, post_id: str) -> str:
        return self.page(f"posts/{campaign}/{post_id}")


def _setting(session: Session, key: str) -> Setting | None:
    return session.get(Setting, key)


def _put(session: Session, key: str, value: str, now: datetime) -> None:
    row = _setting(session, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def find(
    session: Session,
    place: Place,
    now: datetime,
    *,
    reports_dir: Path,
    approval_hours: float,
    listen_lag_seconds: float = 600.0,
) -> list[Alert]:
    """Every alert-worthy fact now: those of the events since the last look (the cursor moves on, in the caller's
    transaction), and those that stand. The first look only sets the cursor: history is not news."""
    cursor = _setting(session, CURSOR_KEY)
    last = session.scalar(select(func.max(Event.id))) or 0
    since_row = _setting(session, SINCE_KEY)
    if since_row is None:
        _put(session, SINCE_KEY, now.isoformat(), now)
    since = datetime.fromisoformat(since_row.value) if since_row is not None else now
    found: list[Alert] = []
    if cursor is None:
        _put(session, CURSOR_KEY, str(last), now)
    else:
        events = session.scalars(
            select(Event).where(Event.id > int(cursor.value)).order_by(Event.id).limit(_EVENTS_PER_LOOK)
        ).all()
        found += _from_events(session, events, place)
        if events:
            _put(session, CURSOR_KEY, str(events[-1].id), now)
    found += _holds(session, place, since)
    found += _collectors(session, place, now)
    found += _listening(session, place, now, listen_lag_seconds)
    found += _awaiting_approval(session, place, now, approval_hours)
    found += _reports(reports_dir, place, since)
    return found


# --- posts -------------------------------------------------------------------------------------------------


def _post_lines(record: PostRecord | None, campaign: str, post_id: str) -> str:
    if record is None:
        return f"Post: {campaign}/{post_id}."
    return (
        f'Post: "{first_words(record.summary)}" ({campaign}/{post_id}), planned for '
        f"{local_time(record.planned_at, record.timezone)}."
    )


def _from_events(session: Session, events: Iterable[Event], place: Place) -> list[Alert]:
    alerts: list[Alert] = []
    deliveries = {
        d.id: d
        for d in session.scalars(
            select(Delivery).where(Delivery.id.in_({e.delivery_id for e in events if e.delivery_id is not None}))
        )
    }
    records = {
        r.id: r
        for r in session.scalars(select(PostRecord).where(PostRecord.id.in_({d.post_pk for d in deliveries.values()})))
    }
    for event in events:
        delivery = deliveries.get(event.delivery_id) if event.delivery_id is not None else None
        record = records.get(delivery.post_pk) if delivery is not None else None
        if delivery is not None and event.to_state == "failed":
            alerts.append(_not_posted(delivery, record, "failed", event.reason, place))
        elif delivery is not None and event.action == "misfire":
            alerts.append(_not_posted(delivery, record, "missed", event.reason, place))
        elif delivery is not None and event.action == "duplicate":
            alerts.append(_duplicate(event, delivery, record, place))
        elif event.action in ("pause", "resume"):
            alerts.append(_pause(event, place))
    return alerts


def _not_posted(delivery: Delivery, record: PostRecord | None, state: str, why: str, place: Place) -> Alert:
    name, where = platform_name(delivery.platform), f"{delivery.campaign}/{delivery.post_id}"
    retry = f"`campaign retry {delivery.post_id} --campaign {delivery.campaign}`"
    happened = {
        "failed": f"A post could not be published on {name}, and will not be tried again.",
        "missed": f"A post was not published on {name} in time, so it was marked missed rather than posted late.",
    }[state]
    part = f" (thread part {delivery.part})" if delivery.part else ""
    return Alert(
        key=f"post:{where}:{delivery.platform}:{state}",
        kind=state,
        title=f"Not posted: {where} on {name} {state}{part}",
        body="\n".join(
            [
                happened,
                _post_lines(record, delivery.campaign, delivery.post_id),
                f"Why: {why or delivery.last_error or 'no reason was recorded'}",
                f"What to do: if it is still wanted, {retry} posts it now, late; else leave it, or cancel it with "
                f"`campaign cancel {delivery.post_id} --campaign {delivery.campaign}`.",
                f"See it: {place.post_page(delivery.campaign, delivery.post_id)}",
            ]
        ),
    )


def _duplicate(event: Event, delivery: Delivery, record: PostRecord | None, place: Place) -> Alert:
    name, where = platform_name(delivery.platform), f"{delivery.campaign}/{delivery.post_id}"
    left = "could not be deleted" in event.reason
    todo = (
        f"delete the copy named above on {name} by hand: it could not be deleted."
        if left
        else f"nothing, unless someone saw both copies: the newer one was deleted on {name}."
    )
    return Alert(
        key=f"duplicate:{event.id}",
        kind="duplicate",
        title=f"Posted twice: {where} on {name}",
        body="\n".join(
            [
                f"A post went out twice on {name}: an earlier attempt's post appeared late, after it was sent again.",
                _post_lines(record, delivery.campaign, delivery.post_id),
                f"What happened: {event.reason}",
                f"What to do: {todo}",
                f"See it: {place.post_page(delivery.campaign, delivery.post_id)}",
            ]
        ),
    )


def _pause(event: Event, place: Place) -> Alert:
    at = local_time(event.at, place.zone)
    if event.action == "pause":
        return Alert(
            key=f"paused:{event.id}",
            kind="paused",
            title=f"Posting paused by {event.actor}",
            body="\n".join(
                [
                    f"All posting was paused by {event.actor} on {at}. Nothing is posted until someone resumes it.",
                    f"Why: {event.reason or 'no reason given'}",
                    "What to do: when it is safe, `campaign resume` (it lists what the pause held back), or resume "
                    f"on {place.page('resume')}.",
                ]
            ),
        )
    return Alert(
        key=f"resumed:{event.id}",
        kind="resumed",
        title=f"Posting resumed by {event.actor}",
        body="\n".join(
            [
                f"Posting was resumed by {event.actor} on {at}: scheduled posts go out again.",
                *([f"Resuming {event.reason}."] if event.reason else []),  # whose pause, and what became of each post
                f"What to do: check what the pause held back with `campaign status`, or on {place.page('status')}.",
            ]
        ),
    )


# --- what stands ---------------------------------------------------------------------------------------------


def _holds(session: Session, place: Place, since: datetime) -> list[Alert]:
    rows = session.scalars(
        select(Hold).where((Hold.created_at >= since) | (Hold.released_at >= since)).order_by(Hold.id)
    ).all()
    alerts = []
    for hold in (view(row) for row in rows):
        if hold.created_at >= since:
            alerts.append(hold_placed(hold, place))
        if hold.released_at is not None and hold.released_at >= since:
            alerts.append(
                Alert(
                    key=f"hold:{hold.id}:released",
                    kind="released",
                    title=f"Hold {hold.id} released by {hold.released_by}: {hold.describe(place.zone)}",
                    body="\n".join(
                        [
                            f"Hold {hold.id} ({hold.describe(place.zone)}) was released by {hold.released_by} on "
                            f"{local_time(hold.released_at, place.zone)}; it was placed by {hold.actor}: "
                            f'"{hold.reason}".',
                            "What it covered goes out again at its time; the posts whose time came while it stood "
                            "were posted late or left missed, as they chose.",
                            f"See the schedule: `campaign status`, or {place.page('status')}",
                        ]
                    ),
                )
            )
    return alerts


def hold_placed(hold: HoldView, place: Place) -> Alert:
    placed = f"{hold.actor} on {local_time(hold.created_at, place.zone)}"
    if hold.kind == "platform":
        name = platform_name(hold.platform or "")
        setting = {"bluesky": "BLUESKY_APP_PASSWORD", "mastodon": "MASTODON_ACCESS_TOKEN"}.get(hold.platform or "")
        return Alert(
            key=f"hold:{hold.id}:placed",
            kind="login",
            title=f"{name} refused our login: every post to {name} is held",
            body="\n".join(
                [
                    f"{name} refused to let us log in, so nothing is posted there: its posts are held (hold "
                    f"{hold.id}, by {placed}), not failed one by one.",
                    f"Why: {hold.reason}",
                    f"What to do: set a working {setting or 'password or token'} in .env, restart `campaign run` "
                    f"(it checks the login as it starts), then `campaign release {hold.id}` (it asks about the posts "
                    "whose time came meanwhile).",
                    f"See the schedule: {place.page('status')}",
                ]
            ),
        )
    return Alert(
        key=f"hold:{hold.id}:placed",
        kind="hold",
        title=f"Hold {hold.id} placed by {hold.actor}: {hold.describe(place.zone)}",
        body="\n".join(
            [
                f"Nothing it covers ({hold.describe(place.zone)}) is posted until it is released. Placed by {placed}.",
                f"Why: {hold.reason}",
                f"What to do: when it is safe, `campaign release {hold.id}` (it asks about the posts whose time came "
                f"meanwhile). `campaign holds` lists every hold; see {place.page('status')}",
            ]
        ),
    )


def _collectors(session: Session, place: Place, now: datetime) -> list[Alert]:
    alerts = []
    failing = session.scalars(select(CollectorState).where(CollectorState.consecutive_failures > 0)).all()
    for state in failing:
        first = session.scalars(
            select(CollectorRun)
            .where(
                CollectorRun.campaign == state.campaign,
                CollectorRun.kind == state.kind,
                CollectorRun.platform == state.platform,
                CollectorRun.source == state.source,
                CollectorRun.outcome.in_(("failed", "rate_limited")),
                CollectorRun.started_at > (state.last_success_at or datetime.min.replace(tzinfo=now.tzinfo)),
            )
            .order_by(CollectorRun.id)
            .limit(1)
        ).first()
        if first is None or now - first.started_at < COLLECTOR_FAILING:
            continue
        what = "hashtag mentions" if state.kind == "mentions" else "engagement of our posts"
        source = f" from {state.source}" if state.source else ""
        alerts.append(
            Alert(
                key=f"collector:{state.id}:failing:{first.id}",
                kind="collector",
                title=f"Collecting {what} for {state.campaign} on {platform_name(state.platform)} has failed for over "
                "an hour",
                body="\n".join(
                    [
                        f"Collecting {what}{source} for {state.campaign} on {platform_name(state.platform)} has "
                        f"failed {state.consecutive_failures} times in a row since "
                        f"{local_time(first.started_at, place.zone)}. Posting is not affected; the weekly report "
                        "will miss what is not collected.",
                        f"Why: {state.last_error or 'no error was recorded'}",
                        "What to do: check the account or the instance named above; it keeps trying by itself. "
                        f"`campaign status` shows the collectors, as does {place.page('status')}",
                    ]
                ),
            )
        )
    return alerts


def _listening(session: Session, place: Place, now: datetime, lag_seconds: float) -> list[Alert]:
    """Listening to Bluesky more than `lag_seconds` behind the stream: once per relay and time it fell behind
    (the last moment it was known to be current), so catching up slowly or staying stopped is one alert."""
    alerts = []
    seen: set[str] = set()
    for state in session.scalars(
        select(CollectorState).where(CollectorState.kind == LISTEN).order_by(CollectorState.id)
    ):
        if state.source in seen:
            continue  # one listener follows a relay for every campaign: one alert
        seen.add(state.source)
        position = Position.parse(state.cursor)
        lag = lag_of(position, now)
        if lag is None or lag.total_seconds() <= lag_seconds:
            continue
        current = max(t for t in (position.event_time, position.head_at) if t is not None)
        behind = _hours(lag)
        alerts.append(
            Alert(
                key=f"listening:{state.source}:behind-since:{current.isoformat()}",
                kind="listening",
                title=f"Listening to Bluesky is {behind} behind",
                body="\n".join(
                    [
                        "Posts using the campaign hashtags, and likes, reposts, replies and quotes of our posts, "
                        f"reach us {behind} late: listening to {state.source} was last up to date at "
                        f"{local_time(current, place.zone)}. Posting is not affected.",
                        f"Why: {state.last_error or 'no problem was recorded: it may have stopped, or be catching up'}",
                        "What to do: check that `campaign listen` (or `campaign run`, which starts it) is running; it "
                        "carries on where it stopped, and hashtag search reads back anything older than the relay "
                        f"keeps. `campaign status` shows how far behind it is, as does {place.page('status')}",
                    ]
                ),
            )
        )
    return alerts


def _awaiting_approval(session: Session, place: Place, now: datetime, hours: float) -> list[Alert]:
    try:  # the second pair of eyes, built beside the alerts (scheduler/approval.py): without it, none waits
        approval = importlib.import_module("scheduler.approval")
    except ImportError:
        return []
    waiting = approval.awaiting(session)
    if not waiting:
        return []
    horizon = now + timedelta(hours=hours)
    alerts = []
    for record in session.scalars(select(PostRecord).where(PostRecord.id.in_(waiting)).order_by(PostRecord.id)):
        due = session.scalar(
            select(func.min(Delivery.due_at)).where(Delivery.post_pk == record.id, Delivery.state == "scheduled")
        )
        if due is None or due > horizon:
            continue
        state = approval.state_of(session, record)
        left = due - now
        when = "its time has come" if left.total_seconds() <= 0 else f"it is due in {_hours(left)}"
        alerts.append(
            Alert(
                key=f"approval:{record.id}:{record.content_hash}",
                kind="approval",
                title=f"Waiting for approval: {record.campaign}/{record.post_id}, {when}",
                body="\n".join(
                    [
                        f"A post still waits for approval and {when}: it goes out only once it is approved.",
                        f'Post: "{first_words(record.summary)}" ({record.campaign}/{record.post_id}), planned for '
                        f"{local_time(due, record.timezone)}.",
                        f"Where it stands: {state.words()}",
                        f"What to do: an approver reads it and runs `campaign approve {record.post_id} --campaign "
                        f"{record.campaign}`, or approves it on {place.post_page(record.campaign, record.post_id)}",
                    ]
                ),
            )
        )
    return alerts


def _hours(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


def _reports(reports_dir: Path, place: Place, since: datetime) -> list[Alert]:
    if not reports_dir.is_dir():
        return []
    alerts = []
    for path in sorted(reports_dir.glob("**/*.html")):
        found = _REPORT.fullmatch(path.name)
        try:
            written = datetime.fromtimestamp(path.stat().st_mtime, tz=since.tzinfo)
        except OSError:
            continue
        if found is None or written < since:
            continue
        week = f"{found['year']}-W{found['week']}"
        alerts.append(
            Alert(
                key=f"report:{path.name}",
                kind="report",
                title=f"Weekly report written: {found['campaign']} {week}",
                body="\n".join(
                    [
                        f"The weekly report of {found['campaign']} for {week} is written: {path}",
                        f"Read it on {place.page(f'reports/{path.name}')}",
                    ]
                ),
            )
        )
    return alerts
