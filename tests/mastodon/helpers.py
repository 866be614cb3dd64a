"""Small helpers for the Mastodon test-server tests."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from PIL import Image

T = TypeVar("T")


def poll_until(check: Callable[[], T | None], *, timeout: float = 5.0, interval: float = 0.02) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def jpeg_bytes(width: int = 640, height: int = 480, colour: tuple[int, int, int] = (180, 40, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def raw(method: str, url: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, url, headers=headers, timeout=10, **kwargs)
