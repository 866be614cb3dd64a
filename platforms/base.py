"""The interface every platform adapter implements.

Adapters know nothing of the store: they receive a `RenderedPart` (exactly what the platform gets), an
idempotency key derived from the delivery, and the remote references of the thread above it. They return
what the platform answered, or raise one of the errors below so the dispatcher can decide what happens next.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from content_calendar.model import RenderedPart


@dataclass(frozen=True)
class RemotePost:
    """A post as it exists on a platform."""

    remote_id: str  # Mastodon status id; Bluesky at:// URI
    url: str  # web URL a person can open
    uri: str = ""  # ActivityPub uri (Mastodon) / at:// URI (Bluesky)
    cid: str | None = None  # Bluesky record CID (needed for reply refs)
    created_at: datetime | None = None


@dataclass(frozen=True)
class ThreadRefs:
    """Where a thread part hangs: the thread's root and the part it answers."""

    root: RemotePost
    parent: RemotePost


@dataclass(frozen=True)
class PublishOutcome:
    post: RemotePost
    already_existed: bool = False  # the idempotency mechanism found an earlier write: nothing new was created
    # Second copies of the post found after writing it (an earlier attempt's write landed late): the newer ones,
    # deleted by the adapter, or left live because deleting them failed (a person must delete those).
    duplicates_deleted: tuple[RemotePost, ...] = ()
    duplicates_left: tuple[RemotePost, ...] = ()


@dataclass(frozen=True)
class Mention:
    platform: str
    uri: str  # global identity: at:// URI or ActivityPub uri (the same status seen on two instances is one)
    url: str
    author_handle: str
    author_id: str  # DID or account URL
    text: str
    created_at: datetime
    tags: tuple[str, ...] = ()
    in_reply_to_uri: str | None = None
    like_count: int = 0
    repost_count: int = 0
    reply_count: int = 0
    seen_on: str = ""  # the instance or service it was read from


@dataclass(frozen=True)
class Engagement:
    remote_id: str
    likes: int
    reposts: int
    replies: int
    quotes: int = 0


@dataclass(frozen=True)
class MentionPage:
    mentions: list[Mention] = field(default_factory=list)
    cursor: str | None = None  # what to pass next time to continue (None: nothing more now)


@dataclass(frozen=True)
class AccountInfo:
    """What `campaign accounts check` shows: never a secret."""

    platform: str
    handle: str
    account_id: str  # DID or account id
    service: str  # PDS / instance base URL
    can_post: bool
    notes: tuple[str, ...] = ()  # e.g. limits read from the instance, session reused or refreshed


class Secret:
    """A credential that never shows itself in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).digest()))


class AdapterError(Exception):
    """Base of adapter errors. `str(error)` must be safe to store and show: no secrets."""


class TransientError(AdapterError):
    """Worth retrying later. `outcome_unknown` is True when the write may have happened (timeout, 5xx,
    dropped connection): the retry must reconcile by idempotency key before writing again."""

    def __init__(self, message: str, *, retry_after: float | None = None, outcome_unknown: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class RateLimited(TransientError):
    def __init__(self, message: str, *, reset_at: datetime | None, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after, outcome_unknown=False)
        self.reset_at = reset_at


class PermanentError(AdapterError):
    """Retrying will not help; the message says what a person should do."""


class CredentialsError(PermanentError):
    """Missing, wrong, expired or revoked credentials."""


def still_processing(where: str, platform: str, what: str, seconds: float) -> TransientError:
    """An attempt that gave up waiting `seconds` for `platform` to take and process `what` ("the video"): worth
    trying again soon, and nothing was posted (not an unknown outcome)."""
    minutes, whole = round(seconds / 60, 1), round(seconds)
    waited = (
        f"{minutes:g} minute{'' if minutes == 1 else 's'}"
        if seconds >= 60
        else f"{whole} second{'' if whole == 1 else 's'}"
    )
    return TransientError(
        f"{where}: {platform} was still processing {what} after {waited}; it will be tried again.", retry_after=30.0
    )


@runtime_checkable
class PlatformAdapter(Protocol):
    platform: str
    account: str  # who posts (handle / acct); rate limits are keyed by platform and account
    dry_run: bool  # True for the outbox: nothing reaches a platform

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        """Create the post exactly once. Calling again with the same key after any failure, crash or
        success must not create a second post: return the first one with `already_existed=True`.
        `outcome_unknown` says an earlier attempt may have written it: reconcile before writing.
        `written_at` is when the attempt that may have written it began (the planned time if not given): the
        post is dated by it and an earlier attempt is looked for from it, so neither depends on the plan."""
        ...

    def find_published(
        self, part: RenderedPart, idempotency_key: str, *, written_at: datetime | None = None
    ) -> RemotePost | None:
        """The post an earlier attempt with this key created, if any."""
        ...


class AccountAdapter(Protocol):
    def check_account(self) -> AccountInfo:
        """Log in (or reuse the cached session) and say who we are and what we may do. Raises
        CredentialsError with what to do when the credentials do not work."""
        ...


class ReadAdapter(Protocol):
    """The read side the collectors use."""

    def search_mentions(self, tags: Sequence[str], *, since: datetime | None, cursor: str | None) -> MentionPage: ...

    def engagement(self, remote_ids: Iterable[str]) -> list[Engagement]: ...
