"""Repository stream frames made here, as a relay sends them (com.atproto.sync.subscribeRepos): a DAG-CBOR header
and body; a #commit's body carries its operations and a CAR file of the blocks it wrote (the signed commit, tree
nodes, the records created), each block addressed by its CID (CIDv1, dag-cbor, sha-256). For tests that need a
stream they control (a clock of their own) and for bench/firehose.py."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import libipld

_CID_PREFIX = b"\x01\x71\x12\x20"  # CIDv1, dag-cbor, sha2-256, 32 bytes


def cid_of(block: bytes) -> bytes:
    return _CID_PREFIX + hashlib.sha256(block).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def car(root: bytes, blocks: list[tuple[bytes, bytes]]) -> bytes:
    header = libipld.encode_dag_cbor({"version": 1, "roots": [root]})
    parts = [_varint(len(header)), header]
    for cid, data in blocks:
        parts += [_varint(len(cid) + len(data)), cid, data]
    return b"".join(parts)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commit_frame(
    seq: int, repo: str, ops: list[tuple[str, str, dict[str, Any] | None]], *, time: datetime, rev: str = "3l"
) -> bytes:
    """A #commit: `ops` are (action, collection/rkey, record or None for a delete)."""
    blocks: list[tuple[bytes, bytes]] = []
    listed = []
    for action, path, record in ops:
        cid = None
        if record is not None:
            data = libipld.encode_dag_cbor(record)
            cid = cid_of(data)
            blocks.append((cid, data))
        listed.append({"action": action, "path": path, "cid": cid})
    # A tree node and the signed commit, about as large as a real commit's.
    node = libipld.encode_dag_cbor({"l": None, "e": [{"k": path.encode(), "p": 0, "t": None, "v": cid_of(path.encode())}
                                                     for _, path, _ in ops]})  # fmt: skip
    node_cid = cid_of(node)
    commit = libipld.encode_dag_cbor({"did": repo, "version": 3, "data": node_cid, "rev": rev, "prev": None,
                                      "sig": hashlib.sha512(node).digest()})  # fmt: skip
    commit_cid = cid_of(commit)
    blocks = [(commit_cid, commit), (node_cid, node), *blocks]
    body = {
        "seq": seq, "rebase": False, "tooBig": False, "repo": repo, "commit": commit_cid, "rev": rev, "since": None,
        "blocks": car(commit_cid, blocks), "ops": listed, "blobs": [], "time": stamp(time),
    }  # fmt: skip
    return libipld.encode_dag_cbor({"op": 1, "t": "#commit"}) + libipld.encode_dag_cbor(body)


def identity_frame(seq: int, did: str, *, time: datetime) -> bytes:
    return libipld.encode_dag_cbor({"op": 1, "t": "#identity"}) + libipld.encode_dag_cbor(
        {"seq": seq, "did": did, "time": stamp(time), "handle": "someone.example"}
    )


def info_frame(name: str) -> bytes:
    return libipld.encode_dag_cbor({"op": 1, "t": "#info"}) + libipld.encode_dag_cbor({"name": name})


def post(
    text: str, *, at: datetime, tags: Sequence[str] = (), facet_tags: Sequence[str] = (), **more: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp(at), "langs": ["en"]}
    if facet_tags:
        record["facets"] = [
            {"index": {"byteStart": 0, "byteEnd": 1}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": t}]}
            for t in facet_tags
        ]
    if tags:
        record["tags"] = list(tags)
    record.update(more)
    return record


def subject_record(kind: str, uri: str, *, at: datetime) -> dict[str, Any]:
    """A like or a repost of `uri`."""
    return {"$type": f"app.bsky.feed.{kind}", "subject": {"uri": uri, "cid": "bafyreib2rxk3rh6kzwq"},
            "createdAt": stamp(at)}  # fmt: skip
