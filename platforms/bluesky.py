"""The Bluesky adapter: posts a RenderedPart to an AT Protocol PDS exactly once, and reads mentions and
engagement back.

Exactly once. Each delivery's post has a record key derived from its idempotency key and planned instant
(`record_key`), and every record we write is built only from the delivery (createdAt is the planned
instant), so a retry builds the identical record under the same key. Writes cannot create a second post:

- a plain post is written with `com.atproto.repo.putRecord` and `"swapRecord": null`: the PDS creates it
  when the key is free, answers 200 without a commit when the identical record is there, and 400
  InvalidSwap when a different one is (an earlier attempt wrote it, then the calendar changed): both mean
  "already published";
- a post with a threadgate or postgate goes in one `com.atproto.repo.applyWrites` with its gates (same
  record key, atomic). A create on a taken key fails the whole batch, so after any failure, and before
  writing when an earlier attempt's outcome is unknown, the post is looked up by its key.

Sessions. One createSession per account, not per post: the SDK's session string is cached in a file under
the data dir (mode 0600, flock'ed, shared by every worker thread and process). An access token about to
expire, or one the server rejects, is refreshed with refreshSession; only when that fails do we log in
again with the app password; when that fails too, the error says what to do. The app password is never
written anywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from atproto import Client
from atproto_client.client.session import Session
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    RequestException,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from content_calendar.images import ImageProblem, prepare_image
from content_calendar.model import DEFAULT_LIMITS, Facet, RenderedImage, RenderedPart
from platforms.base import (
    AccountInfo,
    AdapterError,
    CredentialsError,
    Engagement,
    Mention,
    MentionPage,
    PermanentError,
    PublishOutcome,
    RateLimited,
    RemotePost,
    Secret,
    ThreadRefs,
    TransientError,
)

log = logging.getLogger("campaign.bluesky")

T = TypeVar("T")

POST = "app.bsky.feed.post"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
DEFAULT_SERVICE = "https://bsky.social"
WEB_APP = "https://bsky.app"

REPLY_RULE_TYPES: dict[str, str] = {
    "mentioned": "app.bsky.feed.threadgate#mentionRule",
    "following": "app.bsky.feed.threadgate#followingRule",
    "followers": "app.bsky.feed.threadgate#followerRule",
}

CREDENTIALS_FIX = (
    "Make a new app password in Bluesky (Settings > App passwords), set BLUESKY_APP_PASSWORD to it, "
    "then run `campaign accounts check`."
)
# Errors that mean "this token is no good": refresh it (or log in again) and try once more.
_TOKEN_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthMissing", "AuthenticationRequired", "BadJwt", "BadJwtSignature"}
)
# Errors no new token can fix: the account itself cannot act.
_ACCOUNT_ERRORS = {
    "AccountTakedown": "The account has been taken down by its service.",
    "AccountDeactivated": "The account is deactivated. Log in to Bluesky to reactivate it.",
    "AuthFactorTokenRequired": "The account asks for an email sign-in code: that happens with the main "
    "password, never with an app password.",
}

# What a call to the PDS can raise: the SDK's errors, and httpx's own for transport failures the SDK does
# not wrap (a connection closed without an answer is httpx.RemoteProtocolError).
_FAILURES = (AtProtocolError, httpx.HTTPError)

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_HASH_MICROSECOND_BITS = 20  # about 1.05 s: hash bits replace the low microseconds of the planned instant
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- record keys and identities ----------------------------------------------------------------------


def _tid(microseconds: int, clock_id: int) -> str:
    """13 characters of base32-sortable: 53 bits of microseconds since the epoch, then a 10-bit clock id."""
    value = ((microseconds & (2**53 - 1)) << 10) | (clock_id & 1023)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def record_key(idempotency_key: str, at: datetime) -> str:
    """The record key (a TID) of a delivery's post: the same for every attempt that may have written it.

    Its timestamp is the instant the delivery is written at (see PlatformAdapter.publish), with the low 20
    bits of microseconds (about a second) replaced by bits of a hash of the key, and its clock id is 10 more
    bits of that hash: two deliveries written within the same second (a thread's parts can be) collide with
    probability 2**-30.
    """
    if at.tzinfo is None:
        raise ValueError("the planned instant must be timezone-aware")
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:8], "big")
    clock_id = digest % 1024
    folded = (digest >> 10) & ((1 << _HASH_MICROSECOND_BITS) - 1)
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    micros = (micros >> _HASH_MICROSECOND_BITS << _HASH_MICROSECOND_BITS) | folded
    return _tid(micros, clock_id)


def created_at(at: datetime) -> str:
    """A record's createdAt from the delivery's write instant (never from the clock), so a retry builds the same
    record."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def post_uri(did: str, rkey: str, collection: str = POST) -> str:
    return f"at://{did}/{collection}/{rkey}"


def rkey_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def web_url(handle_or_did: str, uri: str, web: str = WEB_APP) -> str:
    """https://bsky.app/profile/<handle>/post/<rkey>."""
    return f"{web.rstrip('/')}/profile/{quote(handle_or_did, safe=':.')}/post/{rkey_of(uri)}"


def _parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the session cache ---------------------------------------------------------------------------------

_process_locks: dict[str, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(str(path), threading.RLock())


class SessionFile:
    """The cached session string of one account on one service: a file only its owner can read, written
    atomically, with an flock'ed companion lock file that serialises logins and refreshes across threads
    and processes."""

    def __init__(self, directory: Path, service: str, handle: str):
        name = hashlib.sha256(f"{service.rstrip('/').lower()}|{handle.lower()}".encode()).hexdigest()[:20]
        self.directory = directory
        self.path = directory / f"session-{name}.json"
        self.lock_path = directory / f"session-{name}.lock"
        self.service = service
        self.handle = handle

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _process_lock(self.lock_path):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def read(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        session = data.get("session") if isinstance(data, dict) else None
        return session if isinstance(session, str) and session else None

    def write(self, session_string: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = {
            "service": self.service,
            "handle": self.handle,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "session": session_string,
        }
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(payload).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # A refused login is remembered (a salted hash of the password, never the password), so that every later
    # delivery and collector run fails at once instead of spending one of the ~100 logins a day the public
    # service allows on a password it has already refused. A new password, or REFUSAL_MEMORY, clears it.
    REFUSAL_MEMORY = timedelta(hours=6)

    @property
    def refusal_path(self) -> Path:
        return self.path.with_name(self.path.name.replace("session-", "refused-"))

    def remember_refusal(self, password: str, message: str, now: datetime) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        salt = os.urandom(16).hex()
        digest = hashlib.sha256(f"{salt}|{password}".encode()).hexdigest()
        payload = {"salt": salt, "digest": digest, "at": now.isoformat(timespec="seconds"), "message": message}
        fd = os.open(self.refusal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(payload).encode("utf-8"))
        finally:
            os.close(fd)

    def refusal_of(self, password: str, now: datetime) -> tuple[datetime, str] | None:
        """When and why this same password was refused, if that was within REFUSAL_MEMORY."""
        try:
            data = json.loads(self.refusal_path.read_text(encoding="utf-8"))
            at = datetime.fromisoformat(data["at"])
            same = hashlib.sha256(f"{data['salt']}|{password}".encode()).hexdigest() == data["digest"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        if not same or now - at > self.REFUSAL_MEMORY:
            return None
        return at, str(data.get("message") or "")

    def forget_refusal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.refusal_path.unlink()


class _SharedSessionClient(Client):
    """The SDK client, with its automatic refresh routed through the shared session cache."""

    def __init__(self, base_url: str, *, request: Request, on_refresh_due: Callable[[], None]):
        super().__init__(base_url, request=request)
        self._on_refresh_due = on_refresh_due

    def _refresh_and_set_session(self) -> Any:  # the SDK calls this when the access token is about to expire
        self._on_refresh_due()

    def refresh_from_server(self) -> None:
        super()._refresh_and_set_session()


def _xrpc_error(error: RequestErrorBase) -> tuple[str, str]:
    """(error name, message) of an XRPC error answer; empty strings when there is none."""
    response = error.response
    if response is None:
        return "", ""
    content = response.content
    if isinstance(content, XrpcError):
        return content.error or "", content.message or ""
    if isinstance(content, dict):
        return str(content.get("error") or ""), str(content.get("message") or "")
    return "", ""


def _status(error: RequestErrorBase) -> int | None:
    return error.response.status_code if error.response is not None else None


def _is_token_problem(error: Exception) -> bool:
    if not isinstance(error, (BadRequestError, UnauthorizedError)):
        return False
    name, _ = _xrpc_error(error)
    if name in _ACCOUNT_ERRORS:
        return False
    return name in _TOKEN_ERRORS or _status(error) == 401


def _account_problem(error: Exception) -> str | None:
    if isinstance(error, RequestErrorBase):
        name, _ = _xrpc_error(error)
        return _ACCOUNT_ERRORS.get(name)
    return None


class BlueskySession:
    """One logged-in account. Thread-safe; shares its session with other processes through a SessionFile."""

    def __init__(
        self,
        service: str,
        handle: str,
        app_password: Secret,
        cache: SessionFile,
        *,
        timeout: float = 30.0,
    ):
        self.service = service.rstrip("/")
        self.handle = handle
        self._password = app_password
        self._cache = cache
        self._timeout = timeout
        self._lock = threading.RLock()
        self._client: _SharedSessionClient | None = None
        self.origin = ""  # how the current session came to be: "reused from the cache", "new login", ...
        self.events: list[str] = []  # every origin change, for `campaign accounts check`

    # --- what others read ------------------------------------------------------------------------------

    @property
    def did(self) -> str:
        session = self.client()._session
        if session is None:  # pragma: no cover - client() always leaves a session
            raise LoginRequiredError
        return session.did

    @property
    def session_handle(self) -> str:
        session = self.client()._session
        return session.handle if session is not None else self.handle

    @property
    def pds_endpoint(self) -> str:
        session = self.client()._session
        return (session.pds_endpoint if session is not None else None) or self.service

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.request.close()
                self._client = None

    # --- getting and keeping a session ---------------------------------------------------------------

    def client(self) -> _SharedSessionClient:
        with self._lock:
            if self._client is None:
                self._client = self._open()
            return self._client

    def _new_client(self) -> _SharedSessionClient:
        timeout = httpx.Timeout(self._timeout, connect=min(10.0, self._timeout))
        return _SharedSessionClient(self.service, request=Request(timeout=timeout), on_refresh_due=self._refresh_due)

    def _note(self, origin: str) -> None:
        self.origin = origin
        self.events = [*self.events[-9:], origin]
        log.info("bluesky session for %s: %s", self.handle, origin)

    def _open(self) -> _SharedSessionClient:
        client = self._new_client()
        with self._cache.locked():
            stored = self._cache.read()
            if stored is not None and self._usable(stored):
                client.login(session_string=stored, fetch_bsky_profile=False)
                self._note("reused the cached session")
                return client
            self._login(client)
        return client

    def _usable(self, session_string: str) -> bool:
        try:
            session = Session.decode(session_string)
        except ValueError:
            return False
        return bool(session.access_jwt and session.refresh_jwt and session.did)

    def _login(self, client: _SharedSessionClient) -> None:
        """createSession with the app password (the cache lock is held), then save the session."""
        password = self._password.reveal()
        if not password:
            raise CredentialsError(f"No Bluesky app password is set for {self.handle}. Fix: {CREDENTIALS_FIX}")
        now = datetime.now(UTC)
        refused = self._cache.refusal_of(password, now)
        if refused is not None:
            at, message = refused
            raise CredentialsError(
                f"{message} (refused at {at:%H:%M} UTC; not trying this password again for "
                f"{self._cache.REFUSAL_MEMORY.total_seconds() / 3600:.0f} hours, to spare the daily login limit)"
            )
        try:
            client.login(self.handle, password, fetch_bsky_profile=False)
        except _FAILURES as error:
            problem = self._login_error(error)
            if isinstance(problem, CredentialsError):
                self._cache.remember_refusal(password, str(problem), now)
            raise problem from None
        self._cache.forget_refusal()
        self._cache.write(client.export_session_string())
        self._note("logged in (new session)")

    def _login_error(self, error: Exception) -> AdapterError:
        account = _account_problem(error)
        if account:
            return CredentialsError(f"Bluesky refused to log in {self.handle} on {self.service}: {account}")
        if isinstance(error, (BadRequestError, UnauthorizedError)):
            _, message = _xrpc_error(error)
            return CredentialsError(
                f"Bluesky refused the handle and app password of {self.handle} on {self.service}"
                f" ({message or 'authentication failed'}): the app password was revoked or is wrong. "
                f"Fix: {CREDENTIALS_FIX}"
            )
        return translate_error(error, action=f"logging in {self.handle}", write=False, handle=self.handle)

    def _refresh_due(self) -> None:
        """The SDK found the access token about to expire (its own lock is held)."""
        with self._lock:
            client = self._client
            if client is None or client._session is None:
                raise LoginRequiredError
            self._replace_session(client, stale=_tokens(client._session), reason="refreshed (token expiring)")

    def _replace_session(self, client: _SharedSessionClient, *, stale: tuple[str, str], reason: str) -> None:
        """Get a working session instead of `stale` (its access and refresh tokens): another worker's
        fresher one from the cache, else refreshSession, else a new login."""
        rejected_access = stale[0]
        with self._lock, self._cache.locked():
            current = client._session
            if current is not None and _tokens(current) != stale and current.access_jwt != rejected_access:
                return  # another thread of ours replaced it while we waited for the lock
            stored = self._cache.read()
            if stored is not None and self._usable(stored):
                candidate = Session.decode(stored)
                if current is None or _tokens(candidate) != _tokens(current):
                    # The newest session any worker has: use it, or at least refresh with its refresh token
                    # (ours may have been rotated away by that worker's refresh).
                    client.login(session_string=stored, fetch_bsky_profile=False)
                    if candidate.access_jwt != rejected_access and not _expiring(candidate):
                        self._note("took the session another worker refreshed")
                        return
            try:
                client.refresh_from_server()
            except _FAILURES as error:
                if isinstance(error, RateLimitExceededError) or not _is_refresh_dead(error):
                    raise translate_error(
                        error, action="refreshing the session", write=False, handle=self.handle
                    ) from None
                log.info(
                    "bluesky session for %s could not be refreshed (%s): logging in again",
                    self.handle,
                    _xrpc_error(error)[0] if isinstance(error, RequestErrorBase) else type(error).__name__,
                )
                self._login(client)
                return
            self._cache.write(client.export_session_string())
            self._note(reason)

    def _raise_if_account_problem(self, error: AtProtocolError) -> None:
        account = _account_problem(error)
        if account:
            raise CredentialsError(f"Bluesky account {self.handle} cannot post: {account}") from None

    def call(self, operation: Callable[[Client], T]) -> T:
        """Run `operation` with a logged-in client. A rejected token is replaced once (refresh, else a new
        login) and the operation tried again: the server refused it before doing anything. Still refused:
        CredentialsError."""
        client = self.client()
        stale = _tokens(client._session) if client._session is not None else ("", "")
        try:
            return operation(client)
        except AtProtocolError as error:
            self._raise_if_account_problem(error)
            if not _is_token_problem(error):
                raise
        self._replace_session(client, stale=stale, reason="refreshed (token rejected)")
        try:
            return operation(client)
        except AtProtocolError as error:
            self._raise_if_account_problem(error)
            if _is_token_problem(error):
                _, message = _xrpc_error(error)  # type: ignore[arg-type]
                raise CredentialsError(
                    f"Bluesky keeps rejecting the session of {self.handle} on {self.service}"
                    f" ({message or 'token rejected'}). Fix: {CREDENTIALS_FIX}"
                ) from None
            raise


def _tokens(session: Session) -> tuple[str, str]:
    return session.access_jwt, session.refresh_jwt


def _expiring(session: Session) -> bool:
    try:
        expires = session.access_jwt_payload.exp
    except Exception:  # an unreadable token is no good
        return True
    if not expires:
        return True
    return datetime.fromtimestamp(expires, UTC) - timedelta(minutes=15) < datetime.now(UTC)


def _is_refresh_dead(error: Exception) -> bool:
    """refreshSession said the refresh token is revoked, expired or invalid (a new login may still work)."""
    if isinstance(error, LoginRequiredError):
        return True
    if isinstance(error, (BadRequestError, UnauthorizedError)):
        return _account_problem(error) is None
    return False


# --- errors --------------------------------------------------------------------------------------------


def translate_error(error: Exception, *, action: str, write: bool, handle: str) -> AdapterError:
    """An SDK or transport error as the dispatcher's error classes. `write` says the request may have
    changed the repository (its outcome is unknown when no answer came back or the server failed)."""
    if isinstance(error, AdapterError):
        return error
    if isinstance(error, RateLimitExceededError):
        reset_at = error.reset_at
        retry_after = error.retry_after
        policy = error.policy
        when = f"until {reset_at.isoformat(timespec='seconds')}" if reset_at else "for a while"
        return RateLimited(
            f"Bluesky rate limit reached for {handle} while {action}"
            f"{f' (policy {policy})' if policy else ''}: waiting {when}.",
            reset_at=reset_at,
            retry_after=retry_after,
        )
    account = _account_problem(error)
    if account:
        return CredentialsError(f"Bluesky account {handle} cannot post: {account}")
    if isinstance(error, (UnauthorizedError,)) or _is_token_problem(error):
        _, message = _xrpc_error(error)  # type: ignore[arg-type]
        return CredentialsError(
            f"Bluesky refused the credentials of {handle} while {action} ({message or 'unauthorized'}). "
            f"Fix: {CREDENTIALS_FIX}"
        )
    if isinstance(error, (InvokeTimeoutError, httpx.TimeoutException)):
        return TransientError(f"Bluesky did not answer in time while {action}.", outcome_unknown=write)
    if isinstance(error, RequestErrorBase):
        status = _status(error)
        name, message = _xrpc_error(error)
        detail = f"{name}: {message}" if name and message else (name or message or "")
        if status is None:  # the request never got an answer: transport failure
            return TransientError(
                f"Could not reach Bluesky while {action} ({type(error.__cause__ or error).__name__}).",
                outcome_unknown=write,
            )
        if status == 413:
            return PermanentError(
                f"Bluesky refused the upload while {action}: it is too large ({detail or 'HTTP 413'}). "
                "Fix: use a smaller image."
            )
        if status >= 500 or status in (408, 409, 502, 503, 504):
            return TransientError(
                f"Bluesky answered HTTP {status} while {action}{f' ({detail})' if detail else ''}.",
                outcome_unknown=write,
            )
        if isinstance(error, (BadRequestError, RequestException, NetworkError)):
            return PermanentError(
                f"Bluesky refused {action}: {detail or f'HTTP {status}'}. "
                "Fix: change the post in the calendar as the message says, then run `campaign schedule` again."
            )
    if isinstance(error, (httpx.HTTPError, OSError)):
        return TransientError(
            f"Could not reach Bluesky while {action} ({type(error).__name__}).", outcome_unknown=write
        )
    return TransientError(f"Unexpected {type(error).__name__} while {action}.", outcome_unknown=write)


class _BlobLimit(Exception):
    """The server refused a record because a blob is over its limit (the record was not written)."""

    def __init__(self, maximum: int, thumbnail: bool, message: str):
        super().__init__(message)
        self.maximum = maximum
        self.thumbnail = thumbnail
        self.message = message


_BLOB_TOO_BIG = re.compile(r"blob too big \(maximum (?P<maximum>\d+), got \d+\)(?: at (?P<path>\S+))?")


def _raise_blob_limit(error: Exception) -> None:
    if not isinstance(error, BadRequestError):
        return
    _, message = _xrpc_error(error)
    match = _BLOB_TOO_BIG.search(message)
    if match:
        raise _BlobLimit(int(match["maximum"]), "external" in (match["path"] or ""), message) from None


def _is_invalid_swap(error: Exception) -> bool:
    return isinstance(error, BadRequestError) and _xrpc_error(error)[0] == "InvalidSwap"


# --- the adapter ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Write:
    collection: str
    record: dict[str, Any]


@dataclass(frozen=True)
class _Target:
    """Where one delivery's post goes, and what is known about earlier attempts."""

    did: str
    rkey: str
    stamp: str  # createdAt
    part: RenderedPart
    reply_to: ThreadRefs | None
    gates: list[_Write]
    action: str  # for messages: "posting <post id> part <n>"
    outcome_unknown: bool
    at: datetime  # the instant the record is dated and keyed by


class BlueskyAdapter:
    """PlatformAdapter, AccountAdapter and ReadAdapter for one Bluesky account."""

    platform = "bluesky"
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
    ):
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
        self.blob_max_bytes = blob_max_bytes
        self.thumbnail_max_bytes = thumbnail_max_bytes
        self.search_page_size = max(1, min(100, search_page_size))
        self.engagement_batch = max(1, min(25, engagement_batch))
        self.web_app = web_app

    def __repr__(self) -> str:
        return f"BlueskyAdapter(service={self.service!r}, account={self.account!r})"

    def close(self) -> None:
        self.session.close()

    # --- raw XRPC through the session ----------------------------------------------------------------

    def _query(self, nsid: str, params: Sequence[tuple[str, object]] = ()) -> dict[str, Any]:
        query = urlencode([(k, v) for k, v in params if v is not None])
        path = f"{nsid}?{query}" if query else nsid
        response = self.session.call(lambda client: client.invoke_query(path))
        return response.content if isinstance(response.content, dict) else {}

    def _procedure(
        self, nsid: str, body: dict[str, Any] | bytes, content_type: str = "application/json"
    ) -> dict[str, Any]:
        # Raw bytes on purpose: the SDK's typed models drop None, and putRecord needs "swapRecord": null.
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = self.session.call(
            lambda client: client.invoke_procedure(nsid, content=content, headers={"Content-Type": content_type})
        )
        return response.content if isinstance(response.content, dict) else {}

    def _get_record(self, did: str, collection: str, rkey: str) -> dict[str, Any] | None:
        try:
            return self._query(
                "com.atproto.repo.getRecord", [("repo", did), ("collection", collection), ("rkey", rkey)]
            )
        except BadRequestError as error:
            if _xrpc_error(error)[0] == "RecordNotFound":
                return None
            raise
        except RequestException as error:
            if _status(error) == 404:
                return None
            raise

    # --- account -------------------------------------------------------------------------------------

    def check_account(self) -> AccountInfo:
        try:
            info = self._query("com.atproto.server.getSession")
        except _FAILURES as error:
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

    # --- publishing ----------------------------------------------------------------------------------

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
            found = self._get_record(did, POST, record_key(idempotency_key, at))
        except _FAILURES as error:
            raise translate_error(
                error, action="looking for an earlier post", write=False, handle=self.account
            ) from None
        if found is None:
            return None
        return self._remote(found["uri"], found.get("cid"), at)

    def _did(self) -> str:
        try:
            return self.session.did
        except _FAILURES as error:
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
            gates=self._gates(part, post_uri(did, rkey), stamp),
            action=f"posting {part.post_id} part {part.part}",
            outcome_unknown=outcome_unknown,
            at=at,
        )
        try:
            if outcome_unknown and target.gates:
                # applyWrites would fail on the taken key: look first.
                existing = self._get_record(did, POST, rkey)
                if existing is not None:
                    return self._adopt(target, existing, text=None)
        except _FAILURES as error:
            raise translate_error(error, action=target.action, write=False, handle=self.account) from None
        while True:
            try:
                record = self._record(part, reply_to, stamp)
            except _FAILURES as error:
                raise translate_error(error, action=target.action, write=False, handle=self.account) from None
            try:
                if not target.gates:
                    return self._put_post(target, record)
                return self._apply_writes(target, record, checked_absent=outcome_unknown)
            except _BlobLimit as limit:
                # The server validates blobs against its own lexicon's limit (1,000,000 bytes before the
                # public service moved to 2,000,000): learn it, re-encode, and write again. Nothing was written.
                if limit.thumbnail and limit.maximum < self.thumbnail_max_bytes:
                    self.thumbnail_max_bytes = limit.maximum
                elif not limit.thumbnail and limit.maximum < self.blob_max_bytes:
                    self.blob_max_bytes = limit.maximum
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
            answer = self._procedure("com.atproto.repo.putRecord", body)
        except _FAILURES as error:
            if not _is_invalid_swap(error):
                _raise_blob_limit(error)
                raise translate_error(error, action=target.action, write=True, handle=self.account) from None
            # A different record holds the key: an earlier attempt wrote this delivery (and its content has
            # changed since, e.g. the calendar was edited). It is out: never write a second one.
            try:
                existing = self._get_record(target.did, POST, target.rkey)
            except _FAILURES as lookup_error:
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
            for write in [_Write(POST, record), *target.gates]
        ]  # fmt: skip
        body = {"repo": target.did, "validate": True, "writes": writes}
        try:
            answer = self._procedure("com.atproto.repo.applyWrites", body)
        except _FAILURES as error:
            if isinstance(error, RateLimitExceededError) or _account_problem(error):
                raise translate_error(error, action=target.action, write=False, handle=self.account) from None
            # Whatever failed (a taken key answers HTTP 500), the post may be there: look it up by its key.
            try:
                existing = self._get_record(target.did, POST, target.rkey)
            except _FAILURES:
                raise translate_error(error, action=target.action, write=True, handle=self.account) from None
            if existing is not None:
                outcome = self._adopt(target, existing, text=record["text"])
                # Absent when this call began: this call's own write, whose answer was lost.
                return PublishOutcome(outcome.post, already_existed=not checked_absent)
            # applyWrites is atomic and the post is not there: nothing was written.
            _raise_blob_limit(error)
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
        except _FAILURES as error:
            raise translate_error(
                error, action="adding the gates of an earlier post", write=True, handle=self.account
            ) from None
        log.info("%s: found the post an earlier attempt wrote (%s)", target.action, existing.get("uri"))
        return PublishOutcome(self._remote(existing["uri"], existing.get("cid"), target.at), already_existed=True)

    def _ensure_gates(self, did: str, rkey: str, gates: list[_Write]) -> None:
        """The gates of a post an earlier attempt wrote: present (applyWrites put them in with it) or added."""
        for gate in gates:
            if self._get_record(did, gate.collection, rkey) is not None:
                continue
            body = {"repo": did, "collection": gate.collection, "rkey": rkey, "record": gate.record, "swapRecord": None}
            try:
                self._procedure("com.atproto.repo.putRecord", body)
            except _FAILURES as error:
                if not _is_invalid_swap(error):
                    raise

    # --- building the record -------------------------------------------------------------------------

    def _gates(self, part: RenderedPart, uri: str, stamp: str) -> list[_Write]:
        gates = []
        if part.part == 0 and part.reply_rules is not None:
            unknown = [rule for rule in part.reply_rules if rule not in REPLY_RULE_TYPES]
            if unknown:
                raise PermanentError(
                    f"Unknown Bluesky reply rule(s) {', '.join(unknown)} on {part.post_id}. "
                    f"Fix: use only {', '.join(sorted(REPLY_RULE_TYPES))}, or [] for nobody."
                )
            allow = [{"$type": REPLY_RULE_TYPES[rule]} for rule in dict.fromkeys(part.reply_rules)]
            gates.append(_Write(THREADGATE, {"$type": THREADGATE, "post": uri, "allow": allow, "createdAt": stamp}))
        if not part.allow_quotes:
            gates.append(
                _Write(
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

    def _record(self, part: RenderedPart, reply_to: ThreadRefs | None, stamp: str) -> dict[str, Any]:
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
            found = self._get_record(parts[0], parts[1], parts[2]) if len(parts) == 3 else None
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
            answer = self._query("com.atproto.identity.resolveHandle", [("handle", handle)])
        except BadRequestError:
            log.info("mention @%s does not resolve: left as plain text", handle)
            return None
        did = answer.get("did")
        return did if isinstance(did, str) and did.startswith("did:") else None

    def _embed(self, part: RenderedPart) -> dict[str, Any] | None:
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
        answer = self._procedure("com.atproto.repo.uploadBlob", prepared.data, prepared.mime_type)
        blob = answer.get("blob")
        if not isinstance(blob, dict):
            raise TransientError("Bluesky answered the image upload without a blob reference.")
        return blob, prepared.width, prepared.height

    # --- reading -------------------------------------------------------------------------------------

    def search_mentions(self, tags: Sequence[str], *, since: datetime | None, cursor: str | None) -> MentionPage:
        """One page of posts using one of `tags` (searchPosts through the account's PDS, newest first).
        The cursor walks each tag's pages in turn; None means nothing more for now."""
        wanted = list(dict.fromkeys(t.strip().lstrip("#＃") for t in tags if t.strip().lstrip("#＃")))
        if not wanted:
            return MentionPage([], None)
        fingerprint = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:8]
        index, inner = _parse_search_cursor(cursor, fingerprint, len(wanted))
        tag = wanted[index]
        params: list[tuple[str, object]] = [
            ("q", f"#{tag}"),
            ("tag", tag),
            ("sort", "latest"),
            ("limit", self.search_page_size),
        ]
        if since is not None:
            since = since.astimezone(UTC).replace(microsecond=since.microsecond // 1000 * 1000)  # as precise as sortAt
            params.append(("since", created_at(since)))
        if inner:
            params.append(("cursor", inner))
        try:
            answer = self._query("app.bsky.feed.searchPosts", params)
        except _FAILURES as error:
            raise translate_error(error, action=f"searching for #{tag}", write=False, handle=self.account) from None
        posts = [p for p in answer.get("posts") or [] if isinstance(p, dict)]
        mentions = []
        for view in posts:
            mention = self._mention(view)
            if mention is None or not _uses_tag(mention, tag):
                continue
            if since is not None and _sort_instant(view, mention) < since:
                continue  # servers that ignore `since` (the reference app view does) still honour it here
            mentions.append(mention)
        next_inner = answer.get("cursor") if posts else None
        if since is not None and posts and min(_sort_at(view) for view in posts) < since:
            # Pages come newest first by sortAt: once a page reaches back past `since`, every later page is older
            # still. End this tag's sweep here, or a server that ignores `since` (the reference app view does)
            # has us page through the tag's whole history.
            next_inner = None
        if next_inner:
            next_cursor: str | None = f"v1:{fingerprint}:{index}:{next_inner}"
        elif index + 1 < len(wanted):
            next_cursor = f"v1:{fingerprint}:{index + 1}:"
        else:
            next_cursor = None
        return MentionPage(mentions, next_cursor)

    def _mention(self, view: dict[str, Any]) -> Mention | None:
        uri = view.get("uri")
        record = view.get("record") or {}
        author = view.get("author") or {}
        if not isinstance(uri, str) or not isinstance(record, dict):
            return None
        tags = []
        for facet in record.get("facets") or []:
            for feature in (facet or {}).get("features") or []:
                if (feature or {}).get("$type") == "app.bsky.richtext.facet#tag" and feature.get("tag"):
                    tags.append(str(feature["tag"]))
        tags.extend(str(t) for t in record.get("tags") or [] if isinstance(t, str))
        written = _parse_datetime(record.get("createdAt")) or _parse_datetime(view.get("indexedAt"))
        handle = str(author.get("handle") or "")
        did = str(author.get("did") or uri.removeprefix("at://").split("/", 1)[0])
        reply = record.get("reply") or {}
        return Mention(
            platform=self.platform,
            uri=uri,
            url=web_url(handle if handle and handle != "handle.invalid" else did, uri, self.web_app),
            author_handle=handle,
            author_id=did,
            text=str(record.get("text") or ""),
            created_at=written or datetime.now(UTC),
            tags=tuple(dict.fromkeys(tags)),
            in_reply_to_uri=((reply.get("parent") or {}).get("uri") if isinstance(reply, dict) else None),
            like_count=int(view.get("likeCount") or 0),
            repost_count=int(view.get("repostCount") or 0),
            reply_count=int(view.get("replyCount") or 0),
            seen_on=self.service,
        )

    def engagement(self, remote_ids: Iterable[str]) -> list[Engagement]:
        """Counts of our posts now, `engagement_batch` (25) URIs per getPosts; deleted posts are left out."""
        uris = list(dict.fromkeys(u for u in remote_ids if u))
        found: dict[str, Engagement] = {}
        for start in range(0, len(uris), self.engagement_batch):
            batch = uris[start : start + self.engagement_batch]
            try:
                answer = self._query("app.bsky.feed.getPosts", [("uris", u) for u in batch])
            except _FAILURES as error:
                raise translate_error(error, action="reading engagement", write=False, handle=self.account) from None
            for view in answer.get("posts") or []:
                uri = view.get("uri")
                if uri in batch:
                    found[uri] = Engagement(
                        remote_id=uri,
                        likes=int(view.get("likeCount") or 0),
                        reposts=int(view.get("repostCount") or 0),
                        replies=int(view.get("replyCount") or 0),
                        quotes=int(view.get("quoteCount") or 0),
                    )
        return [found[u] for u in uris if u in found]


def _parse_search_cursor(cursor: str | None, fingerprint: str, count: int) -> tuple[int, str]:
    """(tag index, the server's cursor for that tag). A cursor for another tag list starts again."""
    if not cursor:
        return 0, ""
    pieces = cursor.split(":", 3)
    if len(pieces) != 4 or pieces[0] != "v1" or pieces[1] != fingerprint or not pieces[2].isdigit():
        return 0, ""
    index = int(pieces[2])
    return (index, pieces[3]) if index < count else (0, "")


def _uses_tag(mention: Mention, tag: str) -> bool:
    """A tag facet equal to `tag` ignoring case, or (for clients that write no facets) `#tag` in the text."""
    folded = tag.casefold()
    if any(t.casefold() == folded for t in mention.tags):
        return True
    return re.search(rf"[#＃]{re.escape(tag)}(?![\w])", mention.text, re.IGNORECASE) is not None


def _sort_at(view: dict[str, Any]) -> datetime:
    """The instant search results are ordered by (the app view's sortAt): the earlier of createdAt and indexedAt."""
    record = view.get("record") if isinstance(view.get("record"), dict) else {}
    instants = [_parse_datetime(record.get("createdAt")), _parse_datetime(view.get("indexedAt"))]
    known = [moment for moment in instants if moment is not None]
    return min(known) if known else datetime.now(UTC)


def _sort_instant(view: dict[str, Any], mention: Mention) -> datetime:
    """When the service saw the post (indexedAt): a backdated createdAt must not hide a new post."""
    return _parse_datetime(view.get("indexedAt")) or mention.created_at
