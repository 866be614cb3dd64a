"""The Bluesky adapter: posts a RenderedPart to an AT Protocol PDS exactly once, and reads mentions and
engagement back.

- keys: record keys (TIDs) derived from a delivery, AT URIs, web URLs, createdAt;
- session: the session cached in a file shared by every worker, login and refresh;
- xrpc: raw XRPC calls through that session;
- errors: the SDK's and httpx's errors as the dispatcher's error classes;
- records, publish: the write side (a post's records, then putRecord or applyWrites exactly once);
- read: the read side (searchPosts, getPosts);
- adapter: BlueskyAdapter, the writer and the reader on one session.
- firehose: the repository stream's frames (no SDK).

The names below are loaded on first use: importing a module of this package (the firehose, keys) does not load
the atproto SDK, about 1.5 s of CPU at every start of a worker, beat or `campaign` command.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platforms.bluesky.adapter import BlueskyAdapter
    from platforms.bluesky.errors import CREDENTIALS_FIX, translate_error
    from platforms.bluesky.keys import DEFAULT_SERVICE, WEB_APP, created_at, post_uri, record_key, rkey_of, web_url
    from platforms.bluesky.session import BlueskySession, SessionFile

_MODULE_OF = {
    "BlueskyAdapter": "adapter",
    "CREDENTIALS_FIX": "errors",
    "translate_error": "errors",
    "DEFAULT_SERVICE": "keys",
    "WEB_APP": "keys",
    "created_at": "keys",
    "post_uri": "keys",
    "record_key": "keys",
    "rkey_of": "keys",
    "web_url": "keys",
    "BlueskySession": "session",
    "SessionFile": "session",
}

__all__ = [
    "CREDENTIALS_FIX",
    "DEFAULT_SERVICE",
    "WEB_APP",
    "BlueskyAdapter",
    "BlueskySession",
    "SessionFile",
    "created_at",
    "post_uri",
    "record_key",
    "rkey_of",
    "translate_error",
    "web_url",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"platforms.bluesky.{module}"), name)
