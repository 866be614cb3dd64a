"""Where alerts land in tests: a real SMTP server (aiosmtpd, with a login) and a real HTTP receiver for Apprise's
json:// webhooks, both on 127.0.0.1 in this process; each keeps what it received."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER, SMTP_PASSWORD = "alerts", "Smtp-S3cret-9481"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mail:
    subject: str
    sender: str
    to: str
    text: str  # the plain-text part, decoded

    @property
    def everything(self) -> str:
        return f"{self.subject}\n{self.text}"


def _plain(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8")
    return ""


@dataclass
class SmtpReceiver:
    port: int
    raw: list[bytes] = field(default_factory=list)

    @property
    def mails(self) -> list[Mail]:
        found = []
        for data in list(self.raw):
            message = email.message_from_bytes(data)
            subject = str(email.header.make_header(email.header.decode_header(message.get("Subject", ""))))
            text = _plain(message).replace("\r\n", "\n")
            found.append(Mail(subject, message.get("From", ""), message.get("To", ""), text))
        return found

    def url(self, **extra: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"from": "scheduler@example.org", "to": "comms@example.org",
                                                  "mode": "insecure", **extra}.items())  # fmt: skip
        return f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}?{query}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.raw.append(content)
        return "250 Message accepted"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok)


@contextmanager
def smtp_server() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(free_port())
    controller = Controller(
        receiver, hostname="127.0.0.1", port=receiver.port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


HOOK_PASSWORD, HOOK_HEADER_TOKEN = "Hook-Pass-77120", "HdrTok-5521-ZZx"


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def everything(self) -> str:
        """The message as its reader sees it (the headers carry the receiver's own credentials)."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class HttpReceiver:
    port: int
    posts: list[Posted] = field(default_factory=list)

    def url(self, path: str = "hook") -> str:
        return f"json://campaign:{HOOK_PASSWORD}@127.0.0.1:{self.port}/{path}?+X-Token={HOOK_HEADER_TOKEN}"


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            receiver.posts.append(Posted(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
