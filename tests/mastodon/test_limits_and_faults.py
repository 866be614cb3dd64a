"""Rate limits, authentication and injected faults, seen through Mastodon.py with ratelimit_method='throw'
(as our workers use it) and through raw HTTP for the headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from mastodon import (
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)

from tests.mastodon.helpers import jpeg_bytes, raw
from tests.mastodon_server import MastodonControl, TestAccount

pytestmark = pytest.mark.integration

RESET_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _reset_at(response) -> datetime:
    value = response.headers["X-RateLimit-Reset"]
    assert RESET_FORMAT.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_every_api_answer_carries_rate_limit_headers(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    base, token = mastodon.base_url, mastodon_account.token
    answers = [
        raw("GET", f"{base}/api/v1/accounts/verify_credentials", token),
        raw("GET", f"{base}/api/v2/instance"),
        raw("GET", f"{base}/api/v1/timelines/tag/ItsNotOK"),
        raw("GET", f"{base}/api/v1/statuses/1", token),  # 404
        raw("POST", f"{base}/api/v1/statuses", token, data={"status": ""}),  # 422
        raw("GET", f"{base}/api/v1/accounts/verify_credentials", "not-a-token"),  # 401
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 422, 401]
    for answer in answers:
        assert int(answer.headers["X-RateLimit-Limit"]) >= int(answer.headers["X-RateLimit-Remaining"]) >= 0
        _reset_at(answer)
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    # per-token window: 300 per 5 minutes, reset at the end of the aligned 5-minute window
    first = answers[0]
    assert first.headers["X-RateLimit-Limit"] == "300" and first.headers["X-RateLimit-Remaining"] == "299"
    reset = _reset_at(first)
    assert reset.minute % 5 == 0 and reset.second == 0
    assert 0 < (reset - mastodon.now()).total_seconds() <= 300
    # a status post shows the statuses family (300 per 3 hours) when it is the tighter one...
    fresh_token = mastodon.new_token("campaign")
    posted = raw("POST", f"{base}/api/v1/statuses", fresh_token, data={"status": "hello"})
    assert posted.headers["X-RateLimit-Remaining"] == "299"
    assert _reset_at(posted).hour % 3 == 0 and _reset_at(posted).minute == 0
    # ...and the per-token window when that one has less left (Mastodon's override_rate_limit_headers)
    posted = raw("POST", f"{base}/api/v1/statuses", token, data={"status": "hello again"})
    assert posted.headers["X-RateLimit-Remaining"] == "296"  # 4th request of this token; family: 298
    assert _reset_at(posted).minute % 5 == 0 and (_reset_at(posted) - mastodon.now()).total_seconds() <= 300


def test_429_after_the_configured_request_limit_and_recovery_after_the_reset(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.configure(throttles={"throttle_per_token_api": {"limit": 5}})
    client = mastodon_account.client()
    for _ in range(5):
        client.account_verify_credentials()
    assert client.ratelimit_remaining == 0
    with pytest.raises(MastodonRatelimitError):
        client.account_verify_credentials()
    refused = raw("GET", f"{mastodon.base_url}/api/v1/accounts/verify_credentials", mastodon_account.token)
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many requests"}
    assert refused.headers["X-RateLimit-Limit"] == "5" and refused.headers["X-RateLimit-Remaining"] == "0"
    reset = _reset_at(refused)
    # Mastodon.py turns the reset into local epoch seconds, corrected by the server's Date header
    assert client.ratelimit_reset == pytest.approx(
        reset.timestamp() - mastodon.now().timestamp() + datetime.now(UTC).timestamp(), abs=3
    )

    mastodon.advance_clock((reset - mastodon.now()).total_seconds() + 1)
    assert client.account_verify_credentials().acct == "campaign"


def test_statuses_family_limit_counts_created_statuses_only(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.configure(throttles={"statuses": {"limit": 3}})
    client = mastodon_account.client()
    for index in range(3):
        client.status_post(f"post {index}", idempotency_key=f"key-{index}")
    assert client.status_post("repeat", idempotency_key="key-0").content == "<p>post 0</p>"  # not counted
    with pytest.raises(MastodonRatelimitError):
        client.status_post("one too many")
    assert len(mastodon.statuses("campaign")) == 3
    refused = raw("POST", f"{mastodon.base_url}/api/v1/statuses", mastodon_account.token, data={"status": "x"})
    assert refused.status_code == 429 and refused.json() == {"error": "Too many requests"}
    assert refused.headers["X-RateLimit-Limit"] == "3" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert _reset_at(refused).hour % 3 == 0
    client.account_verify_credentials()  # other requests still pass


def test_media_upload_limit(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    mastodon.configure(throttles={"throttle_api_media": {"limit": 2}})
    client = mastodon_account.client()
    picture = jpeg_bytes(64, 64)
    client.media_post(picture, mime_type="image/jpeg")
    client.media_post(picture, mime_type="image/jpeg")
    with pytest.raises(MastodonRatelimitError):
        client.media_post(picture, mime_type="image/jpeg")
    answer = mastodon.request_log(path="/api/v2/media")[-1]
    assert answer["status"] == 429


def test_primed_counters_reproduce_a_busy_account(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    mastodon.set_rate_count("statuses", 299, username="campaign")
    client = mastodon_account.client()
    client.status_post("the last one this window")
    with pytest.raises(MastodonRatelimitError):
        client.status_post("refused")


def test_401_after_revocation_and_for_unknown_tokens(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    client.status_post("before revocation")
    mastodon.revoke_token(mastodon_account.token)
    with pytest.raises(MastodonUnauthorizedError) as revoked:
        client.status_post("after revocation")
    assert revoked.value.args[1] == 401 and revoked.value.args[3] == "The access token was revoked"
    answer = raw("GET", f"{mastodon.base_url}/api/v1/accounts/verify_credentials", mastodon_account.token)
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token was revoked"'
    )
    assert len(mastodon.statuses("campaign")) == 1

    fresh = mastodon.new_token("campaign")
    mastodon.delete_token(fresh)
    for token in (fresh, "never-issued", None):
        answer = raw("POST", f"{mastodon.base_url}/api/v1/statuses", token, data={"status": "x"})
        assert answer.status_code == 401 and answer.json() == {"error": "The access token is invalid"}
    # public reads need no token
    assert raw("GET", f"{mastodon.base_url}/api/v1/timelines/tag/ItsNotOK", "never-issued").status_code == 200


def test_injected_errors_then_success(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    mastodon.inject_fault("/api/v1/statuses", "error", status=503, count=2, method="POST")
    for _ in range(2):
        with pytest.raises(MastodonServiceUnavailableError):
            client.status_post("attempt", idempotency_key="d-1")
    assert mastodon.statuses() == []
    assert client.status_post("attempt", idempotency_key="d-1").content == "<p>attempt</p>"
    assert mastodon.pending_faults() == []

    mastodon.inject_fault("/api/v1/accounts/*", "error", status=500)
    with pytest.raises(MastodonInternalServerError):
        client.account_verify_credentials()
    mastodon.inject_fault("/api/v1/accounts/verify_credentials", "error", status=429, retry_after=30)
    with pytest.raises(MastodonRatelimitError):
        client.account_verify_credentials()
    assert client.ratelimit_reset == pytest.approx(datetime.now(UTC).timestamp() + 30, abs=3)


def test_connection_dropped_after_the_status_was_stored(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    mastodon.inject_fault("/api/v1/statuses", "drop_after", method="POST")
    with pytest.raises(MastodonNetworkError):
        client.status_post("Day 3: the redress scheme", idempotency_key="delivery-3")
    stored = mastodon.statuses("campaign")
    assert [s["text"] for s in stored] == ["Day 3: the redress scheme"]  # the outcome was unknown, not failed
    # the retry with the same key finds the first status instead of posting a second
    retried = client.status_post("Day 3: the redress scheme", idempotency_key="delivery-3")
    assert retried.id == stored[0]["id"]
    assert len(mastodon.statuses("campaign")) == 1


def test_timeout_after_the_status_was_stored(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    client = mastodon_account.client(request_timeout=0.3)
    mastodon.inject_fault("/api/v1/statuses", "delay_after", delay=1.0, method="POST")
    with pytest.raises(MastodonNetworkError):
        client.status_post("slow", idempotency_key="delivery-4")
    assert len(mastodon.statuses("campaign")) == 1
    mastodon.inject_fault("/api/v1/statuses", "drop_before", method="POST")
    with pytest.raises(MastodonNetworkError):
        client.status_post("never stored", idempotency_key="delivery-5")
    assert len(mastodon.statuses("campaign")) == 1
    mastodon.inject_fault("/api/v1/statuses", "error_after", status=502, method="POST")
    answer = raw(
        "POST", f"{mastodon.base_url}/api/v1/statuses", mastodon_account.token, data={"status": "stored behind a 502"}
    )
    assert answer.status_code == 502 and "text/html" in answer.headers["Content-Type"]
    assert len(mastodon.statuses("campaign")) == 2


def test_request_log_records_idempotency_keys_but_no_tokens(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon_account.client().status_post("logged", idempotency_key="delivery-9")
    rows = mastodon.request_log(method="POST", path="/api/v1/statuses")
    assert [(r["account"], r["idempotency_key"], r["status"]) for r in rows] == [("campaign", "delivery-9", 200)]
    assert mastodon_account.token not in repr(mastodon.request_log())
