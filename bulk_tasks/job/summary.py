"""Where each line ends: its line in the results file, its count in the :class:`Summary`,
its tick of :class:`~bulk_tasks.job.progress.Progress`, all three through one
:class:`Recorder`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from ..results import DONE, Journal, Outcome, Status
from ..rows.inputs import Row
from ..rows.rules import Line, Rules
from ..sending.traffic import Traffic

if TYPE_CHECKING:
    from .progress import Progress


@dataclass
class RowTally:
    """How rows ended, as their lines end: every line done, some, or none."""

    fully: int = 0
    partly: int = 0
    not_done: int = 0
    blank: int = 0
    #: the first few rows partly done, to point at
    partly_rows: list[int] = field(default_factory=list)
    #: rows with lines still to end: row -> [lines left, lines done, lines in all]
    _open: dict[int, list[int]] = field(default_factory=dict, repr=False)

    @property
    def ended(self) -> int:
        return self.fully + self.partly + self.not_done

    def expect(self, row: int, lines: int) -> None:
        self._open[row] = [lines, 0, lines]

    def line_ended(self, row: int, *, done: bool) -> bool:
        """One of ``row``'s lines ended; True when it was the row's last."""
        entry = self._open[row]
        entry[0] -= 1
        entry[1] += done
        if entry[0]:
            return False
        _, lines_done, lines = self._open.pop(row)
        if lines_done == lines:
            self.fully += 1
        elif lines_done:
            self.partly += 1
            if len(self.partly_rows) < 10:
                self.partly_rows.append(row)
        else:
            self.not_done += 1
        return True


#: how many of a reason's rows a summary names
FIRST_ROWS = 5


@dataclass
class InvalidReasons:
    """Why lines were invalid: for each reason (:meth:`~bulk_tasks.rows.rules.Rules.reasons`), the
    lines it made invalid and the first few of their rows."""

    lines: Counter[str] = field(default_factory=Counter)
    first_rows: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reasons: Iterable[str], row: int, *, lines: int = 1) -> None:
        """``lines`` more lines of ``row`` made invalid by each of ``reasons``."""
        for reason in reasons:
            self.lines[reason] += lines
            rows = self.first_rows.setdefault(reason, [])
            if len(rows) < FIRST_ROWS and row not in rows:
                rows.append(row)

    def most_common(self, count: int = 5) -> list[tuple[str, int, list[int]]]:
        """The ``count`` reasons that made the most lines invalid, two lines or more each:
        each reason, its lines and its first rows."""
        return [
            (reason, lines, self.first_rows[reason])
            for reason, lines in self.lines.most_common(count)
            if lines >= 2
        ]


class Ledgered(StrEnum):
    """What the task ledger made of a line before it was sent."""

    #: an earlier run created its task: skipped
    CREATED_BEFORE = "created by an earlier run"
    #: with --row-key: its task exists and the row is as it was then: skipped
    UNCHANGED = "unchanged"
    #: with --row-key: its row was edited since, and its task updated
    UPDATED = "updated"
    #: with --row-key: its row was edited in what the vendor cannot update: failed
    NOT_UPDATABLE = "edited, not updatable"
    #: another run was creating it: this one waited, and that run said how it ended
    CREATED_ELSEWHERE = "created by another run meanwhile"


class Resolved(StrEnum):
    """What became of a line left unknown once it was looked up at the vendor, or that it
    could not be (the vendor has no task list to read)."""

    FOUND = "found"
    SENT_AGAIN = "sent again"
    STILL_UNKNOWN = "still unknown"
    NOT_ASKED = "not asked"


@dataclass
class Summary:
    """How a run ended: the lines by status, the rows, the requests it sent, where the
    results file is, and why the run stopped if it did. [`run`][bulk_tasks.run],
    [`validate`][bulk_tasks.validate] and [`resolve`][bulk_tasks.resolve] return one.

    A line is a row (lemlist, Attio) or one of a row's prospects (Saleshandy). Its status
    is one of [`Status`][bulk_tasks.Status]: ``created``, ``updated`` and ``skipped`` are done;
    every other one says on its line of the results file why, and what to do.

    Attributes:
        results: the results file (a validation's file for [`validate`][bulk_tasks.validate]).
        line_noun: what a line is: "rows" when each row is one line, "prospects" for
            Saleshandy.
        vendor: the vendor, as it writes its name ("Saleshandy").
        counts: the lines by status.
        rows: the rows fully, partly and not done (a row of Saleshandy has a line per
            prospect), and the blank rows.
        notes: what the user should know of how the input was read (its encoding, how a
            date column was read).
        stopped: why the run stopped before its end (None: it did not).
        keys_unused: a key variable that was not set, or whose key the vendor refused ->
            what became of its rows.
        seconds: how long the run took.
        resolved: the ``unknown`` lines looked up at the vendor, by what became of them:
            found, sent again, still unknown, or not asked (the vendor cannot be asked).
        by_earlier_files: lines not sent because an earlier file of an inbox sent them, by
            the status they end with: skipped (the task exists) or unknown (it may).
        by_ledger: what the task ledger made of lines before they were sent.
        invalid_reasons: why lines were invalid, with the first rows of each reason.
        validation: whether this is a validation's summary (nothing was sent).
        traffic: the requests the run sent to the vendor, the 429 answers and the
            retries.
    """

    results: Path
    line_noun: str = "rows"
    vendor: str = ""
    counts: Counter[Status] = field(default_factory=Counter)
    rows: RowTally = field(default_factory=RowTally)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    keys_unused: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    resolved: Counter[Resolved] = field(default_factory=Counter)
    by_earlier_files: Counter[Status] = field(default_factory=Counter)
    by_ledger: Counter[Ledgered] = field(default_factory=Counter)
    invalid_reasons: InvalidReasons = field(default_factory=InvalidReasons)
    validation: bool = False
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def lines(self) -> int:
        """Every line that ended, whatever its status."""
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """0: every line done (a validation's: every line valid); 1: finished, some lines
        not done (invalid); 2: stopped."""
        if self.stopped:
            return 2
        if self.validation:
            return 0 if not self.counts[Status.INVALID] else 1
        return 0 if all(status in DONE for status in self.counts) else 1

    def as_dict(self) -> dict[str, object]:
        """The summary as plain values, ready for JSON (an orchestrator's task result, a
        log record): the vendor, the results file, rows and lines, the lines by status
        (statuses with none left out), seconds, the exit code, why it stopped (or None),
        and but for a validation, the requests sent, the 429 answers and the retries."""
        plain: dict[str, object] = {
            "vendor": self.vendor,
            "results": str(self.results),
            "rows": self.rows.ended,
            "lines": self.lines,
            "line_noun": self.line_noun,
            "counts": {status.value: n for status, n in self.counts.items() if n},
            "blank_rows": self.rows.blank,
            "seconds": round(self.seconds, 2),
            "exit_code": self.exit_code,
            "stopped": self.stopped,
        }
        if not self.validation:
            plain |= {
                "requests": self.traffic.requests,
                "rate_limited": self.traffic.rate_limited,
                "retries": self.traffic.retries,
            }
        return plain


class Recorder:
    """Ends lines: writes each one's outcome to the results file, counts it, ticks progress."""

    def __init__(self, journal: Journal, summary: Summary, progress: Progress) -> None:
        self._write = journal.write
        self._counts = summary.counts
        self._invalid_reasons = summary.invalid_reasons
        self._line_ended = summary.rows.line_ended
        self._advance = progress.advance

    def record(self, row: Row, fingerprint: str, outcome: Outcome) -> None:
        """The outcome of one of ``row``'s lines, as its results line says it."""
        self._write(row, outcome, fingerprint)
        self._counts[outcome.status] += 1
        done = self._line_ended(row.number, done=outcome.status in DONE)
        self._advance(outcome.status, row_done=done)

    def record_line(self, line: Line, outcome: Outcome) -> None:
        """The outcome of ``line``, with its prospect and notes."""
        self.record(line.row, line.fingerprint, line.complete(outcome))

    def record_invalid(self, line: Line, rules: Rules) -> None:
        """``line`` is invalid: its outcome says why, and its reasons are counted."""
        self._invalid_reasons.add(rules.reasons(line), line.row.number)
        self.record_line(line, rules.invalid_outcome(line))
