"""The HTTP face of the test server: Mastodon's REST routes, rate-limit headers, pagination links, fault
injection, and the `/_test/` control API. Stdlib only (ThreadingHTTPServer), bound to 127.0.0.1.

Run it in a thread (`MastodonTestServer(...).start()`) or as its own process (`python -m
tests.mastodon_server`, see process.py); clients in any process reach it over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import entities
from .config import ServerConfig
from .state import (
    Account,
    ApiError,
    Instance,
    ScheduledStatus,
    Status,
    Viewer,
    parse_time,
    truthy,
)

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
STATUS_TEXT = {
    200: "OK",
    202: "Accepted",
    206: "Partial Content",
    401: "Unauthorized",
    404: "Not Found",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_DEFAULT_ERROR_BODIES = {
    429: ('{"error":"Too many requests"}', JSON_TYPE),
    500: ('{"error":"We\'re sorry, but something went wrong on our end."}', JSON_TYPE),
    502: (
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
        "<hr><center>nginx</center></body></html>",
        "text/html",
    ),
    503: (
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 "
        "Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>",
        "text/html",
    ),
    504: (
        "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out"
        "</h1></center><hr><center>nginx</center></body></html>",
        "text/html",
    ),
}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, JSON_TYPE, dict(headers or {}))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    params: dict[str, Any]  # Rails-style merge of query and body parameters
    files: dict[str, bytes]
    viewer: Viewer
    token_problem: str | None
    match: re.Match[str] | None = None
    idempotency_checked: bool = False  # the "write_late" fault looked the key up before its wait

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        if isinstance(value, list):
            return str(value[0]) if value else None
        return None if value is None else str(value)


def _rails_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("[]"):
            params.setdefault(key[:-2], []).append(value)
        else:
            params[key] = value
    return params


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PART_NAME = re.compile(r';\s*name="([^"]*)"', re.IGNORECASE)
_PART_FILENAME = re.compile(r';\s*filename="([^"]*)"', re.IGNORECASE)


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """multipart/form-data (RFC 7578) into Rails-style fields and uploaded files."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + found.group(1).encode()
    fields: list[tuple[str, str]] = []
    files: dict[str, bytes] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, data = part.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        disposition = next(
            (
                line
                for line in head.decode("utf-8", "replace").split("\r\n")
                if line.lower().startswith("content-disposition:")
            ),
            "",
        )
        name = _PART_NAME.search(disposition)
        if name is None:
            continue
        if _PART_FILENAME.search(disposition):
            files[name.group(1)] = data
        else:
            fields.append((name.group(1), data.decode("utf-8", "replace")))
    return _rails_params(fields), files


Handler = Callable[[Instance, Request], Response]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []

    def add(self, method: str, pattern: str, *, auth: bool = False) -> Callable[[Handler], Handler]:
        compiled = re.compile("^" + pattern + "$")

        def register(handler: Handler) -> Handler:
            self.routes.append((method, compiled, handler, auth))
            return handler

        return register

    def find(self, method: str, path: str) -> tuple[Handler, re.Match[str], bool] | None:
        for route_method, pattern, handler, auth in self.routes:
            if route_method == method:
                match = pattern.match(path)
                if match:
                    return handler, match, auth
        return None


api = Router()
ID = r"(?P<id>[0-9]+)"


def _link_header(
    inst: Instance, req: Request, items: list[Status], *, keep: tuple[str, ...], next_only_when_full: int | None = None
) -> dict[str, str]:
    """Mastodon's set_pagination_headers: rel="next" (older, max_id) and rel="prev" (newer, min_id), with
    the kept parameters, keys sorted as Rails' to_query does; no header for an empty page."""
    if not items:
        return {}
    kept = {key: req.param(key) for key in keep if req.param(key) is not None}
    base = f"{inst.base_url}{req.path}"

    def url(extra: dict[str, str]) -> str:
        merged = {**kept, **extra}
        return base + "?" + urlencode(sorted(merged.items()))

    links = []
    if next_only_when_full is None or len(items) == next_only_when_full:
        links.append(f'<{url({"max_id": str(items[-1].id)})}>; rel="next"')
    links.append(f'<{url({"min_id": str(items[0].id)})}>; rel="prev"')
    return {"Link": ", ".join(links)}


def _viewer_account(req: Request) -> Account:
    assert req.viewer.account is not None
    return req.viewer.account


# ---------------------------------------------------------------------------------------------- instance


@api.add("GET", r"/api/v2/instance")
def get_instance_v2(inst: Instance, req: Request) -> Response:
    return Response.json(200, entities.instance_v2_json(inst), _PUBLIC_CACHE)


@api.add("GET", r"/api/v1/instance")
def get_instance_v1(inst: Instance, req: Request) -> Response:
    headers = {**_PUBLIC_CACHE, "Deprecation": "@1668384000"}
    return Response.json(200, entities.instance_v1_json(inst), headers)


_PUBLIC_CACHE = {
    "Cache-Control": "max-age=300, public, stale-while-revalidate=30, stale-if-error=86400",
    "Vary": "Accept, Origin",
}


# ---------------------------------------------------------------------------------------------- accounts


@api.add("GET", r"/api/v1/accounts/verify_credentials", auth=True)
def verify_credentials(inst: Instance, req: Request) -> Response:
    return Response.json(200, entities.account_json(inst, _viewer_account(req), credentials=True))


@api.add("GET", r"/api/v1/accounts/lookup")
def lookup_account(inst: Instance, req: Request) -> Response:
    account = inst.account_by_acct(req.param("acct") or "")
    if account is None:
        raise ApiError(404, "Record not found")
    return Response.json(200, entities.account_json(inst, account))


def _account(inst: Instance, account_id: str) -> Account:
    try:
        account = inst.accounts.get(int(account_id))
    except ValueError:
        account = None
    if account is None:
        raise ApiError(404, "Record not found")
    return account


@api.add("GET", r"/api/v1/accounts/" + ID)
def get_account(inst: Instance, req: Request) -> Response:
    assert req.match
    return Response.json(200, entities.account_json(inst, _account(inst, req.match["id"])))


@api.add("GET", r"/api/v1/accounts/" + ID + r"/statuses")
def account_statuses(inst: Instance, req: Request) -> Response:
    assert req.match
    account = _account(inst, req.match["id"])
    items = inst.account_statuses(
        account,
        req.viewer,
        exclude_replies=truthy(req.param("exclude_replies")),
        only_media=truthy(req.param("only_media")),
        pinned=truthy(req.param("pinned")),
        tagged=req.param("tagged"),
        exclude_direct=truthy(req.param("exclude_direct")),
    )
    limit = inst.limit_param(req.param("limit"))
    page = inst.paginate(items, limit, req.param("max_id"), req.param("since_id"), req.param("min_id"))
    links = _link_header(
        inst,
        req,
        page,
        keep=("limit", "only_media", "exclude_replies", "exclude_reblogs", "pinned", "tagged"),
        next_only_when_full=limit,
    )
    return Response.json(200, [entities.status_json(inst, s, req.viewer) for s in page], links)


# ---------------------------------------------------------------------------------------------- statuses


@api.add("POST", r"/api/v1/statuses", auth=True)
def create_status(inst: Instance, req: Request) -> Response:
    account = _viewer_account(req)
    assert req.viewer.token is not None
    params = dict(req.params)
    if "media_ids" in params and not isinstance(params["media_ids"], list):
        params["media_ids"] = [params["media_ids"]]
    result = inst.post_status(
        account,
        params,
        idempotency_key=req.headers.get("Idempotency-Key") or None,
        application=req.viewer.token.application,
        check_idempotency=not req.idempotency_checked,
    )
    if isinstance(result, ScheduledStatus):
        return Response.json(200, entities.scheduled_json(inst, result, fresh=True))
    return Response.json(200, entities.status_json(inst, result, req.viewer))


@api.add("GET", r"/api/v1/statuses")
def get_statuses(inst: Instance, req: Request) -> Response:
    ids = req.params.get("id") or []
    if not isinstance(ids, list):
        ids = [ids]
    found = []
    for status_id in ids[:20]:
        try:
            found.append(inst.find_status(status_id, req.viewer))
        except ApiError:
            continue
    return Response.json(200, [entities.status_json(inst, s, req.viewer) for s in found])


@api.add("GET", r"/api/v1/statuses/" + ID)
def get_status(inst: Instance, req: Request) -> Response:
    assert req.match
    status = inst.find_status(req.match["id"], req.viewer)
    return Response.json(200, entities.status_json(inst, status, req.viewer))


@api.add("DELETE", r"/api/v1/statuses/" + ID, auth=True)
def delete_status(inst: Instance, req: Request) -> Response:
    assert req.match
    status = inst.delete_status(_viewer_account(req), req.match["id"], delete_media=truthy(req.param("delete_media")))
    return Response.json(200, entities.status_json(inst, status, req.viewer, source_requested=True))


@api.add("GET", r"/api/v1/statuses/" + ID + r"/context")
def get_context(inst: Instance, req: Request) -> Response:
    assert req.match
    status = inst.find_status(req.match["id"], req.viewer)
    ancestors, descendants = inst.context(status, req.viewer)
    return Response.json(
        200,
        {
            "ancestors": [entities.status_json(inst, s, req.viewer) for s in ancestors],
            "descendants": [entities.status_json(inst, s, req.viewer) for s in descendants],
        },
    )


@api.add("GET", r"/api/v1/statuses/" + ID + r"/source", auth=True)
def get_source(inst: Instance, req: Request) -> Response:
    assert req.match
    status = inst.find_status(req.match["id"], req.viewer)
    if status.account_id != _viewer_account(req).id:
        raise ApiError(404, "Record not found")
    return Response.json(200, {"id": str(status.id), "text": status.text, "spoiler_text": status.spoiler_text})


def _favourite(on: bool) -> Handler:
    # Boosting through the API is not offered: Mastodon answers it with a new wrapping status, which this
    # server does not model; boosts by others come from the control API (counts only).
    def handler(inst: Instance, req: Request) -> Response:
        assert req.match
        status = inst.find_status(req.match["id"], req.viewer, message="Record not found")
        inst.favourite(_viewer_account(req), status, on=on)
        return Response.json(200, entities.status_json(inst, status, req.viewer))

    return handler


api.add("POST", r"/api/v1/statuses/" + ID + "/favourite", auth=True)(_favourite(True))
api.add("POST", r"/api/v1/statuses/" + ID + "/unfavourite", auth=True)(_favourite(False))


# ---------------------------------------------------------------------------------------------- media


@api.add("POST", r"/api/v2/media", auth=True)
def upload_media(inst: Instance, req: Request) -> Response:
    media = inst.upload_media(
        _viewer_account(req),
        req.files.get("file"),
        description=req.param("description"),
        focus=req.param("focus"),
        thumbnail=req.files.get("thumbnail"),
    )
    return Response.json(202 if not media.processed else 200, entities.media_json(inst, media))


@api.add("GET", r"/api/v1/media/" + ID, auth=True)
def get_media(inst: Instance, req: Request) -> Response:
    assert req.match
    media = inst.poll_media(_viewer_account(req), req.match["id"])
    return Response.json(200 if media.processed else 206, entities.media_json(inst, media))


@api.add("PUT", r"/api/v1/media/" + ID, auth=True)
def update_media(inst: Instance, req: Request) -> Response:
    assert req.match
    media = inst.update_media(
        _viewer_account(req),
        req.match["id"],
        description=req.param("description"),
        focus=req.param("focus"),
        thumbnail=req.files.get("thumbnail"),
    )
    return Response.json(200 if media.processed else 206, entities.media_json(inst, media))


# ---------------------------------------------------------------------------------------------- timelines


@api.add("GET", r"/api/v1/timelines/tag/(?P<tag>[^/]+)")
def tag_timeline(inst: Instance, req: Request) -> Response:
    assert req.match
    from urllib.parse import unquote

    tag = unquote(req.match["tag"])
    if inst.config.topic_feed_access == "authenticated" and req.viewer.account is None:
        raise ApiError(422, "This method requires an authenticated user")

    def listed(name: str) -> list[str]:
        value = req.params.get(name) or []
        return value if isinstance(value, list) else [value]

    items = inst.tag_timeline(
        tag,
        req.viewer,
        any_tags=listed("any"),
        all_tags=listed("all"),
        none_tags=listed("none"),
        local=truthy(req.param("local")),
        remote=truthy(req.param("remote")),
        only_media=truthy(req.param("only_media")),
    )
    limit = inst.limit_param(req.param("limit"))
    page = inst.paginate(items, limit, req.param("max_id"), req.param("since_id"), req.param("min_id"))
    links = _link_header(inst, req, page, keep=("local", "limit", "only_media"))
    return Response.json(200, [entities.status_json(inst, s, req.viewer) for s in page], {**links, **_cached(req)})


@api.add("GET", r"/api/v1/timelines/public")
def public_timeline(inst: Instance, req: Request) -> Response:
    local, remote = truthy(req.param("local")), truthy(req.param("remote"))
    items = [
        s
        for s in inst.statuses.values()
        if not s.deleted
        and s.visibility == "public"
        and not (local and not remote and not s.local)
        and not (remote and not local and s.local)
        and not (truthy(req.param("only_media")) and not (s.media_ids or s.remote_media))
    ]
    limit = inst.limit_param(req.param("limit"))
    page = inst.paginate(items, limit, req.param("max_id"), req.param("since_id"), req.param("min_id"))
    links = _link_header(inst, req, page, keep=("local", "remote", "limit", "only_media"))
    return Response.json(200, [entities.status_json(inst, s, req.viewer) for s in page], {**links, **_cached(req)})


def _cached(req: Request) -> dict[str, str]:
    """cache_if_unauthenticated! of Mastodon's public and hashtag timelines: an anonymous answer may be cached
    for 15 s by anyone (a signed-in one gets the default "private, no-store")."""
    if req.viewer.account is not None:
        return {}
    return {"Cache-Control": "max-age=15, public, stale-while-revalidate=30, stale-if-error=86400"}


@api.add("GET", r"/api/v1/timelines/link")
def link_timeline(inst: Instance, req: Request) -> Response:
    # Statuses about a trending link: this server has no link previews, so no link trends, so none is found.
    raise ApiError(404, "Record not found")


@api.add("GET", r"/api/v1/timelines/home", auth=True)
def home_timeline(inst: Instance, req: Request) -> Response:
    account = _viewer_account(req)
    items = [
        s
        for s in inst.statuses.values()
        if not s.deleted and (s.account_id == account.id or account.id in s.mention_ids)
    ]
    limit = inst.limit_param(req.param("limit"))
    page = inst.paginate(items, limit, req.param("max_id"), req.param("since_id"), req.param("min_id"))
    links = _link_header(inst, req, page, keep=("local", "limit"))
    return Response.json(200, [entities.status_json(inst, s, req.viewer) for s in page], links)


@api.add("GET", r"/api/v1/tags/(?P<tag>[^/]+)")
def get_tag(inst: Instance, req: Request) -> Response:
    assert req.match
    from urllib.parse import unquote

    from .text import normalize_hashtag

    record = inst.tags.get(normalize_hashtag(unquote(req.match["tag"])))
    if record is None:
        raise ApiError(404, "Record not found")
    return Response.json(200, entities.tag_json(inst, record, req.viewer))


# ---------------------------------------------------------------------------------------------- scheduled


@api.add("GET", r"/api/v1/scheduled_statuses", auth=True)
def list_scheduled(inst: Instance, req: Request) -> Response:
    account = _viewer_account(req)
    items = sorted((s for s in inst.scheduled.values() if s.account_id == account.id), key=lambda s: -s.id)
    limit = inst.limit_param(req.param("limit"))
    page = items[:limit]
    headers = {}
    if page:
        url = f"{inst.base_url}{req.path}?" + urlencode({"min_id": str(page[0].id)})
        headers["Link"] = f'<{url}>; rel="prev"'
    return Response.json(200, [entities.scheduled_json(inst, s) for s in page], headers)


@api.add("GET", r"/api/v1/scheduled_statuses/" + ID, auth=True)
def get_scheduled(inst: Instance, req: Request) -> Response:
    assert req.match
    return Response.json(200, entities.scheduled_json(inst, inst.own_scheduled(_viewer_account(req), req.match["id"])))


@api.add("PUT", r"/api/v1/scheduled_statuses/" + ID, auth=True)
def update_scheduled(inst: Instance, req: Request) -> Response:
    assert req.match
    scheduled = inst.update_scheduled(_viewer_account(req), req.match["id"], req.param("scheduled_at") or "")
    return Response.json(200, entities.scheduled_json(inst, scheduled))


@api.add("DELETE", r"/api/v1/scheduled_statuses/" + ID, auth=True)
def delete_scheduled(inst: Instance, req: Request) -> Response:
    assert req.match
    inst.cancel_scheduled(_viewer_account(req), req.match["id"])
    return Response.json(200, {})


# ---------------------------------------------------------------------------------------------- control API


control = Router()


def _json_body(req: Request) -> dict[str, Any]:
    if not req.body:
        return {}
    data = json.loads(req.body)
    if not isinstance(data, dict):
        raise ApiError(400, "control requests take a JSON object")
    return data


def _control_account(inst: Instance, data: dict[str, Any]) -> Account:
    username = data.get("username") or data.get("account")
    account = inst.account_by_acct(str(username)) if username else None
    if account is None and data.get("account_id"):
        account = inst.accounts.get(int(data["account_id"]))
    if account is None:
        raise ApiError(404, f"no account {username or data.get('account_id')!r}")
    return account


@control.add("GET", r"/_test/health")
def health(inst: Instance, req: Request) -> Response:
    return Response.json(
        200, {"ok": True, "base_url": inst.base_url, "pid": os.getpid(), "now": inst.now().isoformat()}
    )


@control.add("POST", r"/_test/reset")
def reset(inst: Instance, req: Request) -> Response:
    data = _json_body(req)
    config = inst.initial_config.updated(data["config"]) if data.get("config") else None
    inst.reset(config)
    return Response.json(200, {"config": inst.config.to_json()})


@control.add("GET", r"/_test/config")
def get_config(inst: Instance, req: Request) -> Response:
    return Response.json(200, inst.config.to_json())


@control.add("POST", r"/_test/config")
def set_config(inst: Instance, req: Request) -> Response:
    try:
        inst.config = inst.config.updated(_json_body(req))
    except (TypeError, ValueError) as error:
        raise ApiError(400, str(error)) from error
    return Response.json(200, inst.config.to_json())


@control.add("POST", r"/_test/accounts")
def create_account(inst: Instance, req: Request) -> Response:
    data = _json_body(req)
    try:
        account = inst.create_account(
            str(data["username"]),
            display_name=str(data.get("display_name") or ""),
            note=str(data.get("note") or ""),
            bot=bool(data.get("bot", False)),
            locked=bool(data.get("locked", False)),
            default_language=data.get("default_language"),
            # The profile URL an account claims: a remote server sets it to anything (tests of who is who).
            url=str(data["url"]) if data.get("url") else None,
        )
    except (KeyError, ValueError) as error:
        raise ApiError(400, f"cannot create account: {error}") from error
    token = inst.issue_token(account, str(data.get("application") or "campaign-scheduler tests"))
    return Response.json(200, {"account": entities.account_json(inst, account, credentials=True), "token": token.value})


@control.add("POST", r"/_test/tokens")
def issue_token(inst: Instance, req: Request) -> Response:
    data = _json_body(req)
    token = inst.issue_token(_control_account(inst, data), str(data.get("application") or "campaign-scheduler tests"))
    return Response.json(200, {"token": token.value})


@control.add("POST", r"/_test/tokens/(?P<action>revoke|delete)")
def change_token(inst: Instance, req: Request) -> Response:
    assert req.match
    data = _json_body(req)
    done = (inst.revoke_token if req.match["action"] == "revoke" else inst.delete_token)(str(data.get("token")))
    if not done:
        raise ApiError(404, "no such token")
    return Response.json(200, {"ok": True})


@control.add("GET", r"/_test/clock")
def get_clock(inst: Instance, req: Request) -> Response:
    return Response.json(200, {"now": inst.now().isoformat(), "time": inst.clock.time()})


@control.add("POST", r"/_test/clock")
def set_clock(inst: Instance, req: Request) -> Response:
    data = _json_body(req)
    if "advance" in data:
        inst.clock.advance(float(data["advance"]))
    elif "set" in data:
        inst.clock.set(parse_time(str(data["set"])))
    elif data.get("reset"):
        inst.clock.reset()
    else:
        raise ApiError(400, 'give {"advance": seconds}, {"set": iso8601} or {"reset": true}')
    inst.publish_due_scheduled()
    return Response.json(200, {"now": inst.now().isoformat(), "time": inst.clock.time()})


@control.add("POST", r"/_test/faults")
def add_fault(inst: Instance, req: Request) -> Response:
    try:
        rule = inst.faults.add(_json_body(req))
    except (TypeError, ValueError) as error:
        raise ApiError(400, str(error)) from error
    return Response.json(200, rule.to_json())


@control.add("GET", r"/_test/faults")
def list_faults(inst: Instance, req: Request) -> Response:
    return Response.json(200, inst.faults.pending())


@control.add("DELETE", r"/_test/faults")
def clear_faults(inst: Instance, req: Request) -> Response:
    inst.faults.clear()
    return Response.json(200, {"ok": True})


@control.add("GET", r"/_test/late_writes")
def late_writes(inst: Instance, req: Request) -> Response:
    return Response.json(200, {"pending": inst.late_writes})


@control.add("POST", r"/_test/statuses")
def post_as(inst: Instance, req: Request) -> Response:
    """Post as any local account without a token or rate limits; `created_at` in the past backdates it
    (its id then encodes that time)."""
    data = _json_body(req)
    account = _control_account(inst, data)
    params = {
        key: data.get(key)
        for key in (
            "status",
            "spoiler_text",
            "visibility",
            "language",
            "sensitive",
            "in_reply_to_id",
            "media_ids",
            "quoted_status_id",
            "quote_approval_policy",
            "scheduled_at",
        )
    }
    created_at = parse_time(str(data["created_at"])) if data.get("created_at") else None
    result = inst.post_status(
        account,
        params,
        idempotency_key=data.get("idempotency_key"),
        application=data.get("application"),
        with_rate_limit=False,
        created_at=created_at,
    )
    if isinstance(result, ScheduledStatus):
        return Response.json(200, entities.scheduled_json(inst, result))
    return Response.json(200, entities.status_json(inst, result, Viewer(account)))


@control.add("POST", r"/_test/ratelimit")
def set_rate_count(inst: Instance, req: Request) -> Response:
    """Pretend requests were already counted in the current window: {"throttle": "statuses",
    "username": "alice", "count": 299}. Per-token throttles take "token", per-IP ones "ip"."""
    data = _json_body(req)
    throttle = str(data["throttle"])
    if data.get("token"):
        token = inst.tokens.get(str(data["token"]))
        if token is None:
            raise ApiError(404, "no such token")
        discriminator = str(token.id)
    elif data.get("ip"):
        discriminator = str(data["ip"])
    else:
        discriminator = str(_control_account(inst, data).id)
    inst.set_throttle_count(throttle, discriminator, int(data["count"]))
    return Response.json(200, {"ok": True})


@control.add("GET", r"/_test/statuses")
def dump_statuses(inst: Instance, req: Request) -> Response:
    """Every status the server holds, deleted ones included, oldest first: for exactly-once assertions."""
    username = req.param("username")
    rows = []
    for status in sorted(inst.statuses.values(), key=lambda s: s.id):
        account = inst.accounts[status.account_id]
        if username and account.acct.lower() != username.lower():
            continue
        if not truthy(req.param("include_deleted")) and status.deleted:
            continue
        rows.append(
            {
                "id": str(status.id),
                "uri": status.uri,
                "url": status.url,
                "acct": account.acct,
                "text": status.text,
                "spoiler_text": status.spoiler_text,
                "visibility": status.visibility,
                "language": status.language,
                "created_at": status.created_at.isoformat(),
                "deleted": status.deleted,
                "local": status.local,
                "idempotency_key": status.idempotency_key,
                "in_reply_to_id": str(status.in_reply_to_id) if status.in_reply_to_id else None,
                "media_ids": [str(m) for m in status.media_ids],
                "tags": list(status.tag_names),
                **inst.counts(status),
            }
        )
    return Response.json(200, rows)


@control.add("POST", r"/_test/statuses/" + ID + r"/engagement")
def add_engagement(inst: Instance, req: Request) -> Response:
    """Likes, boosts, replies and quotes by other accounts (made up as needed, or the named ones)."""
    assert req.match
    data = _json_body(req)
    status = inst.statuses.get(int(req.match["id"]))
    if status is None or status.deleted:
        raise ApiError(404, "no such status")

    def people(count: int) -> list[Account]:
        named = [inst.account_by_acct(name) for name in data.get("by", [])]
        chosen = [a for a in named if a is not None and a.id != status.account_id]
        while len(chosen) < count:
            chosen.append(inst.helper_account())
        return chosen[:count]

    for account in people(int(data.get("favourites", 0))):
        inst.favourite(account, status)
    for account in people(int(data.get("reblogs", 0))):
        inst.reblog(account, status)
    replies = data.get("replies", 0)
    reply_texts = [f"Reply {i + 1}" for i in range(replies)] if isinstance(replies, int) else list(replies)
    for account, reply_text in zip(people(len(reply_texts)), reply_texts, strict=True):
        inst.post_status(account, {"status": reply_text, "in_reply_to_id": str(status.id)}, with_rate_limit=False)
    quote_texts = data.get("quotes", 0)
    quote_texts = [f"Quote {i + 1}" for i in range(quote_texts)] if isinstance(quote_texts, int) else quote_texts
    for account, quote_text in zip(people(len(quote_texts)), quote_texts, strict=True):
        inst.post_status(account, {"status": quote_text, "quoted_status_id": str(status.id)}, with_rate_limit=False)
    return Response.json(200, entities.status_json(inst, status, Viewer()))


@control.add("POST", r"/_test/media/finish")
def finish_media(inst: Instance, req: Request) -> Response:
    return Response.json(200, {"finished": inst.finish_media()})


@control.add("POST", r"/_test/peers")
def add_peer(inst: Instance, req: Request) -> Response:
    peer = str(_json_body(req)["base_url"]).rstrip("/")
    if peer not in inst.peers and peer != inst.base_url:
        inst.peers.append(peer)
    return Response.json(200, list(inst.peers))


@control.add("POST", r"/_test/federate")
def federate(inst: Instance, req: Request) -> Response:
    data = _json_body(req)
    status = inst.statuses.get(int(data["status_id"]))
    if status is None:
        raise ApiError(404, "no such status")
    inst.federate_now(status, data.get("peers"))
    return Response.json(200, {"queued": True})


@control.add("POST", r"/_test/inbox")
def inbox(inst: Instance, req: Request) -> Response:
    status = inst.receive(_json_body(req))
    return Response.json(200, {"id": str(status.id) if status else None})


@control.add("GET", r"/_test/outbox")
def outbox(inst: Instance, req: Request) -> Response:
    server = getattr(inst, "http_server", None)
    in_flight = server.deliveries_in_flight if server else 0
    return Response.json(200, {"pending": len(inst.outbox) + in_flight})


@control.add("GET", r"/_test/requests")
def request_log(inst: Instance, req: Request) -> Response:
    rows = list(inst.request_log)
    if req.param("path"):
        rows = [r for r in rows if r["path"] == req.param("path")]
    if req.param("method"):
        rows = [r for r in rows if r["method"] == req.param("method")]
    return Response.json(200, rows)


# ---------------------------------------------------------------------------------------------- HTTP plumbing


class MastodonRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; do not wait 40 ms between them
    server_version = "Mastodon"
    sys_version = ""
    server: MastodonHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("MASTODON_TEST_SERVER_VERBOSE"):
            super().log_message(format, *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.server.instance.clock.time() if timestamp is None else timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- request handling

    def _read_request(self, method: str) -> Request:
        parts = urlsplit(self.path)
        path = parts.path
        if len(path) > 1:
            path = path.rstrip("/")  # Rails routes ignore a trailing slash (Mastodon.py asks for /instance/)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for key, value in query_pairs:
            query.setdefault(key, []).append(value)
        params = _rails_params(query_pairs)
        files: dict[str, bytes] = {}
        content_type = self.headers.get("Content-Type") or ""
        if body and content_type.startswith("application/json"):
            loaded = json.loads(body or b"{}")
            if isinstance(loaded, dict):
                params.update(loaded)
        elif body and content_type.startswith("multipart/form-data"):
            fields, files = _parse_multipart(content_type, body)
            params.update(fields)
        elif body:
            params.update(_rails_params(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
        token, problem = self.server.instance.token_for(self.headers.get("Authorization"))
        viewer = Viewer()
        if token is not None and problem is None:
            viewer = Viewer(self.server.instance.accounts.get(token.account_id), token)
        return Request(method, path, query, self.headers, body, params, files, viewer, problem)

    def _handle(self, method: str) -> None:
        inst = self.server.instance
        try:
            req = self._read_request(method)
        except (ValueError, json.JSONDecodeError) as error:
            self._send(Response.json(400, {"error": f"Could not parse the request: {error}"}))
            return
        if req.path.startswith("/_test"):
            self._send(self._dispatch_control(req))
            return
        if req.path.startswith("/system/media_attachments/"):
            self._send(self._media_file(req))
            return

        fault = inst.faults.take(method, req.path)
        if fault is not None and fault.action == "delay":
            time.sleep(fault.delay)
        if fault is not None and fault.action == "drop_before":
            self._log(req, None, fault.action)
            self._drop()
            return
        if fault is not None and fault.action == "error":
            response = self._fault_response(fault.status, fault.body, fault.retry_after)
            self._log(req, response.status, fault.action)
            self._send(response)
            return
        if fault is not None and fault.action == "write_late":
            late = self._write_late(req, fault.delay)
            if late is None:  # nothing of it may reach the data (or the request log) of the next test
                self._drop()
            else:
                self._log(req, late.status, fault.action)
                self._send(late)
            return

        inst.publish_due_scheduled()
        response = self._dispatch_api(req)
        self._log(req, response.status, fault.action if fault else None)

        if fault is not None and fault.action == "drop_after":
            self._drop()
            return
        if fault is not None and fault.action == "delay_after":
            time.sleep(fault.delay)
        if fault is not None and fault.action == "error_after":
            response = self._fault_response(fault.status, fault.body, fault.retry_after)
        self._send(response)

    def _dispatch_api(self, req: Request) -> Response:
        inst = self.server.instance
        with inst.lock:
            token = inst.tokens.get((req.headers.get("Authorization") or "").partition(" ")[2].strip())
            states, exceeded = inst.throttle(
                method=req.method, path=req.path, query=req.query, token=token, client_ip=self.client_address[0]
            )
            if exceeded is not None:
                return Response.json(429, {"error": "Too many requests"}, exceeded.headers(remaining=0))
            rate_headers: dict[str, str] = {}
            if states:
                most_limited = min(states, key=lambda s: s.limit - s.count)
                rate_headers = most_limited.headers()
            base_headers = {
                "Cache-Control": "private, no-store",
                "Vary": "Authorization, Origin",
                "X-Request-Id": str(uuid.uuid4()),
                **rate_headers,
            }
            found = api.find(req.method, req.path)
            try:
                if found is None:
                    raise ApiError(404, "Not Found")
                handler, match, needs_auth = found
                req.match = match
                if needs_auth and req.viewer.account is None:
                    problem = req.token_problem or "The access token is invalid"
                    raise ApiError(
                        401,
                        problem,
                        headers={
                            "WWW-Authenticate": f'Bearer realm="Doorkeeper", error="invalid_token", '
                            f'error_description="{problem}"'
                        },
                    )
                response = handler(inst, req)
            except ApiError as error:
                response = Response.json(error.status, {"error": error.message}, error.headers)
            if req.method == "POST" and req.path == "/api/v1/statuses" and req.viewer.account is not None:
                # override_rate_limit_headers :create, family: :statuses
                family = inst.statuses_family(req.viewer.account).headers()
                current = response.headers.get("X-RateLimit-Remaining", rate_headers.get("X-RateLimit-Remaining"))
                if current is None or int(family["X-RateLimit-Remaining"]) <= int(current):
                    response.headers.update(family)
            for key, value in base_headers.items():
                response.headers.setdefault(key, value)
            return response

    def _write_late(self, req: Request, delay: float) -> Response | None:
        """PostStatusService before Mastodon locked the key (see faults.py): the Idempotency-Key is looked up
        now, the status is written `delay` seconds later, and nothing holds the key in between. None: the
        server was reset meanwhile, so the write is dropped rather than landing in the next test's data."""
        inst = self.server.instance
        account = req.viewer.account
        key = req.headers.get("Idempotency-Key") or None
        with inst.lock:
            generation = inst.generation
            try:
                remembered = account is not None and key is not None and inst.idempotent_answer(account, key)
            except ApiError:
                remembered = True  # the original is gone: the normal path answers its 404
            if not remembered:
                inst.late_writes += 1
        if remembered or account is None:
            inst.publish_due_scheduled()
            return self._dispatch_api(req)
        try:
            time.sleep(delay)
            with inst.lock:
                if inst.generation != generation:
                    return None
                req.idempotency_checked = True
                return self._dispatch_api(req)
        finally:
            with inst.lock:
                inst.late_writes -= 1

    def _dispatch_control(self, req: Request) -> Response:
        inst = self.server.instance
        found = control.find(req.method, req.path)
        if found is None:
            return Response.json(404, {"error": f"no control route {req.method} {req.path}"})
        handler, match, _ = found
        req.match = match
        try:
            with inst.lock:
                return handler(inst, req)
        except ApiError as error:
            return Response.json(error.status, {"error": error.message})
        except (KeyError, TypeError, ValueError) as error:
            return Response.json(400, {"error": f"{type(error).__name__}: {error}"})

    def _media_file(self, req: Request) -> Response:
        inst = self.server.instance
        with inst.lock:
            for media in inst.media.values():
                if media.file_key in req.path:
                    if "/thumbnails/" in req.path:
                        return Response(200, media.thumbnail or b"", "image/jpeg")
                    return Response(200, media.data, media.facts.mime)
        return Response(404, b"Not Found", "text/plain")

    def _fault_response(self, status: int, body: str | None, retry_after: int | None) -> Response:
        default_body, content_type = _DEFAULT_ERROR_BODIES.get(status, ('{"error":"Injected failure"}', JSON_TYPE))
        response = Response(status, (body if body is not None else default_body).encode(), content_type)
        if status == 429:
            now = self.server.instance.clock.time()
            wait = retry_after if retry_after is not None else 300
            from .ratelimit import reset_header

            response.headers.update(
                {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset_header(now, max(1, wait)),
                }
            )
            if retry_after is not None:
                # exactly `retry_after` seconds from now, not the end of an aligned window
                from datetime import UTC, datetime

                moment = datetime.fromtimestamp(now + retry_after, tz=UTC)
                response.headers["X-RateLimit-Reset"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return response

    def _log(self, req: Request, status: int | None, fault: str | None) -> None:
        inst = self.server.instance
        with inst.lock:
            inst.request_log.append(
                {
                    "time": inst.clock.time(),
                    "method": req.method,
                    "path": req.path,
                    "query": {k: v for k, v in req.query.items()},
                    "status": status,
                    "account": req.viewer.account.acct if req.viewer.account else None,
                    "idempotency_key": req.headers.get("Idempotency-Key"),
                    "fault": fault,
                }
            )

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status, STATUS_TEXT.get(response.status))
            self.send_header("Content-Type", response.content_type)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except Exception:  # keep the server alive and say what broke
            traceback.print_exc()
            with contextlib.suppress(OSError):
                self._send(Response.json(500, {"error": "test server bug: see its stderr"}))
            self.close_connection = True


class MastodonHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, instance: Instance, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), MastodonRequestHandler)
        self.instance = instance
        self.deliveries_in_flight = 0
        instance.base_url = f"http://{host}:{self.server_address[1]}"
        instance.http_server = self  # type: ignore[attr-defined]


class MastodonTestServer:
    """One test instance: the HTTP server plus its background workers (scheduled statuses, federation
    deliveries). Use as a context manager or call start()/stop()."""

    def __init__(self, config: ServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.instance = Instance(config or ServerConfig())
        self.http = MastodonHTTPServer(self.instance, host, port)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return self.instance.base_url

    def start(self) -> MastodonTestServer:
        for target, name in (
            (lambda: self.http.serve_forever(poll_interval=0.1), "http"),
            (self._tick, "scheduler"),
            (self._deliver, "federation"),
        ):
            thread = threading.Thread(target=target, name=f"mastodon-test-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.instance.lock:
            self.instance.outbox_ready.notify_all()
        self.http.shutdown()
        self.http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> MastodonTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        while not self._stopping.wait(0.2):
            try:
                self.instance.publish_due_scheduled()
            except Exception:
                traceback.print_exc()

    def _deliver(self) -> None:
        inst = self.instance
        while not self._stopping.is_set():
            with inst.lock:
                while not inst.outbox and not self._stopping.is_set():
                    inst.outbox_ready.wait(timeout=0.2)
                if self._stopping.is_set():
                    return
                peer, payload = inst.outbox.popleft()
                self.http.deliveries_in_flight += 1
                delay = inst.config.federation_delay_seconds
            try:
                if delay:
                    time.sleep(delay)
                _post_json(f"{peer}/_test/inbox", payload)
            except OSError as error:
                log.warning("delivery to %s failed: %s", peer, error)
            finally:
                with inst.lock:
                    self.http.deliveries_in_flight -= 1


def _post_json(url: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                answer.read()
            return
        except OSError:
            if attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))


__all__ = ["MastodonHTTPServer", "MastodonTestServer"]
