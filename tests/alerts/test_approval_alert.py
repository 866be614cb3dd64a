"""A post still awaiting approval close to its time raises an alert (once), read from what the approval engine
exposes (scheduler/approval.py), at a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from content_calendar.model import ApprovalRule
from scheduler.clock import FixedClock
from scheduler.sync import schedule_calendars
from scheduler.users import Role, add_user
from tests.alerts.receivers import HttpReceiver, SmtpReceiver
from tests.alerts.test_alerts import FIRST_WORDS, SLUG, T0, WEB, make_api
from tests.support.engine import calendar_input, campaign, post


def test_a_post_still_awaiting_approval_a_day_before_its_time_is_told_once(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0 - timedelta(days=3))
    api = make_api(tmp_path, [http.url()], clock)
    add_user(api.wiring.store, "sam", Role.EDITOR, password=None, actor="setup", now=clock.now())
    camp = dataclasses.replace(campaign(tmp_path, slug=SLUG), approval=ApprovalRule(required=True))
    posts = [post("recs-01", T0, FIRST_WORDS, platforms=("mastodon",))]
    schedule_calendars(api.wiring.store, [calendar_input(tmp_path / "cal.yaml", posts, camp=camp)], clock.now(),
                       actor="sam")  # fmt: skip
    api.alerts_sweep()
    clock.set(T0 - timedelta(hours=25))
    api.alerts_sweep()
    assert http.posts == []  # more than a day ahead: nothing yet
    clock.set(T0 - timedelta(hours=23))
    api.alerts_sweep()
    api.alerts_sweep()
    (message,) = http.posts
    assert message.body["title"] == f"Waiting for approval: {SLUG}/recs-01, it is due in 23 hours"
    text = message.body["message"]
    assert "Where it stands: needs 1 more approval" in text and "sam" in text
    assert f"`campaign approve recs-01 --campaign {SLUG}`" in text and f"{WEB}posts/{SLUG}/recs-01" in text
    assert "planned for Mon 01 Feb 2027 09:00 GMT" in text
