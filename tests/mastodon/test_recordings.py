"""Is the test server faithful to a real Mastodon? Mastodon.py's own recordings of a Mastodon 4.7.3 are
replayed against it: status codes, the headers that matter (rate limits, Link, content type, cache,
deprecation, WWW-Authenticate), the JSON shape (keys, order, types) and the values that do not depend on
who recorded them must match, except for the documented deliberate differences. Every answer must also
conform to the OpenAPI description of the Mastodon API.

The recordings come from the Mastodon.py sdist on PyPI (downloaded once into tests/.cache/); without PyPI
these tests skip on a developer's machine and fail under CI (CI=true), where a missing download must not
pass silently. The OpenAPI schema is vendored (tests/mastodon_server/schema/): it is never missing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import NoReturn

import pytest

from tests.mastodon_server import MastodonControl, openapi
from tests.mastodon_server.differences import ALLOWED_DIFFERENCES, OTHER_DELIBERATE_DIFFERENCES
from tests.mastodon_server.recordings import (
    CACHE_DIR,
    RecordingsUnavailable,
    ensure_cassettes,
    load_cassette,
)
from tests.mastodon_server.replay import CassetteReplay, Difference, Exchange

pytestmark = pytest.mark.integration

# Every recording of an endpoint our adapter uses (and a few neighbours that show shapes and errors). None of
# the 216 recordings sends an Idempotency-Key or gets a 429: those paths are checked against Mastodon's source
# in tests/mastodon/ and tests/mastodon_adapter/test_settle.py, not against a recording.
CASSETTES = [
    *(
        f"test_status_post[{cw}-{visibility}]"
        for cw in ("None", "Content warning")
        for visibility in ("None", "public", "unlisted", "private", "direct")
    ),
    "test_toot",
    "test_status",
    "test_status_missing",
    "test_status_empty",
    "test_lang_for_errors",
    "test_status_context",
    "test_status_reply",
    "test_status_post_with_quote",
    "test_status_fav_unfav",
    "test_media_post[True]",
    "test_media_post[False]",
    "test_media_update",
    "test_status_delete_media",
    "test_hashtag_tl",
    "test_instance",
    "test_instance_v1",
    "test_verify_credentials",
    "test_account_statuses_exclude_direct",
    "test_scheduled_status",
    "test_home_tl_anonymous_throws",
    "test_unauthed_home_tl_throws",
    # refusals and anonymous reads: a lookup of no one (404), a timeline of a link that is not trending (404),
    # the public timeline read without a token (cached publicly) and with one, local and remote together
    "test_account_lookup",
    "test_timeline_link_fails",
    "test_public_tl_anonymous",
    "test_public_tl",
    "test_timeline_disabled",
    "test_home_tl",
    # paging through an account's statuses (how the adapter looks for an earlier attempt's status) and
    # timelines by max_id, min_id and since_id
    "test_fetch_next_previous",
    "test_fetch_next_previous_after_persist",
    "test_fetch_next_previous_from_pagination_info",
    "test_get_pagination_info",
    "test_fetch_remaining",
    "test_pagination_iterator",
    "test_min_max_id",
    "test_min_max_id_datetimes",
    # replies, several images with focal points, an account by id, the instance's version
    "test_id_hook_in_reply_to",
    "test_status_reply_with_quote",
    "test_media_post_multiple",
    "test_media_post_file",
    "test_account",
    "test_verify_version",
]

REPORT_PATH = CACHE_DIR.parent / "mastodon_faithfulness.json"
_results: dict[str, list[Exchange]] = {}


def _unavailable(message: str) -> NoReturn:
    """Fail under CI (CI=true: a missing setup step must not pass silently), skip on a developer's machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def cassette_dir() -> Path:
    try:
        return ensure_cassettes()
    except RecordingsUnavailable as error:
        _unavailable(f"Mastodon.py's recordings are not available: {error}")


def _replay(control: MastodonControl, cassette_dir: Path, name: str) -> list[Exchange]:
    if name not in _results:
        # media processing as in the recording: the video needed exactly one poll
        _results[name] = CassetteReplay(control, name, load_cassette(cassette_dir, name)).run()
    return _results[name]


def _split(exchanges: list[Exchange]) -> tuple[list[Difference], list[Difference]]:
    allowed, unexpected = [], []
    for exchange in exchanges:
        for difference in exchange.differences:
            (allowed if any(rule.matches(difference) for rule in ALLOWED_DIFFERENCES) else unexpected).append(
                difference
            )
    return allowed, unexpected


@pytest.mark.parametrize("name", CASSETTES)
def test_answers_match_the_recording(name: str, cassette_dir: Path, mastodon: MastodonControl) -> None:
    exchanges = _replay(mastodon, cassette_dir, name)
    assert exchanges, f"{name} has no request to our kind of server"
    _, unexpected = _split(exchanges)
    assert not unexpected, "differences from the real Mastodon 4.7.3:\n" + "\n".join(map(str, unexpected))


@pytest.mark.parametrize("name", CASSETTES)
def test_answers_conform_to_the_openapi_schema(name: str, cassette_dir: Path, mastodon: MastodonControl) -> None:
    problems: list[str] = []
    checked = 0
    for exchange in _replay(mastodon, cassette_dir, name):
        item = exchange.interaction
        answer = openapi.validate_answer(
            item.method, exchange.response.request.path_url, exchange.response.status_code, exchange.our_json
        )
        checked += (
            openapi.component_for(
                item.method, exchange.response.request.path_url, exchange.response.status_code, exchange.our_json
            )
            is not None
        )
        problems.extend(answer)
    assert checked, f"no answer of {name} has a schema to check"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", CASSETTES)
def test_the_real_answers_conform_to_the_patched_schema(name: str, cassette_dir: Path) -> None:
    """The schema patches are right: the recorded answers of the real server pass the same validation."""
    problems: list[str] = []
    for item in load_cassette(cassette_dir, name):
        if not item.uri.startswith("http://localhost:3000"):
            continue
        try:
            body = json.loads(item.response_body or b"null")
        except ValueError:
            continue
        problems.extend(openapi.validate_answer(item.method, item.path, item.status, body))
    assert not problems, "\n".join(problems)


def test_every_allowed_difference_is_still_needed_and_report(cassette_dir: Path, mastodon: MastodonControl) -> None:
    """Runs after the replays above (same module): no stale allow-list entry; writes a report."""
    for name in CASSETTES:
        _replay(mastodon, cassette_dir, name)
    allowed: list[Difference] = []
    unexpected: list[Difference] = []
    for name in CASSETTES:
        more_allowed, more_unexpected = _split(_results[name])
        allowed.extend(more_allowed)
        unexpected.extend(more_unexpected)
    used = Counter(
        index for difference in allowed for index, rule in enumerate(ALLOWED_DIFFERENCES) if rule.matches(difference)
    )
    stale = [rule for index, rule in enumerate(ALLOWED_DIFFERENCES) if not used[index]]
    exchanges = sum(len(_results[name]) for name in CASSETTES)
    report = {
        "cassettes": len(CASSETTES),
        "requests_replayed": exchanges,
        "unexpected_differences": [str(d) for d in unexpected],
        "allowed_differences": [
            {
                "rule": f"{rule.kind} at {rule.where} ({rule.cassette}, {rule.request})",
                "reason": rule.reason,
                "occurrences": used[index],
            }
            for index, rule in enumerate(ALLOWED_DIFFERENCES)
        ],
        "other_deliberate_differences": OTHER_DELIBERATE_DIFFERENCES,
    }
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(
        f"\nMastodon faithfulness: {exchanges} recorded requests from {len(CASSETTES)} cassettes replayed; "
        f"{len(allowed)} allowed differences of {len(ALLOWED_DIFFERENCES)} kinds; report: {REPORT_PATH}"
    )
    assert not stale, "allow-list entries that match nothing any more:\n" + "\n".join(map(str, stale))
