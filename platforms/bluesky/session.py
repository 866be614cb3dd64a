"""Bluesky sessions: one createSession per account, not per post.

The SDK's session string is cached in a file under the data dir (mode 0600, flock'ed, shared by every worker
thread and process). An access token about to expire, or one the server rejects, is refreshed with
refreshSession; only when that fails do we log in again with the app password; when that fails too, the error
says what to do. The app password is never written anywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from atproto import Client
from atproto_client.client.session import Session
from atproto_client.exceptions import (
    BadRequestError,
    LoginRequiredError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from platforms.base import AdapterError, CredentialsError, Secret
from platforms.bluesky.errors import (
    CREDENTIALS_FIX,
    FAILURES,
    account_problem,
    is_token_problem,
    translate_error,
    xrpc_error,
)

log = logging.getLogger("campaign.bluesky")

T = TypeVar("T")

_process_locks: dict[str, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(str(path), threading.RLock())


class SessionFile:
    """The cached session string of one account on one service: a file only its owner can read, written
    atomically, with an flock'ed companion lock file that serialises logins and refreshes across threads
    and processes."""

    def __init__(self, directory: Path, service: str, handle: str) -> None:
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

    def __init__(self, base_url: str, *, request: Request, on_refresh_due: Callable[[], None]) -> None:
        super().__init__(base_url, request=request)
        self._on_refresh_due = on_refresh_due

    def _refresh_and_set_session(self) -> Any:  # the SDK calls this when the access token is about to expire
        self._on_refresh_due()

    def refresh_from_server(self) -> None:
        super()._refresh_and_set_session()


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
    ) -> None:
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
        except FAILURES as error:
            problem = self._login_error(error)
            if isinstance(problem, CredentialsError):
                self._cache.remember_refusal(password, str(problem), now)
            raise problem from None
        self._cache.forget_refusal()
        self._cache.write(client.export_session_string())
        self._note("logged in (new session)")

    def _login_error(self, error: Exception) -> AdapterError:
        account = account_problem(error)
        if account:
            return CredentialsError(f"Bluesky refused to log in {self.handle} on {self.service}: {account}")
        if isinstance(error, (BadRequestError, UnauthorizedError)):
            _, message = xrpc_error(error)
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
            except FAILURES as error:
                if isinstance(error, RateLimitExceededError) or not _is_refresh_dead(error):
                    raise translate_error(
                        error, action="refreshing the session", write=False, handle=self.handle
                    ) from None
                log.info(
                    "bluesky session for %s could not be refreshed (%s): logging in again",
                    self.handle,
                    xrpc_error(error)[0] if isinstance(error, RequestErrorBase) else type(error).__name__,
                )
                self._login(client)
                return
            self._cache.write(client.export_session_string())
            self._note(reason)

    def _raise_if_account_problem(self, error: AtProtocolError) -> None:
        account = account_problem(error)
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
            if not is_token_problem(error):
                raise
        self._replace_session(client, stale=stale, reason="refreshed (token rejected)")
        try:
            return operation(client)
        except AtProtocolError as error:
            self._raise_if_account_problem(error)
            if is_token_problem(error):
                _, message = xrpc_error(error)
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
        return account_problem(error) is None
    return False
