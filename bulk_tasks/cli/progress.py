"""What a run shows while it works: a progress bar at a terminal, log lines elsewhere.

The bar moves by rows (their total is known from the start); the counts are of lines, which
are rows for lemlist and prospects for Saleshandy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from ..job.progress import LogProgress, Pace, Progress, waiting
from ..results import Status
from ..results.messages import counted


def _print_notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(f"Note: {note}")


def watcher(
    console: Console,
    *,
    json_lines: bool = False,
    input: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """A bar for a person at a terminal; plain lines for cron and logs; JSON for shippers,
    whose records name ``input``, the file the run reads. ``clock`` is what the pace is
    measured by (a test moves its own)."""
    if json_lines:
        return _JsonProgress(console, input=input, clock=clock)
    if console.is_terminal:
        return _BarProgress(console, clock=clock)
    return _LogLines(console, clock=clock)


class Once:
    """Something to say once, however often it is asked for."""

    def __init__(self, say: Callable[[], None]) -> None:
        self._say: Callable[[], None] | None = say

    def __call__(self) -> None:
        say, self._say = self._say, None
        if say is not None:
            say()


class Announced:
    """A watcher that says ``announcement`` as the run starts: only once the run has read its
    input and taken its results file, so that a run refused before then never says it."""

    def __init__(self, watcher: Progress, announcement: Callable[[], None]) -> None:
        self._watcher = watcher
        self._announcement = announcement

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        self._announcement()
        self._watcher.start(total, notes, lines=lines)

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        self._watcher.advance(status, row_done=row_done)

    def notice(self, message: str) -> None:
        self._watcher.notice(message)

    def wait(self, what: str, *, seconds: float) -> None:
        self._watcher.wait(what, seconds=seconds)

    def finish(self) -> None:
        self._watcher.finish()


def json_line(event: str, *, level: str = "info", **fields: object) -> str:
    """One log record as a line of JSON: time, level, event, then the fields."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {"time": stamp, "level": level, "event": event, **fields}
    return json.dumps(record, ensure_ascii=False, default=str)


class _TimeLeft(TimeRemainingColumn):
    """The time left; while the run waits, what for and for how much longer instead."""

    def __init__(self, pace: Pace) -> None:
        super().__init__()
        self._pace = pace

    def render(self, task: Task) -> Text:
        left = self._pace.seconds_to_wait()
        if left > 0:
            return Text(waiting(left, self._pace.waiting_for), style="progress.remaining")
        return super().render(task)


class _BarProgress:
    """A progress bar with done/total, rate and time left, for a person at a terminal."""

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._pace = Pace(clock)
        self._bar = RichProgress(
            TextColumn("rows"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            _TimeLeft(self._pace),
            console=console,
            get_time=self._pace.busy,  # its own time left leaves the waits out too
        )
        self._task = self._bar.add_task("rows", total=None, rate="")
        self._done = 0
        self._lines = 0
        self._noun = "rows"

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        _print_notes(self._bar.console, notes)
        self._pace.restart()
        self._noun = lines
        self._bar.update(self._task, total=total)
        self._bar.start()

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        self._lines += status is not None
        self._done += row_done
        self._show(rows=int(row_done))

    def _show(self, *, rows: int) -> None:
        rate = f"{self._pace.per_second(self._done):.1f} rows/s"
        if self._noun != "rows":
            rate = f"{counted(self._lines, self._noun)}, {rate}"
        self._bar.update(self._task, advance=rows, rate=rate)

    def notice(self, message: str) -> None:
        self._bar.console.print(message)

    def wait(self, what: str, *, seconds: float) -> None:
        self._pace.wait(what, seconds=seconds)
        self._bar.console.print(waiting(seconds, what))

    def finish(self) -> None:
        self._bar.stop()


class _LogLines(LogProgress):
    """Plain lines every few seconds, for cron and logs where no one watches a bar: each
    line of progress and each wait with the time it was said."""

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(console.print, clock=clock)
        self._console = console

    def _report(self, text: str) -> None:
        self._console.print(f"[{time.strftime('%H:%M:%S')}] {text}")


class _JsonProgress(_LogLines):
    """The same rhythm as the log lines, as JSON: for log shippers."""

    def __init__(
        self,
        console: Console,
        *,
        input: Path | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(console, clock=clock)
        self._input = None if input is None else str(input)

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        for note in notes:
            self._console.print(json_line("note", message=note))
        super().start(total, [], lines=lines)
        self._console.print(
            json_line("run.started", input=self._input, rows_total=total, lines=lines)
        )

    def notice(self, message: str) -> None:
        self._console.print(json_line("notice", level="warning", message=message))

    def wait(self, what: str, *, seconds: float) -> None:
        self._pace.wait(what, seconds=seconds)
        said = waiting(seconds, what)
        self._console.print(json_line("waiting", message=said, seconds=round(seconds, 1)))

    def _line(self) -> None:
        self._last = self._pace.clock()
        self._said_done = self._done
        counts = {status.value: n for status, n in sorted(self._counts.items())}
        self._console.print(
            json_line(
                "progress",
                input=self._input,
                rows_done=self._done,
                rows_total=self._total,
                rows_per_second=round(self._pace.per_second(self._done), 2),
                lines=self._noun,
                counts=counts,
            )
        )
