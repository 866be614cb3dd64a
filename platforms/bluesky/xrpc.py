"""Raw XRPC queries and procedures through the account's session, shared by the write side, the read side and
the account check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from atproto_client.exceptions import BadRequestError, RequestException

from platforms.bluesky.errors import status_of, xrpc_error
from platforms.bluesky.session import BlueskySession


class Xrpc:
    """Calls with a logged-in client of `session` (which replaces a rejected token and tries once more)."""

    def __init__(self, session: BlueskySession) -> None:
        self.session = session

    def query(self, nsid: str, params: Sequence[tuple[str, object]] = ()) -> dict[str, Any]:
        query = urlencode([(k, v) for k, v in params if v is not None])
        path = f"{nsid}?{query}" if query else nsid
        response = self.session.call(lambda client: client.invoke_query(path))
        return response.content if isinstance(response.content, dict) else {}

    def procedure(
        self, nsid: str, body: dict[str, Any] | bytes, content_type: str = "application/json"
    ) -> dict[str, Any]:
        # Raw bytes on purpose: the SDK's typed models drop None, and putRecord needs "swapRecord": null.
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = self.session.call(
            lambda client: client.invoke_procedure(nsid, content=content, headers={"Content-Type": content_type})
        )
        return response.content if isinstance(response.content, dict) else {}

    def get_record(self, did: str, collection: str, rkey: str) -> dict[str, Any] | None:
        try:
            return self.query("com.atproto.repo.getRecord", [("repo", did), ("collection", collection), ("rkey", rkey)])
        except BadRequestError as error:
            if xrpc_error(error)[0] == "RecordNotFound":
                return None
            raise
        except RequestException as error:
            if status_of(error) == 404:
                return None
            raise
