"""The Bluesky adapter in-process against the real local PDS (through the fault proxy): record keys,
the shared session cache (login once, refresh, re-login only when refresh fails), exactly-once writes
after lost answers and changed content, and how each server error reaches the dispatcher."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from atproto import models

from content_calendar.model import RenderedPart
from platforms.base import CredentialsError, PermanentError, RateLimited, Secret, TransientError
from platforms.bluesky import BlueskyAdapter, SessionFile, created_at, record_key
from scheduler.sync import delivery_key
from tests.bluesky_adapter.conftest import ACCOUNTS_CHECK_FIX, Publisher
from tests.bluesky_net.proxy import FaultProxy, RequestMatch
from tests.support.engine import wait_for

pytestmark = pytest.mark.integration

PUT_RECORD = RequestMatch(nsid="com.atproto.repo.putRecord", method="POST")
APPLY_WRITES = RequestMatch(nsid="com.atproto.repo.applyWrites", method="POST")
CREATE_SESSION = RequestMatch(nsid="com.atproto.server.createSession")
REFRESH_SESSION = RequestMatch(nsid="com.atproto.server.refreshSession")
TID = re.compile(r"^[234567a-j][234567a-z]{12}$")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
AT = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


def part(text: str, *, post_id: str = "p1", number: int = 0, at: datetime = AT, **options: object) -> RenderedPart:
    return RenderedPart(
        campaign="test", post_id=post_id, platform="bluesky", part=number, at=at, text=text,
        length=len(text), limit=300, langs=("en",), **options,  # type: ignore[arg-type]
    )  # fmt: skip


def tid_microseconds(tid: str) -> int:
    value = 0
    for char in tid:
        value = value * 32 + _TID_ALPHABET.index(char)
    return value >> 10


def expire_next(proxy: FaultProxy, match: RequestMatch) -> None:
    """The answer the PDS gives once an access token's two hours are up (the token in hand is otherwise
    still valid: access tokens are stateless JWTs, so revoking an app password only bites at expiry)."""
    proxy.fail_next(1, status=400, error="ExpiredToken", message="Token has expired", match=match)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


# --- record keys -------------------------------------------------------------------------------------------


def test_record_key_is_a_stable_tid_within_a_second_of_the_planned_instant() -> None:
    # A busy calendar: 200 posts of 10 parts each, every one planned for the same instant.
    keys = [delivery_key("act-on-iicsa", f"post-{n}", "bluesky", p) for n in range(200) for p in range(10)]
    rkeys = {record_key(key, AT) for key in keys}
    assert len(rkeys) == len(keys), "two deliveries planned for the same instant got the same record key"
    sample = record_key(keys[0], AT)
    assert sample == record_key(keys[0], AT.astimezone(ZoneInfo("Europe/London")))
    assert sample != record_key(keys[0], AT + timedelta(seconds=2))
    planned = (AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    for rkey in rkeys:
        assert TID.match(rkey)
        assert abs(tid_microseconds(rkey) - planned) < 2**20  # the hash only touches the low ~1.05 s
    assert created_at(AT.replace(microsecond=123_456)) == "2027-02-01T09:00:00.123Z"
    assert created_at(datetime(2027, 6, 1, 10, 30, tzinfo=ZoneInfo("Europe/London"))) == "2027-06-01T09:30:00.000Z"
    with pytest.raises(ValueError):
        record_key("k", AT.replace(tzinfo=None))


# --- sessions ----------------------------------------------------------------------------------------------


def test_one_login_is_shared_by_adapters_threads_and_processes(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    first = publisher.adapter(tmp_path)
    info = first.check_account()
    assert (info.platform, info.handle, info.account_id, info.service, info.can_post) == (
        "bluesky", publisher.handle, publisher.did, publisher.network.pds_url, True,
    )  # fmt: skip
    assert "logged in (new session)" in info.notes[0]

    session_file = SessionFile(tmp_path / "bluesky", publisher.network.pds_url, publisher.handle)
    assert stat.S_IMODE(session_file.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(session_file.path.parent.stat().st_mode) == 0o700
    saved = session_file.path.read_text()
    assert_no_secret(saved, publisher.app_password, publisher.account.password)
    assert publisher.did in saved

    notes: list[str] = []
    errors: list[BaseException] = []

    def check() -> None:
        try:
            notes.append(publisher.adapter(tmp_path).check_account().notes[0])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert notes == ["session: reused the cached session"] * 8

    script = (
        "import json, sys\nfrom pathlib import Path\nfrom platforms.base import Secret\n"
        "from platforms.bluesky import BlueskyAdapter\n"
        "a = BlueskyAdapter(service=sys.argv[1], handle=sys.argv[2], app_password=Secret(sys.argv[3]),"
        " data_dir=Path(sys.argv[4]))\nprint(json.dumps(list(a.check_account().notes)))\n"
    )
    arguments = [publisher.network.pds_url, publisher.handle, publisher.app_password, str(tmp_path)]
    child = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True, text=True, timeout=60, check=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert json.loads(child.stdout)[0] == "session: reused the cached session"
    assert bluesky_proxy.count(CREATE_SESSION) == 1, "createSession must run once for all of them"


def test_a_rejected_access_token_is_refreshed_and_the_refresh_shared(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)
    adapter.check_account()
    session_file = SessionFile(tmp_path / "bluesky", publisher.network.pds_url, publisher.handle)
    before = session_file.read()
    # Tokens are JWTs stamped to the second: refreshed within the login's second, the access token would be
    # the same string, and the hand-over below could not be told from the original.
    logged_in_at = int(time.time())
    wait_for(lambda: int(time.time()) > logged_in_at, timeout=2, what="the next second")

    expire_next(bluesky_proxy, PUT_RECORD)
    outcome = adapter.publish(part("after a refresh"), "refresh-1", reply_to=None, outcome_unknown=False)
    assert not outcome.already_existed
    assert [r["value"]["text"] for r in publisher.records()] == ["after a refresh"]
    assert bluesky_proxy.count(PUT_RECORD) == 2  # refused with the expired token, then accepted
    assert bluesky_proxy.count(REFRESH_SESSION) == 1
    assert bluesky_proxy.count(CREATE_SESSION) == 1  # only the first login
    after = session_file.read()
    assert after and after != before, "the refreshed session must be saved for the other workers"

    # Another worker that still holds the old session takes the refreshed one from the file instead of
    # refreshing again (which would rotate the token under everybody's feet).
    other = publisher.adapter(tmp_path)
    held = other.session.client()._session
    assert held is not None
    held.access_jwt, held.refresh_jwt = before.split(":::")[2:4]  # type: ignore[union-attr]
    expire_next(bluesky_proxy, RequestMatch(nsid="com.atproto.server.getSession"))
    assert other.check_account().can_post
    assert other.session.events[-1] == "took the session another worker refreshed"
    assert bluesky_proxy.count(REFRESH_SESSION) == 1
    assert bluesky_proxy.count(CREATE_SESSION) == 1


def test_an_expiring_token_is_refreshed_once_for_every_worker(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK refreshes by itself 15 minutes before the access token expires; with the cache, the first
    worker to notice refreshes and the others take its session."""
    first, second = publisher.adapter(tmp_path), publisher.adapter(tmp_path)
    first.check_account()
    second.check_account()
    logged_in_at = int(time.time())
    wait_for(lambda: int(time.time()) > logged_in_at, timeout=2, what="the next second")
    # Nearly two hours later, as the SDK's clock sees it (the tokens themselves are real).
    later = datetime.now(UTC) + timedelta(minutes=110)
    for adapter in (first, second):
        monkeypatch.setattr(adapter.session.client(), "get_current_time", lambda: later)

    first.check_account()
    assert first.session.events[-1] == "refreshed (token expiring)"
    second.check_account()
    assert second.session.events[-1] == "took the session another worker refreshed"
    assert bluesky_proxy.count(REFRESH_SESSION) == 1
    assert bluesky_proxy.count(CREATE_SESSION) == 1


def test_a_dead_refresh_token_means_one_new_login(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)
    adapter.check_account()
    # Log the cached session out on the server: its refresh token is revoked.
    refresh_jwt = SessionFile(tmp_path / "bluesky", publisher.network.pds_url, publisher.handle).read().split(":::")[3]  # type: ignore[union-attr]
    httpx.post(
        f"{publisher.network.pds_direct_url}/xrpc/com.atproto.server.deleteSession",
        headers={"Authorization": f"Bearer {refresh_jwt}"},
        timeout=10,
    ).raise_for_status()

    expire_next(bluesky_proxy, PUT_RECORD)
    adapter.publish(part("after a new login"), "relogin-1", reply_to=None, outcome_unknown=False)
    assert [r["value"]["text"] for r in publisher.records()] == ["after a new login"]
    assert bluesky_proxy.count(REFRESH_SESSION) == 1
    assert bluesky_proxy.count(CREATE_SESSION) == 2
    assert adapter.session.events[-1] == "logged in (new session)"


def test_revoked_or_wrong_credentials_say_what_to_do_and_post_nothing(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    publisher = publisher.with_new_app_password()
    adapter = publisher.adapter(tmp_path)
    adapter.check_account()
    publisher.revoke_app_password()

    expire_next(bluesky_proxy, PUT_RECORD)
    with pytest.raises(CredentialsError) as raised:
        adapter.publish(part("never posted"), "revoked-1", reply_to=None, outcome_unknown=False)
    message = str(raised.value)
    for hint in ACCOUNTS_CHECK_FIX:
        assert hint in message
    assert publisher.handle in message
    assert_no_secret(message, publisher.app_password, publisher.account.password, "eyJ")
    assert publisher.records() == []
    assert bluesky_proxy.count(CREATE_SESSION) == 2  # the first login, then one try with the revoked password

    # Later deliveries fail at once: the refused password is not tried again against the daily login limit.
    for number in range(3):
        expire_next(bluesky_proxy, PUT_RECORD)
        with pytest.raises(CredentialsError) as again:
            adapter.publish(part("still not"), f"revoked-{number + 2}", reply_to=None, outcome_unknown=False)
        assert "not trying this password again" in str(again.value)
        assert all(hint in str(again.value) for hint in ACCOUNTS_CHECK_FIX)
    assert bluesky_proxy.count(CREATE_SESSION) == 2
    (remembered,) = (tmp_path / "bluesky").glob("refused-*")
    assert_no_secret(remembered.read_text(), publisher.app_password)

    wrong = BlueskyAdapter(
        service=publisher.network.pds_url, handle=publisher.handle, app_password=Secret("abcd-efgh-ijkl-mnop"),
        data_dir=tmp_path / "elsewhere",
    )  # fmt: skip
    with pytest.raises(CredentialsError) as raised:
        wrong.check_account()
    assert "Settings > App passwords" in str(raised.value)
    assert "abcd-efgh-ijkl-mnop" not in str(raised.value)


def test_a_deactivated_account_is_a_credentials_error(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)
    adapter.check_account()
    publisher.owner.com.atproto.server.deactivate_account(models.ComAtprotoServerDeactivateAccount.Data())
    try:
        with pytest.raises(CredentialsError, match="deactivated"):
            adapter.publish(part("not while deactivated"), "deactivated-1", reply_to=None, outcome_unknown=False)
        assert not adapter.check_account().can_post
    finally:
        publisher.owner.com.atproto.server.activate_account()
    assert [r.status for r in bluesky_proxy.requests if r.nsid == "com.atproto.repo.putRecord"] == [401]
    assert adapter.check_account().can_post


# --- exactly once ------------------------------------------------------------------------------------------


def test_answer_lost_after_the_write_then_retry_finds_the_one_post(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)
    plain = part("written, answer lost", post_id="plain")

    bluesky_proxy.drop_after_forwarding_next(1, match=PUT_RECORD)
    with pytest.raises(TransientError) as raised:
        adapter.publish(plain, "lost-1", reply_to=None, outcome_unknown=False)
    assert raised.value.outcome_unknown
    assert len(publisher.records()) == 1, "the PDS applied the write the client never heard back about"

    retried = adapter.publish(plain, "lost-1", reply_to=None, outcome_unknown=True)
    assert retried.already_existed
    [stored] = publisher.records()
    assert (retried.post.uri, retried.post.cid) == (stored["uri"], stored["cid"])
    assert retried.post.remote_id == stored["uri"]
    rkey = record_key("lost-1", plain.at)
    assert stored["uri"] == f"at://{publisher.did}/app.bsky.feed.post/{rkey}"
    assert retried.post.url == f"https://bsky.app/profile/{publisher.handle}/post/{rkey}"
    assert stored["value"]["createdAt"] == "2027-02-01T09:00:00.000Z"
    assert adapter.find_published(plain, "lost-1") == retried.post
    assert adapter.find_published(plain, "never-written") is None

    # A failure before forwarding: the outcome is just as unknown to us, and the retry writes it once.
    bluesky_proxy.fail_next(1, status=502, match=PUT_RECORD)
    second = part("second", post_id="second")
    with pytest.raises(TransientError) as raised:
        adapter.publish(second, "lost-2", reply_to=None, outcome_unknown=False)
    assert raised.value.outcome_unknown and "502" in str(raised.value)
    assert not adapter.publish(second, "lost-2", reply_to=None, outcome_unknown=True).already_existed
    assert sorted(r["value"]["text"] for r in publisher.records()) == ["second", "written, answer lost"]


def test_gated_post_goes_in_one_apply_writes_and_is_never_duplicated(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)
    gated = part("nobody replies, nobody quotes", post_id="gated", reply_rules=(), allow_quotes=False)

    bluesky_proxy.drop_after_forwarding_next(1, match=APPLY_WRITES)
    first = adapter.publish(gated, "gated-1", reply_to=None, outcome_unknown=False)
    assert first.already_existed, "the adapter looked the post up by its key after the lost answer"
    assert bluesky_proxy.count(PUT_RECORD) == 0 and bluesky_proxy.count(APPLY_WRITES) == 1

    # The worker lost track (it died before recording): the retry knows nothing. The create on the taken
    # key fails (HTTP 500 from the PDS) and the adapter reconciles by the key.
    again = adapter.publish(gated, "gated-1", reply_to=None, outcome_unknown=False)
    assert again.already_existed and again.post == first.post
    # The same, told that the outcome is unknown: it looks before writing and writes nothing.
    writes_before = bluesky_proxy.count(APPLY_WRITES)
    assert adapter.publish(gated, "gated-1", reply_to=None, outcome_unknown=True).post == first.post
    assert bluesky_proxy.count(APPLY_WRITES) == writes_before

    rkey = record_key("gated-1", gated.at)
    assert [r["uri"].rsplit("/", 1)[1] for r in publisher.records()] == [rkey]
    [threadgate] = publisher.records("app.bsky.feed.threadgate")
    [postgate] = publisher.records("app.bsky.feed.postgate")
    assert threadgate["uri"].endswith(f"/app.bsky.feed.threadgate/{rkey}")
    assert threadgate["value"]["post"] == first.post.uri and threadgate["value"]["allow"] == []
    assert postgate["uri"].endswith(f"/app.bsky.feed.postgate/{rkey}")
    assert postgate["value"]["embeddingRules"] == [{"$type": "app.bsky.feed.postgate#disableRule"}]


def test_content_changed_after_an_unknown_outcome_keeps_the_first_post(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)
    first = adapter.publish(part("as first written"), "changed-1", reply_to=None, outcome_unknown=False)
    # The calendar was edited before the delivery was marked published: the record key is the same, the
    # record is not; putRecord with swapRecord null refuses (InvalidSwap) and the first post stands.
    edited = adapter.publish(part("as edited later"), "changed-1", reply_to=None, outcome_unknown=True)
    assert edited.already_existed and edited.post == first.post
    assert [r["value"]["text"] for r in publisher.records()] == ["as first written"]
    # Without an earlier attempt that may have written it, other text under our key is not ours.
    with pytest.raises(PermanentError, match="holds another post"):
        adapter.publish(part("as edited later"), "changed-1", reply_to=None, outcome_unknown=False)
    # A key that holds a post that is not this delivery's (written by something else) is refused, not adopted.
    foreign_key = record_key("foreign-1", AT)
    publisher.owner.com.atproto.repo.put_record(
        models.ComAtprotoRepoPutRecord.Data(
            repo=publisher.did, collection="app.bsky.feed.post", rkey=foreign_key,
            record={"$type": "app.bsky.feed.post", "text": "not ours", "createdAt": "2020-01-01T00:00:00.000Z"},
        )
    )  # fmt: skip
    with pytest.raises(PermanentError, match="holds another post"):
        adapter.publish(part("ours"), "foreign-1", reply_to=None, outcome_unknown=False)
    assert sorted(r["value"]["text"] for r in publisher.records()) == ["as first written", "not ours"]


def test_server_errors_reach_the_dispatcher_as_the_right_kind(
    publisher: Publisher, bluesky_proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = publisher.adapter(tmp_path)

    too_long = "é" * 301
    with pytest.raises(PermanentError) as raised:
        adapter.publish(part(too_long), "long-1", reply_to=None, outcome_unknown=False)
    assert "300" in str(raised.value) and "text" in str(raised.value)  # the server's own words

    bluesky_proxy.rate_limit_next(1, match=PUT_RECORD, reset_after_seconds=7, limit=5000)
    expected_reset = int(time.time() + 7)
    with pytest.raises(RateLimited) as limited:
        adapter.publish(part("limited"), "limited-1", reply_to=None, outcome_unknown=False)
    assert limited.value.reset_at is not None
    assert abs(limited.value.reset_at.timestamp() - expected_reset) <= 1
    assert not limited.value.outcome_unknown
    assert publisher.records() == []
    assert not adapter.publish(part("limited"), "limited-1", reply_to=None, outcome_unknown=False).already_existed

    bluesky_proxy.fail_next(1, status=503, error="ServiceUnavailable", match=APPLY_WRITES)
    with pytest.raises(TransientError) as raised:
        adapter.publish(part("gated", post_id="g", reply_rules=("following",)), "gated-503", reply_to=None,
                        outcome_unknown=False)  # fmt: skip
    # applyWrites is atomic and the post is not there: the adapter knows nothing was written.
    assert not raised.value.outcome_unknown
    assert [r["value"]["text"] for r in publisher.records()] == ["limited"]
