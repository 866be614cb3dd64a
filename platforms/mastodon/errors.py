"""Mastodon.py's errors in the dispatcher's vocabulary (rate limited, transient, permanent, credentials), with
what a person should do about a token that does not work."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)

from platforms.base import CredentialsError, PermanentError, RateLimited, TransientError

REQUIRED_SCOPES = "write:statuses write:media read"
FIX_TOKEN = (
    "Create a new access token on the Mastodon instance (Preferences > Development > New application, "
    f"with the scopes {REQUIRED_SCOPES}), put it in MASTODON_ACCESS_TOKEN, then run `campaign accounts check`."
)


def api_error_parts(error: MastodonAPIError) -> tuple[int | None, str]:
    """(HTTP status, the server's reason) of a Mastodon.py API error."""
    args = error.args
    status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    reason = ""
    if len(args) > 3 and args[3]:
        reason = str(args[3])
    elif len(args) > 2 and args[2]:
        reason = str(args[2])
    elif args:
        reason = str(args[0])
    return status, reason


def needs_an_account(error: MastodonError) -> bool:
    """An instance refusing an anonymous read (Mastodon answers 401, or 422 "This method requires an
    authenticated user", when its hashtag timelines are for signed-in users only)."""
    if isinstance(error, MastodonUnauthorizedError):
        return True
    if isinstance(error, MastodonAPIError) and not isinstance(error, MastodonRatelimitError):
        status, _ = api_error_parts(error)
        return status in (401, 403, 422)
    return False


def short(error: BaseException) -> str:
    text = html.unescape(str(error))
    return text if len(text) <= 300 else text[:297] + "..."


def reset_at(client: Mastodon | None) -> datetime | None:
    """When the rate-limit window `client` last saw ends, if it is still ahead."""
    reset = getattr(client, "ratelimit_reset", None) if client is not None else None
    if isinstance(reset, int | float) and reset > time.time():
        return datetime.fromtimestamp(reset, tz=UTC)
    return None


def raise_platform_error(
    error: MastodonError,
    *,
    host: str,
    doing: str,
    redact: Callable[[str], str],
    client: Mastodon | None = None,
    wrote: bool = False,
) -> NoReturn:
    """Turn a Mastodon.py error into the dispatcher's vocabulary. `wrote`: the request was the status
    write, so a lost answer means the status may exist. `redact` keeps the token out of every message."""
    if isinstance(error, MastodonRatelimitError):
        reset = reset_at(client)
        when = f"; it resets at {reset.isoformat(timespec='seconds')}" if reset else ""
        raise RateLimited(
            f"{host} rate limit reached while {doing}{when}. The next attempt waits for it.",
            reset_at=reset,
            retry_after=None if reset else 60.0,
        ) from None
    if isinstance(error, MastodonNetworkError):
        raise TransientError(
            redact(f"no answer from {host} while {doing} ({short(error)})"), outcome_unknown=wrote
        ) from None
    if isinstance(error, MastodonServerError):
        status, reason = api_error_parts(error)
        raise TransientError(
            redact(f"{host} answered {status} while {doing}: {reason}"), outcome_unknown=wrote
        ) from None
    if isinstance(error, MastodonUnauthorizedError):
        _, reason = api_error_parts(error)
        raise CredentialsError(
            redact(f"{host} refused the access token while {doing} ({reason or '401'}). {FIX_TOKEN}")
        ) from None
    if isinstance(error, MastodonAPIError):
        status, reason = api_error_parts(error)
        if status == 403:
            raise CredentialsError(
                redact(
                    f"{host} does not allow this account or token to do this ({doing}: {reason or '403'}); "
                    f"the token may lack a scope or the account may be limited. {FIX_TOKEN}"
                )
            ) from None
        if status == 429:  # only when a caller used another ratelimit_method
            raise RateLimited(f"{host} rate limit reached while {doing}.", reset_at=None, retry_after=60.0)
        if status is None:  # an answer that is not Mastodon JSON, e.g. a proxy's HTML page
            raise TransientError(
                redact(f"{host} gave an unreadable answer while {doing}"), outcome_unknown=wrote
            ) from None
        raise PermanentError(redact(f"{host} refused {doing} ({status}): {reason}")) from None
    if isinstance(error, MastodonVersionError):
        raise PermanentError(f"{host} is too old for {doing}: {error}") from None
    raise TransientError(
        redact(f"{type(error).__name__} while {doing} on {host}: {short(error)}"), outcome_unknown=wrote
    ) from None
