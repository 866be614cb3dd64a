"""Engine and transactions for the store: SQLite by default (WAL, busy timeout, immediate write locks),
PostgreSQL through CAMPAIGN_DATABASE_URL. The schema is Alembic's from the first version.

A store that cannot be used (a damaged file, a data folder that cannot be written or is full, a schema newer
than this program, a server that refuses the connection) is a `StoreUnavailable` refusal, one line saying what
is wrong and what to do, raised from here so that every face gives the same word."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from scheduler.errors import Refused

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_migrate_lock = threading.Lock()


class StoreUnavailable(Refused):
    """The store cannot be used as it is; the line says why and what to do. Nothing was changed."""


class StoreDamaged(StoreUnavailable):
    """The SQLite file is not a sound database."""


class DataFolderUnwritable(StoreUnavailable):
    """The data folder is read-only, not ours to write, full, or a file."""


class SchemaTooNew(StoreUnavailable):
    """The database was brought to a schema version this program does not know: a newer program wrote it."""


class StoreUnreachable(StoreUnavailable):
    """The database server refused the connection (or could not be reached)."""


class StoreMissing(StoreUnavailable):
    """There is no database yet, and this command may not create one."""


def make_engine(url: str, *, create: bool = True) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if create and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not the driver, issue BEGIN, so that we can make it BEGIN IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(connection):  # type: ignore[no-untyped-def]
            # Every transaction takes the write lock up front: a read-then-write transaction can then never
            # fail half-way with "database is locked", and guarded updates are serialised.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine, *, create: bool = True, label: str = "") -> None:
    """Bring the schema to the newest Alembic revision. Refused (nothing changed) when the database is newer
    than this program, and, unless `create`, when it has no schema yet."""
    config = _alembic_config()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with _migrate_lock, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others wait and then find nothing to do.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7305183)")
        current = MigrationContext.configure(connection).get_current_heads()
        unknown = [revision for revision in current if revision not in known]
        if unknown:
            raise SchemaTooNew(
                f"The database {label or engine.url.render_as_string(hide_password=True)} was last used by a newer "
                f"version of campaign (its schema {', '.join(unknown)} is unknown to this one): upgrade campaign "
                f"to use it, or point this workspace at another database. Nothing was changed."
            )
        if not current and not create:
            raise _missing(label)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _missing(label: str) -> StoreMissing:
    return StoreMissing(
        f"There is no schedule in {label} yet: run `campaign schedule` with your calendars to create it "
        f"(or `campaign init` in a new campaign folder)."
    )


class Store:
    """Where state lives: an engine plus short transactions.

    `create` (the default) creates the database when there is none and brings its schema up to date now; a
    store made with `create=False` creates nothing, and checks the database on first use (a command that never
    reads the schedule never touches it). `refusal`, when given, is raised instead of any use: nothing said
    where the schedule is. `label` names the database in messages (default: its URL, password hidden)."""

    def __init__(
        self,
        url: str,
        *,
        migrate_schema: bool = True,
        create: bool = True,
        refusal: Refused | None = None,
        label: str = "",
    ):
        self.url = url
        self.create = create
        self.label = label or make_url(url).render_as_string(hide_password=True)
        self._refusal = refusal
        self._migrate_schema = migrate_schema
        self._ready = False
        self._ready_lock = threading.Lock()
        self.engine = make_engine(url, create=False)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            self.ready()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_path(self) -> Path | None:
        parsed = make_url(self.url)
        database = parsed.database or ""
        if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    def ready(self) -> None:
        """Check (and, when allowed, create or bring up to date) the database, once."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            if self._refusal is not None:
                raise self._refusal
            path = self.sqlite_path
            try:
                if path is not None and self.create:
                    path.parent.mkdir(parents=True, exist_ok=True)
                elif path is not None and not path.is_file():
                    if path.parent.exists() and not path.parent.is_dir():
                        raise OSError(errno.ENOTDIR, "not a folder", str(path.parent))
                    raise _missing(self.label)
                if self._migrate_schema:
                    migrate(self.engine, create=self.create, label=self.label)
            except (DBAPIError, sqlite3.Error, OSError) as error:
                problem = self.problem(error)
                if problem is None:
                    raise
                raise problem from error
            self._ready = True

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self.ready()
        try:
            with self._sessions() as session, session.begin():
                yield session
        except (DBAPIError, sqlite3.Error) as error:
            problem = self.problem(error)
            if problem is None:
                raise
            raise problem from error

    def problem(self, error: BaseException) -> StoreUnavailable | None:
        """The refusal that says what `error` means for a person, when it is about the store itself (not a bug)."""
        return store_problem(error, label=self.label, dialect=self.dialect, url=self.url)

    def dispose(self) -> None:
        self.engine.dispose()


def _folder_of(label: str) -> str:
    return str(Path(label).parent)


def folder_problem(folder: str, error: OSError) -> StoreUnavailable | None:
    """What an operating-system error on the data folder means, in a line."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DataFolderUnwritable(
            f"The disk holding the data folder {folder} is full: free some space, then run the command again. "
            f"Nothing was changed."
        )
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "is on a read-only disk" if error.errno == errno.EROFS else "cannot be written by you"
        return DataFolderUnwritable(
            f"The data folder {folder} {why}: make it writable, or set data_dir in campaign.toml to a folder "
            f"that is. Nothing was changed."
        )
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        return DataFolderUnwritable(
            f"The data folder {folder} cannot be made: a file is in the way ({error.filename}). Move that file "
            f"aside, or set data_dir in campaign.toml to another folder. Nothing was changed."
        )
    return None


def store_problem(error: BaseException, *, label: str, dialect: str, url: str) -> StoreUnavailable | None:
    """The StoreUnavailable that `error` amounts to, or None when it is not a problem of the store (a bug)."""
    folder = _folder_of(label)
    if isinstance(error, OSError):
        return folder_problem(folder, error)
    original = error.orig if isinstance(error, DBAPIError) else error
    said = _first_line(str(original), url)
    lowered = said.lower()
    if dialect == "sqlite":
        if "malformed" in lowered or "not a database" in lowered:
            return StoreDamaged(
                f"The database {label} is damaged (SQLite says: {said}). Restore it from your backup, or move it "
                f"aside and run `campaign schedule` again to rebuild the schedule."
            )
        if "full" in lowered or (_writing(lowered) and _nearly_full(url)):
            return DataFolderUnwritable(
                f"The disk holding the data folder {folder} is full (SQLite says: {said}): free some space, then "
                f"run the command again. Nothing was changed."
            )
        if _writing(lowered):
            return DataFolderUnwritable(
                f"The data folder {folder} cannot be written (SQLite says: {said}): make it writable, or set "
                f"data_dir in campaign.toml to a folder that is. Nothing was changed."
            )
        return None
    if isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        why = "refused the connection" if "refused" in lowered else f"could not be used ({said})"
        return StoreUnreachable(
            f"The database {label} {why}: check that the server is running and that CAMPAIGN_DATABASE_URL is "
            f"right, then try again. Nothing was changed."
        )
    return None


def _writing(said: str) -> bool:
    """SQLite's words for a file or folder it could not write (or make) in."""
    return any(words in said for words in ("readonly", "read-only", "unable to open", "i/o error"))


def _nearly_full(url: str) -> bool:
    """Whether the disk of a SQLite database has (almost) no room left: SQLite then often says only "disk I/O
    error", when it cannot make its shared-memory file."""
    database = make_url(url).database or ""
    folder = Path(database).parent if database and database != ":memory:" else None
    try:
        return folder is not None and shutil.disk_usage(folder).free < 1024 * 1024
    except OSError:
        return False


def _first_line(text: str, url: str) -> str:
    """The driver's words, first line only, without the URL's password (a driver may quote its connection)."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "").removeprefix("connection failed: ")
    password = make_url(url).password
    for secret in {str(password), unquote(str(password))} if password else set():
        if secret:
            line = line.replace(secret, "********")
    return line
