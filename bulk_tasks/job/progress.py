"""What a run tells whoever watches it: the :class:`Progress` it calls, :class:`Silent` when
nobody does, and :class:`LogProgress`, which makes it lines of text for a log. The command
line's progress bar and log lines (:mod:`bulk_tasks.cli.progress`) are built on them; an
orchestrator's logger is one more ``log`` to give :class:`LogProgress`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from ..results import Status
from ..results.messages import counted


class Progress(Protocol):
    """What a run tells whoever is watching, as it goes.

    A run calls ``start`` once, then ``advance`` as each line ends, ``notice`` and ``wait``
    when there is something to say, and ``finish`` once, even when it stops on an error.
    Implement it to follow a run your own way;
    [`LogProgress`][bulk_tasks.LogProgress] makes it lines of text.
    """

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        """``total`` rows are coming (None: unknown, an XLSX read as it goes); ``notes`` are
        what the user should know of how the input was read; ``lines`` says what a line is
        ("rows", or "prospects" for Saleshandy)."""

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        """One more line ended with ``status`` (None: a blank row); ``row_done`` when it
        was its row's last."""

    def notice(self, message: str) -> None:
        """Something the user should know now (a stop has begun, say)."""

    def wait(self, what: str, *, seconds: float) -> None:
        """The run waits ``seconds`` before more lines end, ``what`` for ("for late
        answers before looking up 2 unknown rows at lemlist"): said in place of a time left,
        and left out of the pace."""

    def finish(self) -> None:
        """The run is over (done, stopped or failed)."""


class Silent:
    """Progress that nobody watches."""

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        pass

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def wait(self, what: str, *, seconds: float) -> None:
        pass

    def finish(self) -> None:
        pass


class Pace:
    """How fast rows end: the time since the start, the run's waits left out (a wait for
    late answers is no slowness of the rows), and the wait under way, if any."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.restart()

    def restart(self) -> None:
        self._started = self._wait_from = self._wait_until = self.clock()
        self._waited = 0.0  # the seconds of the waits over before the last one
        #: what the last wait was for
        self.waiting_for = ""

    def wait(self, what: str, *, seconds: float) -> None:
        now = self.clock()
        self._waited += min(now, self._wait_until) - self._wait_from
        self._wait_from, self._wait_until, self.waiting_for = now, now + seconds, what

    def seconds_to_wait(self) -> float:
        """What is left of the wait under way (0: none is)."""
        return max(self._wait_until - self.clock(), 0.0)

    def busy(self) -> float:
        """The clock with the waits left out: it stands still while the run waits."""
        now = self.clock()
        return now - self._waited - (min(now, self._wait_until) - self._wait_from)

    def per_second(self, done: int) -> float:
        return done / max(self.busy() - self._started, 1e-6)


def waiting(seconds: float, what: str) -> str:
    """What a run says while it waits: "waiting 30 s for late answers before …"."""
    return f"waiting {seconds:.0f} s {what}"


class LogProgress:
    """Progress as lines of text, for a log that nobody watches live: an orchestrator's
    task log, a cron job's mail.

    ``log`` is called with one line each time: the notes on how the input was read
    (``"Note: …"``), a line of progress at most every ``every`` seconds and one at the
    end (``"120/500 rows, 9.8 rows/s, ~39 s left (created 118, failed 2)"``), and what the
    run waits for or wants known. Any callable that takes a string will do: a logger's
    ``info``, a Dagster asset's ``context.log.info``, ``print``.

    Args:
        log: called with each line.
        every: the fewest seconds between two lines of progress.
        clock: what the pace is measured by (a test moves its own).
    """

    def __init__(
        self,
        log: Callable[[str], object],
        *,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self.every = every
        self._counts: Counter[Status] = Counter()
        self._done = 0
        self._total: int | None = None
        self._noun = "rows"
        self._pace = Pace(clock)
        self._last = clock()
        #: the rows done when the last line of progress was said
        self._said_done = 0

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        for note in notes:
            self._say(f"Note: {note}")
        self._total = total
        self._noun = lines
        self._pace.restart()
        self._last = self._pace.clock()

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        self._done += row_done
        if status is not None:
            self._counts[status] += 1
        if self._pace.clock() - self._last >= self.every:
            self._line()

    def notice(self, message: str) -> None:
        self._say(message)

    def wait(self, what: str, *, seconds: float) -> None:
        self._pace.wait(what, seconds=seconds)
        self._report(waiting(seconds, what))

    def finish(self) -> None:
        if self._done != self._said_done:
            self._line()

    def _say(self, text: str) -> None:
        """A note or a notice: said as it is."""
        self._log(text)

    def _report(self, text: str) -> None:
        """A line of progress, or a wait."""
        self._log(text)

    def _line(self) -> None:
        self._last = self._pace.clock()
        done = self._said_done = self._done
        per_second = self._pace.per_second(done)
        of = f"/{self._total}" if self._total is not None else ""
        left = ""
        if self._total and per_second > 0 and done < self._total:
            left = f", ~{(self._total - done) / per_second:.0f} s left"
        counts = ", ".join(f"{s.value} {n}" for s, n in sorted(self._counts.items()))
        if self._noun != "rows":
            counts = f"{counted(sum(self._counts.values()), self._noun)}: {counts}"
        self._report(f"{done}{of} rows, {per_second:.1f} rows/s{left} ({counts})")
