"""Replay Mastodon.py's recorded requests against a test server and compare the answers with the recorded
ones: status code, the headers that matter, the JSON shape (keys, their order, value types), and the values
that do not depend on who recorded them (content HTML, spoiler_text, visibility, error texts, ...).

Ids differ between the recording and our server: every id our server returns where the recording had one
is remembered, and later requests and comparisons translate recorded ids into ours.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from .control import MastodonControl
from .recordings import RECORDED_BASE_URL, Interaction

# Tokens in the recordings and the accounts they belong to (from their verify_credentials answers).
RECORDED_ACCOUNTS = {
    "__MASTODON_PY_TEST_ACCESS_TOKEN": "mastodonpy_test",
    "__MASTODON_PY_TEST_ACCESS_TOKEN_2": "admin",
    "__MASTODON_PY_TEST_ACCESS_TOKEN_3": "mastodonpy_test_2",
}

# Keys whose values are compared, not only their types (after translating host and ids).
VALUE_KEYS = {
    "content",
    "spoiler_text",
    "visibility",
    "sensitive",
    "text",
    "error",
    "type",
    "description",
    "focus",
    "state",
    "acct",
    "username",
    "name",
    "in_reply_to_id",
    "in_reply_to_account_id",
    "url",
    "uri",
    "max_characters",
    "max_media_attachments",
    "characters_reserved_per_url",
    "scheduled_at",
    "media_ids",
    "replies_count",
    "reblogs_count",
    "favourites_count",
    "quotes_count",
    "favourited",
    "reblogged",
    "ancestors",
    "descendants",
    "quote_approval_policy",
    "version",
    "x",
    "y",
}
ID_KEY = re.compile(r"(^id$|_id$)")
RESET_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@dataclass(frozen=True)
class Difference:
    cassette: str
    request: str  # "POST /api/v1/statuses" (recorded path)
    kind: str  # status | header | key-missing | key-extra | key-order | type | value | list-empty
    where: str  # "body.account.fields" or "header.x-ratelimit-remaining"
    recorded: str
    ours: str

    def __str__(self) -> str:
        return (
            f"{self.cassette}: {self.request}: {self.kind} at {self.where}: recorded {self.recorded}, ours {self.ours}"
        )


@dataclass(frozen=True)
class AllowedDifference:
    kind: str
    where: str  # fnmatch pattern over Difference.where
    reason: str
    cassette: str = "*"
    request: str = "*"

    def matches(self, difference: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(difference.kind, self.kind)
            and fnmatch.fnmatchcase(difference.where, self.where)
            and fnmatch.fnmatchcase(difference.cassette, self.cassette)
            and fnmatch.fnmatchcase(difference.request, self.request)
        )


@dataclass
class Exchange:
    interaction: Interaction
    response: requests.Response
    recorded_json: Any
    our_json: Any
    differences: list[Difference] = field(default_factory=list)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def recorded_time(interactions: list[Interaction]) -> datetime | None:
    """When the recording was made: the earliest Date header or creation time of a status it posted (else of
    any status in its answers: a timeline also shows statuses earlier tests had left, minutes older)."""
    moments: list[datetime] = []
    others: list[datetime] = []
    for item in interactions:
        if item.response_headers.get("date"):
            moments.append(parsedate_to_datetime(item.response_headers["date"]))
        try:
            body = json.loads(item.response_body or b"null")
        except ValueError:
            continue
        posted = item.method == "POST" and item.path.rstrip("/") == "/api/v1/statuses"
        for node in _walk(body):
            if isinstance(node, dict) and "content" in node and "created_at" in node and "uri" in node:
                moment = datetime.fromisoformat(node["created_at"].replace("Z", "+00:00"))
                (moments if posted else others).append(moment)
    moments = moments or others
    if not moments:
        # No clock in the answers: a 5-minute rate-limit window's reset bounds the time from above.
        for item in interactions:
            reset = item.response_headers.get("x-ratelimit-reset")
            if reset and item.response_headers.get("x-ratelimit-limit") == "300":
                reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00")).replace(microsecond=0)
                if reset_at.minute % 5 == 0 and reset_at.second == 0:
                    moments.append(reset_at - timedelta(seconds=299))
    return min(moments) if moments else None


def _walk(node: Any):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


class CassetteReplay:
    def __init__(
        self,
        control: MastodonControl,
        name: str,
        interactions: list[Interaction],
        *,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.control = control
        self.name = name
        self.interactions = interactions
        self.config = config or {}
        self.ids: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.clock_aligned = False
        self.session = requests.Session()

    # -- setup

    def prepare(self) -> None:
        self.control.reset(**self.config)
        started = recorded_time(self.interactions)
        if started is not None:
            # run "at the time of the recording", so rate-limit windows and ids line up with it
            self.control.set_clock(started.astimezone(UTC).replace(microsecond=0))
            self.clock_aligned = True
        for token, username in RECORDED_ACCOUNTS.items():
            account = self.control.create_account(username, application="Mastodon.py test suite")
            self.tokens[token] = account.token
        self._prime_statuses_family()

    def _prime_statuses_family(self) -> None:
        """The recording accounts had already posted in the current 3-hour window: give our accounts the
        same count, so the statuses-family headers can be compared number for number."""
        primed: set[str] = set()
        for item in self.interactions:
            authorization = item.request_headers.get("Authorization", "")
            username = RECORDED_ACCOUNTS.get(authorization.split(" ", 1)[-1])
            reset = item.response_headers.get("x-ratelimit-reset")
            if (
                item.method != "POST"
                or not item.uri.endswith("/api/v1/statuses")
                or username is None
                or username in primed
                or not reset
            ):
                continue
            reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            if reset_at.hour % 3 or reset_at.minute or reset_at.second:
                continue  # not a 3-hour window: another throttle answered, not the statuses family
            body = _json(item.response_body)
            created = item.status == 200 and isinstance(body, dict) and "params" not in body
            count = (
                int(item.response_headers["x-ratelimit-limit"])
                - int(item.response_headers["x-ratelimit-remaining"])
                - (1 if created else 0)
            )
            self.control.set_rate_count("statuses", count, username=username)
            primed.add(username)

    # -- translation of recorded requests

    def _map_id(self, value: str) -> str:
        if value in self.ids or not value.isdigit() or len(value) < 15:
            return self.ids.get(value, value)
        # An id Mastodon.py computed from a known one (test_min_max_id pages around a status with its id
        # plus or minus 1000): the same offset from ours. Within 2^16 is within the same millisecond.
        for recorded, ours in self.ids.items():
            if recorded.isdigit() and ours.isdigit() and abs(int(value) - int(recorded)) < 1 << 16:
                return str(int(ours) + int(value) - int(recorded))
        return value

    def _translate_text(self, text: str) -> str:
        text = text.replace(RECORDED_BASE_URL, self.control.base_url)
        text = text.replace(RECORDED_BASE_URL.split("://", 1)[1], self.control.base_url.split("://", 1)[1])
        for recorded, ours in sorted(self.ids.items(), key=lambda pair: -len(pair[0])):
            if len(recorded) >= 6:
                text = text.replace(recorded, ours)
        return text

    def _url(self, uri: str) -> str:
        parts = urlsplit(uri)
        path = "/".join(self._map_id(segment) for segment in parts.path.split("/"))
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        # Ids, and our host where the recording named its own (`accounts/lookup?acct=user@localhost:3000`).
        query = urlencode([(key, self._translate_text(self._map_id(value))) for key, value in pairs])
        return f"{self.control.base_url}{path}" + (f"?{query}" if query else "")

    def _body(self, item: Interaction) -> bytes | None:
        body = item.request_body
        if not body or not item.request_headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return body
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
        if not any(value in self.ids for _, value in pairs):
            return body
        return urlencode([(key, self._map_id(value)) for key, value in pairs]).encode()

    def _headers(self, item: Interaction) -> dict[str, str]:
        headers = {"User-Agent": "campaign-scheduler replay"}
        for name in ("Content-Type", "Idempotency-Key", "Accept"):
            if name in item.request_headers:
                headers[name] = item.request_headers[name]
        authorization = item.request_headers.get("Authorization")
        if authorization:
            token = authorization.split(" ", 1)[1]
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return headers

    # -- running

    def run(self) -> list[Exchange]:
        self.prepare()
        exchanges = []
        for item in self.interactions:
            if not item.uri.startswith(RECORDED_BASE_URL):
                continue  # requests to other servers (mastodon.social, streaming) are not ours to answer
            response = self.session.request(
                item.method, self._url(item.uri), headers=self._headers(item), data=self._body(item), timeout=15
            )
            exchange = Exchange(item, response, _json(item.response_body), _json(response.content))
            self._learn_ids(exchange.recorded_json, exchange.our_json)
            exchange.differences = self.compare(exchange)
            exchanges.append(exchange)
        return exchanges

    def _learn_ids(self, recorded: Any, ours: Any) -> None:
        if isinstance(recorded, dict) and isinstance(ours, dict):
            for key, value in recorded.items():
                if key in ours and ID_KEY.search(key) and isinstance(value, str) and isinstance(ours[key], str):
                    self.ids.setdefault(value, ours[key])
                elif key in ours:
                    self._learn_ids(value, ours[key])
        elif isinstance(recorded, list) and isinstance(ours, list):
            for left, right in zip(recorded, ours, strict=False):
                self._learn_ids(left, right)

    # -- comparing

    def compare(self, exchange: Exchange) -> list[Difference]:
        item, response = exchange.interaction, exchange.response
        request = f"{item.method} {urlsplit(item.uri).path}"
        found: list[Difference] = []

        def differ(kind: str, where: str, recorded: Any, ours: Any) -> None:
            found.append(Difference(self.name, request, kind, where, _short(recorded), _short(ours)))

        if response.status_code != item.status:
            differ("status", "status", item.status, response.status_code)
        self._compare_headers(item, response, differ)
        if exchange.recorded_json is not None or exchange.our_json is not None:
            self._compare_json(exchange.recorded_json, exchange.our_json, "body", differ)
        return found

    def _compare_headers(self, item: Interaction, response: requests.Response, differ) -> None:
        recorded = item.response_headers
        ours = {key.lower(): value for key, value in response.headers.items()}
        for name in ("content-type", "cache-control", "vary", "deprecation", "www-authenticate"):
            if recorded.get(name) != ours.get(name):
                differ("header", f"header.{name}", recorded.get(name), ours.get(name))
        if "x-ratelimit-limit" in recorded:
            if recorded.get("x-ratelimit-limit") != ours.get("x-ratelimit-limit"):
                differ(
                    "header",
                    "header.x-ratelimit-limit",
                    recorded.get("x-ratelimit-limit"),
                    ours.get("x-ratelimit-limit"),
                )
            remaining = ours.get("x-ratelimit-remaining", "")
            limit = int(ours.get("x-ratelimit-limit") or 0)
            if not remaining.isdigit() or not 0 <= int(remaining) <= limit:
                differ("header", "header.x-ratelimit-remaining", recorded.get("x-ratelimit-remaining"), remaining)
            elif remaining != recorded.get("x-ratelimit-remaining"):
                differ(
                    "ratelimit-count", "header.x-ratelimit-remaining", recorded.get("x-ratelimit-remaining"), remaining
                )
            reset = ours.get("x-ratelimit-reset", "")
            if not RESET_FORMAT.match(reset):
                differ("header", "header.x-ratelimit-reset", recorded.get("x-ratelimit-reset"), reset)
            elif self.clock_aligned and reset[:19] != recorded.get("x-ratelimit-reset", "")[:19]:
                differ("ratelimit-window", "header.x-ratelimit-reset", recorded.get("x-ratelimit-reset"), reset)
        elif any(name.startswith("x-ratelimit") for name in ours):
            differ("header", "header.x-ratelimit-*", None, ours.get("x-ratelimit-limit"))
        self._compare_links(recorded.get("link"), ours.get("link"), differ)

    def _compare_links(self, recorded: str | None, ours: str | None, differ) -> None:
        def parse(value: str | None, translate: bool) -> dict[str, tuple[str, dict[str, str]]]:
            links = {}
            for url, rel in re.findall(r'<([^>]+)>;\s*rel="([^"]+)"', value or ""):
                if translate:
                    url = self._translate_text(url)
                parts = urlsplit(url)
                links[rel] = (parts.path, dict(parse_qsl(parts.query)))
            return links

        left, right = parse(recorded, True), parse(ours, False)
        if (recorded is None) != (ours is None) or left != right:
            differ("header", "header.link", self._translate_text(recorded or "") or None, ours)

    def _compare_json(self, recorded: Any, ours: Any, where: str, differ) -> None:
        if _kind(recorded) != _kind(ours) and {_kind(recorded), _kind(ours)} != {"integer", "number"}:
            differ("type", where, _kind(recorded), _kind(ours))
            return
        if isinstance(recorded, dict):
            missing = [key for key in recorded if key not in ours]
            extra = [key for key in ours if key not in recorded]
            for key in missing:
                differ("key-missing", f"{where}.{key}", recorded[key], None)
            for key in extra:
                differ("key-extra", f"{where}.{key}", None, ours[key])
            common_recorded = [key for key in recorded if key in ours]
            common_ours = [key for key in ours if key in recorded]
            if common_recorded != common_ours:
                differ("key-order", where, common_recorded, common_ours)
            for key in common_recorded:
                child = f"{where}.{key}"
                if key in VALUE_KEYS or (ID_KEY.search(key) and isinstance(recorded[key], str)):
                    self._compare_value(recorded[key], ours[key], child, differ)
                if isinstance(recorded[key], (dict, list)):
                    self._compare_json(recorded[key], ours[key], child, differ)
                elif _kind(recorded[key]) != _kind(ours[key]) and {_kind(recorded[key]), _kind(ours[key])} != {
                    "integer",
                    "number",
                }:
                    differ("type", child, _kind(recorded[key]), _kind(ours[key]))
        elif isinstance(recorded, list):
            if bool(recorded) != bool(ours):
                differ("list-empty", where, f"{len(recorded)} items", f"{len(ours)} items")
            elif len(recorded) != len(ours):
                differ("value", f"{where}.length", len(recorded), len(ours))
            for index, (left, right) in enumerate(zip(recorded, ours, strict=False)):
                self._compare_json(left, right, f"{where}[{index}]" if index else f"{where}[]", differ)

    def _compare_value(self, recorded: Any, ours: Any, where: str, differ) -> None:
        if isinstance(recorded, (dict, list)):
            return  # containers are compared element by element
        expected = self._translate_text(recorded) if isinstance(recorded, str) else recorded
        if where.endswith(".content") and isinstance(expected, str) and isinstance(ours, str):
            # Our host name has another length than localhost:3000, which moves the 30-character cut of
            # shortened links: compare links by their whole text, the spans' structure stays compared.
            expected, ours_compared = _join_link_spans(expected), _join_link_spans(ours)
        else:
            ours_compared = ours
        if expected != ours_compared:
            differ("value", where, expected, ours)


_LINK_SPANS = re.compile(
    r'<span class="invisible">([^<]*)</span><span class="(?:ellipsis)?">([^<]*)</span>'
    r'<span class="invisible">([^<]*)</span>'
)


def _join_link_spans(html: str) -> str:
    return _LINK_SPANS.sub(lambda m: f"<span>{m[1]}{m[2]}{m[3]}</span>", html)


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
