"""The workspace: `campaign init` makes one, every command finds it the way git finds a repository (walking up
from the current folder, or named by CAMPAIGN_WORKSPACE), and a command that reads or changes the schedule with
neither a workspace nor a database named refuses, creating nothing. The pause of the issue: from another folder
it used to say "Paused" while the running scheduler, on another database, went on posting."""

from __future__ import annotations

import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.db import Store
from scheduler.dispatch import pause_state
from scheduler.settings import load_settings
from scheduler.workspace import FILE_NAME
from tests.support.cli import invoke
from tests.support.engine import write_calendar, write_campaign
from tests.support.workspaces import no_workspace_named

FUTURE = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(ws, elsewhere): a folder to become the workspace, and one that is not in it."""
    no_workspace_named(monkeypatch, tmp_path)
    (tmp_path / "ws").mkdir()
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "ws", tmp_path / "elsewhere"


def scheduled_workspace(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`campaign init` in ws, then one calendar scheduled there; returns the calendars folder."""
    monkeypatch.chdir(ws)
    assert invoke("init")[0] == 0
    folder = write_campaign(ws / "campaigns")
    calendar = write_calendar(folder, "cal.yaml", [("one", FUTURE, "Hello #ActOnIICSA")])
    code, output = invoke("schedule", str(calendar))
    assert code == 0, output
    return calendar.parent


def schedule_store(ws: Path) -> Store:
    return Store(f"sqlite:///{ws / 'var' / 'campaign.db'}", create=False)


def test_init_writes_the_workspace_file_and_creates_its_database(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, elsewhere = folders
    monkeypatch.chdir(elsewhere)
    code, output = invoke("init", str(ws))
    assert code == 0, output
    assert f"Made a campaign workspace: {ws} (database var/campaign.db)." in output
    written = tomllib.loads((ws / FILE_NAME).read_text())
    assert written == {"data_dir": "var", "campaigns_dir": "campaigns", "timezone": "Europe/London"}
    with sqlite3.connect(ws / "var" / "campaign.db") as db:
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    assert list(elsewhere.iterdir()) == []  # nothing was made where the command ran

    before = (ws / FILE_NAME).read_text()
    code, output = invoke("init", str(ws))
    assert code == 0 and "campaign workspace already; nothing changed" in output
    assert (ws / FILE_NAME).read_text() == before


def test_init_refuses_a_database_url_with_a_password_and_writes_nothing(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = folders
    monkeypatch.chdir(ws)
    code, output = invoke("init", "--database-url", "postgresql+psycopg://campaign:hunter22@db.example/campaign")
    assert code == 1
    assert "database_url holds a password" in output and "CAMPAIGN_DATABASE_URL in a .env file" in output
    assert "hunter22" not in output
    assert list(ws.iterdir()) == []


def test_a_pause_from_another_folder_refuses_and_creates_nothing_and_from_inside_says_which_workspace(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, elsewhere = folders
    calendars = scheduled_workspace(ws, monkeypatch)

    monkeypatch.chdir(elsewhere)
    code, output = invoke("pause", "--reason", "breaking news", "--wait", "1")
    assert code == 1
    assert output.strip() == (
        f"No workspace here or above {elsewhere}: run `campaign init` in your campaign folder, or cd into it."
    )
    assert "Paused" not in output
    assert list(elsewhere.iterdir()) == []
    assert pause_state(schedule_store(ws)) == (False, "")

    monkeypatch.chdir(calendars)  # two folders below the workspace
    code, output = invoke("pause", "--reason", "breaking news", "--wait", "1")
    assert code == 0, output
    assert f"Workspace: {ws} (database var/campaign.db)" in output
    assert "Paused. Nothing more will be posted" in output
    assert pause_state(schedule_store(ws)) == (True, "breaking news")
    code, output = invoke("status")
    assert code == 0 and "PAUSED: breaking news" in output and f"Workspace: {ws} " in output
    assert not (calendars / "var").exists()


@pytest.mark.parametrize("named", ["folder", "file", "relative"])
def test_campaign_workspace_names_the_workspace_from_anywhere(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    ws, elsewhere = folders
    scheduled_workspace(ws, monkeypatch)
    value = {"folder": str(ws), "file": str(ws / FILE_NAME), "relative": "../ws"}[named]
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CAMPAIGN_WORKSPACE", value)
    code, output = invoke("pause", "--reason", "named from elsewhere", "--wait", "1")
    assert code == 0, output
    assert f"Workspace: {ws} (database var/campaign.db)" in output
    assert pause_state(schedule_store(ws)) == (True, "named from elsewhere")
    assert list(elsewhere.iterdir()) == []


def test_campaign_workspace_naming_no_workspace_is_refused(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, elsewhere = folders
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CAMPAIGN_WORKSPACE", str(ws))
    code, output = invoke("status")
    assert code == 1
    assert f"CAMPAIGN_WORKSPACE is {ws}, but there is no workspace there" in output
    assert f"`campaign init {ws}`" in output


def test_without_a_workspace_nothing_that_uses_the_schedule_runs_and_nothing_is_created(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, elsewhere = folders
    folder = write_campaign(elsewhere / "campaigns")
    calendar = write_calendar(folder, "cal.yaml", [("one", FUTURE, "Hello #ActOnIICSA")])
    monkeypatch.chdir(elsewhere)
    refusal = f"No workspace here or above {elsewhere}: run `campaign init`"
    uses = (["status"], ["schedule", str(calendar)], ["cancel", "one"], ["retry", "one"], ["resume"],
            ["rehearse", str(calendar), "--speed", "100000"])  # fmt: skip
    for args in uses:
        code, output = invoke(*args)
        assert code == 1 and refusal in output, (args, output)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["campaigns"]
    # Checking a calendar needs no schedule: it works anywhere.
    code, output = invoke("calendar", "validate", str(calendar), "--now", "2027-01-01T09:00:00Z")
    assert code == 0, output


def test_a_schedule_from_before_workspaces_is_pointed_out(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, elsewhere = folders
    Store(f"sqlite:///{elsewhere / 'var' / 'campaign.db'}").dispose()
    monkeypatch.chdir(elsewhere)
    code, output = invoke("status")
    assert code == 1
    assert f"There is a schedule at {elsewhere / 'var' / 'campaign.db'} from before workspaces" in output
    code, output = invoke("init")
    assert code == 0 and invoke("status")[0] == 0


def test_a_database_named_in_the_environment_needs_no_workspace(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, elsewhere = folders
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(elsewhere / "data"))
    code, output = invoke("status")  # named, but there is no database yet: status creates none
    assert code == 1 and f"There is no schedule in {elsewhere / 'data' / 'campaign.db'} yet" in output
    assert not (elsewhere / "data").exists()
    folder = write_campaign(elsewhere / "campaigns")
    calendar = write_calendar(folder, "cal.yaml", [("one", FUTURE, "Hello #ActOnIICSA")])
    assert invoke("schedule", str(calendar))[0] == 0
    code, output = invoke("status")
    assert code == 0
    assert f"Workspace: none (database {elsewhere / 'data' / 'campaign.db'}, named in the environment)" in output


def test_settings_come_from_the_environment_then_env_files_then_the_workspace_file(folders: tuple[Path, Path]) -> None:
    ws, _ = folders
    (ws / FILE_NAME).write_text('data_dir = "state"\ntimezone = "America/New_York"\ncampaigns_dir = "cals"\n')
    below = ws / "campaigns" / "demo"
    below.mkdir(parents=True)
    none = below / "no.env"

    from_file = load_settings({}, start=below, dotenv_path=none)
    assert from_file.workspace == ws / FILE_NAME
    assert (from_file.data_dir, from_file.campaigns_dir, from_file.timezone) == (
        ws / "state", ws / "cals", "America/New_York"
    )  # fmt: skip
    assert from_file.database_url == f"sqlite:///{ws / 'state' / 'campaign.db'}"
    assert from_file.outbox_path == ws / "state" / "outbox.jsonl"

    # A .env beside the workspace file beats the file; its relative paths are the workspace's.
    (ws / ".env").write_text("CAMPAIGN_TIMEZONE=Europe/Paris\nCAMPAIGN_DATA_DIR=data\n")
    beside = load_settings({}, start=below, dotenv_path=none)
    assert (beside.timezone, beside.data_dir) == ("Europe/Paris", ws / "data")

    # A .env in the current folder beats that one; the environment beats everything.
    (below / ".env").write_text("CAMPAIGN_TIMEZONE=Asia/Tokyo\n")
    here = load_settings({}, start=below)
    assert (here.timezone, here.data_dir) == ("Asia/Tokyo", ws / "data")
    environment = load_settings({"CAMPAIGN_TIMEZONE": "UTC"}, start=below)
    assert environment.timezone == "UTC"

    # What a child process is given finds the same workspace and settings, wherever it starts.
    child = load_settings(environment.to_env(), start=Path("/"), dotenv_path=none)
    assert (child.workspace, child.data_dir, child.timezone) == (ws / FILE_NAME, ws / "data", "UTC")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('timezone = "UTC"\ndata_dir = "var\n', 'cannot be read: line 2 is not written as name = "value"'),
        ('data_folder = "var"\n', "there is no setting 'data_folder'"),
        ("data_dir = 3\n", 'data_dir must be text in quotes, such as data_dir = "var"'),
        ('timezone = "Europe/Lundon"\n', "timezone 'Europe/Lundon' is not a time zone"),
        ('database_url = "postgresql://u:pw123456@h/db"\n', "database_url holds a password"),
    ],
)
def test_a_broken_workspace_file_is_one_line_naming_it(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, text: str, said: str
) -> None:
    ws, _ = folders
    (ws / FILE_NAME).write_text(text)
    monkeypatch.chdir(ws)
    code, output = invoke("status")
    assert code == 1
    assert output.startswith(f"{ws / FILE_NAME}") and said in output, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output and "pw123456" not in output
