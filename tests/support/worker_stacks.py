"""Where a test's Celery worker is, thread by thread. On SIGUSR1 a Celery worker writes the stack of every thread
to its log (Celery's own debugging signal: `celery.apps.worker.install_cry_handler`); fault tests read it to prove a
worker is blocked where they mean to kill it, instead of sleeping and hoping it got there.

Ask only a worker that is up (it has started a task): until Celery installs its handler, SIGUSR1 ends the process.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from scheduler.embedded import ChildProcess
from tests.support.engine import wait_for

ROOT = Path(__file__).resolve().parents[2]
_SEPARATOR = "=" * 49  # celery.utils.debug.cry's line between a thread's name, its stack and its locals
_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line \d+, in (?P<function>\S+)$')


@dataclass(frozen=True)
class Frame:
    path: Path
    function: str


@dataclass(frozen=True)
class ThreadStack:
    name: str
    frames: tuple[Frame, ...]  # outermost first, as traceback prints them

    def calls(self, where: str) -> bool:
        """A frame in this project's `where` (a package or a module, relative to the repository)."""
        return any(frame.path.is_relative_to(ROOT / where) for frame in self.frames)

    @property
    def innermost(self) -> Frame:
        return self.frames[-1]

    @property
    def in_database_call(self) -> bool:
        """Inside SQLAlchemy's cursor execute, where the driver waits for SQLite's write lock."""
        return "sqlalchemy" in self.innermost.path.parts and self.innermost.function.startswith("do_execute")

    @property
    def joining_a_thread(self) -> bool:
        return self.innermost.path.name == "threading.py" and any(
            frame.function == "join" and frame.path.name == "threading.py" for frame in self.frames
        )

    def __str__(self) -> str:
        return f"{self.name}: " + " > ".join(f"{frame.path.name}:{frame.function}" for frame in self.frames[-6:])


def _path(text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else Path.cwd() / path  # the worker runs in the test's working directory


def parse_stacks(text: str) -> list[ThreadStack]:
    """The threads of the dumps in `text` whose stack is there in full (up to its closing separator line)."""
    lines = text.splitlines()
    stacks = []
    at = 0
    while at + 2 < len(lines):
        if lines[at + 1] != _SEPARATOR or not lines[at + 2].startswith('  File "'):
            at += 1
            continue
        frames = []
        end = at + 2
        while end < len(lines) and lines[end] != _SEPARATOR:
            found = _FRAME.match(lines[end])
            if found:
                frames.append(Frame(_path(found["path"]), found["function"]))
            end += 1
        if end < len(lines) and frames:
            stacks.append(ThreadStack(lines[at], tuple(frames)))
        at = end + 1
    return stacks


def thread_stacks(worker: ChildProcess, *, timeout: float = 10.0) -> list[ThreadStack]:
    """Ask a running worker (SIGUSR1) for the stack of each of its threads, and read them from its log."""
    assert worker.alive() and worker.pid is not None and worker.log_path is not None, f"{worker.name} is not running"
    log = worker.log_path
    start = log.stat().st_size
    os.kill(worker.pid, signal.SIGUSR1)

    def dumped() -> list[ThreadStack] | None:
        with log.open("rb") as handle:
            handle.seek(start)
            stacks = parse_stacks(handle.read().decode("utf-8", "replace"))
        # Celery writes the whole dump with one write(): once its main thread is there, the dump is.
        return stacks if any(stack.name == "MainThread" for stack in stacks) else None

    return wait_for(dumped, timeout=timeout, interval=0.01, what=f"{worker.name}'s thread stacks in its log")


def wait_until_blocked_recording(worker: ChildProcess, *, deliveries: int, timeout: float = 30.0) -> None:
    """Prove that `deliveries` publish tasks of `worker` are held up by the database the test holds locked
    (`database_held`), after their platform call: fails after `timeout` s otherwise.

    Call it once each delivery is PUBLISHING (its attempt is recorded, so no earlier step waits on the database) and
    the platform has answered. A publish task counts once its thread has returned from the adapter (no frame in
    platforms/) and is blocked: recording the outcome (in a database call), or stopping the lease keeper whose last
    extension is itself waiting for the database. And as many database calls on the publishing path must be waiting."""
    seen: list[ThreadStack] = []

    def blocked() -> bool:
        seen[:] = thread_stacks(worker)
        publishing = [stack for stack in seen if stack.calls("scheduler/publishing.py")]
        tasks = [stack for stack in publishing if stack.calls("workers")]  # not the lease keepers' threads
        past_the_adapter = [
            stack
            for stack in tasks
            if not stack.calls("platforms") and (stack.in_database_call or stack.joining_a_thread)
        ]
        waiting_on_the_database = [stack for stack in publishing if stack.in_database_call]
        return len(past_the_adapter) >= deliveries and len(waiting_on_the_database) >= deliveries

    try:
        wait_for(blocked, timeout=timeout, interval=0.05, what=f"{deliveries} publish task(s) blocked recording")
    except AssertionError as failure:
        threads = "\n  ".join(str(stack) for stack in seen)
        raise AssertionError(f"{failure}; {worker.name}'s threads last seen:\n  {threads}") from None
