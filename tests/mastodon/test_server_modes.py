"""The server as a process of its own (what the fixtures use) and as a thread; clients in other processes;
reset between tests; and every kind of answer checked against the OpenAPI schema."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.mastodon.helpers import jpeg_bytes, raw
from tests.mastodon_server import (
    MastodonControl,
    MastodonServerProcess,
    MastodonTestServer,
    ServerConfig,
    TestAccount,
    openapi,
)
from tests.mastodon_server.process import REPO_ROOT

pytestmark = pytest.mark.integration


def test_subprocess_server_starts_on_loopback_and_stops_by_pid() -> None:
    server = MastodonServerProcess({"max_characters": 300})
    control = server.start()
    pid = server.pid
    try:
        assert control.base_url.startswith("http://127.0.0.1:")
        assert control.health()["pid"] == pid != os.getpid()
        assert control.config()["max_characters"] == 300
    finally:
        server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_thread_server_serves_the_same_api() -> None:
    with MastodonTestServer(ServerConfig(max_characters=50)) as server:
        control = MastodonControl(server.base_url)
        account = control.create_account("threaded")
        status = account.client().status_post("hello from a thread")
        assert control.statuses()[0]["id"] == status.id
        assert account.client().instance_v2().configuration.statuses.max_characters == 50


def test_a_client_in_another_process_sees_state_and_faults(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.inject_fault("/api/v1/statuses", "drop_after", method="POST")
    script = textwrap.dedent(f"""
        from mastodon import Mastodon, MastodonNetworkError
        client = Mastodon(access_token={mastodon_account.token!r}, api_base_url={mastodon.base_url!r},
                          ratelimit_method="throw", request_timeout=5)
        try:
            client.status_post("from a worker process", idempotency_key="w-1")
        except MastodonNetworkError:
            print("network error")
        print(client.status_post("from a worker process", idempotency_key="w-1").id)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=True
    )
    lines = done.stdout.split()
    stored = mastodon.statuses("campaign")
    assert lines[:2] == ["network", "error"] and lines[2] == stored[0]["id"] and len(stored) == 1


def test_reset_forgets_everything(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    mastodon_account.client().status_post("before reset")
    mastodon.configure(max_characters=10)
    mastodon.advance_clock(86400)
    mastodon.inject_fault("/api/v2/instance", "error")
    mastodon.reset()
    assert mastodon.statuses() == [] and mastodon.pending_faults() == []
    assert mastodon.config()["max_characters"] == 500
    assert abs(mastodon.now().timestamp() - time.time()) < 5
    answer = raw("GET", f"{mastodon.base_url}/api/v1/accounts/verify_credentials", mastodon_account.token)
    assert answer.status_code == 401


def test_live_answers_conform_to_the_openapi_schema(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    try:
        openapi.load_document()
    except openapi.SchemaUnavailable as error:
        pytest.skip(str(error))
    mastodon.configure(image_processing_polls=1)
    base, token = mastodon.base_url, mastodon_account.token
    mastodon.create_account("friend")
    post = raw(
        "POST",
        f"{base}/api/v1/statuses",
        token,
        data={"status": "Hello #ItsNotOK @friend https://example.org/x", "spoiler_text": "CW", "language": "en"},
    ).json()
    reply = raw(
        "POST",
        f"{base}/api/v1/statuses",
        token,
        json={"status": "second", "in_reply_to_id": post["id"], "visibility": "unlisted"},
    ).json()
    media = raw(
        "POST",
        f"{base}/api/v2/media",
        token,
        files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
        data={"description": "alt", "focus": "0.5,-0.5"},
    ).json()
    mastodon.add_engagement(post["id"], favourites=1, replies=1, quotes=1)
    requests_to_check = [
        ("GET", f"/api/v1/statuses/{post['id']}", None),
        ("GET", f"/api/v1/statuses/{post['id']}/context", None),
        ("GET", f"/api/v1/statuses?id[]={post['id']}&id[]={reply['id']}", None),
        ("GET", f"/api/v1/media/{media['id']}", None),
        ("PUT", f"/api/v1/media/{media['id']}", {"description": "new alt"}),
        ("POST", "/api/v1/statuses", {"status": "scheduled", "scheduled_at": "2099-01-01T00:00:00Z"}),
        ("GET", "/api/v1/scheduled_statuses", None),
        ("GET", "/api/v1/timelines/tag/itsnotok", None),
        ("GET", "/api/v1/timelines/public", None),
        ("GET", "/api/v1/timelines/home", None),
        ("GET", f"/api/v1/accounts/{mastodon_account.id}", None),
        ("GET", f"/api/v1/accounts/{mastodon_account.id}/statuses?exclude_replies=true", None),
        ("GET", "/api/v1/accounts/lookup?acct=friend", None),
        ("GET", "/api/v1/accounts/verify_credentials", None),
        ("GET", "/api/v1/tags/ItsNotOK", None),
        ("GET", "/api/v2/instance", None),
        ("GET", "/api/v1/instance", None),
        ("POST", f"/api/v1/statuses/{post['id']}/favourite", None),
        ("POST", "/api/v1/statuses", {"status": ""}),
        ("GET", "/api/v1/statuses/1", None),
        ("DELETE", f"/api/v1/statuses/{reply['id']}", None),
    ]
    problems: list[str] = []
    for method, path, data in requests_to_check:
        answer = raw(method, f"{base}{path}", token, data=data)
        assert answer.status_code < 500, (method, path, answer.text)
        component = openapi.component_for(method, path, answer.status_code, answer.json())
        assert component is not None, (method, path)
        problems.extend(openapi.validate_answer(method, path, answer.status_code, answer.json()))
    assert not problems, "\n".join(problems)
