"""The repository event stream (`com.atproto.sync.subscribeRepos` of a relay or PDS): its frames decoded and
filtered down to what a campaign listens for, and a reader of the frames over a WebSocket.

A frame is two DAG-CBOR objects (header, body); a `#commit` body lists its operations (action, path, CID) and
carries the records it created as a CAR file. Only operations on posts, likes and reposts are looked at, and
the CAR is decoded only when one of them creates a record: everything is native decoding (libipld), the rest
is a few dictionary look-ups per event, so one core keeps up with far more than the public network's rate
(bench/firehose.py). What comes out:

- a post whose tag facets, `tags` field or text use one of the wanted hashtags (case-folded, as search
  matches them), or that replies to or quotes one of our posts: a Mention;
- a like, repost, reply or quote of one of our posts: an Interaction;
- a deleted like, repost or post: its URI (an interaction taken back).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import libipld

from platforms.base import Mention, TransientError
from platforms.bluesky.keys import PLATFORM, WEB_APP, web_url

STREAM = "com.atproto.sync.subscribeRepos"
POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
_WATCHED = (POST + "/", LIKE + "/", REPOST + "/")
_KINDS = {LIKE: "like", REPOST: "repost"}
_TAG_FEATURE = "app.bsky.richtext.facet#tag"
_QUOTE = "app.bsky.embed.record"
_QUOTE_WITH_MEDIA = "app.bsky.embed.recordWithMedia"
_HASHTAG = re.compile(r"[#＃](\w+)")
MAX_FRAME_BYTES = 5 * 1024 * 1024  # a commit is at most 2 MB of blocks; frames above this are refused


@dataclass(frozen=True, slots=True)
class Interaction:
    """Someone's like, repost, reply or quote of one of our posts."""

    kind: str  # like | repost | reply | quote
    uri: str  # the like's, repost's or post's own at:// URI
    subject: str  # the URI of our post
    author_id: str  # DID
    created_at: datetime | None  # its record's createdAt, else the event's time (None: neither is readable)


@dataclass(slots=True)
class StreamEvent:
    """One frame: where it is in the stream, and what in it matters to us."""

    seq: int | None  # None for frames without one (errors)
    time: str = ""  # when the relay emitted it (ISO 8601, as sent)
    mentions: list[Mention] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # URIs of posts, likes and reposts deleted
    info: str = ""  # an #info frame's name (OutdatedCursor: the cursor is older than the replay window)
    error: str = ""  # an error frame's message: the stream ends after it


class FrameDecoder:
    """Decodes frames and keeps what matters. `tags`: the wanted hashtags' comparable names (no '#',
    case-folded); `ours`: the at:// URIs of our posts (a live collection: the caller may add to it); `now`: the
    caller's clock, asked only for a post whose record and event both carry no readable time (without it, such a
    post is not kept)."""

    def __init__(
        self,
        tags: Collection[str],
        ours: Collection[str],
        *,
        service: str = "",
        web_app: str = WEB_APP,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.tags = frozenset(tags)
        self.ours = ours
        self.service = service
        self.web_app = web_app
        self.now = now

    def decode(self, frame: bytes) -> StreamEvent:
        try:
            header, body = libipld.decode_dag_cbor_multi(frame)
        except (ValueError, TypeError) as error:
            raise TransientError(f"the stream sent a frame that cannot be read: {error}") from None
        if header.get("op") != 1:
            message = body.get("message") or body.get("error") or "error"
            return StreamEvent(None, error=str(message))
        seq = body.get("seq")
        event = StreamEvent(seq if isinstance(seq, int) else None, str(body.get("time") or ""))
        kind = header.get("t")
        if kind == "#commit":
            self._commit(body, event)
        elif kind == "#info":
            event.info = str(body.get("name") or "")
        return event

    def _commit(self, body: dict[str, Any], event: StreamEvent) -> None:
        blocks: dict[bytes, Any] | None = None
        repo = body.get("repo") or ""
        for op in body.get("ops") or ():
            path = op.get("path") or ""
            if not path.startswith(_WATCHED):
                continue
            action = op.get("action")
            uri = f"at://{repo}/{path}"
            if action == "delete":
                event.removed.append(uri)
                continue
            if action != "create" or op.get("cid") is None:
                continue
            if blocks is None:
                try:
                    blocks = libipld.decode_car(body.get("blocks") or b"")[1]
                except (ValueError, TypeError):
                    return  # a commit whose blocks cannot be read (tooBig): nothing to take from it
            record = blocks.get(op["cid"])
            if not isinstance(record, dict):
                continue
            collection = path.split("/", 1)[0]
            if collection == POST:
                self._post(uri, repo, record, event)
            else:
                subject = _ref(record, "subject")
                if subject is not None and subject in self.ours:
                    event.interactions.append(
                        Interaction(_KINDS[collection], uri, subject, repo, _when(record.get("createdAt"), event))
                    )

    def _post(self, uri: str, repo: str, record: dict[str, Any], event: StreamEvent) -> None:
        tags: list[str] = []
        for facet in record.get("facets") or ():
            features = facet.get("features") if isinstance(facet, dict) else None
            for feature in features or ():
                if isinstance(feature, dict) and feature.get("$type") == _TAG_FEATURE and feature.get("tag"):
                    tags.append(str(feature["tag"]))
        tags.extend(t for t in record.get("tags") or () if isinstance(t, str))
        text = record.get("text")
        text = text if isinstance(text, str) else ""
        wanted = self.tags
        uses_tag = any(t.strip().lstrip("#＃").casefold() in wanted for t in tags) or (
            ("#" in text or "＃" in text) and any(t.casefold() in wanted for t in _HASHTAG.findall(text))
        )
        parent = _ref(record.get("reply"), "parent")
        quoted = _quoted(record.get("embed"))
        ours = self.ours
        answers = parent if parent is not None and parent in ours else None
        quotes = quoted if quoted is not None and quoted in ours else None
        if not (uses_tag or answers or quotes):
            return
        moment = _when(record.get("createdAt"), event)
        if answers:
            event.interactions.append(Interaction("reply", uri, answers, repo, moment))
        if quotes:
            event.interactions.append(Interaction("quote", uri, quotes, repo, moment))
        if uses_tag and moment is None and self.now is not None:
            moment = self.now()
        if uses_tag and moment is not None:
            event.mentions.append(
                Mention(
                    platform=PLATFORM,
                    uri=uri,
                    url=web_url(repo, uri, self.web_app),
                    author_handle="",  # the stream carries DIDs only
                    author_id=repo,
                    text=text,
                    created_at=moment,
                    tags=tuple(dict.fromkeys(tags)),
                    in_reply_to_uri=parent,
                    seen_on=self.service,
                )
            )


def _ref(value: Any, key: str) -> str | None:
    if isinstance(value, dict):
        inner = value.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("uri"), str):
            return inner["uri"]
    return None


def _quoted(embed: Any) -> str | None:
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == _QUOTE:
        return _ref(embed, "record")
    if kind == _QUOTE_WITH_MEDIA:
        inner = embed.get("record")
        return _ref(inner, "record") if isinstance(inner, dict) else None
    return None


def _when(value: Any, event: StreamEvent) -> datetime | None:
    """A record's createdAt (it may claim any time: it is what the author's client said), else the event's time,
    else None."""
    for text in (value, event.time):
        if isinstance(text, str) and text:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def stream_url(service: str, cursor: int | None) -> str:
    """The WebSocket address of `service`'s repository stream (http -> ws, https -> wss)."""
    parts = urlsplit(service.rstrip("/"))
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    query = f"?{urlencode({'cursor': cursor})}" if cursor is not None else ""
    return f"{scheme}://{parts.netloc}{parts.path}/xrpc/{STREAM}{query}"


def read_frames(service: str, cursor: int | None, *, idle: float) -> Iterator[bytes | None]:
    """The stream's frames from `cursor` (the first event after it; None: from now on). Yields None after
    `idle` seconds without a frame (the reader is at the head of the stream). Raises TransientError when the
    connection cannot be made or drops."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    try:
        with connect(stream_url(service, cursor), max_size=MAX_FRAME_BYTES, open_timeout=10) as socket:
            while True:
                try:
                    frame = socket.recv(timeout=idle)
                except TimeoutError:
                    yield None
                    continue
                if isinstance(frame, bytes):
                    yield frame
    except (OSError, WebSocketException) as error:
        raise TransientError(f"the repository stream of {service} closed: {error}") from None


def resolve_handles(service: str, handles: Iterable[str], *, timeout: float = 5.0) -> dict[str, str]:
    """The DIDs of Bluesky handles, asked of `service` (com.atproto.identity.resolveHandle): the stream names
    accounts by DID only. Handles that cannot be resolved (or a service that cannot be reached) are left out."""
    import httpx

    found: dict[str, str] = {}
    wanted = [h.strip().lstrip("@").lower() for h in handles]
    wanted = [h for h in dict.fromkeys(wanted) if "." in h and "@" not in h and not h.startswith("did:")]
    if not wanted:
        return found
    try:
        with httpx.Client(base_url=service.rstrip("/"), timeout=timeout) as client:
            for handle in wanted:
                answer = client.get("/xrpc/com.atproto.identity.resolveHandle", params={"handle": handle})
                did = answer.json().get("did") if answer.status_code == 200 else None
                if isinstance(did, str) and did.startswith("did:"):
                    found[handle] = did
    except (httpx.HTTPError, ValueError):
        pass  # the listener still runs; those accounts are matched by handle elsewhere (search)
    return found
