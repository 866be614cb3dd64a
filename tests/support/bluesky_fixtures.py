"""pytest fixtures for a real local AT Protocol network: PostgreSQL + PLC + PDS + app view on loopback.

Use from a conftest.py with `from tests.support.bluesky_fixtures import *`.

Fixtures:
- `bluesky_network` (session): a `BlueskyNetwork`, started once per session, stopped by pid at the end.
  Its PDS's public URL is a `FaultProxy` (tests/bluesky_net/proxy.py) in front of the PDS, so every
  client request (the atproto SDK switches to the DID document's PDS URL after login) passes through it.
- `bluesky_proxy` (function): that proxy, with no faults queued and an empty request log; faults left
  over are cleared after the test.
- `bluesky_account` (function): a fresh account, indexed by the app view, ready to log in.
- `bluesky_rate_limited_pds` (session, started only when asked for): a second PLC + PDS with the PDS's
  real rate limiter on and `RATE_LIMITED_WRITE_POINTS_PER_HOUR` write points an hour (a create costs 3),
  no app view.

When node or the pinned npm packages are missing the fixtures skip, saying to run
scripts/setup_bluesky_net.sh; with CI=true they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from atproto import Client, models
from atproto_client.exceptions import AtProtocolError

from tests.bluesky_net.harness import (
    BlueskyNetNotInstalled,
    NetworkInfo,
    NetworkProcess,
    check_installed,
    launch_network,
)
from tests.bluesky_net.proxy import FaultProxy
from tests.support.postgres import PostgresServer, PostgresUnavailable, private_postgres

__all__ = [
    "RATE_LIMITED_WRITE_POINTS_PER_HOUR",
    "BlueskyAccount",
    "BlueskyNetwork",
    "bluesky_account",
    "bluesky_net_installed",
    "bluesky_network",
    "bluesky_proxy",
    "bluesky_rate_limited_pds",
    "make_tid",
    "poll_until",
    "running_bluesky_network",
    "running_rate_limited_pds",
]

RATE_LIMITED_WRITE_POINTS_PER_HOUR = 9  # three creates, then 429
DEFAULT_WAIT_SECONDS = 15.0

T = TypeVar("T")

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def make_tid(microseconds: int, clock_id: int = 0) -> str:
    """A record key in TID form: 53 bits of microseconds since the epoch, 10 bits of clock id, in the
    13-character base32-sortable encoding (`app.bsky.feed.post` record keys must be TIDs)."""
    if not 0 <= microseconds < 2**53 or not 0 <= clock_id < 2**10:
        raise ValueError("microseconds must fit 53 bits and clock_id 10 bits")
    value = (microseconds << 10) | clock_id
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def poll_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_WAIT_SECONDS,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns something other than None (or False); return that. Raises
    TimeoutError naming `what` and the last exception the probe raised, if any."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except (AtProtocolError, httpx.HTTPError) as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass(frozen=True)
class BlueskyAccount:
    handle: str  # NAME.test
    did: str
    password: str = field(repr=False)
    email: str = ""

    def __str__(self) -> str:
        return self.handle


class BlueskyNetwork:
    """A running local network and helpers to use it. URLs use `localhost`, as the PDS's own do."""

    def __init__(self, process: NetworkProcess, proxy: FaultProxy | None, postgres: PostgresServer | None):
        self.process = process
        self.proxy = proxy
        self.postgres = postgres
        self._account_serial = 0
        self._appview_client: Client | None = None
        self._helper_clients: dict[str, Client] = {}

    # --- where things are ------------------------------------------------------------------------------

    @property
    def info(self) -> NetworkInfo:
        return self.process.info

    @property
    def pds_url(self) -> str:
        """The PDS as clients see it (through the fault proxy when there is one): BLUESKY_SERVICE."""
        return self.info.pds_url

    @property
    def pds_direct_url(self) -> str:
        return self.info.pds_direct_url

    @property
    def appview_url(self) -> str | None:
        return self.info.appview_url

    @property
    def plc_url(self) -> str:
        return self.info.plc_url

    @property
    def has_appview(self) -> bool:
        return self.info.appview_url is not None

    @property
    def start_seconds(self) -> float:
        """Wall time to start the node network (PostgreSQL not included)."""
        return self.info.start_seconds

    # --- accounts and clients --------------------------------------------------------------------------

    def create_account(self, name: str | None = None) -> BlueskyAccount:
        """Create an account on the PDS and, when the app view runs, wait until it has indexed it (before
        that, `Client.login` fails: it fetches the profile through the app view). `name` becomes the
        first part of the handle, made unique."""
        self._account_serial += 1
        base = (name or "user").lower()
        label = f"{base[:20]}{self._account_serial}{secrets.token_hex(2)}"
        handle = f"{label}{self.info.handle_domain}"
        password = secrets.token_urlsafe(18)
        email = f"{label}@example.com"
        creator = Client(base_url=self.pds_url)
        created = creator.com.atproto.server.create_account(
            models.ComAtprotoServerCreateAccount.Data(handle=handle, password=password, email=email)
        )
        account = BlueskyAccount(handle=created.handle, did=created.did, password=password, email=email)
        if self.has_appview:
            self.wait_for_profile(account.did)
        return account

    def login(self, account: BlueskyAccount, *, base_url: str | None = None) -> Client:
        """A logged-in atproto Client. After login the SDK talks to the URL in the account's DID
        document, which is `pds_url` (the proxy)."""
        client = Client(base_url=base_url or self.pds_url)
        client.login(account.handle, account.password, fetch_bsky_profile=self.has_appview)
        return client

    def _helper_client(self, account: BlueskyAccount) -> Client:
        """A logged-in client kept per account for the helpers below (createSession costs ~0.4 s)."""
        client = self._helper_clients.get(account.did)
        if client is None:
            client = self._helper_clients[account.did] = self.login(account)
        return client

    def create_app_password(self, account: BlueskyAccount, name: str = "campaign-scheduler") -> str:
        """An app password for the account (what BLUESKY_APP_PASSWORD holds in production)."""
        created = self._helper_client(account).com.atproto.server.create_app_password(
            models.ComAtprotoServerCreateAppPassword.Data(name=name)
        )
        return created.password

    def revoke_app_password(self, account: BlueskyAccount, name: str = "campaign-scheduler") -> None:
        """Revoke it: new logins with it fail (401) and refreshing its sessions fails (400 ExpiredToken);
        access tokens already issued keep working until they expire."""
        self._helper_client(account).com.atproto.server.revoke_app_password(
            models.ComAtprotoServerRevokeAppPassword.Data(name=name)
        )

    def take_down(self, account: BlueskyAccount, *, applied: bool = True) -> None:
        """Moderation takedown through the PDS's admin API (applied=False reverses it): login and writes
        then answer 401 AccountTakedown."""
        response = httpx.post(
            f"{self.pds_direct_url}/xrpc/com.atproto.admin.updateSubjectStatus",
            auth=("admin", self.info.admin_password),
            json={
                "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": account.did},
                "takedown": {"applied": applied, "ref": "campaign-scheduler-test"},
            },
            timeout=10,
        )
        response.raise_for_status()

    def appview_client(self) -> Client:
        """An unauthenticated client straight to the app view (public reads: getPosts, getPostThread).
        One shared instance: making an httpx client costs about 60 ms."""
        if not self.appview_url:
            raise RuntimeError("this network runs without an app view")
        if self._appview_client is None:
            self._appview_client = Client(base_url=self.appview_url)
        return self._appview_client

    # --- waiting for the app view (it indexes from the PDS firehose within about 100 ms) --------------

    def wait_for_profile(self, did: str, *, timeout: float = DEFAULT_WAIT_SECONDS) -> Any:
        appview = self.appview_client()

        def probe() -> Any:
            try:
                return appview.app.bsky.actor.get_profile(models.AppBskyActorGetProfile.Params(actor=did))
            except AtProtocolError:
                return None

        return poll_until(probe, timeout=timeout, what=f"the app view to index account {did}")

    def get_posts(self, uris: Iterable[str]) -> list[models.AppBskyFeedDefs.PostView]:
        """Posts as the app view sees them now (missing ones are simply absent)."""
        uri_list = list(uris)
        if not uri_list:
            return []
        response = self.appview_client().app.bsky.feed.get_posts(models.AppBskyFeedGetPosts.Params(uris=uri_list))
        return list(response.posts)

    def wait_for_post(
        self,
        uri: str,
        *,
        until: Callable[[models.AppBskyFeedDefs.PostView], bool] | None = None,
        timeout: float = DEFAULT_WAIT_SECONDS,
    ) -> models.AppBskyFeedDefs.PostView:
        """Poll the app view until it has indexed `uri` (and `until(post)` holds, e.g. a like count)."""

        def probe() -> models.AppBskyFeedDefs.PostView | None:
            posts = self.get_posts([uri])
            if posts and (until is None or until(posts[0])):
                return posts[0]
            return None

        return poll_until(probe, timeout=timeout, what=f"the app view to index {uri}")


# --- fixtures --------------------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    """Fail in CI (a missing install step must not pass silently), skip on a developer's machine."""
    message = f"local Bluesky network unavailable: {reason}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _require_installed() -> None:
    try:
        check_installed()
    except BlueskyNetNotInstalled as missing:
        _unavailable(str(missing))


def _stop_and_check(process: NetworkProcess) -> None:
    code = process.stop()
    if code != 0:
        raise RuntimeError(f"network.mjs did not close cleanly (exit code {code}):\n{process.log_tail()}")


@pytest.fixture(scope="session")
def bluesky_net_installed() -> None:
    """Skips (locally) or fails (CI=true) when node or the pinned npm packages are missing."""
    _require_installed()


@contextlib.contextmanager
def running_bluesky_network(data_dir: Path) -> Iterator[BlueskyNetwork]:
    """PostgreSQL + PLC + PDS + app view, the PDS's public URL on a fault proxy; everything stopped by pid
    on exit. Usable outside pytest (benchmarks). Raises BlueskyNetNotInstalled / PostgresUnavailable."""
    check_installed()
    with contextlib.ExitStack() as cleanup:
        proxy = cleanup.enter_context(FaultProxy())
        postgres_servers: list[PostgresServer] = []

        def start_postgres_for_the_app_view() -> str:
            # Runs while node loads its code. PostgreSQL runs as the `postgres` user when we are root and
            # pytest's temp root is private to root, so private_postgres() makes its own directory under
            # the system temp dir (removed on exit).
            server = cleanup.enter_context(private_postgres())
            postgres_servers.append(server)
            return server.create_database("bsky")

        process = launch_network(data_dir, postgres_url=start_postgres_for_the_app_view, pds_public_url=proxy.url)
        cleanup.callback(_stop_and_check, process)
        proxy.set_upstream(process.info.pds_direct_url)
        yield BlueskyNetwork(process, proxy, postgres_servers[0])


@contextlib.contextmanager
def running_rate_limited_pds(data_dir: Path) -> Iterator[BlueskyNetwork]:
    """PLC + PDS (no app view, no proxy) with the PDS's rate limiter on and few write points an hour."""
    process = launch_network(data_dir, repo_write_points_per_hour=RATE_LIMITED_WRITE_POINTS_PER_HOUR)
    try:
        yield BlueskyNetwork(process, None, None)
    finally:
        _stop_and_check(process)


class _SharedForTheSession:
    """One running instance however many conftest.py files import these fixtures: pytest makes a separate
    session fixture per conftest that defines (imports) it, which would start the network twice."""

    def __init__(self, start: Callable[[Path], contextlib.AbstractContextManager[BlueskyNetwork]]):
        self._start = start
        self._stack: contextlib.ExitStack | None = None
        self._value: BlueskyNetwork | None = None
        self._users = 0

    @contextlib.contextmanager
    def use(self, tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[BlueskyNetwork]:
        if self._users == 0:
            stack = contextlib.ExitStack()
            try:
                self._value = stack.enter_context(self._start(tmp_path_factory.mktemp(name)))
            except (BlueskyNetNotInstalled, PostgresUnavailable) as missing:
                stack.close()
                _unavailable(str(missing))
            self._stack = stack
        self._users += 1
        try:
            assert self._value is not None
            yield self._value
        finally:
            self._users -= 1
            if self._users == 0 and self._stack is not None:
                stack, self._stack, self._value = self._stack, None, None
                stack.close()


_network = _SharedForTheSession(running_bluesky_network)
_rate_limited_pds = _SharedForTheSession(running_rate_limited_pds)


@pytest.fixture(scope="session")
def bluesky_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueskyNetwork]:
    _require_installed()
    with _network.use(tmp_path_factory, "bluesky-net") as network:
        yield network


@pytest.fixture
def bluesky_proxy(bluesky_network: BlueskyNetwork) -> Iterator[FaultProxy]:
    proxy = bluesky_network.proxy
    assert proxy is not None
    proxy.reset()
    yield proxy
    proxy.reset()


@pytest.fixture
def bluesky_account(bluesky_network: BlueskyNetwork) -> BlueskyAccount:
    return bluesky_network.create_account()


@pytest.fixture(scope="session")
def bluesky_rate_limited_pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueskyNetwork]:
    _require_installed()
    with _rate_limited_pds.use(tmp_path_factory, "bluesky-net-limited") as network:
        yield network
