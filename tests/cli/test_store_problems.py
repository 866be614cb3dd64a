"""Store problems and bad starts, each one line saying what is wrong and what to do, a non-zero exit and no
traceback (unless --debug or CAMPAIGN_DEBUG asks for it): a damaged SQLite file, a read-only or full data folder,
a schema newer than this program, a PostgreSQL that refuses, a second `campaign run` on the same workspace.
Everything is real: files damaged here, folders made read-only or full by mounts in a private namespace, a closed
port and a real server, and real `campaign run` processes."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.embedded import AlreadyRunning, RunLock
from tests.support.cli import invoke
from tests.support.engine import wait_for, write_calendar, write_campaign
from tests.support.postgres import PostgresServer, free_loopback_port
from tests.support.workspaces import (
    campaign_command,
    child_env,
    full,
    no_workspace_named,
    read_only,
    run_campaign,
)

FUTURE = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
DAMAGED = (
    "The database var/campaign.db is damaged (SQLite says: {said}). Restore it from your backup, or move it aside "
    "and run `campaign schedule` again to rebuild the schedule."
)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (made by `campaign init`) with one calendar scheduled, and the current folder."""
    no_workspace_named(monkeypatch, tmp_path)
    folder = tmp_path / "ws"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert invoke("init")[0] == 0
    write_calendar(write_campaign(folder / "campaigns"), "cal.yaml", [("one", FUTURE, "Hello #ActOnIICSA")])
    code, output = invoke("schedule", calendar(folder))
    assert code == 0, output
    return folder


def calendar(ws: Path) -> str:
    return str(ws / "campaigns" / "demo" / "calendars" / "cal.yaml")


def one_line(code: int, output: str, expected: str) -> None:
    assert code == 1, output
    assert output.strip() == expected
    assert "Traceback" not in output


def test_a_database_that_is_not_one_is_damaged(ws: Path) -> None:
    (ws / "var" / "campaign.db").write_bytes(b"this was overwritten by something else " * 200)
    expected = DAMAGED.format(said="file is not a database")
    one_line(*invoke("status"), expected)
    one_line(*invoke("schedule", calendar(ws)), expected)
    one_line(*invoke("pause", "--reason", "news", "--wait", "1"), expected)


def test_a_damaged_page_is_found_at_start_or_mid_command(ws: Path) -> None:
    database = ws / "var" / "campaign.db"
    with sqlite3.connect(database) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        [root] = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'deliveries'").fetchone()
    original = database.read_bytes()
    expected = DAMAGED.format(said="database disk image is malformed")

    # The deliveries table's own page: the schema reads fine, the damage is met in the middle of the command.
    damaged = bytearray(original)
    damaged[(root - 1) * page_size : root * page_size] = b"\x5a" * page_size
    database.write_bytes(bytes(damaged))
    one_line(*invoke("status"), expected)

    # Every page but the first: met when the schema is checked, before anything else.
    database.write_bytes(original[:page_size] + b"\x5a" * (len(original) - page_size))
    one_line(*invoke("status"), expected)
    one_line(*invoke("schedule", calendar(ws)), expected)


def test_debug_shows_the_traceback_too(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (ws / "var" / "campaign.db").write_bytes(b"not a database " * 500)
    expected = DAMAGED.format(said="file is not a database")
    for args, debug in ((["--debug", "status"], None), (["status"], "1")):
        if debug:
            monkeypatch.setenv("CAMPAIGN_DEBUG", debug)
        code, output = invoke(*args)
        assert code == 1
        assert "Traceback (most recent call last)" in output and "sqlite3.DatabaseError" in output
        assert output.strip().endswith(expected)


def test_moved_aside_a_damaged_database_is_rebuilt_by_schedule_and_only_by_schedule(ws: Path) -> None:
    (ws / "var" / "campaign.db").rename(ws / "var" / "damaged.db")
    one_line(
        *invoke("status"),
        "There is no schedule in var/campaign.db yet: run `campaign schedule` with your calendars to create it "
        "(or `campaign init` in a new campaign folder).",
    )
    assert not (ws / "var" / "campaign.db").exists()
    code, output = invoke("schedule", calendar(ws))
    assert code == 0 and "1 added" in output, output


def test_a_schema_newer_than_this_program_is_refused_and_left_alone(ws: Path) -> None:
    database = ws / "var" / "campaign.db"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00d_from_the_future'")
    expected = (
        "The database var/campaign.db was last used by a newer version of campaign (its schema "
        "f00d_from_the_future is unknown to this one): upgrade campaign to use it, or point this workspace at "
        "another database. Nothing was changed."
    )
    one_line(*invoke("status"), expected)
    one_line(*invoke("schedule", calendar(ws)), expected)
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("f00d_from_the_future",)]


def test_a_file_where_the_data_folder_should_be(ws: Path) -> None:
    shutil.rmtree(ws / "var")
    (ws / "var").write_text("not a folder")
    expected = (
        f"The data folder var cannot be made: a file is in the way ({ws / 'var'}). Move that file aside, or set "
        f"data_dir in campaign.toml to another folder. Nothing was changed."
    )
    one_line(*invoke("schedule", calendar(ws)), expected)
    one_line(*invoke("status"), expected)


def test_a_read_only_data_folder_as_root(ws: Path) -> None:
    """The folder is bound read-only onto itself in a private mount namespace: root cannot write it either."""
    # The calendar changed, so schedule must write: refused in one line, without the SQL or the post's text.
    write_calendar(ws / "campaigns" / "demo", "cal.yaml", [("one", FUTURE, "Changed words #ActOnIICSA")])
    done = run_campaign("schedule", calendar(ws), cwd=ws, wrap=read_only(ws / "var"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "The data folder var cannot be written (SQLite says: unable to open database file): make it writable, or "
        "set data_dir in campaign.toml to a folder that is. Nothing was changed."
    )
    assert "Traceback" not in done.stderr + done.stdout and "Changed words" not in done.stderr + done.stdout
    # Outside the namespace the folder was writable all along, and nothing was changed in it.
    code, output = invoke("status")
    assert code == 0 and "1 scheduled" in output


def test_a_full_data_folder(ws: Path, tmp_path: Path) -> None:
    """The data folder is a small tmpfs holding a copy of the database, with a few KiB to spare."""
    saved = tmp_path / "saved" / "campaign.db"
    saved.parent.mkdir()
    shutil.copy(ws / "var" / "campaign.db", saved)
    many = [
        (f"p{i}", FUTURE, f"Post {i} of many, long enough to need pages of their own #ActOnIICSA") for i in range(300)
    ]
    write_calendar(ws / "campaigns" / "demo", "cal.yaml", many)
    done = run_campaign("schedule", calendar(ws), cwd=ws, wrap=full(ws / "var", copy=saved, room_kb=40))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("The disk holding the data folder var is full (SQLite says: ")
    assert lines[0].endswith("free some space, then run the command again. Nothing was changed.")
    assert "Traceback" not in done.stderr + done.stdout


def test_a_postgresql_that_refuses_the_connection_is_named_without_its_password(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_loopback_port()  # nothing listens there once the probe is closed
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", f"postgresql+psycopg://campaign:s3cret-pw@127.0.0.1:{port}/campaign")
    expected = (
        f"The database postgresql+psycopg://campaign:***@127.0.0.1:{port}/campaign refused the connection: check "
        f"that the server is running and that CAMPAIGN_DATABASE_URL is right, then try again. Nothing was changed."
    )
    for args in (["status"], ["schedule", calendar(ws)], ["pause", "--reason", "news", "--wait", "1"]):
        code, output = invoke(*args)
        one_line(code, output, expected)
        assert "s3cret-pw" not in output


@pytest.mark.integration
def test_a_real_postgresql_that_refuses_the_database(
    ws: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url("no_such_database", driver="psycopg").replace("://postgres@", "://postgres:pw-9876@")
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    code, output = invoke("status")
    assert code == 1 and "Traceback" not in output and "pw-9876" not in output
    [line] = output.strip().splitlines()
    assert line.startswith("The database postgresql+psycopg://postgres:***@127.0.0.1:")
    assert 'database "no_such_database" does not exist' in line
    assert line.endswith("check that the server is running and that CAMPAIGN_DATABASE_URL is right, then try again. "
                         "Nothing was changed.")  # fmt: skip


@pytest.mark.integration
@pytest.mark.slow
def test_a_second_run_on_the_same_workspace_is_refused_with_the_first_ones_pid(ws: Path) -> None:
    env = child_env(CAMPAIGN_TICK_SECONDS="1")
    first = subprocess.Popen(
        campaign_command("run"), cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def read() -> None:
        assert first.stdout is not None
        for line in first.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    lock = ws / "var" / "run.lock"
    try:
        # Started (its Ctrl-C handler in place), not only holding the lock: a Ctrl-C sent while it is still
        # starting its processes is a different story.
        wait_for(lambda: any("Ctrl-C stops cleanly" in line for line in lines), timeout=90, what="the first run")
        assert lock.read_text().strip() == str(first.pid)
        below = ws / "campaigns" / "demo"
        second = run_campaign("run", cwd=below, env=env, timeout=60)
        assert second.returncode == 1, second.stdout + second.stderr
        assert second.stderr.strip() == (
            f"Another `campaign run` (process {first.pid}) is already running on {ws}: only one runs per "
            f"workspace. Stop it first (Ctrl-C in its window, or `kill {first.pid}`), or leave it running: it posts "
            f"what `campaign schedule` adds."
        )
        assert "Traceback" not in second.stdout + second.stderr
        assert first.poll() is None  # the first one runs on, untouched
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
        reader.join(timeout=10)
    assert first.returncode == 0, "".join(lines)
    RunLock(lock).acquire(ws).release()  # let go of when the first one stopped


def test_a_run_lock_held_by_a_process_that_died_does_not_stop_the_next_one(ws: Path) -> None:
    """The lock is the operating system's (flock), so a run killed with SIGKILL leaves nothing to clear by hand."""
    script = (
        "import os, sys, pathlib\n"
        "from scheduler.embedded import AlreadyRunning, RunLock\n"
        "held = RunLock(pathlib.Path(sys.argv[1])).acquire(pathlib.Path('.'))\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    lock = ws / "var" / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=f"process {holder.pid}"):
            RunLock(lock).acquire(ws)
    finally:
        holder.kill()
        holder.wait()
    RunLock(lock).acquire(ws).release()
