"""Our Mastodon instance and account: Mastodon.py clients, the instance's limits, who we are, and errors turned
into the dispatcher's vocabulary with the token kept out of them.

Mastodon.py clients are not shared between threads (a Celery worker runs several): each thread builds its
own client, with `ratelimit_method='throw'` (a worker must never sleep for a rate limit; the dispatcher
retries at the reset time) and a short request timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NoReturn

from mastodon import Mastodon
from mastodon.errors import MastodonError, MastodonNotFoundError, MastodonUnauthorizedError

from platforms.base import AccountInfo, CredentialsError
from platforms.mastodon.entities import value_of
from platforms.mastodon.errors import FIX_TOKEN, REQUIRED_SCOPES, raise_platform_error
from platforms.mastodon.instance import PLATFORM, InstanceLimits, host_of, parse_version

USER_AGENT = "campaign-scheduler (Mastodon.py)"


class Connection:
    """One account on one instance (`api_base_url` is already normalised), and anonymous clients for others."""

    def __init__(
        self,
        api_base_url: str,
        access_token: str,
        *,
        request_timeout: float,
        limits_ttl: float,
        monotonic: Callable[[], float],
        on_limits: Callable[[InstanceLimits], None] | None = None,
    ):
        self.api_base_url = api_base_url
        self._on_limits = on_limits  # told each time the instance's limits are read (the core keeps them)
        self.account = host_of(api_base_url)
        self._token = access_token
        self.request_timeout = request_timeout
        self.limits_ttl = limits_ttl
        self._monotonic = monotonic
        self._local = threading.local()
        self._lock = threading.Lock()
        self._limits: InstanceLimits | None = None
        self._limits_read_at = float("-inf")
        self._me: Any = None

    def redact(self, text: str) -> str:
        return text.replace(self._token, "********") if self._token else text

    def new_client(self, base_url: str, token: str | None, version: str | None) -> Mastodon:
        options: dict[str, Any] = {
            "api_base_url": base_url,
            "access_token": token,
            "ratelimit_method": "throw",
            "request_timeout": self.request_timeout,
            "user_agent": USER_AGENT,
        }
        major, minor, patch = parse_version(version or "")
        if major >= 1:
            # Tell Mastodon.py the version we already read, so it neither asks again nor guesses: it picks
            # the v2 media endpoint (202 while processing) from it.
            options["mastodon_version"] = f"{major}.{minor}.{patch}"
            options["version_check_mode"] = "created"
        return Mastodon(**options)

    def client(self) -> Mastodon:
        """This thread's authenticated client for our own instance."""
        if not self._token:
            raise CredentialsError(f"Mastodon is not configured: set MASTODON_API_BASE_URL. {FIX_TOKEN}")
        limits = self.limits()
        client = getattr(self._local, "client", None)
        if client is None or getattr(self._local, "version", None) != limits.version:
            client = self.new_client(self.api_base_url, self._token, limits.version)
            self._local.client = client
            self._local.version = limits.version
        return client

    def public_client(self, base_url: str) -> Mastodon:
        """This thread's anonymous client for another instance's public timelines."""
        clients: dict[str, Mastodon] = self._local.__dict__.setdefault("public", {})
        if base_url not in clients:
            clients[base_url] = self.new_client(base_url, None, None)
        return clients[base_url]

    def fail(
        self,
        error: MastodonError,
        *,
        doing: str,
        client: Mastodon | None = None,
        wrote: bool = False,
        host: str = "",
    ) -> NoReturn:
        """Raise `error` as the dispatcher's error (see raise_platform_error), naming `host` (default: ours)."""
        raise_platform_error(
            error, host=host or self.account, doing=doing, redact=self.redact, client=client, wrote=wrote
        )

    def limits(self, *, refresh: bool = False) -> InstanceLimits:
        """The instance's limits from /api/v2/instance, cached for `limits_ttl` seconds."""
        with self._lock:
            fresh = self._monotonic() - self._limits_read_at < self.limits_ttl
            if self._limits is not None and fresh and not refresh:
                return self._limits
        reader = self.new_client(self.api_base_url, self._token, None)  # some instances hide it from anonymous
        try:
            try:
                data = reader.instance_v2()
            except MastodonNotFoundError:  # before Mastodon 4.0
                data = reader.instance_v1()
        except MastodonError as error:
            if self._limits is not None:
                # Keep using what we knew rather than stop posting, and ask again in a minute, not before every
                # request (each would first wait out the timeout while the instance is down or limiting us).
                with self._lock:
                    self._limits_read_at = self._monotonic() - self.limits_ttl + min(60.0, self.limits_ttl)
                return self._limits
            self.fail(error, doing="reading the instance's limits", client=reader)
        limits = InstanceLimits.from_instance(data)
        with self._lock:
            self._limits = limits
            self._limits_read_at = self._monotonic()
        if self._on_limits is not None:
            self._on_limits(limits)
        return limits

    def me(self) -> Any:
        """verify_credentials of our account, cached for the connection's life (id and acct do not change)."""
        if self._me is None:
            client = self.client()
            try:
                self._me = client.account_verify_credentials()
            except MastodonError as error:
                self.fail(error, doing="checking the access token", client=client)
        return self._me

    def check_account(self) -> AccountInfo:
        limits = self.limits(refresh=True)
        self._me = None
        me = self.me()
        client = self.client()
        host = self.account
        notes = [f"Mastodon {limits.version or 'version unknown'} at {host}", limits.describe()]
        can_post = not bool(value_of(me, "suspended", False)) and not bool(value_of(me, "moved", None))
        if value_of(me, "suspended", False):
            notes.append("the account is suspended: it cannot post")
        if value_of(me, "moved", None):
            notes.append("the account has moved to another instance: post from the new account")
        if value_of(me, "limited", False):
            notes.append("the instance's moderators have limited this account: its posts reach fewer people")
        try:
            app = client.app_verify_credentials()
            raw_scopes = value_of(app, "scopes", [])
            scopes = set(raw_scopes.split() if isinstance(raw_scopes, str) else map(str, raw_scopes))
        except MastodonUnauthorizedError as error:
            self.fail(error, doing="checking the access token", client=client)
        except MastodonError:
            scopes = set()
        if scopes:
            missing = [s for s in REQUIRED_SCOPES.split() if s not in scopes and s.split(":")[0] not in scopes]
            if missing:
                can_post = can_post and not any(s.startswith("write") for s in missing)
                notes.append(f"the token lacks the scopes {' '.join(missing)}. {FIX_TOKEN}")
            else:
                notes.append(f"token scopes: {' '.join(sorted(scopes))}")
        else:
            notes.append("the instance did not say which scopes the token has")
        notes.append(
            "quote policy: sent (allow_quotes: false -> nobody may quote)"
            if limits.supports_quote_policy
            else "quote policy: not supported by this instance (allow_quotes is ignored here)"
        )
        return AccountInfo(
            platform=PLATFORM,
            handle=f"{value_of(me, 'acct')}@{limits.domain or host}",
            account_id=str(value_of(me, "id")),
            service=self.api_base_url,
            can_post=can_post,
            notes=tuple(notes),
        )
