"""Validate JSON against the community OpenAPI description of the Mastodon API (components.schemas of
schema/schema.json beside this file, vendored: see schema/README.md for its source and licence), with its
known defects patched in a copy in memory. Each patch says why; none relaxes a rule the recordings of a real
Mastodon 4.7.3 obey.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "schema.json"
_DOCUMENT_URI = "urn:mastodon-openapi"


class SchemaUnavailable(RuntimeError):
    """No longer raised: the schema is part of the repository, so a missing file is an error (FileNotFoundError),
    never a reason to skip. Kept while callers still name it in an `except` clause."""


def _nullable(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        kind.append("null")
    if "$ref" in schema and "type" not in schema:
        ref = schema.pop("$ref")
        schema["oneOf"] = [{"$ref": ref}, {"type": "null"}]
    elif "$ref" in schema:
        # "type": ["string", "null"] next to a $ref to a string enum: the $ref must allow null too
        ref = schema.pop("$ref")
        schema["anyOf"] = [{"$ref": ref}, {"type": "null"}]


def _patch_default_null(document: dict[str, Any]) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("default") == "null" and node.get("type") in ("integer", "number"):
                del node["default"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


def _patch_idempotency_header(document: dict[str, Any]) -> None:
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "Idempotency-Key":
                    parameter["schema"]["type"] = "string"


def _patch_scheduled_params(document: dict[str, Any]) -> None:
    params = document["components"]["schemas"]["ScheduledStatus"]["properties"]["params"]
    for name, schema in params["properties"].items():
        _nullable(schema)
        if name == "sensitive":
            # stored as the raw form value: Mastodon.py's recording shows "sensitive":"0"
            schema["type"] = ["boolean", "string", "null"]


def _patch_form_encoded_statuses(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/statuses"]["post"]
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content and "application/x-www-form-urlencoded" not in content:
        content["application/x-www-form-urlencoded"] = copy.deepcopy(content["application/json"])


def _patch_quote_one_of(document: dict[str, Any]) -> None:
    quote = document["components"]["schemas"]["Status"]["properties"]["quote"]
    quote["anyOf"] = quote.pop("oneOf")


def _add_deleted_status(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    deleted = copy.deepcopy(schemas["Status"])
    deleted["required"] = [name for name in deleted["required"] if name != "content"] + ["text"]
    deleted["description"] = "Status as DELETE /api/v1/statuses/:id answers it: `text` instead of `content`."
    schemas["DeletedStatus"] = deleted


def _patch_cleared_language(document: dict[str, Any]) -> None:
    source = document["components"]["schemas"]["CredentialAccount"]["properties"]["source"]["properties"]
    source["language"] = {"anyOf": [source["language"], {"const": ""}]}


# (what is wrong in the file, how it is fixed): the four defects its README lists, then four more that
# the recordings of a real Mastodon 4.7.3 (Mastodon.py's cassettes) trip over.
PATCHES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("an integer parameter has default: 'null' (a string): the default is dropped", _patch_default_null),
    ("the Idempotency-Key header is typed object: typed string", _patch_idempotency_header),
    (
        "POST /api/v1/statuses declares only a JSON body: form-urlencoded added with the same schema",
        _patch_form_encoded_statuses,
    ),
    (
        'ScheduledStatus params fields are null when unset and sensitive is the raw form value ("0"): '
        "params fields made nullable, sensitive may be a string",
        _patch_scheduled_params,
    ),
    (
        "Status.quote is oneOf [Quote, ShallowQuote, null], but both object schemas only require `state`, so "
        "every real quote matches two branches: anyOf instead",
        _patch_quote_one_of,
    ),
    (
        "Status requires `content`, but DELETE /api/v1/statuses/:id answers `text` in its place: a "
        "DeletedStatus component for those answers",
        _add_deleted_status,
    ),
    (
        "Instance.contact.email and V1Instance.email are \"\" when unset, which format 'email' rejects: the "
        "email format check accepts the empty string (see format_checker)",
        lambda document: None,
    ),
    (
        'CredentialAccount source.language is "" once a person has saved their preferences without a posting '
        "language (test_account_lookup), which format iso-639-1 rejects: the empty string is allowed there",
        _patch_cleared_language,
    ),
]


@functools.cache
def load_document() -> dict[str, Any]:
    document = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    for _, patch in PATCHES:
        patch(document)
    return document


_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")

format_checker = FormatChecker()


@format_checker.checks("email")
def _is_email_or_unset(value: object) -> bool:
    return not isinstance(value, str) or value == "" or "@" in value


@format_checker.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@format_checker.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path))


@format_checker.checks("iso-639-1")
def _is_language(value: object) -> bool:
    # Mastodon accepts ISO 639-1 and, for languages without one, ISO 639-3 codes (e.g. "ast")
    return not isinstance(value, str) or bool(_LANGUAGE.match(value))


@functools.cache
def _validator(component: str) -> Draft202012Validator:
    document = load_document()
    if component not in document["components"]["schemas"]:
        raise KeyError(f"no components.schemas.{component}")
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(_DOCUMENT_URI, resource)
    schema = {"$ref": f"{_DOCUMENT_URI}#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry, format_checker=format_checker)


def validate(component: str, instance: Any) -> list[str]:
    """Problems of `instance` against components.schemas[component] (empty when it conforms)."""
    validator = _validator(component)
    problems = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{component} at {where}: {error.message[:300]}")
    return problems


def validate_many(component: str, instances: list[Any]) -> list[str]:
    problems: list[str] = []
    for index, item in enumerate(instances):
        problems.extend(f"[{index}] {problem}" for problem in validate(component, item))
    return problems


_STATUS = r"/api/v1/statuses/\d+"


def component_for(method: str, path: str, status: int, body: Any) -> str | None:
    """The components.schemas entry an answer of our server (or Mastodon) should match; "[X]" for a list
    of X; None when the answer has no schema (an empty object, a non-JSON error page)."""
    path = path.split("?", 1)[0].rstrip("/")
    if status >= 400:
        return "Error" if isinstance(body, dict) and "error" in body else None
    table: list[tuple[str, str, str]] = [
        ("POST", r"/api/v1/statuses", "Status"),
        ("GET", r"/api/v1/statuses", "[Status]"),
        ("GET", _STATUS, "Status"),
        ("DELETE", _STATUS, "DeletedStatus"),
        ("GET", _STATUS + r"/context", "Context"),
        ("POST", _STATUS + r"/(un)?favourite", "Status"),
        ("POST", r"/api/v2/media", "MediaAttachment"),
        ("GET", r"/api/v1/media/\d+", "MediaAttachment"),
        ("PUT", r"/api/v1/media/\d+", "MediaAttachment"),
        ("GET", r"/api/v2/instance", "Instance"),
        ("GET", r"/api/v1/instance", "V1Instance"),
        ("GET", r"/api/v1/accounts/verify_credentials", "CredentialAccount"),
        ("GET", r"/api/v1/accounts/lookup", "Account"),
        ("GET", r"/api/v1/accounts/\d+", "Account"),
        ("GET", r"/api/v1/accounts/\d+/statuses", "[Status]"),
        ("GET", r"/api/v1/timelines/.+", "[Status]"),
        ("GET", r"/api/v1/scheduled_statuses", "[ScheduledStatus]"),
        ("GET", r"/api/v1/scheduled_statuses/\d+", "ScheduledStatus"),
        ("PUT", r"/api/v1/scheduled_statuses/\d+", "ScheduledStatus"),
        ("GET", r"/api/v1/tags/[^/]+", "Tag"),
    ]
    for table_method, pattern, component in table:
        if method == table_method and re.fullmatch(pattern, path):
            if component == "Status" and isinstance(body, dict) and "params" in body:
                return "ScheduledStatus"
            return component
    return None


def validate_answer(method: str, path: str, status: int, body: Any) -> list[str]:
    component = component_for(method, path, status, body)
    if component is None:
        return []
    if component.startswith("["):
        if not isinstance(body, list):
            return [f"{method} {path}: expected a list of {component[1:-1]}, got {type(body).__name__}"]
        return [f"{method} {path}: {p}" for p in validate_many(component[1:-1], body)]
    return [f"{method} {path}: {p}" for p in validate(component, body)]
