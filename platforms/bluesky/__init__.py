"""The Bluesky adapter: posts a RenderedPart to an AT Protocol PDS exactly once, and reads mentions and
engagement back.

- keys: record keys (TIDs) derived from a delivery, AT URIs, web URLs, createdAt;
- session: the session cached in a file shared by every worker, login and refresh;
- xrpc: raw XRPC calls through that session;
- errors: the SDK's and httpx's errors as the dispatcher's error classes;
- records, publish: the write side (a post's records, then putRecord or applyWrites exactly once);
- read: the read side (searchPosts, getPosts);
- adapter: BlueskyAdapter, the writer and the reader on one session.
"""

from platforms.bluesky.adapter import BlueskyAdapter
from platforms.bluesky.errors import CREDENTIALS_FIX, translate_error
from platforms.bluesky.keys import DEFAULT_SERVICE, WEB_APP, created_at, post_uri, record_key, rkey_of, web_url
from platforms.bluesky.session import BlueskySession, SessionFile

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
