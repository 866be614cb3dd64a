"""One Redis URL, three dialects: Celery/kombu, redis-py and the `limits` library."""

from __future__ import annotations


def for_redis_py(url: str) -> str:
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url


def for_limits(url: str) -> str:
    if url.startswith("redis+socket://"):
        return "redis+unix://" + url.removeprefix("redis+socket://")
    return url


def socket_url(path: str) -> str:
    return f"redis+socket://{path}"
