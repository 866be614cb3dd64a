"""The write side: a delivery's post on the account's PDS exactly once.

Each delivery's post has a record key derived from its idempotency key and planned instant (`record_key`),
and every record we write is built only from the delivery (createdAt is the planned instant), so a retry
builds the identical record under the same key. Writes cannot create a second post:

- a plain post is written with `com.atproto.repo.putRecord` and `"swapRecord": null`: the PDS creates it
  when the key is free, answers 200 without a commit when the identical record is there, and 400
  InvalidSwap when a different one is (an earlier attempt wrote it, then the calendar changed): both mean
  "already published";
- a post with a threadgate or postgate goes in one `com.atproto.repo.applyWrites` with its gates (same
  record key, atomic). A create on a taken key fails the whole batch, so after any failure the post is
  looked up by its key.

When an earlier attempt's outcome is unknown, the post is looked up by its key before anything else: before its
record is built (which uploads its images or video and reads their files) and before any write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atproto_client.exceptions import RateLimitExceededError

from content_calendar.model import RenderedPart
from platforms.base import PermanentError, PublishOutcome, RemotePost, ThreadRefs, TransientError
from platforms.bluesky.errors import (
    FAILURES,
    BlobLimit,
    account_problem,
    is_invalid_swap,
    raise_blob_limit,
    translate_error,
)
from platforms.bluesky.keys import POST, created_at, post_uri, record_key, web_url
from platforms.bluesky.records import RecordBuilder, Write, build_gates
from platforms.bluesky.session import BlueskySession
from platforms.bluesky.video import VideoUploads
from platforms.bluesky.xrpc import Xrpc

log = logging.getLogger("campaign.bluesky")


@dataclass(frozen=True)
class _Target:
    """Where one delivery's post goes, and what is known about earlier attempts."""

    did: str
    rkey: str
    stamp: str  # createdAt
    part: RenderedPart
    reply_to: ThreadRefs | None
    gates: list[Write]
    action: str  # for messages: "posting <post id> part <n>"
    outcome_unknown: bool
    at: datetime  # the instant the record is dated and keyed by


class BlueskyWriter:
    """Posts one account's deliveries, and finds what an earlier attempt posted."""

    def __init__(
        self,
        session: BlueskySession,
        xrpc: Xrpc,
        *,
        account: str,
        web_app: str,
        blob_max_bytes: int,
        thumbnail_max_bytes: int,
        videos: VideoUploads | None = None,
    ) -> None:
        self.session = session
        self._xrpc = xrpc
        self.account = account
        self.web_app = web_app
        self.records = RecordBuilder(
            xrpc, blob_max_bytes=blob_max_bytes, thumbnail_max_bytes=thumbnail_max_bytes, videos=videos
        )

    def _remote(self, uri: str, cid: str | None, at: datetime | None) -> RemotePost:
        handle = self.session.session_handle
        return RemotePost(
            remote_id=uri,
            url=web_url(handle if handle and handle != "handle.invalid" else self.session.did, uri, self.web_app),
            uri=uri,
            cid=cid,
            created_at=at.astimezone(UTC) if at else None,
        )

    def find_published(
        self, part: RenderedPart, idempotency_key: str, *, written_at: datetime | None = None
    ) -> RemotePost | None:
        did = self._did()
        at = written_at or part.at
        try:
            found = self._xrpc.get_record(did, POST, record_key(idempotency_key, at))
        except FAILURES as error:
            raise translate_error(
                error, action="looking for an earlier post", write=False, handle=self.account
            ) from None
        if found is None:
            return None
        return self._remote(found["uri"], found.get("cid"), at)

    def _did(self) -> str:
        try:
            return self.session.did
        except FAILURES as error:
            raise translate_error(error, action="logging in", write=False, handle=self.account) from None

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        did = self._did()
        at = written_at or part.at
        rkey = record_key(idempotency_key, at)
        stamp = created_at(at)
        target = _Target(
            did=did,
            rkey=rkey,
            stamp=stamp,
            part=part,
            reply_to=reply_to,
            gates=build_gates(part, post_uri(did, rkey), stamp),
            action=f"posting {part.post_id} part {part.part}",
            outcome_unknown=outcome_unknown,
            at=at,
        )
        try:
            if outcome_unknown:
                # Look first: building the record uploads the images or video (a video can take minutes) and reads
                # the files as they are now; and applyWrites would fail on a taken key.
                existing = self._xrpc.get_record(did, POST, rkey)
                if existing is not None:
                    return self._adopt(target, existing, text=None)
        except FAILURES as error:
            raise translate_error(error, action=target.action, write=False, handle=self.account) from None
        while True:
            try:
                record = self.records.record(part, reply_to, stamp)
            except FAILURES as error:
                raise translate_error(error, action=target.action, write=False, handle=self.account) from None
            try:
                if not target.gates:
                    return self._put_post(target, record)
                return self._apply_writes(target, record, checked_absent=outcome_unknown)
            except BlobLimit as limit:
                # The server validates blobs against its own lexicon's limit (1,000,000 bytes before the
                # public service moved to 2,000,000): learn it, re-encode, and write again. Nothing was written.
                if part.video is not None:
                    raise PermanentError(
                        f"Bluesky refused {target.action}: {limit.message}. Fix: post a shorter or smaller video."
                    ) from None
                if limit.thumbnail and limit.maximum < self.records.thumbnail_max_bytes:
                    self.records.thumbnail_max_bytes = limit.maximum
                elif not limit.thumbnail and limit.maximum < self.records.blob_max_bytes:
                    self.records.blob_max_bytes = limit.maximum
                else:
                    raise PermanentError(
                        f"Bluesky refused {target.action}: {limit.message}. Fix: use a smaller image."
                    ) from None
                log.info("%s: the server takes images up to %s bytes: re-encoding", target.action, limit.maximum)

    def _put_post(self, target: _Target, record: dict[str, Any]) -> PublishOutcome:
        body = {
            "repo": target.did,
            "collection": POST,
            "rkey": target.rkey,
            "validate": True,
            "record": record,
            "swapRecord": None,
        }
        try:
            answer = self._xrpc.procedure("com.atproto.repo.putRecord", body)
        except FAILURES as error:
            if not is_invalid_swap(error):
                raise_blob_limit(error)
                raise translate_error(error, action=target.action, write=True, handle=self.account) from None
            # A different record holds the key: an earlier attempt wrote this delivery (and its content has
            # changed since, e.g. the calendar was edited). It is out: never write a second one.
            try:
                existing = self._xrpc.get_record(target.did, POST, target.rkey)
            except FAILURES as lookup_error:
                raise translate_error(lookup_error, action=target.action, write=True, handle=self.account) from None
            if existing is None:
                raise TransientError(
                    f"Bluesky said the record key of {target.part.post_id} part {target.part.part} is taken, "
                    "then that it is free: trying again later.",
                    outcome_unknown=True,
                ) from None
            return self._adopt(target, existing, text=record["text"])
        already = not answer.get("commit")  # putRecord of the identical record is a no-op without a commit
        if already:
            log.info("%s: found the post an earlier attempt wrote (%s)", target.action, answer.get("uri"))
        return PublishOutcome(self._remote(answer["uri"], answer.get("cid"), target.at), already_existed=already)

    def _apply_writes(self, target: _Target, record: dict[str, Any], *, checked_absent: bool) -> PublishOutcome:
        writes = [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": write.collection, "rkey": target.rkey,
             "value": write.record}
            for write in [Write(POST, record), *target.gates]
        ]  # fmt: skip
        body = {"repo": target.did, "validate": True, "writes": writes}
        try:
            answer = self._xrpc.procedure("com.atproto.repo.applyWrites", body)
        except FAILURES as error:
            if isinstance(error, RateLimitExceededError) or account_problem(error):
                raise translate_error(error, action=target.action, write=False, handle=self.account) from None
            # Whatever failed (a taken key answers HTTP 500), the post may be there: look it up by its key.
            try:
                existing = self._xrpc.get_record(target.did, POST, target.rkey)
            except FAILURES:
                raise translate_error(error, action=target.action, write=True, handle=self.account) from None
            if existing is not None:
                outcome = self._adopt(target, existing, text=record["text"])
                # Absent when this call began: this call's own write, whose answer was lost.
                return PublishOutcome(outcome.post, already_existed=not checked_absent)
            # applyWrites is atomic and the post is not there: nothing was written.
            raise_blob_limit(error)
            raise translate_error(error, action=target.action, write=False, handle=self.account) from None
        results = answer.get("results") or []
        first = results[0] if results else {}
        uri = first.get("uri") or post_uri(target.did, target.rkey)
        return PublishOutcome(self._remote(uri, first.get("cid"), target.at), already_existed=False)

    def _adopt(self, target: _Target, existing: dict[str, Any], *, text: str | None) -> PublishOutcome:
        """Take the post found under our record key as this delivery's, once it is clearly ours: same
        createdAt (the planned instant), same parent, and, unless an earlier attempt may have written it
        with other content, the same text. `text` None: compare no text."""
        value = existing.get("value") or {}
        ours = value.get("createdAt") == target.stamp
        if ours and target.reply_to is not None:
            parent = ((value.get("reply") or {}).get("parent") or {}).get("uri")
            ours = parent == (target.reply_to.parent.uri or target.reply_to.parent.remote_id)
        if ours and text is not None and not target.outcome_unknown:
            ours = value.get("text") == text
        if not ours:
            raise PermanentError(
                f"The record key {target.rkey} of {target.part.post_id} part {target.part.part} holds another post "
                f"({existing.get('uri')}). Fix: give the post another id in the calendar."
            )
        try:
            self._ensure_gates(target.did, target.rkey, target.gates)
        except FAILURES as error:
            raise translate_error(
                error, action="adding the gates of an earlier post", write=True, handle=self.account
            ) from None
        log.info("%s: found the post an earlier attempt wrote (%s)", target.action, existing.get("uri"))
        return PublishOutcome(self._remote(existing["uri"], existing.get("cid"), target.at), already_existed=True)

    def _ensure_gates(self, did: str, rkey: str, gates: list[Write]) -> None:
        """The gates of a post an earlier attempt wrote: present (applyWrites put them in with it) or added."""
        for gate in gates:
            if self._xrpc.get_record(did, gate.collection, rkey) is not None:
                continue
            body = {"repo": did, "collection": gate.collection, "rkey": rkey, "record": gate.record, "swapRecord": None}
            try:
                self._xrpc.procedure("com.atproto.repo.putRecord", body)
            except FAILURES as error:
                if not is_invalid_swap(error):
                    raise
