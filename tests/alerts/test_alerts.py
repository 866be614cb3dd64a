"""Alerts arrive where CAMPAIGN_ALERT_URLS says, through Apprise, at a real SMTP server and a real webhook receiver
on 127.0.0.1: what happened in plain words, the post's first words and planned time in the campaign's zone, what
to do (the command and the web page), never a secret; once per subject and state; grouped when many come at
once; or once a day as a digest."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler import dispatch
from scheduler.api import Api, load_settings
from scheduler.clock import FixedClock
from scheduler.collection.collector_state import CollectorKey, RunRecord, claim_collector, finish_collector
from scheduler.models import Delivery, State
from scheduler.review_models import SentAlert
from scheduler.sync import schedule_calendars
from tests.alerts.receivers import (
    HOOK_HEADER_TOKEN,
    HOOK_PASSWORD,
    SMTP_PASSWORD,
    HttpReceiver,
    SmtpReceiver,
    free_port,
)
from tests.support.cli import cli_env, invoke
from tests.support.engine import calendar_input, campaign, post

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)  # a Monday, GMT
MASTODON_TOKEN = "mastodon-token-Qx81Zr55Lk0"
BLUESKY_PASSWORD = "abcd-efgh-ijkl-mnop"
WEB = "https://campaign.example.org/"
SLUG = "act-on-iicsa"
FIRST_WORDS = "Survivors waited years to be heard"


def secrets() -> list[str]:
    return [SMTP_PASSWORD, HOOK_PASSWORD, HOOK_HEADER_TOKEN, MASTODON_TOKEN, BLUESKY_PASSWORD]


def make_api(tmp_path: Path, urls: Sequence[str], clock: FixedClock, **extra: str) -> Api:
    env = {
        "CAMPAIGN_DATA_DIR": str(tmp_path / "var"),
        "CAMPAIGN_CAMPAIGNS_DIR": str(tmp_path / "campaigns"),
        "CAMPAIGN_ALERT_URLS": ", ".join(urls),
        "CAMPAIGN_WEB_URL": WEB,
        "CAMPAIGN_TIMEZONE": "Europe/London",
        "MASTODON_API_BASE_URL": "https://mastodon.example",
        "MASTODON_ACCESS_TOKEN": MASTODON_TOKEN,
        "BLUESKY_HANDLE": "campaign.example",
        "BLUESKY_APP_PASSWORD": BLUESKY_PASSWORD,
        **extra,
    }
    return Api.from_settings(load_settings(env, start=tmp_path), clock=clock, create_store=True)


def schedule(api: Api, tmp_path: Path, *posts_: tuple[str, datetime, str], platforms: Sequence[str] = ("mastodon",)):  # type: ignore[no-untyped-def]
    camp = campaign(tmp_path, slug=SLUG)
    posts = [post(post_id, at, text, platforms=platforms) for post_id, at, text in posts_]
    schedule_calendars(
        api.wiring.store, [calendar_input(tmp_path / "cal.yaml", posts, camp=camp)], api.clock.now(), actor="sam"
    )


def fail_due(api: Api, error: str) -> list[int]:
    """Whatever is due now is claimed, begun and fails for good, as the publish path records it."""
    store, policy, now = api.wiring.store, api.wiring.policy, api.clock.now()
    failed = []
    for claim in dispatch.tick(store, now, policy).claimed:
        job = dispatch.begin_publish(store, claim.delivery_id, now, policy, worker="w1")
        assert isinstance(job, dispatch.PublishJob)
        dispatch.fail_publish(store, claim.delivery_id, now, policy, worker="w1", error=error, permanent=True,
                              attempt=job.attempt_serial)  # fmt: skip
        failed.append(claim.delivery_id)
    return failed


def assert_no_secret(texts: Sequence[str]) -> None:
    for text in texts:
        for secret in secrets():
            assert secret not in text, f"a secret went out in an alert: {text[:200]}"


def test_a_failed_post_is_told_once_by_mail_and_webhook_with_what_to_do_and_no_secret(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    smtp, http = receivers
    clock = FixedClock(T0 - timedelta(hours=1))
    api = make_api(tmp_path, [smtp.url(), http.url()], clock)
    schedule(api, tmp_path, ("recs-01", T0, f"{FIRST_WORDS}. Read the report #ActOnIICSA"))
    assert api.alerts_sweep().found == 0  # the first look only notes where history ends
    clock.set(T0)
    (delivery_id,) = fail_due(api, f"mastodon.example refused the status (422: text too long; token {MASTODON_TOKEN})")

    result = api.alerts_sweep()
    assert (result.found, result.messages, result.failed) == (1, 1, 0)
    (mail,) = smtp.mails
    (hook,) = http.posts
    assert mail.subject == hook.body["title"] == f"Not posted: {SLUG}/recs-01 on Mastodon failed"
    assert mail.to == "comms@example.org" and hook.path == "/hook"
    for text in (mail.text, hook.body["message"]):
        assert "A post could not be published on Mastodon, and will not be tried again." in text
        assert f'Post: "{FIRST_WORDS}. Read the report…" ({SLUG}/recs-01)' in text
        assert "planned for Mon 01 Feb 2027 09:00 GMT" in text
        assert "Why: mastodon.example refused the status (422: text too long; token ********)" in text
        assert f"`campaign retry recs-01 --campaign {SLUG}`" in text
        assert f"See it: {WEB}posts/{SLUG}/recs-01" in text
    assert_no_secret([mail.everything, hook.everything])

    # The same post retried and failing again: the same subject in the same state, so nothing new is sent.
    clock.advance(timedelta(minutes=5))
    api.retry("recs-01", actor="sam", campaign=SLUG)
    assert fail_due(api, "mastodon.example refused the status again") == [delivery_id]
    assert api.alerts_sweep().found == 0
    assert api.alerts_sweep().found == 0
    assert (len(smtp.mails), len(http.posts)) == (1, 1)
    with api.wiring.store.transaction() as session:
        rows = session.scalars(select(SentAlert)).all()
        assert [(r.key, r.sent_at is not None) for r in rows] == [(f"post:{SLUG}/recs-01:mastodon:failed", True)]


def test_pause_resume_and_holds_are_told_with_who_and_why_and_a_secret_in_a_reason_is_masked(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0)
    api = make_api(tmp_path, [http.url()], clock)
    schedule(api, tmp_path, ("recs-01", T0 + timedelta(days=1), FIRST_WORDS))
    api.alerts_sweep()
    api.pause(reason=f"news about the inquiry (do not paste tokens like {MASTODON_TOKEN})", actor="sam@laptop",
              wait=timedelta(seconds=1))  # fmt: skip
    placed = api.place_hold("campaign", campaign=SLUG, reason="the report is out: reading it first", actor="kim")
    clock.advance(timedelta(minutes=1))
    api.resume(actor="kim@office")
    api.release_hold(placed.hold.id, actor="kim")
    api.alerts_sweep()
    titles = [p.body["title"] for p in http.posts]
    assert titles == [
        "Posting paused by sam@laptop",
        "Posting resumed by kim@office",
        f"Hold {placed.hold.id} placed by kim: campaign {SLUG}",
        f"Hold {placed.hold.id} released by kim: campaign {SLUG}",
    ]
    paused = http.posts[0].body["message"]
    assert "Why: news about the inquiry (do not paste tokens like ********)" in paused
    assert f"{WEB}resume" in paused and "`campaign resume`" in paused
    assert f"`campaign release {placed.hold.id}`" in http.posts[2].body["message"]
    assert_no_secret([p.everything for p in http.posts])
    api.alerts_sweep()
    assert len(http.posts) == 4


def test_the_resumed_alert_says_how_many_posts_the_pause_held_were_posted_late_or_left_missed(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0 - timedelta(hours=1))
    api = make_api(tmp_path, [http.url()], clock)
    schedule(api, tmp_path, ("early", T0, FIRST_WORDS), ("later", T0 + timedelta(minutes=20), "Second post"))
    api.alerts_sweep()
    api.pause(reason="news about the inquiry", actor="sam", wait=timedelta(seconds=1))
    api.alerts_sweep()
    clock.set(T0 + timedelta(minutes=25))
    api.resume(actor="kim", choices={f"{SLUG}/early": "leave", f"{SLUG}/later": "post"})
    api.alerts_sweep()
    assert [p.body["title"] for p in http.posts] == ["Posting paused by sam", "Posting resumed by kim"]
    told = http.posts[1].body["message"]
    assert "Resuming ended the pause of sam on Mon 01 Feb 2027 08:00 GMT (news about the inquiry)" in told
    assert f"1 post posted now, late ({SLUG}/later); 1 post left missed ({SLUG}/early)." in told


def test_many_missed_posts_at_once_are_one_message_not_a_storm(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0 - timedelta(hours=2))
    api = make_api(tmp_path, [http.url()], clock)
    schedule(api, tmp_path, *[(f"day-{n}", T0 + timedelta(minutes=n), f"Post number {n}") for n in range(6)])
    api.alerts_sweep()
    clock.set(T0 + timedelta(hours=2))  # nothing ran: every post is past its grace
    assert len(dispatch.tick(api.wiring.store, clock.now(), api.wiring.policy).missed) == 6
    assert api.alerts_sweep().found == 6
    (message,) = http.posts
    assert message.body["title"] == "6 posts were missed"
    assert all(f"{SLUG}/day-{n}" in message.body["message"] for n in range(6))
    assert "Why: Nothing picked it up in time: check that `campaign run`" in message.body["message"]


def test_the_daily_digest_waits_for_the_morning_and_sends_the_day_as_one_message(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    smtp, _http = receivers
    clock = FixedClock(datetime(2027, 2, 1, 6, 0, tzinfo=LONDON))
    api = make_api(tmp_path, [smtp.url()], clock, CAMPAIGN_ALERT_DIGEST="daily")
    schedule(api, tmp_path, ("early", clock.now() + timedelta(minutes=10), FIRST_WORDS))
    api.alerts_sweep()
    clock.advance(timedelta(minutes=10))
    fail_due(api, "refused")
    api.pause(reason="news", actor="sam", wait=timedelta(seconds=1))
    result = api.alerts_sweep()
    assert (result.found, result.messages, result.digest_waiting) == (2, 0, 2)
    assert smtp.mails == []
    clock.set(datetime(2027, 2, 1, 8, 1, tzinfo=LONDON))
    assert api.alerts_sweep().messages == 1
    (digest,) = smtp.mails
    assert digest.subject == "Campaign alerts: 2 since the last digest"
    assert "Not posted: act-on-iicsa/early on Mastodon failed" in digest.text
    assert "Posting paused by sam" in digest.text
    clock.advance(timedelta(hours=3))
    api.resume(actor="sam")
    assert api.alerts_sweep().messages == 0  # one digest a day
    clock.set(datetime(2027, 2, 2, 8, 0, tzinfo=LONDON))
    assert api.alerts_sweep().messages == 1
    assert "Posting resumed by sam" in smtp.mails[1].text and len(smtp.mails) == 2


def test_a_collector_failing_for_an_hour_and_a_weekly_report_are_told(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    _smtp, http = receivers
    clock = FixedClock(T0)
    api = make_api(tmp_path, [http.url()], clock)
    api.alerts_sweep()
    store, key = api.wiring.store, CollectorKey(SLUG, "mentions", "mastodon", "https://mastodon.example")
    for minutes in (0, 20, 40, 61):
        now = T0 + timedelta(minutes=minutes)
        claim = claim_collector(store, key, now, owner="w", lease=timedelta(minutes=5), ignore_backoff=True)
        finish_collector(store, claim, "w", RunRecord(key, now), now, outcome="failed",
                         error="mastodon.example answered 502", retry_at=now + timedelta(minutes=5))  # fmt: skip
        clock.set(now)
        api.alerts_sweep()
        assert len(http.posts) == (1 if minutes == 61 else 0)
    body = http.posts[0].body
    assert body["title"] == f"Collecting hashtag mentions for {SLUG} on Mastodon has failed for over an hour"
    assert "failed 4 times in a row since Mon 01 Feb 2027 09:00 GMT" in body["message"]
    assert "Why: mastodon.example answered 502" in body["message"]

    report = api.settings.reports_dir / SLUG / f"{SLUG}-2027-W05.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>", encoding="utf-8")
    future = (T0 + timedelta(minutes=62)).timestamp()
    os.utime(report, (future, future))
    api.alerts_sweep()
    assert http.posts[-1].body["title"] == f"Weekly report written: {SLUG} 2027-W05"
    assert f"{WEB}reports/{SLUG}-2027-W05.html" in http.posts[-1].body["message"]
    api.alerts_sweep()
    assert len(http.posts) == 2


def test_a_crash_loop_is_sent_at_once_even_with_a_digest(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    smtp, _http = receivers
    api = make_api(tmp_path, [smtp.url()], FixedClock(T0), CAMPAIGN_ALERT_DIGEST="daily")
    sent = api.alert_crash_loop("the worker process was restarted 10 times within 10 minutes and died again")
    assert [d.sent for d in sent] == [True]
    (mail,) = smtp.mails
    assert mail.subject == "The scheduler stopped: nothing is being posted"
    assert "restarted 10 times" in mail.text and "`campaign health`" in mail.text


def test_alerts_test_says_which_address_worked_and_never_prints_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    smtp, http = receivers
    closed = dataclasses.replace(smtp, port=free_port())
    cli_env(monkeypatch, tmp_path, {"CAMPAIGN_ALERT_URLS": f"{http.url()} {closed.url()}", "CAMPAIGN_WEB_URL": WEB})
    code, output = invoke("alerts", "test")
    assert code == 1
    assert f"Sent: json://127.0.0.1:{http.port}" in output
    assert f"Not sent: mailto://127.0.0.1:{closed.port}: the service did not take the message" in output
    (message,) = http.posts
    assert message.body["title"] == "Test alert from the campaign scheduler"
    assert_no_secret([output, message.everything])
    monkeypatch.setenv("CAMPAIGN_ALERT_URLS", "")
    code, output = invoke("alerts", "test")
    assert code == 1 and "No alert addresses are set" in output


def test_the_alert_addresses_secret_parts_are_redacted_everywhere(tmp_path: Path) -> None:
    api = make_api(
        tmp_path,
        [
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
            "ntfy://ops:Ntfy-Pass-123@ntfy.example.org/alerts",
        ],
        FixedClock(T0),
    )
    redact = api.wiring.redact
    said = redact("posting to TIiajkdnlazkcOXrIdevi7FQ with Ntfy-Pass-123 for #general alerts at ntfy.example.org")
    assert said == "posting to ******** with ******** for #general alerts at ntfy.example.org"


def test_states_the_sweep_left_behind_are_the_posts_own(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    """The sweep only reads: the failed post is still failed, and retry still works on it."""
    _smtp, http = receivers
    clock = FixedClock(T0)
    api = make_api(tmp_path, [http.url()], clock)
    schedule(api, tmp_path, ("recs-01", T0, FIRST_WORDS))
    api.alerts_sweep()
    fail_due(api, "refused")
    api.alerts_sweep()
    with api.wiring.store.transaction() as session:
        assert [d.state for d in session.scalars(select(Delivery))] == [State.FAILED]
