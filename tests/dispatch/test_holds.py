"""Safeguarding holds on the real store and tick: a hold by campaign, by topic or by a window of dates keeps back
what it covers and nothing else; what it keeps past its grace is missed with the hold named; placing one gives
back a claim not yet sending; releasing one asks about every post whose time came meanwhile, and nothing held
goes out late without that answer. The CLI face of it: hold, holds, status, release."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler import dispatch
from scheduler.api import Api, UsageRefused, load_settings
from scheduler.clock import FixedClock
from scheduler.errors import NotFound
from scheduler.models import Delivery, PostRecord, State
from scheduler.sync import schedule_calendars
from tests.support.cli import cli_env, invoke
from tests.support.engine import calendar_input, campaign, post, write_campaign

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)


def make_api(tmp_path: Path, clock: FixedClock) -> Api:
    env = {"CAMPAIGN_DATA_DIR": str(tmp_path / "var"), "CAMPAIGN_TIMEZONE": "Europe/London"}
    return Api.from_settings(load_settings(env, start=tmp_path), clock=clock, create_store=True)


def schedule(api: Api, tmp_path: Path, slug: str, *posts: tuple[str, datetime, tuple[str, ...]]) -> None:
    camp = campaign(tmp_path / slug, slug=slug)
    made = [dataclasses.replace(post(pid, at, platforms=("mastodon",)), topics=topics) for pid, at, topics in posts]
    inputs = [calendar_input(tmp_path / slug / "cal.yaml", made, camp=camp)]
    schedule_calendars(api.wiring.store, inputs, api.clock.now(), actor="sam")


def states(api: Api) -> dict[str, str]:
    with api.wiring.store.transaction() as session:
        return {d.post_id: d.state for d in session.scalars(select(Delivery).order_by(Delivery.id))}


def reasons(api: Api) -> dict[str, str | None]:
    with api.wiring.store.transaction() as session:
        return {d.post_id: d.last_error for d in session.scalars(select(Delivery).order_by(Delivery.id))}


def tick(api: Api) -> dispatch.TickResult:
    return dispatch.tick(api.wiring.store, api.clock.now(), api.wiring.policy, actor="beat")


@pytest.fixture
def two_campaigns(tmp_path: Path) -> Api:
    clock = FixedClock(T0 - timedelta(days=2))
    api = make_api(tmp_path, clock)
    later = T0 + timedelta(days=2)
    schedule(
        api, tmp_path, "act-on-iicsa",
        ("a-report", T0, ("inquiry-news",)), ("a-helpline", T0, ("helplines",)), ("a-later", later, ()),
    )  # fmt: skip
    schedule(api, tmp_path, "sasvaw-week", ("s-report", T0, ("inquiry-news",)), ("s-plain", T0, ()))
    return api


def claimed_at_t0(api: Api) -> set[str]:
    assert isinstance(api.clock, FixedClock)
    api.clock.set(T0)
    tick(api)
    return {pid for pid, state in states(api).items() if state == State.CLAIMED}


def test_a_campaign_hold_keeps_that_campaign_and_nothing_else(two_campaigns: Api) -> None:
    api = two_campaigns
    placed = api.place_hold("campaign", campaign="act-on-iicsa", reason="the report is out today", actor="kim")
    assert placed.posts == 3 and placed.hold.describe("Europe/London") == "campaign act-on-iicsa"
    assert claimed_at_t0(api) == {"s-report", "s-plain"}


def test_a_topic_hold_keeps_the_posts_carrying_it_in_every_campaign_or_one(two_campaigns: Api) -> None:
    api = two_campaigns
    assert api.place_hold("topic", topic="#Inquiry-News", reason="embargo", actor="kim").posts == 2
    assert claimed_at_t0(api) == {"a-helpline", "s-plain"}


def test_a_topic_hold_within_a_campaign(two_campaigns: Api) -> None:
    api = two_campaigns
    api.place_hold("topic", topic="inquiry-news", campaign="sasvaw-week", reason="embargo", actor="kim")
    assert claimed_at_t0(api) == {"a-report", "a-helpline", "s-plain"}


def test_a_window_hold_keeps_the_posts_planned_in_its_days_and_nothing_else(two_campaigns: Api) -> None:
    api = two_campaigns
    placed = api.place_hold("window", window=("2027-02-03", "2027-02-03"), reason="anniversary", actor="kim")
    assert placed.posts == 1  # a-later, 3 Feb 09:00; the 1 Feb posts are outside
    assert claimed_at_t0(api) == {"a-report", "a-helpline", "s-report", "s-plain"}
    api.clock.set(T0 + timedelta(days=2))  # type: ignore[attr-defined]
    assert tick(api).claimed == []
    assert states(api)["a-later"] == State.SCHEDULED
    whole_morning = api.place_hold("window", window=("2027-02-01 08:00", "2027-02-01 09:00"), reason="x", actor="kim")
    assert whole_morning.posts == 0  # the end is not included: 09:00 is outside 08:00..09:00


def test_a_held_post_past_its_grace_is_missed_naming_the_hold_and_release_asks_about_it(two_campaigns: Api) -> None:
    api = two_campaigns
    placed = api.place_hold("campaign", campaign="act-on-iicsa", reason="the report is out today", actor="kim")
    hold_id = placed.hold.id
    claimed_at_t0(api)
    api.clock.set(T0 + timedelta(minutes=31))  # type: ignore[attr-defined]
    missed = tick(api).missed  # the other campaign's claims were never published either: missed too
    assert {_id(api, "a-report"), _id(api, "a-helpline")} <= set(missed)
    why = reasons(api)["a-report"] or ""
    assert why.startswith(
        f'It was held by hold {hold_id} (campaign act-on-iicsa) set by kim: "the report is out today"; '
        f"`campaign release {hold_id}` lifts the hold, so it was not published within its grace period (30 min)"
    )
    preview = api.release_preview(hold_id)
    assert [(p.key, p.missed) for p in preview.passed] == [
        ("act-on-iicsa/a-helpline", True),
        ("act-on-iicsa/a-report", True),
    ]
    with pytest.raises(UsageRefused, match="Nothing was released"):
        api.release_hold(hold_id, actor="kim")
    with pytest.raises(UsageRefused):
        api.release_hold(hold_id, actor="kim", choices={"act-on-iicsa/a-report": "post"})
    assert [h.id for h in api.holds()] == [hold_id]  # still standing: nothing was released
    released = api.release_hold(
        hold_id, actor="kim", choices={"act-on-iicsa/a-report": "post", "act-on-iicsa/a-helpline": "leave"}
    )
    assert (released.posted_late, released.left_missed) == (("act-on-iicsa/a-report",), ("act-on-iicsa/a-helpline",))
    assert api.holds() == []
    now_states = states(api)
    assert (now_states["a-report"], now_states["a-helpline"], now_states["a-later"]) == (
        "scheduled",
        "missed",
        "scheduled",
    )
    assert {c.delivery_id for c in tick(api).claimed} == {_id(api, "a-report")}
    with pytest.raises(Exception, match=f"Hold {hold_id} was already released by kim"):
        api.release_hold(hold_id, actor="kim")


def test_a_post_within_its_grace_at_release_is_not_posted_late_unasked(two_campaigns: Api) -> None:
    api = two_campaigns
    hold_id = api.place_hold("topic", topic="helplines", reason="line closed", actor="kim").hold.id
    claimed_at_t0(api)
    api.clock.set(T0 + timedelta(minutes=10))  # type: ignore[attr-defined]
    tick(api)
    assert states(api)["a-helpline"] == State.SCHEDULED  # held, within its grace
    (passed,) = api.release_preview(hold_id).passed
    assert (passed.key, passed.missed) == ("act-on-iicsa/a-helpline", False)
    api.release_hold(hold_id, actor="kim", choices={passed.key: "leave"})
    assert states(api)["a-helpline"] == State.MISSED
    assert tick(api).claimed == []


def test_placing_a_hold_gives_back_a_claim_not_yet_sending_and_publishing_then_skips_it(two_campaigns: Api) -> None:
    api = two_campaigns
    api.clock.set(T0 - timedelta(seconds=5))  # type: ignore[attr-defined]
    tick(api)
    assert states(api)["s-plain"] == State.CLAIMED
    api.place_hold("campaign", campaign="sasvaw-week", reason="hold everything of it", actor="kim")
    assert (states(api)["s-plain"], states(api)["s-report"]) == (State.SCHEDULED, State.SCHEDULED)
    store, policy = api.wiring.store, api.wiring.policy
    skip = dispatch.begin_publish(store, _id(api, "a-report"), api.clock.now(), policy, worker="w")
    assert isinstance(skip, dispatch.PublishJob)  # the other campaign goes on
    # A claim made for post-now is skipped at the last step: publishing checks the holds too.
    (claim,) = dispatch.claim_now(store, [_id(api, "s-plain")], api.clock.now(), policy, actor="post-now")
    held = dispatch.begin_publish(store, claim.delivery_id, api.clock.now(), policy, worker="w")
    assert isinstance(held, dispatch.Skip) and held.reason.startswith("held by hold 1 (campaign sasvaw-week)")


def test_a_hold_on_an_unknown_campaign_or_a_bad_topic_is_refused_and_the_same_hold_is_not_placed_twice(
    two_campaigns: Api,
) -> None:
    api = two_campaigns
    with pytest.raises(NotFound, match="There is no campaign 'act-on-iisca' in the schedule"):
        api.place_hold("campaign", campaign="act-on-iisca", reason="x", actor="kim")
    with pytest.raises(UsageRefused, match="is not a topic name"):
        api.place_hold("topic", topic="inquiry news!", reason="x", actor="kim")
    with pytest.raises(UsageRefused, match="Say why"):
        api.place_hold("topic", topic="x", reason="  ", actor="kim")
    with pytest.raises(UsageRefused, match=r"ends .* before it starts"):
        api.place_hold("window", window=("2027-02-03", "2027-02-01"), reason="x", actor="kim")
    first = api.place_hold("topic", topic="helplines", reason="x", actor="kim")
    again = api.place_hold("topic", topic="HELPLINES", reason="y", actor="sam")
    assert again.created is False and again.hold.id == first.hold.id and len(api.holds()) == 1


def _id(api: Api, post_id: str) -> int:
    with api.wiring.store.transaction() as session:
        return int(session.scalar(select(Delivery.id).where(Delivery.post_id == post_id)) or 0)


# --- from the calendar file to the CLI -----------------------------------------------------------------------


CALENDAR = """campaign: demo
timezone: Europe/London
defaults:
  platforms: [mastodon]
  topics: [inquiry]
posts:
  - id: report-day
    at: "{at}"
    text: "The inquiry's report is out #ActOnIICSA"
    topics: [Inquiry-News, helplines]
  - id: plain
    at: "{at}"
    text: "Nothing to do with the report #ActOnIICSA"
"""


def test_topics_come_from_the_calendar_and_the_cli_holds_lists_shows_and_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(monkeypatch, tmp_path, {})
    folder = write_campaign(tmp_path / "campaigns", "demo")
    at = (datetime.now(UTC) + timedelta(days=3)).astimezone(LONDON)
    calendar = folder / "calendars" / "feb.yaml"
    calendar.write_text(CALENDAR.format(at=f"{at:%Y-%m-%d %H:%M}"), encoding="utf-8")
    code, output = invoke("schedule", str(calendar))
    assert code == 0, output
    api = Api.from_settings(load_settings(start=tmp_path))
    with api.wiring.store.transaction() as session:
        topics = {r.post_id: json.loads(r.topics) for r in session.scalars(select(PostRecord))}
    assert topics == {"report-day": ["inquiry", "inquiry-news", "helplines"], "plain": ["inquiry"]}

    code, output = invoke("hold", "--topic", "inquiry-news", "--reason", "reading the report first")
    assert code == 0, output
    assert "Held: posts about inquiry-news (hold 1)." in output and "It covers 1 post still to go out" in output
    code, output = invoke("holds")
    assert code == 0 and "hold 1: posts about inquiry-news, by " in output and "reading the report first" in output
    code, output = invoke("status")
    assert "HELD: posts about inquiry-news (hold 1, by " in output and "`campaign release 1` lifts it" in output
    code, output = invoke("status", "--json")
    assert json.loads(output)["holds"][0]["topic"] == "inquiry-news"
    code, output = invoke("hold", "--reason", "what?")
    assert code == 2 and "Say what to hold" in output
    code, output = invoke("release", "1")  # no terminal to ask on: refused, nothing released
    assert code == 2 and "Add --yes" in output
    code, output = invoke("release", "1", "--yes")
    assert code == 0, output
    assert "No post's time came while it stood." in output and "Released hold 1" in output
    code, output = invoke("holds")
    assert "No holds stand" in output
