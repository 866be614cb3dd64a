"""Faults tests inject into the next requests to a path: error answers, dropped connections, delays.

Actions:
- "error": answer `status` (429, 500, 502, 503, 504, ...) without doing anything.
- "error_after": do the request (a status is stored), then answer `status` anyway, as a proxy timing out
  in front of a server that finished its work would.
- "drop_before": close the connection without an answer and without doing anything.
- "drop_after": do the request, then close the connection without an answer: the client sees a network
  error although the status exists.
- "delay": wait `delay` seconds before handling the request.
- "delay_after": handle the request, then wait `delay` seconds before answering (a client timeout fires
  after the write happened).
- "write_late": a status write as Mastodon did it before it locked the Idempotency-Key: the key is looked
  up at once (a remembered key answers the original status), the status is written `delay` seconds later,
  and nothing holds the key in between, so a second request with the same key arriving meanwhile does not
  see the first and writes a status of its own. Set `delay` past the client's timeout: the client gives up,
  the status appears later. `MastodonControl.wait_for_late_writes()` waits until every such write is done.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("error", "error_after", "drop_before", "drop_after", "delay", "delay_after", "write_late")


@dataclass
class FaultRule:
    path: str  # exact path or fnmatch pattern ("/api/v1/statuses", "/api/v1/media/*")
    action: str
    count: int = 1  # how many matching requests it affects
    method: str | None = None  # None: any method
    status: int = 503
    delay: float = 0.0
    body: str | None = None  # response body for "error"; a Mastodon-like one when None
    retry_after: int | None = None  # for injected 429: seconds until X-RateLimit-Reset
    id: int = 0
    fired: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return path == self.path or fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any]) -> FaultRule:
        allowed = {"path", "action", "count", "method", "status", "delay", "body", "retry_after"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = FaultRule(**spec)
        if rule.action not in ACTIONS:
            raise ValueError(f"unknown fault action {rule.action!r}; one of {ACTIONS}")
        if rule.count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first live rule matching this request, consuming one of its uses."""
        with self._lock:
            for rule in self._rules:
                if rule.fired < rule.count and rule.matches(method, path):
                    rule.fired += 1
                    return rule
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._rules if rule.fired < rule.count]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
