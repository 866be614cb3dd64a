"""The operator's commands as a comms officer uses them: each shows what it will do and asks first (`--yes` skips
the question; without a terminal they refuse rather than guess), `restore` undoes a cancel and never posts late
unasked, `resume` says what the pause held, every refusal exits non-zero, and every --help ends with examples
that really parse. Click's runner for most (it is no terminal), the installed `campaign` under a pseudo-terminal
where a person answers."""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from sqlalchemy import select as sql_select

from cli.main import main
from scheduler.api import Api, UsageRefused
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.models import Delivery, Event, State
from tests.support.cli import cli_env, invoke
from tests.support.engine import write_calendar, write_campaign

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = Path(sys.executable).with_name("campaign")
FUTURE = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
NO_TERMINAL = "Add --yes to do this without a question"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    return cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))


def store(env: dict[str, str]) -> Store:
    return Store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}")


def parts(env: dict[str, str], post_id: str) -> dict[str, Delivery]:
    with store(env).transaction() as session:
        found = session.scalars(sql_select(Delivery).where(Delivery.post_id == post_id)).all()
        return {f"{d.platform}/{d.part}": d for d in found}


def states(env: dict[str, str], post_id: str) -> dict[str, str]:
    return {where: d.state for where, d in parts(env, post_id).items()}


def scheduled(tmp_path: Path, posts: list[tuple[str, datetime, str]]) -> Path:
    calendar = write_calendar(write_campaign(tmp_path / "campaigns"), "cal.yaml", posts)
    code, output = invoke("schedule", str(calendar))
    assert code == 0, output
    return calendar


def missed(env: dict[str, str]) -> None:
    """Let the scheduler's own check find what is past its grace (it posts nothing: past grace is missed)."""
    app = Api.from_settings()
    try:
        result = app.tick(app.inline_executor(worker="test"), actor="test")
        assert result.missed and not result.claimed
    finally:
        app.close()


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r\n", "\n")


def in_terminal(args: list[str], answers: list[tuple[str, str]], cwd: Path) -> tuple[int, str]:
    """Run the installed `campaign` with a pseudo-terminal as its standard input and output, typing each answer
    once its prompt has appeared."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(CAMPAIGN), *args], stdin=follower, stdout=follower, stderr=follower, cwd=cwd, close_fds=True
    )
    os.close(follower)
    output, seen, pending = b"", 0, list(answers)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child has closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and pending[0][0].encode() in output[seen:]:
                seen = len(output)
                os.write(leader, pending.pop(0)[1].encode() + b"\n")
        else:
            raise AssertionError(f"`campaign {' '.join(args)}` did not finish: {output.decode(errors='replace')}")
        assert not pending, f"never asked {pending[0][0]!r}: {output.decode(errors='replace')}"
        return process.wait(timeout=30), plain(output.decode())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)


# --- restore -----------------------------------------------------------------------------------------------


def test_restore_undoes_a_cancel_with_who_and_why_and_schedule_leaves_it_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    calendar = scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA"), ("two", FUTURE, "Bye #ActOnIICSA")])
    code, output = invoke("cancel", "one", "--yes")
    assert code == 0 and "Cancelled one: 2 parts will not be posted." in output
    assert "To undo: campaign restore one" in output
    code, output = invoke("schedule", str(calendar))
    assert set(states(env, "one").values()) == {State.CANCELLED}  # a cancel is sticky through schedule

    code, output = invoke("restore", "one", "--yes", "--reason", "cancelled the wrong post")
    assert code == 0, output
    assert "Restore: post one of demo" in output and "Planned for Mon 01 Feb 2027 09:00 GMT" in output
    assert "bluesky: cancelled -> back to scheduled" in output
    assert "Restored one: 2 parts on bluesky and mastodon back to scheduled." in output
    restored = parts(env, "one")
    assert {d.state for d in restored.values()} == {State.SCHEDULED}
    assert {d.due_at for d in restored.values()} == {FUTURE}
    with store(env).transaction() as session:
        events = session.scalars(sql_select(Event).where(Event.action == "restore")).all()
    assert len(events) == 2
    assert all(e.actor and e.from_state == State.CANCELLED and e.to_state == State.SCHEDULED for e in events)
    assert all("undoing the cancel by" in e.reason and "cancelled the wrong post" in e.reason for e in events)

    code, output = invoke("schedule", str(calendar))
    assert code == 0 and "kept-cancelled" not in output and "rescheduled" not in output
    assert {d.state for d in parts(env, "one").values()} == {State.SCHEDULED}
    assert {d.due_at for d in parts(env, "one").values()} == {FUTURE}

    code, output = invoke("restore", "one", "--yes")
    assert code == 1 and "Nothing to restore for one: it is not cancelled" in output


def test_restore_refuses_what_the_calendar_file_cancelled(env: dict[str, str], tmp_path: Path) -> None:
    calendar = scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA"), ("two", FUTURE, "Bye #ActOnIICSA")])
    write_calendar(calendar.parent.parent, "cal.yaml", [("two", FUTURE, "Bye #ActOnIICSA")])
    assert invoke("schedule", str(calendar))[0] == 0
    code, output = invoke("restore", "one", "--yes")
    assert code == 1 and "post one is no longer in this calendar file" in output and "campaign schedule" in output
    assert set(states(env, "one").values()) == {State.CANCELLED}


def test_restore_past_its_grace_asks_and_never_posts_late_unasked(env: dict[str, str], tmp_path: Path) -> None:
    late = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    calendar = scheduled(tmp_path, [("late", late, "Late #ActOnIICSA")])
    assert invoke("cancel", "late", "--yes")[0] == 0

    # No terminal to ask on, and no decision given: refused, even with --yes.
    code, output = invoke("restore", "late", "--yes")
    assert code == 2, output
    assert "past its grace period" in output and "Add --post-late or --leave-missed." in output
    assert set(states(env, "late").values()) == {State.CANCELLED}

    code, output = invoke("restore", "late", "--leave-missed", "--yes")
    assert code == 0 and "left missed (`campaign retry late` posts it)" in output
    assert set(states(env, "late").values()) == {State.MISSED}
    assert {d.due_at for d in parts(env, "late").values()} == {late}

    assert invoke("cancel", "late", "--yes")[0] == 0
    before = datetime.now(UTC)
    code, output = invoke("restore", "late", "--post-late", "--yes")
    assert code == 0 and "go out now, late" in output
    posted_late = parts(env, "late")
    assert {d.state for d in posted_late.values()} == {State.SCHEDULED}
    assert all(d.due_at >= before - timedelta(seconds=1) for d in posted_late.values())
    # `campaign schedule` keeps the operator's decision: it does not put the post back at its old time.
    assert invoke("schedule", str(calendar))[0] == 0
    assert {where: (d.state, d.due_at) for where, d in parts(env, "late").items()} == {
        where: (d.state, d.due_at) for where, d in posted_late.items()
    }


def test_the_core_refuses_a_late_restore_without_a_decision(env: dict[str, str], tmp_path: Path) -> None:
    scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA")])
    assert invoke("cancel", "one", "--yes")[0] == 0
    later = FUTURE + timedelta(hours=1)
    app = Api.from_settings(clock=FixedClock(later))
    try:
        preview = app.describe_post("one", "restore")
        assert len(preview.late) == 2 and "post it now, late, or leave it missed" in preview.late[0].effect
        with pytest.raises(UsageRefused) as refused:
            app.restore("one", actor="test")
        assert refused.value.exit_code == 2
        assert set(states(env, "one").values()) == {State.CANCELLED}
        result = app.restore("one", actor="test", platform="mastodon", late="post")
        assert result.posted_late == ["mastodon part 0"]
    finally:
        app.close()
    assert states(env, "one") == {"bluesky/0": State.CANCELLED, "mastodon/0": State.SCHEDULED}
    assert parts(env, "one")["mastodon/0"].due_at == later


def test_restore_past_its_grace_asks_a_person_at_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    late = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    scheduled(tmp_path, [("late", late, "Late #ActOnIICSA")])
    assert invoke("cancel", "late", "--yes")[0] == 0
    code, output = in_terminal(
        ["restore", "late"], [("leave it missed? (post, leave):", "leave"), ("Go ahead? [y/N]:", "y")], tmp_path
    )
    assert code == 0, output
    assert "is more than 30 min ago, past its grace period" in output and "left missed" in output
    assert set(states(env, "late").values()) == {State.MISSED}


# --- asking first ------------------------------------------------------------------------------------------

Setup = Callable[[dict[str, str], Path], None]


def _cancel_setup(env: dict[str, str], tmp_path: Path) -> None:
    scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA")])


def _restore_setup(env: dict[str, str], tmp_path: Path) -> None:
    scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA")])
    assert invoke("cancel", "one", "--yes")[0] == 0


def _retry_setup(env: dict[str, str], tmp_path: Path) -> None:
    scheduled(tmp_path, [("one", datetime.now(UTC) - timedelta(hours=2), "Hello #ActOnIICSA")])
    missed(env)


ACTIONS: dict[str, tuple[list[str], Setup, dict[str, str]]] = {
    # command line, what comes before it, how the post stands once it has acted
    "cancel": (["cancel", "one"], _cancel_setup, {"bluesky/0": "cancelled", "mastodon/0": "cancelled"}),
    "post-now": (
        ["post-now", "one", "--platform", "mastodon"],
        _cancel_setup,
        {"bluesky/0": "scheduled", "mastodon/0": "published"},
    ),
    "retry": (
        ["retry", "one", "--platform", "bluesky"],
        _retry_setup,
        {"bluesky/0": "scheduled", "mastodon/0": "missed"},
    ),
    "restore": (["restore", "one"], _restore_setup, {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_with_yes_it_acts_without_a_terminal_it_refuses(env: dict[str, str], tmp_path: Path, action: str) -> None:
    args, setup, after = ACTIONS[action]
    setup(env, tmp_path)
    before = states(env, "one")
    code, output = invoke(*args)
    assert code == 2, output
    assert NO_TERMINAL in output and "Nothing was done" in output
    assert "post one of demo" in output and '"Hello #ActOnIICSA"' in output  # it showed what it would do
    assert "Planned for Mon 01 Feb 2027 09:00 GMT" in output or action == "retry"
    assert states(env, "one") == before
    code, output = invoke(*args, "--yes")
    assert code == 0, output
    assert NO_TERMINAL not in output
    assert states(env, "one") == after


@pytest.mark.parametrize("action", ACTIONS)
def test_at_a_terminal_no_means_nothing_is_done(env: dict[str, str], tmp_path: Path, action: str) -> None:
    args, setup, _after = ACTIONS[action]
    setup(env, tmp_path)
    before = states(env, "one")
    code, output = in_terminal(args, [("Go ahead? [y/N]:", "n")], tmp_path)
    assert code == 1, output
    assert "Nothing was done." in output and NO_TERMINAL not in output
    assert "post one of demo" in output
    assert states(env, "one") == before


def test_the_preview_names_what_is_published_and_stays(env: dict[str, str], tmp_path: Path) -> None:
    scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA")])
    assert invoke("post-now", "one", "--platform", "mastodon", "--yes")[0] == 0
    code, output = invoke("cancel", "one", "--yes")
    assert code == 0
    assert "mastodon: published" in output and "already published: it stays up" in output
    assert "bluesky: scheduled -> cancelled: it will not be posted" in output
    assert states(env, "one") == {"bluesky/0": "cancelled", "mastodon/0": "published"}
    # Nothing left to change: asking again is refused, and so is posting a cancelled post.
    code, output = invoke("cancel", "one", "--yes")
    assert code == 1 and "Nothing to cancel for one" in output
    code, output = invoke("post-now", "one", "--platform", "bluesky", "--yes")
    assert code == 1 and "campaign restore one --platform bluesky" in output
    # Already out: post-now says so, asks nothing and posts nothing.
    code, output = invoke("post-now", "one", "--platform", "mastodon")
    assert code == 0 and "skipped" in output and "already published" in output and NO_TERMINAL not in output


# --- refusals and resume -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["cancel", "nope"], ["retry", "nope"], ["post-now", "nope", "--platform", "bluesky"], ["restore", "nope"]],
)
def test_a_post_id_that_is_not_there_is_refused(env: dict[str, str], tmp_path: Path, args: list[str]) -> None:
    scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA")])
    code, output = invoke(*args, "--yes")
    assert code == 1, output
    assert "There is no scheduled post 'nope'" in output and "campaign status" in output
    assert "Traceback" not in output


def test_retry_of_a_post_that_is_not_missed_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    scheduled(tmp_path, [("one", FUTURE, "Hello #ActOnIICSA")])
    code, output = invoke("retry", "one", "--yes")
    assert code == 1 and "Nothing to retry for one" in output and "bluesky: scheduled" in output


def paused_for_an_hour(env: dict[str, str], tmp_path: Path) -> None:
    """Posts due 5 h ago (missed before the pause), 2 h ago (missed while paused), 10 min ago (within its grace)
    and tomorrow; paused 3 h ago by alice@office, with the scheduler's check made just before."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    scheduled(tmp_path, [("gone", now - timedelta(hours=2), "Gone #ActOnIICSA"),
                         ("soon", now - timedelta(minutes=10), "Soon #ActOnIICSA"),
                         ("before", now - timedelta(hours=5), "Before #ActOnIICSA"),
                         ("later", now + timedelta(days=1), "Later #ActOnIICSA")])  # fmt: skip
    app = Api.from_settings(clock=FixedClock(now - timedelta(hours=3)))
    try:
        assert app.tick(app.inline_executor(worker="test"), actor="test").missed  # "before": missed, not paused yet
        assert app.pause(reason="news about the inquiry", actor="alice@office", wait=timedelta(0)) == 0
    finally:
        app.close()


def test_resume_says_who_paused_and_asks_about_each_post_the_pause_held(env: dict[str, str], tmp_path: Path) -> None:
    paused_for_an_hour(env, tmp_path)
    before = {pid: states(env, pid) for pid in ("gone", "soon", "before", "later")}
    # No terminal to ask on and no flag: refused in one line, nothing changed, still paused.
    code, output = invoke("resume")
    assert code == 2, output
    assert "Posting was paused by alice@office on" in output and "news about the inquiry" in output
    assert "The time of 2 posts came while it was paused:" in output
    assert "demo/gone (bluesky, mastodon)" in output and "demo/soon (bluesky, mastodon)" in output
    assert "missed (past its grace)" in output and "not posted yet" in output
    assert "demo/before" not in output and "demo/later" not in output  # before the pause; not yet due
    assert (
        "Nothing changed, posting is still paused: add --post-late (post the posts whose time came while it was "
        "paused now, late) or --leave-missed (leave them missed)." in output
    )
    # A flag without --yes and without a terminal: asked to confirm, so refused too.
    code, output = invoke("resume", "--leave-missed")
    assert code == 2 and "Add --yes to do this without a question." in output
    assert {pid: states(env, pid) for pid in before} == before
    assert "PAUSED: news about the inquiry" in invoke("status")[1]

    # A person at a terminal answers for each post.
    code, output = in_terminal(
        ["resume"],
        [("demo/gone (missed): post it now, late, or leave it missed?", "leave"),
         ("demo/soon (not posted yet): post it now, late, or leave it missed?", "post"), ("Go ahead?", "y")],
        tmp_path,
    )  # fmt: skip
    assert code == 0, output
    assert "Resumed: scheduled posts go out at their time again." in output
    assert "Posted now, late: demo/soon" in output and "Left missed: demo/gone" in output
    assert set(states(env, "gone").values()) == {State.MISSED} and set(states(env, "soon").values()) == {"scheduled"}
    assert all(d.due_at > datetime.now(UTC) - timedelta(minutes=2) for d in parts(env, "soon").values())
    assert all(
        (d.last_error or "").startswith("Held back by the pause of alice@office on ")
        and "; left missed by " in (d.last_error or "")
        for d in parts(env, "gone").values()
    )
    code, output = invoke("resume")
    assert code == 0 and "Posting was not paused; nothing changed." in output
    with store(env).transaction() as session:
        resumes = session.scalars(sql_select(Event).where(Event.action == "resume")).all()
        choices = session.scalars(sql_select(Event).where(Event.action == "resume-choice")).all()
    assert (
        len(resumes) == 1 and "1 post posted now, late (demo/soon); 1 post left missed (demo/gone)" in resumes[0].reason
    )
    assert len(choices) == 4  # two platforms of each post


def test_resume_with_a_flag_answers_for_every_post(env: dict[str, str], tmp_path: Path) -> None:
    paused_for_an_hour(env, tmp_path)
    code, output = invoke("resume", "--post-late", "--yes")
    assert code == 0, output
    assert "Posted now, late: demo/gone, demo/soon" in output
    assert {d.state for pid in ("gone", "soon") for d in parts(env, pid).values()} == {"scheduled"}
    assert set(states(env, "before").values()) == {State.MISSED}  # missed before the pause: not asked about


# --- help ------------------------------------------------------------------------------------------------------


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every group and command under `group`, as the words that name it."""
    yield path
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


SHIPPED_IDS = {
    post_id
    for calendar in (ROOT / "campaigns").glob("*/calendars/*.yaml")
    for post_id in re.findall(r"^\s*- id: ([\w-]+)$", calendar.read_text(encoding="utf-8"), re.M)
}


def test_every_help_ends_with_examples_that_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the examples name the shipped calendar files
    checked = 0
    for path in commands(main):
        code, output = invoke(*path, "--help")
        assert code == 0, output
        assert "Examples:" in output, f"campaign {' '.join(path)} --help has no examples"
        examples = output.split("Examples:", 1)[1].strip().splitlines()
        assert 1 <= len(examples) <= 3 and "Options:" not in output.split("Examples:", 1)[1], path
        for example in examples:
            words = shlex.split(example)
            assert words[0] == "campaign" and words[1 : len(path) + 1] == list(path), example
            checked += _parses(words[1:])
    assert checked > 30


def _parses(words: list[str]) -> int:
    """Parse an example as Click would run it (options, choices, files that must exist), without running it."""
    command: click.Command = main
    name = "campaign"
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        name, words = words[0], words[1:]
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    context = command.make_context(name, list(words))
    post_id = context.params.get("post_id")
    assert post_id is None or post_id in SHIPPED_IDS, f"{post_id} is not a shipped post"
    return 1


def test_shell_completion_works_as_the_readme_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "### Shell completion" in readme
    for shell in ("bash", "zsh", "fish"):
        assert f"_CAMPAIGN_COMPLETE={shell}_source campaign" in readme
        script = subprocess.run([str(CAMPAIGN)], env={**os.environ, "_CAMPAIGN_COMPLETE": f"{shell}_source"},
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
        assert script.returncode == 0 and "_campaign_completion" in script.stdout, shell
    completed = subprocess.run(
        [str(CAMPAIGN)],
        env={**os.environ, "_CAMPAIGN_COMPLETE": "bash_complete", "COMP_WORDS": "campaign res", "COMP_CWORD": "1"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert completed.stdout.split() == ["plain,restore", "plain,resume"]
