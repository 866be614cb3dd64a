"""The alert receivers every alert test uses: a real SMTP server and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_server


@pytest.fixture
def receivers() -> Iterator[tuple[SmtpReceiver, HttpReceiver]]:
    with smtp_server() as smtp, http_receiver() as http:
        yield smtp, http
