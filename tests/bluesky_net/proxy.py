"""A loopback HTTP proxy in front of the test PDS that can be told to misbehave.

The PDS's public URL (what account DID documents say, and so where the atproto SDK sends every request
after login) points at this proxy, so clients cannot bypass it. By default it forwards each request
unchanged. Faults are queued per request pattern and each applies to the next N matching requests:

- `rate_limit_next(n)`: answer 429 like the PDS's own rate limiter (RateLimit-* headers, XRPC error body)
  without forwarding: nothing is written.
- `fail_next(n, status=502)`: answer an error without forwarding: nothing is written.
- `drop_after_forwarding_next(n)`: forward, let the PDS apply the request, then close the connection
  without answering: the client cannot know whether its write happened (the outcome-unknown case).
- `drop_before_forwarding_next(n)`: close the connection without forwarding: nothing was written, but
  the client cannot tell either.
- `delay_next(n, seconds)`: forward, then hold the answer (to push a client past its timeout).

Every request is recorded (method, path, NSID, status, fault) for assertions. Websocket upgrades are
refused (use the PDS's direct URL for the firehose).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

FaultKind = Literal["rate_limit", "error", "drop_after_forwarding", "drop_before_forwarding", "delay"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True)
class RequestMatch:
    """Which requests a fault applies to. `nsid` is an exact XRPC method name, or a prefix ending in `*`
    (`com.atproto.repo.*`); None matches any. `method` is an HTTP method or None for any."""

    nsid: str | None = None
    method: str | None = None

    def matches(self, method: str, nsid: str | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.nsid is None:
            return True
        if nsid is None:
            return False
        if self.nsid.endswith("*"):
            return nsid.startswith(self.nsid[:-1])
        return nsid == self.nsid


ANY_REQUEST = RequestMatch()
#: Every repository write: createRecord, putRecord, deleteRecord, applyWrites, uploadBlob.
REPO_WRITES = RequestMatch(nsid="com.atproto.repo.*", method="POST")


@dataclass
class _Fault:
    kind: FaultKind
    match: RequestMatch
    remaining: int
    status: int = 429
    error: str = "RateLimitExceeded"
    message: str = "Rate Limit Exceeded"
    reset_after_seconds: float = 60.0
    limit: int = 5000
    window_seconds: int = 3600
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    nsid: str | None
    status: int | None  # None when the connection was dropped before any answer
    fault: FaultKind | None
    at: float = field(default_factory=time.time)


def nsid_of(path: str) -> str | None:
    """`/xrpc/com.atproto.repo.putRecord?x=1` -> `com.atproto.repo.putRecord`."""
    route = path.split("?", 1)[0]
    if route.startswith("/xrpc/"):
        return route[len("/xrpc/") :] or None
    return None


class FaultProxy:
    """A threaded proxy on 127.0.0.1. Use as a context manager or call start()/stop()."""

    def __init__(self, upstream_url: str | None = None, *, port: int = 0, upstream_timeout: float = 60.0):
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._seen: list[SeenRequest] = []
        self._upstream: tuple[str, int] | None = None
        self.upstream_timeout = upstream_timeout
        if upstream_url:
            self.set_upstream(upstream_url)
        self._server = _ProxyServer(("127.0.0.1", port), _ProxyHandler, self)
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """What clients use. `localhost`, as the PDS's own URLs say (the proxy listens on 127.0.0.1)."""
        return f"http://localhost:{self.port}"

    def set_upstream(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream_url!r}")
        host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
        with self._lock:
            self._upstream = (host, parts.port)

    def start(self) -> FaultProxy:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="bluesky-fault-proxy"
            )
            self._thread.daemon = True
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- faults ----------------------------------------------------------------------------------------

    def rate_limit_next(
        self,
        count: int = 1,
        *,
        match: RequestMatch = REPO_WRITES,
        reset_after_seconds: float = 60.0,
        limit: int = 5000,
        window_seconds: int = 3600,
    ) -> None:
        """The next `count` matching requests get the PDS's 429 (not forwarded)."""
        self._add(
            _Fault(
                "rate_limit",
                match,
                count,
                reset_after_seconds=reset_after_seconds,
                limit=limit,
                window_seconds=window_seconds,
            )
        )

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 502,
        error: str = "UpstreamFailure",
        message: str = "injected failure",
        match: RequestMatch = REPO_WRITES,
    ) -> None:
        """The next `count` matching requests get this XRPC error (not forwarded)."""
        self._add(_Fault("error", match, count, status=status, error=error, message=message))

    def drop_after_forwarding_next(self, count: int = 1, *, match: RequestMatch = REPO_WRITES) -> None:
        """Forward the next `count` matching requests, then hang up without an answer."""
        self._add(_Fault("drop_after_forwarding", match, count))

    def drop_before_forwarding_next(self, count: int = 1, *, match: RequestMatch = REPO_WRITES) -> None:
        """Hang up on the next `count` matching requests without forwarding them."""
        self._add(_Fault("drop_before_forwarding", match, count))

    def delay_next(self, count: int = 1, *, seconds: float, match: RequestMatch = REPO_WRITES) -> None:
        """Forward the next `count` matching requests, then wait `seconds` before answering."""
        self._add(_Fault("delay", match, count, delay_seconds=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        """How many fault applications are still queued."""
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    def _add(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, nsid: str | None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match.matches(method, nsid):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- what went through -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def clear_requests(self) -> None:
        with self._lock:
            self._seen.clear()

    def count(self, match: RequestMatch = ANY_REQUEST, *, fault: FaultKind | None = None) -> int:
        return sum(
            1
            for seen in self.requests
            if match.matches(seen.method, seen.nsid) and (fault is None or seen.fault == fault)
        )

    def reset(self) -> None:
        """No faults queued, no requests remembered (between tests)."""
        self.clear_faults()
        self.clear_requests()

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self._seen.append(seen)
            if len(self._seen) > 10_000:
                del self._seen[:5_000]

    def _upstream_address(self) -> tuple[str, int]:
        with self._lock:
            if self._upstream is None:
                raise RuntimeError("proxy has no upstream yet")
            return self._upstream


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: FaultProxy):
        self.proxy = proxy
        super().__init__(address, handler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: requests are recorded in FaultProxy.requests

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _send_xrpc_error(self, status: int, error: str, message: str, extra: list[tuple[str, str]]) -> None:
        body = json.dumps({"error": error, "message": message}, separators=(",", ":")).encode()
        headers = [("Content-Type", "application/json; charset=utf-8"), *extra]
        self._send(status, headers, body)

    def _handle(self) -> None:
        proxy = self.server.proxy
        method = self.command
        nsid = nsid_of(self.path)
        if self.headers.get("Upgrade"):
            self.close_connection = True
            self._send_xrpc_error(501, "NotImplemented", "websockets: use the PDS's direct URL", [])
            proxy._record(SeenRequest(method, self.path, nsid, 501, None))
            return
        body = self._read_body()
        fault = proxy._take_fault(method, nsid)
        kind = fault.kind if fault else None

        if fault is not None and fault.kind == "rate_limit":
            reset_at = int(time.time() + fault.reset_after_seconds)
            self._send_xrpc_error(
                429,
                fault.error,
                fault.message,
                [
                    ("RateLimit-Limit", str(fault.limit)),
                    ("RateLimit-Reset", str(reset_at)),
                    ("RateLimit-Remaining", "0"),
                    ("RateLimit-Policy", f"{fault.limit};w={fault.window_seconds}"),
                ],
            )
            proxy._record(SeenRequest(method, self.path, nsid, 429, kind))
            return
        if fault is not None and fault.kind == "error":
            self._send_xrpc_error(fault.status, fault.error, fault.message, [])
            proxy._record(SeenRequest(method, self.path, nsid, fault.status, kind))
            return
        if fault is not None and fault.kind == "drop_before_forwarding":
            proxy._record(SeenRequest(method, self.path, nsid, None, kind))
            self._hang_up()
            return

        try:
            status, headers, response_body = self._forward(method, body)
        except OSError as error:
            self.close_connection = True
            self._send_xrpc_error(502, "UpstreamFailure", f"proxy could not reach the PDS: {error}", [])
            proxy._record(SeenRequest(method, self.path, nsid, 502, kind))
            return

        if fault is not None and fault.kind == "drop_after_forwarding":
            proxy._record(SeenRequest(method, self.path, nsid, None, kind))
            self._hang_up()
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_seconds)  # the injected fault itself: hold the answer back
        proxy._record(SeenRequest(method, self.path, nsid, status, kind))
        try:
            self._send(status, headers, response_body)
        except OSError:
            self.close_connection = True  # the client gave up (for example after a delay)

    def _forward(self, method: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host, port = self.server.proxy._upstream_address()
        connection = http.client.HTTPConnection(host, port, timeout=self.server.proxy.upstream_timeout)
        try:
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
            if body or method in ("POST", "PUT"):
                headers["Content-Length"] = str(len(body))
            connection.request(method, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            response_body = response.read()
            return response.status, list(response.getheaders()), response_body
        finally:
            connection.close()


@contextlib.contextmanager
def running_proxy(upstream_url: str | None = None) -> Iterator[FaultProxy]:
    with FaultProxy(upstream_url) as proxy:
        yield proxy
