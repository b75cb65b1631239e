"""What the end-to-end tests share: running the real command, reading its results; and an
event loop whose clock the tests move."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bulk_tasks.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_inputs"
#: the vendors' documentation pages the sandbox's schemas are derived from
SEEDS = ROOT / "tests" / "seeds"
KEY = "test-key-Zq7-never-printed"
KEY_VARIABLES = ("LEMLIST_API_KEY", "SALESHANDY_API_KEY", "ATTIO_API_KEY")

T = TypeVar("T")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def environment(*, key: str | None, env: dict[str, str] | None) -> dict[str, str]:
    """This process's variables with ``key`` in every vendor's (None: none is set), and
    ``env`` added."""
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | (env or {})
    if key is not None:
        environ |= dict.fromkeys(KEY_VARIABLES, key)
    return environ


def bulk_tasks(
    *args: str | Path,
    key: str | None = KEY,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> Ran:
    """Run the real command as a user would, in this process: typer's runner runs the app
    as :func:`bulk_tasks.cli.commands.main` does (named ``bulk-tasks``, its warnings on stderr) with
    ``args``, in ``cwd``, and captures what it prints and its exit code. For every test where
    the process itself is not the point; :func:`bulk_tasks_in_child` is for those where it is.

    ``key`` goes into every vendor's variable (None: none is set); ``env`` adds variables.
    An exception the command lets out fails the test with its traceback.
    """
    from typer.testing import CliRunner

    from bulk_tasks.cli.commands import app, terminal_logging
    from bulk_tasks.cli.output import say

    unset: dict[str, str | None] = {name: None for name in os.environ if name.endswith("_API_KEY")}
    variables = unset | dict.fromkeys(KEY_VARIABLES, key) | (env or {})
    say.json = False  # as in a new process: --log-format's default until a command sets it
    with contextlib.chdir(cwd), terminal_logging():
        result = CliRunner().invoke(
            app, [str(arg) for arg in args], env=variables, prog_name="bulk-tasks"
        )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def bulk_tasks_in_child(
    *args: str | Path,
    key: str | None = KEY,
    cwd: Path = ROOT,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> Ran:
    """Run the real command in a child process (``python -m bulk_tasks``), for the tests
    where the process is the point: its entry point, its exit, several processes at once.

    ``key`` goes into every vendor's variable (None: none is set); ``env`` adds variables.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bulk_tasks", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment(key=key, env=env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def popen(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the real command in the background, with every vendor's key set; ``env`` adds
    variables. Tests start it through the ``background`` fixture, which ends it."""
    return subprocess.Popen(
        [sys.executable, "-m", "bulk_tasks", *map(str, args)],
        cwd=ROOT,
        env=environment(key=KEY, env=env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Background:
    """The runs of the command a test starts in the background (:meth:`start`).

    :meth:`close` kills those still running and closes the pipes of every one, whatever the
    test did with them: the ``background`` fixture calls it when the test ends, passed or
    failed. A pipe left open would be closed by the garbage collector some tests later,
    whose ResourceWarning fails whichever test is running then.
    """

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[str]] = []

    def start(self, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = popen(*args, env=env)
        self._started.append(process)
        return process

    def close(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.kill()
            with process:  # closes its pipes and waits for it
                pass
        self._started.clear()


def wait_for_sent(
    sandbox: Sandbox, count: int, run: subprocess.Popen[str], *, seconds: float = 120
) -> None:
    """Until the sandbox has seen ``count`` requests (the run under test got going).

    A run that ends before fails the wait at once, with what it said. ``seconds`` only
    bounds a run that neither sends nor ends: it is far from the second a run takes.
    """
    deadline = time.monotonic() + seconds
    while len(sandbox.arrivals) < count:
        if run.poll() is not None:
            stdout, stderr = run.communicate()
            raise AssertionError(
                f"the run ended (exit code {run.returncode}) after {len(sandbox.arrivals)} of "
                f"{count} requests:\n{stdout}{stderr}"
            )
        assert time.monotonic() < deadline, f"{len(sandbox.arrivals)} of {count} in {seconds} s"
        time.sleep(0.02)


@contextlib.contextmanager
def once_sent(
    sandbox: Sandbox, count: int, action: Callable[[], object], *, seconds: float = 120
) -> Iterator[None]:
    """Within the block (a run of the command in this process), ``action`` is done from a
    thread as soon as the sandbox has seen ``count`` requests; the block fails if it never
    was. ``seconds`` only bounds a run that never sends that many."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + seconds
        while len(sandbox.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        if len(sandbox.arrivals) >= count:
            action()
            done.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield
    watcher.join(seconds)
    assert done.is_set(), f"{len(sandbox.arrivals)} of {count} requests: never acted"


def read_results(path: Path) -> list[dict[str, str]]:
    """A results CSV's lines, separated by commas, or by semicolons when its header is."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        delimiter = ";" if file.readline().startswith("row;") else ","
        file.seek(0)
        return list(csv.DictReader(file, delimiter=delimiter))


class _JumpingSelector:
    """An event loop's selector that never sleeps: when nothing is ready and the loop would
    wait for its next timer, it moves the loop's clock to that timer instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop
        self._real = selectors.DefaultSelector()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0 if timeout is not None else None)
        if not ready and timeout:
            self._loop.now += timeout
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a clock of its own, which jumps to the next timer whenever every task
    waits: a sleep takes no real time, and times read from ``loop.time()`` are exact. For
    code whose waits and clock are the loop's (the rate window's are, by default)."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))  # type: ignore[arg-type]

    def time(self) -> float:
        return self.now


def in_virtual_time(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to its end on a :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()
