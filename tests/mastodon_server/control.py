"""Python helpers over the server's `/_test/` control API. They speak HTTP, so they work the same whether
the server runs in a thread of this process or in a subprocess, and from any process."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ControlError(RuntimeError):
    pass


@dataclass(frozen=True)
class TestAccount:
    """A local account of a test server with its access token."""

    __test__ = False  # not a pytest test class

    id: str
    username: str
    acct: str
    token: str
    base_url: str

    def client(self, **overrides: Any):  # -> mastodon.Mastodon
        """A Mastodon.py client as our workers configure it: throw on 429, short timeouts."""
        from mastodon import Mastodon

        options: dict[str, Any] = {
            "access_token": self.token,
            "api_base_url": self.base_url,
            "ratelimit_method": "throw",
            "request_timeout": 5,
        }
        options.update(overrides)
        return Mastodon(**options)


class MastodonControl:
    def __init__(self, base_url: str, *, pid: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.pid = pid

    # -- transport

    def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None, query: dict[str, str] | None = None
    ) -> Any:
        url = f"{self.base_url}/_test/{path}"
        if query:
            from urllib.parse import urlencode

            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise ControlError(f"{method} /_test/{path}: {error.code} {detail}") from None

    # -- lifecycle and settings

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def reset(self, **config: Any) -> dict[str, Any]:
        """Forget all data, faults, counters, peers and clock offset; optionally start from other settings
        (fields of ServerConfig, e.g. max_characters=300, throttles={"statuses": {"limit": 3}})."""
        return self._call("POST", "reset", {"config": config} if config else {})

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "config", changes)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    # -- accounts and tokens

    def create_account(self, username: str, **fields: Any) -> TestAccount:
        answer = self._call("POST", "accounts", {"username": username, **fields})
        account = answer["account"]
        return TestAccount(account["id"], account["username"], account["acct"], answer["token"], self.base_url)

    def new_token(self, username: str) -> str:
        return self._call("POST", "tokens", {"username": username})["token"]

    def revoke_token(self, token: str) -> None:
        """Doorkeeper-revoke: later calls answer 401 "The access token was revoked"."""
        self._call("POST", "tokens/revoke", {"token": token})

    def delete_token(self, token: str) -> None:
        """Forget the token: later calls answer 401 "The access token is invalid"."""
        self._call("POST", "tokens/delete", {"token": token})

    def set_rate_count(
        self, throttle: str, count: int, *, username: str | None = None, token: str | None = None, ip: str | None = None
    ) -> None:
        """Pretend `count` requests were already counted in `throttle`'s current window (throttle names as
        in ServerConfig.throttles: "statuses", "throttle_per_token_api", "throttle_api_media", ...)."""
        self._call(
            "POST", "ratelimit", {"throttle": throttle, "count": count, "username": username, "token": token, "ip": ip}
        )

    # -- clock

    def now(self) -> datetime:
        return datetime.fromisoformat(self._call("GET", "clock")["now"])

    def advance_clock(self, seconds: float) -> datetime:
        return datetime.fromisoformat(self._call("POST", "clock", {"advance": seconds})["now"])

    def set_clock(self, moment: datetime) -> datetime:
        return datetime.fromisoformat(self._call("POST", "clock", {"set": moment.isoformat()})["now"])

    # -- faults

    def inject_fault(
        self,
        path: str,
        action: str = "error",
        *,
        count: int = 1,
        method: str | None = None,
        status: int = 503,
        delay: float = 0.0,
        body: str | None = None,
        retry_after: int | None = None,
    ) -> dict[str, Any]:
        """See faults.py for the actions. `path` is exact or an fnmatch pattern."""
        spec: dict[str, Any] = {
            "path": path,
            "action": action,
            "count": count,
            "method": method,
            "status": status,
            "delay": delay,
            "body": body,
            "retry_after": retry_after,
        }
        return self._call("POST", "faults", spec)

    def pending_faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def late_writes(self) -> int:
        """How many "write_late" requests are still waiting to write their status."""
        return int(self._call("GET", "late_writes")["pending"])

    def wait_for_late_writes(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.late_writes():
            if time.monotonic() > deadline:
                raise ControlError(f"late status writes still pending after {timeout} s")
            time.sleep(0.02)

    # -- content made by others, engagement, inspection

    def post_as(self, username: str, status: str, **params: Any) -> dict[str, Any]:
        """A status by any local account, bypassing tokens and rate limits. `created_at` (datetime or ISO
        string, in the past) backdates it; other keys as POST /api/v1/statuses."""
        if isinstance(params.get("created_at"), datetime):
            params["created_at"] = params["created_at"].isoformat()
        return self._call("POST", "statuses", {"username": username, "status": status, **params})

    def statuses(self, username: str | None = None, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        query = {"username": username, "include_deleted": "1" if include_deleted else None}
        return self._call("GET", "statuses", query=query)

    def add_engagement(
        self,
        status_id: str,
        *,
        favourites: int = 0,
        reblogs: int = 0,
        replies: int | list[str] = 0,
        quotes: int | list[str] = 0,
        by: list[str] | None = None,
    ) -> dict[str, Any]:
        payload = {"favourites": favourites, "reblogs": reblogs, "replies": replies, "quotes": quotes, "by": by or []}
        return self._call("POST", f"statuses/{status_id}/engagement", payload)

    def finish_media(self) -> int:
        """Mark every upload still processing as processed; returns how many changed."""
        return self._call("POST", "media/finish", {})["finished"]

    def request_log(self, *, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "requests", query={"path": path, "method": method})

    # -- federation

    def add_peer(self, base_url: str) -> None:
        """Relay this instance's public statuses to `base_url` from now on."""
        self._call("POST", "peers", {"base_url": base_url})

    def federate(self, status_id: str, peers: list[str] | None = None) -> None:
        self._call("POST", "federate", {"status_id": status_id, "peers": peers})

    def wait_for_deliveries(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self._call("GET", "outbox")["pending"]:
            if time.monotonic() > deadline:
                raise ControlError(f"federation deliveries still pending after {timeout} s")
            time.sleep(0.02)
