"""What the SDK and httpx raise, read and translated into the dispatcher's error classes (platforms.base):
token problems (a new session may fix them), account problems (none can), rate limits, transient and
permanent failures, and the two refusals the write path acts on (a taken record key, a blob over the
server's limit)."""

from __future__ import annotations

import re
import socket

import httpx
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    RequestException,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_core.exceptions import AtProtocolError

from platforms.base import AdapterError, CredentialsError, PermanentError, RateLimited, TransientError

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
FAILURES = (AtProtocolError, httpx.HTTPError)


def xrpc_error(error: RequestErrorBase) -> tuple[str, str]:
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


def status_of(error: RequestErrorBase) -> int | None:
    return error.response.status_code if error.response is not None else None


def is_token_problem(error: Exception) -> bool:
    if not isinstance(error, (BadRequestError, UnauthorizedError)):
        return False
    name, _ = xrpc_error(error)
    if name in _ACCOUNT_ERRORS:
        return False
    return name in _TOKEN_ERRORS or status_of(error) == 401


def account_problem(error: Exception) -> str | None:
    if isinstance(error, RequestErrorBase):
        name, _ = xrpc_error(error)
        return _ACCOUNT_ERRORS.get(name)
    return None


# Failures that happen before a request's first byte leaves: the write cannot have happened, so the next attempt
# is a clean one (a fresh record key and date), not a reconciliation of this one.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, ConnectionRefusedError, socket.gaierror)


def never_sent(error: BaseException) -> bool:
    """Whether `error` (or what caused it) happened before the request was sent."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, _NOT_SENT):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


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
    account = account_problem(error)
    if account:
        return CredentialsError(f"Bluesky account {handle} cannot post: {account}")
    if isinstance(error, (UnauthorizedError,)) or is_token_problem(error):
        _, message = xrpc_error(error)
        return CredentialsError(
            f"Bluesky refused the credentials of {handle} while {action} ({message or 'unauthorized'}). "
            f"Fix: {CREDENTIALS_FIX}"
        )
    if never_sent(error):
        return TransientError(
            f"Could not reach Bluesky while {action} ({type(error.__cause__ or error).__name__}); nothing was sent."
        )
    if isinstance(error, (InvokeTimeoutError, httpx.TimeoutException)):
        return TransientError(f"Bluesky did not answer in time while {action}.", outcome_unknown=write)
    if isinstance(error, RequestErrorBase):
        status = status_of(error)
        name, message = xrpc_error(error)
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


class BlobLimit(Exception):
    """The server refused a record because a blob is over its limit (the record was not written)."""

    def __init__(self, maximum: int, thumbnail: bool, message: str) -> None:
        super().__init__(message)
        self.maximum = maximum
        self.thumbnail = thumbnail
        self.message = message


_BLOB_TOO_BIG = re.compile(r"blob too big \(maximum (?P<maximum>\d+), got \d+\)(?: at (?P<path>\S+))?")


def raise_blob_limit(error: Exception) -> None:
    if not isinstance(error, BadRequestError):
        return
    _, message = xrpc_error(error)
    match = _BLOB_TOO_BIG.search(message)
    if match:
        raise BlobLimit(int(match["maximum"]), "external" in (match["path"] or ""), message) from None


def is_invalid_swap(error: Exception) -> bool:
    return isinstance(error, BadRequestError) and xrpc_error(error)[0] == "InvalidSwap"
