"""The workspace: a campaign folder marked by a `campaign.toml`, found the way git finds a repository (walking up
from the current folder, or named by CAMPAIGN_WORKSPACE). It says where the data folder, the database and the
campaigns are, so every command acts on the same schedule wherever in the folder it is run.

settings.py is the only reader of the environment: it hands this module what CAMPAIGN_WORKSPACE says."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from content_calendar.model import DEFAULT_TIMEZONE
from scheduler.errors import NotFound, Refused

FILE_NAME = "campaign.toml"

# Each key of the file, and the setting (as the environment spells it) it gives a value to.
KEYS = {
    "data_dir": "CAMPAIGN_DATA_DIR",
    "database_url": "CAMPAIGN_DATABASE_URL",
    "campaigns_dir": "CAMPAIGN_CAMPAIGNS_DIR",
    "timezone": "CAMPAIGN_TIMEZONE",
}


class WorkspaceError(Refused):
    """A workspace file that cannot be used, or a CAMPAIGN_WORKSPACE that names none."""


class NoWorkspace(NotFound):
    """Nothing says where the schedule is: no workspace here or above, and no database in the environment."""

    def __init__(self, folder: Path) -> None:
        lines = [f"No workspace here or above {folder}: run `campaign init` in your campaign folder, or cd into it."]
        legacy = folder / "var" / "campaign.db"
        if legacy.is_file():
            lines.append(f"There is a schedule at {legacy} from before workspaces: `campaign init` here keeps it.")
        super().__init__(*lines)


@dataclass(frozen=True)
class Workspace:
    """A workspace file, read: each value as the environment would spell it, paths made absolute."""

    file: Path
    values: dict[str, str]

    @property
    def root(self) -> Path:
        return self.file.parent


def find_workspace(start: Path, named: str = "") -> Path | None:
    """The workspace file: the one `named` (a folder or the file, as CAMPAIGN_WORKSPACE gives it), else the
    nearest `campaign.toml` in `start` or a folder above it; None when there is none."""
    if named:
        given = Path(named).expanduser()
        given = given if given.is_absolute() else start / given
        candidate = given / FILE_NAME if given.is_dir() else given
        if not candidate.is_file():
            raise WorkspaceError(
                f"CAMPAIGN_WORKSPACE is {named}, but there is no workspace there ({candidate} does not exist): "
                f"correct CAMPAIGN_WORKSPACE, or run `campaign init {given}` to make that folder one."
            )
        return candidate.resolve()
    for folder in (start, *start.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate.resolve()
    return None


def absolute_sqlite(url: URL, base: Path) -> URL:
    """A SQLite URL whose file is named relative to `base`, made absolute (others unchanged)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    return url if path.is_absolute() else url.set(database=str(base / path))


def read_workspace(file: Path) -> Workspace:
    """The workspace file's settings, checked: known keys, text values, no password, a real time zone."""
    try:
        with file.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:  # the reader's own words ("Illegal character") stay out of it
        line = str(error).rpartition("(at line ")[2].split(",")[0]
        where = f"line {line}" if line.isdigit() else "a line"
        raise WorkspaceError(
            f'{file} cannot be read: {where} is not written as name = "value" (a text in double quotes, closed on '
            "the same line): correct that line."
        ) from None
    except OSError as error:
        raise WorkspaceError(f"{file} cannot be read ({error.strerror}): check it is yours to read.") from None
    root = file.parent
    values: dict[str, str] = {}
    for key, value in raw.items():
        if key not in KEYS:
            raise WorkspaceError(
                f"{file}: there is no setting {key!r} (the settings are {', '.join(KEYS)}): correct or remove it."
            )
        if not isinstance(value, str):
            raise WorkspaceError(f'{file}: {key} must be text in quotes, such as {key} = "{_example(key)}".')
        if not value.strip():
            continue
        values[KEYS[key]] = _checked(file, key, value.strip(), root)
    return Workspace(file, values)


def _example(key: str) -> str:
    return {"data_dir": "var", "campaigns_dir": "campaigns", "timezone": DEFAULT_TIMEZONE}.get(
        key, "sqlite:///var/campaign.db"
    )


def _checked(file: Path, key: str, value: str, root: Path) -> str:
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise WorkspaceError(
                f"{file}: timezone {value!r} is not a time zone: use one such as {DEFAULT_TIMEZONE}."
            ) from None
        return value
    if key == "database_url":
        try:
            url = make_url(value)
        except ArgumentError:
            raise WorkspaceError(
                f"{file}: database_url {value!r} is not a database URL (such as sqlite:///var/campaign.db)."
            ) from None
        if url.password:
            raise WorkspaceError(
                f"{file}: database_url holds a password, and this file is no place for one: put the URL in "
                f"CAMPAIGN_DATABASE_URL in a .env file beside it (kept out of git), and remove database_url here."
            )
        return absolute_sqlite(url, root).render_as_string(hide_password=False)
    return str((root / Path(value).expanduser()).resolve())


def workspace_text(*, data_dir: str, campaigns_dir: str, timezone: str, database_url: str = "") -> str:
    """The workspace file `campaign init` writes."""
    database = (
        f'database_url = "{database_url}"'
        if database_url
        else f'# database_url = "postgresql+psycopg://campaign@db.example/campaign"   (default: SQLite, '
        f"{data_dir}/campaign.db)"
    )
    return (
        "# A campaign workspace: every `campaign` command run in this folder, or in a folder below it, uses the\n"
        "# schedule and settings named here. Paths are relative to this file. The environment and a .env file\n"
        "# beside this one override them; a database URL with a password belongs in .env, never here.\n"
        f'data_dir = "{data_dir}"            # the database, outbox, logs, reports and Redis data\n'
        f"{database}\n"
        f'campaigns_dir = "{campaigns_dir}"  # one folder per campaign: campaign.yaml, calendars/, media/\n'
        f'timezone = "{timezone}"    # of times typed on the command line\n'
    )


def write_workspace(
    folder: Path,
    *,
    data_dir: str = "var",
    campaigns_dir: str = "campaigns",
    timezone: str = DEFAULT_TIMEZONE,
    database_url: str = "",
) -> tuple[Path, bool]:
    """Make `folder` a workspace (creating the folder): the file, and whether it was written now (False: the
    folder was a workspace already, and its file is left as it is)."""
    file = folder / FILE_NAME
    if file.is_file():
        read_workspace(file)
        return file.resolve(), False
    text = workspace_text(data_dir=data_dir, campaigns_dir=campaigns_dir, timezone=timezone, database_url=database_url)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    except OSError as error:
        raise WorkspaceError(
            f"Cannot write {file} ({error.strerror}): choose a folder you can write to, or make this one writable."
        ) from None
    try:
        read_workspace(file)
    except WorkspaceError:
        file.unlink()
        raise
    return file.resolve(), True
