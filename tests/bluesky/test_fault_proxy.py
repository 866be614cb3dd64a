"""The fault proxy in front of the PDS: its 429 looks like the PDS's own, and its dropped connections leave
the write done (or not done) on the real PDS, which is what the exactly-once tests build on. Also shows
what the atproto SDK raises for each, since that is what the adapter will catch."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from atproto import Client, models
from atproto_client.exceptions import InvokeTimeoutError, NetworkError, RateLimitExceededError
from atproto_client.request import Request

from tests.bluesky_net.proxy import FaultProxy, RequestMatch
from tests.support.bluesky_fixtures import (
    RATE_LIMITED_WRITE_POINTS_PER_HOUR,
    BlueskyAccount,
    BlueskyNetwork,
    make_tid,
)

pytestmark = pytest.mark.integration

POST = "app.bsky.feed.post"
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-policy", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture(scope="module")
def author(bluesky_network: BlueskyNetwork) -> BlueskyAccount:
    return bluesky_network.create_account("faults")


@pytest.fixture
def client(bluesky_network: BlueskyNetwork, author: BlueskyAccount, bluesky_proxy: FaultProxy) -> Client:
    return bluesky_network.login(author)


def _put_post(client: Client, did: str, rkey: str, text: str) -> dict[str, Any]:
    body = {
        "repo": did,
        "collection": POST,
        "rkey": rkey,
        "record": {"$type": POST, "text": text, "createdAt": "2027-02-02T09:00:00.000Z"},
        "swapRecord": None,
    }
    response = client.invoke_procedure(
        "com.atproto.repo.putRecord", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    return response.content


def _record_exists(network: BlueskyNetwork, did: str, rkey: str) -> bool:
    direct = httpx.get(
        f"{network.pds_direct_url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": POST, "rkey": rkey},
    )
    return direct.status_code == 200


def _tid() -> str:
    return make_tid(time.time_ns() // 1000)


def test_clients_stay_on_the_proxy_after_login(
    bluesky_network: BlueskyNetwork, client: Client, bluesky_proxy: FaultProxy
) -> None:
    assert bluesky_network.pds_url != bluesky_network.pds_direct_url
    client.send_post("through the proxy")
    assert bluesky_proxy.count(RequestMatch(nsid="com.atproto.server.createSession")) == 1
    assert bluesky_proxy.count(RequestMatch(nsid="com.atproto.repo.createRecord", method="POST")) == 1


def test_injected_429_is_not_forwarded_and_carries_the_reset(
    bluesky_network: BlueskyNetwork, author: BlueskyAccount, client: Client, bluesky_proxy: FaultProxy
) -> None:
    rkey = _tid()
    bluesky_proxy.rate_limit_next(1, reset_after_seconds=120)
    before = time.time()
    with pytest.raises(RateLimitExceededError) as limited:
        _put_post(client, author.did, rkey, "rate limited")
    headers = limited.value.response.headers  # the SDK lower-cases header names
    assert limited.value.response.status_code == 429
    assert limited.value.response.content.error == "RateLimitExceeded"
    assert int(before) + 119 <= int(headers["ratelimit-reset"]) <= int(time.time()) + 121
    assert headers["ratelimit-remaining"] == "0"
    assert not _record_exists(bluesky_network, author.did, rkey)
    # the fault was used up: the retry goes through
    assert _put_post(client, author.did, rkey, "rate limited")["uri"].endswith(rkey)
    assert bluesky_proxy.count(fault="rate_limit") == 1


def test_injected_429_matches_the_pds_own_rate_limiter(
    bluesky_rate_limited_pds: BlueskyNetwork, bluesky_network: BlueskyNetwork, client: Client, author: BlueskyAccount
) -> None:
    limited_pds = bluesky_rate_limited_pds
    account = limited_pds.create_account("limited")
    limited_client = limited_pds.login(account)
    assert limited_client.me is None  # no app view behind this PDS
    creates_allowed = RATE_LIMITED_WRITE_POINTS_PER_HOUR // 3  # a create costs 3 points
    for number in range(creates_allowed):
        limited_client.send_post(f"post {number}", profile_identify=account.did)
    with pytest.raises(RateLimitExceededError) as real:
        limited_client.send_post("one too many", profile_identify=account.did)
    real_response = real.value.response
    assert real_response.status_code == 429
    assert real_response.headers["ratelimit-policy"] == f"{RATE_LIMITED_WRITE_POINTS_PER_HOUR};w=3600"
    assert real_response.headers["ratelimit-remaining"] == "0"
    assert 0 < int(real_response.headers["ratelimit-reset"]) - time.time() <= 3600

    assert bluesky_network.proxy is not None
    bluesky_network.proxy.rate_limit_next(1, limit=RATE_LIMITED_WRITE_POINTS_PER_HOUR, reset_after_seconds=3000)
    with pytest.raises(RateLimitExceededError) as injected:
        client.send_post("injected")
    injected_response = injected.value.response
    assert injected_response.status_code == real_response.status_code
    assert injected_response.content == real_response.content  # same XRPC error and message
    assert {name: injected_response.headers[name] for name in RATE_LIMIT_HEADERS if name != "ratelimit-reset"} == {
        name: real_response.headers[name] for name in RATE_LIMIT_HEADERS if name != "ratelimit-reset"
    }
    assert injected_response.headers["content-type"] == real_response.headers["content-type"]


def test_dropped_after_forwarding_the_write_happened_but_the_client_cannot_tell(
    bluesky_network: BlueskyNetwork, author: BlueskyAccount, client: Client, bluesky_proxy: FaultProxy
) -> None:
    rkey = _tid()
    bluesky_proxy.drop_after_forwarding_next(1)
    # httpx's RemoteProtocolError is not translated by atproto 0.0.73: the adapter must catch it itself.
    with pytest.raises(httpx.RemoteProtocolError):
        _put_post(client, author.did, rkey, "outcome unknown")
    assert _record_exists(bluesky_network, author.did, rkey)
    # the retry with the same record key and record is a no-op that returns the first write
    retried = _put_post(client, author.did, rkey, "outcome unknown")
    assert retried["uri"].endswith(rkey)
    assert "commit" not in retried


def test_dropped_before_forwarding_nothing_was_written(
    bluesky_network: BlueskyNetwork, author: BlueskyAccount, client: Client, bluesky_proxy: FaultProxy
) -> None:
    rkey = _tid()
    bluesky_proxy.drop_before_forwarding_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        _put_post(client, author.did, rkey, "never arrived")
    assert not _record_exists(bluesky_network, author.did, rkey)
    assert "commit" in _put_post(client, author.did, rkey, "never arrived")


def test_injected_502_is_a_network_error_in_the_sdk_and_not_forwarded(
    bluesky_network: BlueskyNetwork, author: BlueskyAccount, client: Client, bluesky_proxy: FaultProxy
) -> None:
    rkey = _tid()
    bluesky_proxy.fail_next(1, status=502)
    with pytest.raises(NetworkError) as failed:
        _put_post(client, author.did, rkey, "bad gateway")
    assert failed.value.response.status_code == 502
    assert not _record_exists(bluesky_network, author.did, rkey)


def test_faults_only_hit_matching_requests(author: BlueskyAccount, client: Client, bluesky_proxy: FaultProxy) -> None:
    bluesky_proxy.fail_next(1, status=503, match=RequestMatch(nsid="com.atproto.repo.putRecord"))
    profile = client.com.atproto.repo.describe_repo(models.ComAtprotoRepoDescribeRepo.Params(repo=author.did))
    assert profile.did == author.did
    client.send_post("createRecord is not putRecord")
    assert bluesky_proxy.pending_faults() == 1


def test_a_held_answer_times_the_client_out_after_the_write(
    bluesky_network: BlueskyNetwork, author: BlueskyAccount, bluesky_proxy: FaultProxy
) -> None:
    session = bluesky_network.login(author).export_session_string()  # createSession itself takes ~0.4 s
    impatient = Client(base_url=bluesky_network.pds_url, request=Request(timeout=0.3))
    impatient.login(session_string=session, fetch_bsky_profile=False)
    rkey = _tid()
    bluesky_proxy.delay_next(1, seconds=0.8)
    with pytest.raises(InvokeTimeoutError):
        _put_post(impatient, author.did, rkey, "slow answer")
    assert _record_exists(bluesky_network, author.did, rkey)
