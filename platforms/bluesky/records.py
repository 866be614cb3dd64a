"""The records of one delivery's post, built only from the delivery (so a retry builds the identical record):
the post itself (text, facets, languages, labels, reply references, images or a link card) and its gates
(threadgate, postgate)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atproto_client.exceptions import BadRequestError

from content_calendar.images import ImageProblem, prepare_image
from content_calendar.model import Facet, RenderedImage, RenderedPart
from platforms.base import PermanentError, RemotePost, ThreadRefs, TransientError
from platforms.bluesky.keys import POST, POSTGATE, THREADGATE
from platforms.bluesky.video import VideoUploads
from platforms.bluesky.xrpc import Xrpc

log = logging.getLogger("campaign.bluesky")

REPLY_RULE_TYPES: dict[str, str] = {
    "mentioned": "app.bsky.feed.threadgate#mentionRule",
    "following": "app.bsky.feed.threadgate#followingRule",
    "followers": "app.bsky.feed.threadgate#followerRule",
}


@dataclass(frozen=True)
class Write:
    collection: str
    record: dict[str, Any]


def build_gates(part: RenderedPart, uri: str, stamp: str) -> list[Write]:
    """The gates of the post at `uri`: a threadgate on a thread's first part with reply rules, a postgate when
    quotes are off."""
    gates = []
    if part.part == 0 and part.reply_rules is not None:
        unknown = [rule for rule in part.reply_rules if rule not in REPLY_RULE_TYPES]
        if unknown:
            raise PermanentError(
                f"Unknown Bluesky reply rule(s) {', '.join(unknown)} on {part.post_id}. "
                f"Fix: use only {', '.join(sorted(REPLY_RULE_TYPES))}, or [] for nobody."
            )
        allow = [{"$type": REPLY_RULE_TYPES[rule]} for rule in dict.fromkeys(part.reply_rules)]
        gates.append(Write(THREADGATE, {"$type": THREADGATE, "post": uri, "allow": allow, "createdAt": stamp}))
    if not part.allow_quotes:
        gates.append(
            Write(
                POSTGATE,
                {
                    "$type": POSTGATE,
                    "post": uri,
                    "createdAt": stamp,
                    "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}],
                },
            )
        )
    return gates


class RecordBuilder:
    """A delivery's post record. Mentions are resolved and images uploaded through `xrpc`; the blob limits
    are the largest images it uploads (the write path lowers them to what the server says it takes)."""

    def __init__(
        self, xrpc: Xrpc, *, blob_max_bytes: int, thumbnail_max_bytes: int, videos: VideoUploads | None = None
    ) -> None:
        self._xrpc = xrpc
        self.videos = videos
        self.blob_max_bytes = blob_max_bytes
        self.thumbnail_max_bytes = thumbnail_max_bytes

    def record(self, part: RenderedPart, reply_to: ThreadRefs | None, stamp: str) -> dict[str, Any]:
        record: dict[str, Any] = {"$type": POST, "text": part.text, "createdAt": stamp}
        facets = self._facets(part.facets)
        if facets:
            record["facets"] = facets
        if part.langs:
            record["langs"] = list(part.langs)
        if part.labels:
            record["labels"] = {
                "$type": "com.atproto.label.defs#selfLabels",
                "values": [{"val": label} for label in dict.fromkeys(part.labels)],
            }
        if reply_to is not None:
            record["reply"] = {"root": self._strong_ref(reply_to.root), "parent": self._strong_ref(reply_to.parent)}
        embed = self._embed(part)
        if embed is not None:
            record["embed"] = embed
        return record

    def _strong_ref(self, post: RemotePost) -> dict[str, str]:
        uri = post.uri or post.remote_id
        cid = post.cid
        if not cid:
            parts = uri.removeprefix("at://").split("/")
            found = self._xrpc.get_record(parts[0], parts[1], parts[2]) if len(parts) == 3 else None
            if found is None or not found.get("cid"):
                raise PermanentError(f"The post this part replies to ({uri}) is not on Bluesky any more.")
            cid = found["cid"]
        return {"uri": uri, "cid": cid}

    def _facets(self, facets: Iterable[Facet]) -> list[dict[str, Any]]:
        resolved: dict[str, str | None] = {}
        out = []
        for facet in sorted(facets, key=lambda f: f.byte_start):
            if facet.kind == "link":
                feature = {"$type": "app.bsky.richtext.facet#link", "uri": facet.value}
            elif facet.kind == "tag":
                feature = {"$type": "app.bsky.richtext.facet#tag", "tag": facet.value}
            elif facet.kind == "mention":
                handle = facet.value.lower()
                if handle not in resolved:
                    resolved[handle] = self._resolve_handle(handle)
                did = resolved[handle]
                if did is None:
                    continue  # an unknown handle stays plain text
                feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
            else:
                continue
            out.append({"index": {"byteStart": facet.byte_start, "byteEnd": facet.byte_end}, "features": [feature]})
        return out

    def _resolve_handle(self, handle: str) -> str | None:
        try:
            answer = self._xrpc.query("com.atproto.identity.resolveHandle", [("handle", handle)])
        except BadRequestError:
            log.info("mention @%s does not resolve: left as plain text", handle)
            return None
        did = answer.get("did")
        return did if isinstance(did, str) and did.startswith("did:") else None

    def _embed(self, part: RenderedPart) -> dict[str, Any] | None:
        if part.video is not None:
            if self.videos is None:
                raise PermanentError(f"{part.post_id}: this Bluesky account was set up without video.")
            return self.videos.embed(part.video, f"post {part.post_id}")
        if part.images:
            if part.link_card is not None:
                log.warning(
                    "%s part %s has images and a link card: Bluesky shows one embed, the images win",
                    part.post_id,
                    part.part,
                )
            images = []
            for image in part.images:
                blob, width, height = self._upload_image(image, self.blob_max_bytes)
                images.append({"image": blob, "alt": image.alt, "aspectRatio": {"width": width, "height": height}})
            return {"$type": "app.bsky.embed.images", "images": images}
        card = part.link_card
        if card is not None:
            external: dict[str, Any] = {"uri": card.url, "title": card.title, "description": card.description}
            if card.thumbnail is not None:
                external["thumb"], _, _ = self._upload_image(card.thumbnail, self.thumbnail_max_bytes)
            return {"$type": "app.bsky.embed.external", "external": external}
        return None

    def _upload_image(self, image: RenderedImage, max_bytes: int) -> tuple[dict[str, Any], int, int]:
        try:
            prepared = prepare_image(Path(image.path), max_bytes)
        except ImageProblem as problem:
            raise PermanentError(f"{problem.message} Fix: {problem.fix}") from None
        answer = self._xrpc.procedure("com.atproto.repo.uploadBlob", prepared.data, prepared.mime_type)
        blob = answer.get("blob")
        if not isinstance(blob, dict):
            raise TransientError("Bluesky answered the image upload without a blob reference.")
        return blob, prepared.width, prepared.height
