"""BlueskyAdapter: one Bluesky account's writer and reader on one shared session, and the account check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from content_calendar.model import DEFAULT_LIMITS, RenderedPart
from platforms.base import (
    AccountInfo,
    CredentialsError,
    Engagement,
    MentionPage,
    PublishOutcome,
    RemotePost,
    Secret,
    ThreadRefs,
)
from platforms.bluesky.errors import CREDENTIALS_FIX, FAILURES, translate_error
from platforms.bluesky.keys import DEFAULT_SERVICE, PLATFORM, WEB_APP
from platforms.bluesky.publish import BlueskyWriter
from platforms.bluesky.read import BlueskyReader
from platforms.bluesky.session import BlueskySession, SessionFile
from platforms.bluesky.video import AUTO, VideoUploads
from platforms.bluesky.xrpc import Xrpc


class BlueskyAdapter:
    """PlatformAdapter, AccountAdapter and ReadAdapter for one Bluesky account."""

    platform = PLATFORM
    dry_run = False

    def __init__(
        self,
        *,
        service: str,
        handle: str,
        app_password: Secret,
        data_dir: Path,
        timeout: float = 30.0,
        blob_max_bytes: int = DEFAULT_LIMITS.bluesky_blob_bytes,
        thumbnail_max_bytes: int = DEFAULT_LIMITS.bluesky_thumbnail_bytes,
        search_page_size: int = 100,
        engagement_batch: int = 25,
        web_app: str = WEB_APP,
        video_service: str | None = AUTO,  # "auto": Bluesky's own for its own PDSes; None or "": blobs on the PDS
        video_deadline: float = 240.0,  # seconds one attempt gives the video service (the wiring passes the policy's)
    ) -> None:
        if not handle:
            raise CredentialsError(f"BLUESKY_HANDLE is not set. Fix: set it to the account's handle. {CREDENTIALS_FIX}")
        self.service = (service or DEFAULT_SERVICE).rstrip("/")
        self.account = handle.lstrip("@")
        self.session = BlueskySession(
            self.service,
            self.account,
            app_password,
            SessionFile(data_dir / "bluesky", self.service, self.account),
            timeout=timeout,
        )
        self._xrpc = Xrpc(self.session)
        self.writer = BlueskyWriter(
            self.session,
            self._xrpc,
            account=self.account,
            web_app=web_app,
            blob_max_bytes=blob_max_bytes,
            thumbnail_max_bytes=thumbnail_max_bytes,
            videos=VideoUploads(self._xrpc, self.session, video_service=video_service, deadline=video_deadline),
        )
        self.reader = BlueskyReader(
            self._xrpc,
            account=self.account,
            service=self.service,
            web_app=web_app,
            search_page_size=search_page_size,
            engagement_batch=engagement_batch,
        )

    def __repr__(self) -> str:
        return f"BlueskyAdapter(service={self.service!r}, account={self.account!r})"

    def close(self) -> None:
        self.session.close()

    def check_account(self) -> AccountInfo:
        try:
            info = self._xrpc.query("com.atproto.server.getSession")
        except FAILURES as error:
            raise translate_error(error, action="checking the account", write=False, handle=self.account) from None
        status = info.get("status")
        active = info.get("active", True) is not False and not status
        notes = [f"session: {', then '.join(self.session.events) or 'unknown'}"]
        pds = self.session.pds_endpoint.removesuffix("/xrpc")
        if pds.rstrip("/") != self.service:
            notes.append(f"posts go to the account's PDS {pds}")
        if not active:
            notes.append(f"the account is {status or 'inactive'}: it cannot post until that is resolved")
        return AccountInfo(
            platform=self.platform,
            handle=str(info.get("handle") or self.account),
            account_id=str(info.get("did") or self.session.did),
            service=self.service,
            can_post=active,
            notes=tuple(notes),
        )

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        return self.writer.publish(
            part, idempotency_key, reply_to=reply_to, outcome_unknown=outcome_unknown, written_at=written_at
        )

    def find_published(
        self, part: RenderedPart, idempotency_key: str, *, written_at: datetime | None = None
    ) -> RemotePost | None:
        return self.writer.find_published(part, idempotency_key, written_at=written_at)

    def search_mentions(self, tags: Sequence[str], *, since: datetime | None, cursor: str | None) -> MentionPage:
        return self.reader.search_mentions(tags, since=since, cursor=cursor)

    def engagement(self, remote_ids: Iterable[str]) -> list[Engagement]:
        return self.reader.engagement(remote_ids)
