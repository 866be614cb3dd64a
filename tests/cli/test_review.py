"""A second pair of eyes at the command line: who you are (`campaign --as NAME`, else CAMPAIGN_USER, else your
login name, and it must be a user of the workspace, or the command says what to do); `campaign review` shows what
awaits approval as `calendar show` shows a post; `campaign approve` (by id or a whole file) and `campaign reject`
in your name; `campaign schedule` says which posts need approval again, and why."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from scheduler.db import Store
from scheduler.models import Delivery, Event
from scheduler.review_models import Approval
from tests.support.cli import cli_env, invoke
from tests.support.engine import write_calendar, write_campaign

FUTURE = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
POSTS = [("p1", FUTURE, "The inquiry made 20 recommendations #ActOnIICSA"),
         ("p2", FUTURE.replace(hour=12), "Write to your MP today #ActOnIICSA")]  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    values = cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))
    monkeypatch.delenv("CAMPAIGN_USER", raising=False)
    monkeypatch.setenv("LOGNAME", "alex")  # the login name, as getpass reads it first
    Store(database(values)).dispose()  # the workspace's database (`campaign init` makes it)
    for name, role in (("alex", "editor"), ("sam", "approver"), ("robin", "editor")):
        code, output = invoke("users", "add", name, "--role", role, "--no-password")
        assert code == 0, output
    return values


def database(env: dict[str, str]) -> str:
    return f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}"


def calendar(tmp_path: Path, posts: list[tuple[str, datetime, str]] = POSTS) -> Path:
    folder = write_campaign(tmp_path / "campaigns")
    with (folder / "campaign.yaml").open("a", encoding="utf-8") as handle:
        handle.write("approval: required\n")
    return write_calendar(folder, "cal.yaml", posts)


def verdicts(env: dict[str, str]) -> list[tuple[str, str]]:
    with Store(database(env)).transaction() as session:
        return [(a.actor, a.verdict) for a in session.scalars(select(Approval).order_by(Approval.id))]


def authors(env: dict[str, str]) -> dict[str, str]:
    code, output = invoke("review", "--json")
    assert code == 0, output
    return {item["post_id"]: item["author"] for item in json.loads(output)}


def test_who_you_are_is_as_then_campaign_user_then_your_login_name(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = calendar(tmp_path)
    monkeypatch.setenv("LOGNAME", "robin")
    code, output = invoke("schedule", str(path))
    assert code == 0, output
    assert authors(env) == {"p1": "robin", "p2": "robin"}  # the login name
    monkeypatch.setenv("CAMPAIGN_USER", "alex")
    calendar(tmp_path, [POSTS[0], ("p2", POSTS[1][1], "Write to your MP this week #ActOnIICSA")])
    code, output = invoke("schedule", str(path))
    assert code == 0, output
    assert authors(env) == {"p1": "robin", "p2": "alex"}  # CAMPAIGN_USER over the login name; p1 did not change
    code, output = invoke("--as", "sam", "approve", "p1", "p2")  # --as over both
    assert code == 0, output
    assert verdicts(env) == [("sam", "approved"), ("sam", "approved")]
    with Store(database(env)).transaction() as session:
        said = session.scalars(select(Event).where(Event.action == "approved")).all()
    assert [e.actor for e in said] == ["sam", "sam"] and all("version " in e.reason for e in said)


def test_an_unknown_name_is_refused_with_what_to_do_and_other_commands_keep_working(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = calendar(tmp_path)
    monkeypatch.setenv("LOGNAME", "nobody-here")
    code, output = invoke("schedule", str(path))
    assert code == 1
    assert "need approval by a second person" in output and "Nothing was scheduled" in output
    assert "no user called 'nobody-here'" in output and "`campaign users add nobody-here --role editor`" in output
    assert "Traceback" not in output
    code, output = invoke("--as", "ghost", "approve", "p1")
    assert code == 1 and "You are 'ghost' here (--as)" in output and "campaign --as NAME" in output
    monkeypatch.setenv("CAMPAIGN_USER", "phantom")
    code, output = invoke("reject", "p1", "--reason", "no")
    assert code == 1 and "You are 'phantom' here (CAMPAIGN_USER)" in output
    monkeypatch.delenv("CAMPAIGN_USER")
    code, output = invoke("--as", "alex", "schedule", str(path))
    assert code == 0, output
    code, output = invoke("status")  # a command that needs nobody in particular
    assert code == 0 and "awaiting approval" in output, output
    code, output = invoke("cancel", "p2", "--yes")
    assert code == 0, output
    with Store(database(env)).transaction() as session:
        cancelled = session.scalars(select(Event.actor).where(Event.action == "cancel")).all()
    assert set(cancelled) == {f"nobody-here@{socket.gethostname()}"}  # user@host, as before


def test_review_shows_what_awaits_approval_as_calendar_show_shows_it(env: dict[str, str], tmp_path: Path) -> None:
    path = calendar(tmp_path)
    code, output = invoke("schedule", str(path))
    assert code == 0, output
    assert "awaiting approval: 2 posts (p1, p2); `campaign review` shows them." in output
    assert "campaign approve POST_ID" in output and "campaign serve" in output  # how, at the command line and the web
    code, shown = invoke("calendar", "show", str(path))
    assert code == 0, shown
    code, output = invoke("review")
    assert code == 0, output
    assert output.count("AWAITING APPROVAL") == 2
    assert "scheduled by alex: needs 1 more approval, not from alex, who scheduled it" in " ".join(output.split())
    for line in shown.splitlines():
        if "graphemes" in line or "characters" in line or "#ActOnIICSA" in line:
            assert line.strip() in output  # the same renderer, the same parts
    assert "2 posts awaiting approval." in output
    code, output = invoke("review", "--campaign", "elsewhere")
    assert code == 1 and "no campaign called 'elsewhere'" in output


def test_approve_and_reject_in_your_name(env: dict[str, str], tmp_path: Path) -> None:
    code, output = invoke("schedule", str(calendar(tmp_path)))
    assert code == 0, output
    code, output = invoke("approve", "p1")
    assert code == 1 and "alex is editor: approving and rejecting posts needs the approver role" in output
    invoke("users", "role", "alex", "approver")
    code, output = invoke("approve", "p1")
    assert code == 1 and "You scheduled this version of demo/p1, so someone else must approve it" in output
    code, output = invoke("--as", "sam", "approve", "p1", "nonesuch")
    assert code == 1 and "There is no scheduled post 'nonesuch'" in output
    assert verdicts(env) == []  # all or none
    code, output = invoke("--as", "sam", "approve", "p1", "p2", "--comment", "helplines checked")
    assert code == 0, output
    assert "Approved demo/p1 (version " in output and "it goes out at Mon 01 Feb 2027 09:00 GMT" in output
    code, output = invoke("review")
    assert code == 0 and "Nothing awaits approval." in output
    code, output = invoke("--as", "sam", "reject", "p1")
    assert code == 2 and "--reason" in output
    code, output = invoke("--as", "sam", "reject", "p1", "--reason", "The helpline number is the old one")
    assert code == 0 and "Rejected demo/p1" in output, output
    code, output = invoke("review")
    assert "REJECTED" in output and "rejected by sam: The helpline number is the old one" in " ".join(output.split())
    code, output = invoke("status")
    assert "Awaiting approval" in output and "demo/p1" in output.split("Awaiting approval", 1)[1].split("Upcoming")[0]
    assert verdicts(env) == [("sam", "approved"), ("sam", "approved"), ("sam", "rejected")]


def test_approving_a_file_and_what_schedule_says_of_a_change(env: dict[str, str], tmp_path: Path) -> None:
    path = calendar(tmp_path)
    assert invoke("schedule", str(path))[0] == 0
    code, output = invoke("--as", "sam", "approve", "--file", str(path))
    assert code == 0 and output.count("Approved demo/") == 2, output
    code, output = invoke("--as", "sam", "approve", "--file", str(path))
    assert code == 0 and f"Nothing in {path} awaits approval." in output
    calendar(tmp_path, [("p1", FUTURE, "The inquiry made 20 recommendations: act on them #ActOnIICSA"), POSTS[1]])
    code, output = invoke("schedule", str(path))
    assert code == 0, output
    assert "p1: needs approval again: its text changed (the earlier version was approved by sam)" in output
    assert "awaiting approval: 1 post (p1)" in output
    calendar(tmp_path, [("p1", FUTURE, "The inquiry made 20 recommendations: act on them #ActOnIICSA"),
                        ("p2", FUTURE.replace(hour=13), POSTS[1][2])])  # fmt: skip
    code, output = invoke("--as", "sam", "approve", "--file", str(path))
    assert code == 0, output  # p1 is in the file as scheduled; p2 was approved, and its change is not scheduled
    assert "Approved demo/p1" in output and "demo/p2" not in output
    code, output = invoke("schedule", str(path))
    assert code == 0 and "p2: needs approval again: its time changed" in output
    invoke("users", "role", "alex", "approver")
    code, output = invoke("approve", "--file", str(path))
    assert code == 1 and "Not approved: p2: you scheduled this version, so someone else must approve it." in output
    calendar(tmp_path, [("p1", FUTURE, "Changed again, not scheduled #ActOnIICSA"), POSTS[1]])
    code, output = invoke("--as", "sam", "approve", "--file", str(path))
    assert code == 1 and "p2: it has changed in the file since it was scheduled" in output


def test_post_now_refuses_a_post_that_awaits_approval_and_changes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    assert invoke("schedule", str(calendar(tmp_path)))[0] == 0
    with Store(database(env)).transaction() as session:
        before = sorted((d.id, d.due_at) for d in session.scalars(select(Delivery)))
    code, output = invoke("post-now", "p1", "--platform", "bluesky", "--yes")
    assert code == 1 and "demo/p1 awaits approval (needs 1 more approval" in output, output
    with Store(database(env)).transaction() as session:
        assert sorted((d.id, d.due_at) for d in session.scalars(select(Delivery))) == before
    assert invoke("--as", "sam", "approve", "p1")[0] == 0
    code, output = invoke("post-now", "p1", "--platform", "bluesky", "--yes")
    assert code == 0 and "published" in output, output


def test_review_and_schedule_show_accessibility_findings(env: dict[str, str], tmp_path: Path) -> None:
    path = calendar(tmp_path, [("p1", FUTURE, "Support survivors 🧡💜💚💙 #actoniicsa"), POSTS[1]])
    code, output = invoke("schedule", str(path))
    assert code == 0, output
    assert "#actoniicsa, all in one case" in output and "Write it #ActOnIICSA" in output  # schedule's warnings
    code, output = invoke("review")
    assert code == 0, output
    said = " ".join(output.split())
    assert "The post has #actoniicsa, all in one case" in said and "Write it #ActOnIICSA" in said
    assert "The post has 4 emoji, more than 3" in said and said.count("all in one case") == 1  # once, not per platform
    code, output = invoke("review", "--json")
    findings = {item["post_id"]: [f["code"] for f in item["findings"]] for item in json.loads(output)}
    assert findings == {"p1": ["hashtag-one-case", "too-many-emoji"], "p2": []}
