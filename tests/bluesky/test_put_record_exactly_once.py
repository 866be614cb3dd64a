"""The write the Bluesky adapter makes exactly once: putRecord with `"swapRecord": null` and a TID record key
derived from the delivery. These tests pin down what the PDS answers, so the adapter can rely on it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from atproto import Client, models
from atproto_client.exceptions import BadRequestError, RequestException

from tests.support.bluesky_fixtures import BlueskyAccount, BlueskyNetwork, make_tid

pytestmark = pytest.mark.integration

POST = "app.bsky.feed.post"


def put_record_raw(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    """putRecord with the body exactly as given: the SDK's typed model drops `swapRecord: None`."""
    response = client.invoke_procedure(
        "com.atproto.repo.putRecord",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    return response.content


def _post_record(text: str, created_at: str) -> dict[str, Any]:
    return {"$type": POST, "text": text, "createdAt": created_at, "langs": ["en"]}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fresh_tid(clock_id: int = 0) -> str:
    return make_tid(time.time_ns() // 1000, clock_id)


@pytest.fixture(scope="module")
def author(bluesky_network: BlueskyNetwork) -> BlueskyAccount:
    return bluesky_network.create_account("exactlyonce")


@pytest.fixture(scope="module")
def client(bluesky_network: BlueskyNetwork, author: BlueskyAccount) -> Client:
    return bluesky_network.login(author)


def _list_post_rkeys(client: Client, did: str) -> list[str]:
    listed = client.com.atproto.repo.list_records(
        models.ComAtprotoRepoListRecords.Params(repo=did, collection=POST, limit=100)
    )
    return [record.uri.rsplit("/", 1)[1] for record in listed.records]


def test_put_with_swap_record_null_creates_then_repeats_as_a_no_op(
    bluesky_network: BlueskyNetwork, author: BlueskyAccount, client: Client
) -> None:
    rkey = _fresh_tid()
    body = {
        "repo": author.did,
        "collection": POST,
        "rkey": rkey,
        "record": _post_record("Exactly once: day 1 🎗️ café", _now_iso()),
        "swapRecord": None,
    }

    first = put_record_raw(client, body)
    assert first["uri"] == f"at://{author.did}/{POST}/{rkey}"
    assert "commit" in first  # a new commit: the record was written now

    again = put_record_raw(client, body)
    assert (again["uri"], again["cid"]) == (first["uri"], first["cid"])
    assert "commit" not in again  # nothing changed: no commit (the adapter's "already existed" signal)

    assert _list_post_rkeys(client, author.did).count(rkey) == 1
    post = bluesky_network.wait_for_post(first["uri"])
    assert post.cid == first["cid"]
    assert post.record.text == "Exactly once: day 1 🎗️ café"


def test_put_with_swap_record_null_refuses_a_different_record_under_the_same_key(
    author: BlueskyAccount, client: Client
) -> None:
    rkey = _fresh_tid(1)
    original = _post_record("Same words", "2027-02-01T09:00:00.000Z")
    first = put_record_raw(
        client, {"repo": author.did, "collection": POST, "rkey": rkey, "record": original, "swapRecord": None}
    )
    # Only createdAt differs: a retry that rebuilds the record with a new timestamp is a different record.
    different = dict(original, createdAt="2027-02-01T09:00:01.000Z")
    with pytest.raises(BadRequestError) as refused:
        put_record_raw(
            client,
            {"repo": author.did, "collection": POST, "rkey": rkey, "record": different, "swapRecord": None},
        )
    assert refused.value.response.status_code == 400
    assert refused.value.response.content.error == "InvalidSwap"
    assert first["cid"] in refused.value.response.content.message  # "Record was at <cid>"

    stored = client.com.atproto.repo.get_record(
        models.ComAtprotoRepoGetRecord.Params(repo=author.did, collection=POST, rkey=rkey)
    )
    assert stored.cid == first["cid"]
    assert stored.value.created_at == "2027-02-01T09:00:00.000Z"


def test_the_sdk_typed_put_record_drops_swap_record_none_and_overwrites(author: BlueskyAccount, client: Client) -> None:
    """Why the adapter sends raw JSON: through the typed model `swap_record=None` is omitted, so a
    different record silently replaces the first one."""
    rkey = _fresh_tid(2)
    first = put_record_raw(
        client,
        {
            "repo": author.did,
            "collection": POST,
            "rkey": rkey,
            "record": _post_record("first", _now_iso()),
            "swapRecord": None,
        },
    )
    replaced = client.com.atproto.repo.put_record(
        models.ComAtprotoRepoPutRecord.Data(
            repo=author.did, collection=POST, rkey=rkey, record=_post_record("second", _now_iso()), swap_record=None
        )
    )
    assert replaced.cid != first["cid"]
    stored = client.com.atproto.repo.get_record(
        models.ComAtprotoRepoGetRecord.Params(repo=author.did, collection=POST, rkey=rkey)
    )
    assert stored.value.text == "second"


def test_create_record_with_an_existing_tid_fails_with_an_unusable_500(author: BlueskyAccount, client: Client) -> None:
    rkey = _fresh_tid(3)
    record = _post_record("created", _now_iso())
    client.com.atproto.repo.create_record(
        models.ComAtprotoRepoCreateRecord.Data(repo=author.did, collection=POST, rkey=rkey, record=record)
    )
    with pytest.raises(RequestException) as failed:
        client.com.atproto.repo.create_record(
            models.ComAtprotoRepoCreateRecord.Data(repo=author.did, collection=POST, rkey=rkey, record=record)
        )
    assert failed.value.response.status_code == 500
    assert failed.value.response.content.error == "InternalServerError"


def test_apply_writes_is_not_idempotent_but_gates_can_be_put_exactly_once(
    author: BlueskyAccount, client: Client
) -> None:
    """applyWrites has no per-write swap: replaying a batch of creates is a 500. The post's postgate and
    threadgate share its record key and take putRecord with swapRecord null like the post itself."""
    rkey = _fresh_tid(4)
    post_uri = f"at://{author.did}/{POST}/{rkey}"
    created_at = _now_iso()
    post = _post_record("Gated post", created_at)
    postgate = {
        "$type": "app.bsky.feed.postgate",
        "post": post_uri,
        "createdAt": created_at,
        "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}],
    }
    threadgate = {
        "$type": "app.bsky.feed.threadgate",
        "post": post_uri,
        "createdAt": created_at,
        "allow": [{"$type": "app.bsky.feed.threadgate#followingRule"}],
    }
    writes = {
        "repo": author.did,
        "writes": [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": POST, "rkey": rkey, "value": post},
            {
                "$type": "com.atproto.repo.applyWrites#create",
                "collection": "app.bsky.feed.postgate",
                "rkey": rkey,
                "value": postgate,
            },
        ],
    }
    applied = client.invoke_procedure(
        "com.atproto.repo.applyWrites",
        content=json.dumps(writes).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert [result["uri"] for result in applied.content["results"]] == [
        post_uri,
        f"at://{author.did}/app.bsky.feed.postgate/{rkey}",
    ]
    with pytest.raises(RequestException) as replay:
        client.invoke_procedure(
            "com.atproto.repo.applyWrites",
            content=json.dumps(writes).encode(),
            headers={"Content-Type": "application/json"},
        )
    assert replay.value.response.status_code == 500

    for collection, record in (("app.bsky.feed.postgate", postgate), ("app.bsky.feed.threadgate", threadgate)):
        body = {"repo": author.did, "collection": collection, "rkey": rkey, "record": record, "swapRecord": None}
        first = put_record_raw(client, body)
        second = put_record_raw(client, body)
        assert first["cid"] == second["cid"]
        assert "commit" not in second
