"""A private PostgreSQL server for tests: its own data directory, 127.0.0.1 on a free port, stopped by pid.

Usage (for example in a session fixture)::

    with private_postgres() as server:
        url = server.create_database("store_test")   # postgresql://postgres@127.0.0.1:PORT/store_test
        ...

`initdb` and `postgres` refuse to run as root, so when the tests run as root both run as the `postgres`
system user (created by Debian's postgresql-common). The data directory then belongs to that user and is
removed when the context exits. Durability is switched off (fsync, synchronous_commit, full_page_writes):
a test database is thrown away with the run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server binaries are not installed (Debian: `apt-get install postgresql-15`)."""


def find_postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin holding initdb and postgres (or PG_BIN_DIR if set)."""
    override = os.environ.get("PG_BIN_DIR")
    candidates = [Path(override)] if override else []
    versioned = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(versioned, key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bin_dir in candidates:
        if (bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file():
            return bin_dir
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
        "(install them with `apt-get install postgresql-15`, or set PG_BIN_DIR)"
    )


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as() -> str | None:
    """The user the server processes must run as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as missing:
        raise PostgresUnavailable(
            "running as root but there is no `postgres` system user to run initdb as "
            "(Debian's postgresql-common creates it)"
        ) from missing
    return SUPERUSER


@dataclass
class PostgresServer:
    """A running private server. `url()` gives SQLAlchemy/psycopg style URLs for the superuser."""

    base_dir: Path
    port: int
    pid: int
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = "127.0.0.1"
    _databases: set[str] = field(default_factory=set)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "socket"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    def url(self, database: str = "postgres", *, driver: str = "") -> str:
        """`postgresql://postgres@127.0.0.1:PORT/DB`; driver="psycopg" gives `postgresql+psycopg://...`."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create the database if it does not exist yet; returns its URL (without a driver suffix)."""
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        if name not in self._databases:
            import psycopg

            with psycopg.connect(self.url(), autocommit=True) as connection:
                exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
                if not exists:
                    connection.execute(f'CREATE DATABASE "{name}"')
            self._databases.add(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._databases.discard(name)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT) of the postmaster by its pid; SIGKILL if it does not exit in time."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _check_traversable_by_others(directory: Path) -> None:
    """The `postgres` user must reach its data directory; pytest's own temp root is 0700 for root."""
    for ancestor in (directory, *directory.parents):
        if not ancestor.stat().st_mode & 0o001:
            raise RuntimeError(
                f"{ancestor} is not searchable by other users, so the `postgres` user cannot reach a data "
                "directory below it: give private_postgres() a parent directory outside it (default: the "
                "system temp dir)"
            )


def _wait_until_accepting(server: PostgresServer, deadline: float) -> None:
    import psycopg

    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not server.is_running():
            raise RuntimeError(f"PostgreSQL exited with code {server.process.returncode}:\n{server.log_tail()}")
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError as error:
            last_error = error
            time.sleep(0.05)
    raise TimeoutError(f"PostgreSQL did not accept connections in time ({last_error}):\n{server.log_tail()}")


def start_postgres(base_dir: Path, *, startup_timeout: float = 30.0) -> PostgresServer:
    """initdb into base_dir/data and start a server on 127.0.0.1 and a free port. base_dir must be empty or
    absent; when running as root it is handed to the `postgres` user."""
    bin_dir = find_postgres_bin_dir()
    run_as = _run_as()
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "socket").mkdir(exist_ok=True)
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        _check_traversable_by_others(base_dir.parent.resolve())
        for path in (base_dir, base_dir / "socket"):
            os.chown(path, account.pw_uid, account.pw_gid)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
    }
    data_dir = base_dir / "data"
    initdb = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ],
        user=run_as,
        env=environment,
        cwd=base_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout.decode(errors='replace')}")

    last_failure = ""
    for _attempt in range(3):  # another process may take the free port between probing and binding
        port = free_loopback_port()
        with open(base_dir / "postgres.log", "ab") as log:
            process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data_dir),
                    "-p",
                    str(port),
                    "-k",
                    str(base_dir / "socket"),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=32MB",
                    "-c",
                    "log_min_messages=warning",
                ],
                user=run_as,
                env=environment,
                cwd=base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal goes to pytest, which stops us in order
            )
        server = PostgresServer(base_dir=base_dir, port=port, pid=process.pid, process=process)
        try:
            _wait_until_accepting(server, time.monotonic() + startup_timeout)
            return server
        except (RuntimeError, TimeoutError) as failure:
            last_failure = str(failure)
            server.stop()
            if "Address already in use" not in server.log_tail():
                break
    raise RuntimeError(f"could not start PostgreSQL: {last_failure}")


@contextlib.contextmanager
def private_postgres(parent_dir: Path | None = None, *, keep_files: bool = False) -> Iterator[PostgresServer]:
    """Start a private server in a fresh directory (under parent_dir, or the system temp dir), stop it by pid
    and delete its files on exit."""
    base_dir = Path(tempfile.mkdtemp(prefix="pg-", dir=parent_dir))
    server: PostgresServer | None = None
    try:
        server = start_postgres(base_dir)
        yield server
    finally:
        if server is not None:
            server.stop()
        if not keep_files:
            shutil.rmtree(base_dir, ignore_errors=True)
