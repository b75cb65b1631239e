"""The run's journal: lines appended as they settle, made durable before a request goes
out, compacted when the run ends, and read back by ``--resume`` (see :mod:`bulk_tasks.results`).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import IO

from ..errors import OtherDestination, ResultsError
from ..rows.inputs import Row
from .formats import (
    CsvFormat,
    LineCells,
    format_of,
    line_cells,
    line_key,
    new_format,
    outcome_of,
    read_lines,
)
from .outcomes import (
    DESTINATION,
    EXISTS_OR_MAY,
    INTERRUPTED,
    Outcome,
    Status,
    check_format,
    is_sandbox,
    is_xlsx,
    journal_path,
    result_headers,
    vendor_of,
)
from .xlsx import export_xlsx, import_xlsx

# --- reading a journal -----------------------------------------------------------------------


def read_journal(path: Path) -> dict[str, Outcome]:
    """The last outcome per fingerprint in a results file, ``sending`` read as unknown."""
    return _read_earlier(path)[0]


def _read_earlier(path: Path) -> tuple[dict[str, Outcome], set[str]]:
    """:func:`read_journal`, and every destination the lines name."""
    state: dict[str, Outcome] = {}
    destinations: set[str] = set()
    with read_lines(path) as (_, lines):
        for line in lines:
            outcome = outcome_of(_ended(line))
            if outcome is not None:
                state[line_key(line)] = outcome
                destinations.add(line.get(DESTINATION, ""))
    destinations.discard("")  # a file of a version that did not write it
    return state, destinations


def destination_in(path: Path) -> str | None:
    """The destination the first line of a results file names (None: it names none)."""
    if is_xlsx(path) and path.exists():
        from openpyxl import load_workbook  # imported late: only XLSX results need it

        try:
            rows = (
                load_workbook(path, read_only=True)
                .worksheets[0]
                .iter_rows(max_row=2, values_only=True)
            )
            header, first = (list(values) for values in rows)
        except (OSError, ValueError, KeyError):
            return None
        cells = dict(zip(header, first, strict=False))
        return str(cells.get(DESTINATION) or "") or None
    try:
        with read_lines(journal_path(path)) as (_, lines):
            return next(lines, {}).get(DESTINATION) or None
    except ResultsError:
        return None


def may_hold_tasks(path: Path) -> bool:
    """Whether a file says that some task exists, or may (a file not ours: it may).

    A streaming pass that keeps nothing and stops at the first such line.
    """
    kind = format_of(path)
    exists_or_may = {status.value for status in EXISTS_OR_MAY}
    try:
        if isinstance(kind, CsvFormat) and _plainly_csv(path, kind):
            return _scan(path, _task_line(kind.delimiter))
        with path.open(encoding=kind.encoding, newline="") as file:
            return any(status in exists_or_may for status in kind.statuses(file))
    except (OSError, UnicodeDecodeError, csv.Error, ResultsError):
        return True


@functools.cache
def _task_line(delimiter: str) -> re.Pattern[bytes]:
    """A line of a results file as this tool writes it, whose status says a task exists or
    may. The pattern starts at the newline before the line: anchored so, it runs ten times
    faster than with ``^`` (the first line is the header, checked on its own)."""
    statuses = b"|".join(status.value.encode() for status in EXISTS_OR_MAY)
    cut = re.escape(delimiter.encode())
    return re.compile(rb"\n\d+" + cut + rb"(?:" + statuses + rb")" + cut)


_QUOTED_LINE = re.compile(rb'\n"')


def _plainly_csv(path: Path, kind: CsvFormat) -> bool:
    """A results CSV whose lines all start as this tool writes them (no quoted first cell), so
    that :func:`_task_line` may scan its bytes; anything else is read cell by cell. A
    file whose header is not ours raises :class:`ResultsError`."""
    with path.open(encoding=kind.encoding, newline="") as file:
        kind.header(file, kind.reader(file))
    return not _scan(path, _QUOTED_LINE)


def _scan(path: Path, pattern: re.Pattern[bytes]) -> bool:
    """Whether ``pattern``, which starts with a newline, is in the file: a block at a time,
    in C. The part of a block from its last newline on is searched again with the next."""
    carry = b""
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            text = carry + block
            if pattern.search(text):
                return True
            carry = text[text.rfind(b"\n") :] if b"\n" in text else b""
    return False


def _ended(line: LineCells) -> LineCells:
    """A ``sending`` mark that no outcome followed: the request may have arrived."""
    if line.get("status") != Status.SENDING:
        return line
    return line | {"status": "unknown", "error_code": "interrupted", "error_message": INTERRUPTED}


def compact(
    path: Path, *, headers: Sequence[str] = (), current: Set[str] | None = None
) -> list[str]:
    """Rewrite a journal with one line per row; returns the headers it now has.

    The last line per fingerprint is kept, a ``sending`` mark with no outcome after it
    becomes ``unknown``, and a row no longer in the input (``current`` says which are) keeps
    its line only when it tells of a task that exists or may. Streams twice, with the place
    of each fingerprint's last line kept in a temporary SQLite file, so memory stays the same
    however long the journal; written to a temporary file and renamed, so a crash leaves the
    old file or the new.
    """
    with contextlib.closing(sqlite3.connect("")) as places:  # "": a temporary file
        old_headers = _place_last_lines(path, places)
        last = (index for (index,) in places.execute("SELECT line FROM last ORDER BY line"))
        columns = [*headers, *(name for name in old_headers if name not in headers)]
        kind = format_of(path)
        temporary = path.with_name(path.name + ".tmp")
        with (
            read_lines(path) as (_, lines),
            temporary.open("w", encoding=kind.encoding, newline="") as out,
        ):
            if kind.has_header:
                out.write(kind.line(columns, columns))
            kept = next(last, None)
            for index, line in enumerate(lines):
                if index != kept:
                    continue
                kept = next(last, None)
                stale = current is not None and line_key(line) not in current
                if stale and line["status"] not in EXISTS_OR_MAY:
                    continue
                out.write(kind.again(_ended(line), columns))
            out.flush()
            os.fsync(out.fileno())
    os.replace(temporary, path)
    return columns


def _place_last_lines(path: Path, places: sqlite3.Connection) -> list[str]:
    """Where each fingerprint's last line is in a journal, into ``places``' table ``last``;
    returns the journal's headers."""
    places.execute("CREATE TABLE last (key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
    with read_lines(path) as (headers, lines):
        places.executemany(
            "INSERT OR REPLACE INTO last VALUES (?, ?)",
            ((line_key(line), index) for index, line in enumerate(lines)),
        )
    return headers


def sent_elsewhere(path: Path, *, found: str, wanted: str) -> OtherDestination:
    """Why a run to ``wanted`` cannot carry on from ``path``, whose lines went to ``found``."""
    if is_sandbox(found) and vendor_of(found) == wanted:
        said = (
            f"{path} holds the results of a --sandbox trial: those tasks exist only in the "
            f"sandbox, never in {wanted}, so a real run cannot carry on from it. Start the real "
            "run over with --force (the trial's file is kept as a backup), or give it "
            "another --results"
        )
    elif is_sandbox(wanted):
        said = (
            f"{path} holds the results of a run sent to {found}; a --sandbox trial cannot "
            "carry on from it: give the trial another --results"
        )
    else:
        said = (
            f"{path} holds lines sent to {found}, and this run sends to {wanted}: give it "
            "another --results"
        )
    return OtherDestination(said, path=str(path), found=found, wanted=wanted)


# --- writing ---------------------------------------------------------------------------------


class Journal:
    """The results file of one run: lines appended as rows settle, durable before sending.

    With ``resume``, the existing file is compacted (which also drops a line torn by a kill)
    and appended to; otherwise a new file is started, a CSV one with ``delimiter``. Every
    line names ``destination`` (where the run sends); a file whose lines went elsewhere
    cannot be resumed (:class:`~bulk_tasks.errors.OtherDestination`). A ``validation`` writes
    one line per row, each flushed only at the end, and never marks one ``sending``.
    """

    def __init__(
        self,
        path: Path,
        input_headers: Sequence[str],
        *,
        destination: str,
        delimiter: str = ",",
        resume: bool = False,
        validation: bool = False,
    ) -> None:
        check_format(path)
        self.path = path
        self.destination = destination
        self._journal = journal_path(path)
        wanted = result_headers(input_headers)
        imported = resume and is_xlsx(path) and not self._journal.exists() and path.exists()
        if imported:
            import_xlsx(path, self._journal)
        resuming = resume and self._journal.exists()
        # a file carried on keeps its own delimiter
        self._format = (
            format_of(self._journal) if resuming else new_format(self._journal, delimiter=delimiter)
        )
        #: when an earlier run last wrote the file (seconds since the epoch; a new file:
        #: now), before this one compacts it: its unanswered requests are that old at least
        self.earlier_changed = (
            os.stat(path if imported else self._journal).st_mtime if resuming else time.time()
        )
        self._headers = compact(self._journal, headers=wanted) if resuming else wanted
        #: the last word of earlier runs on each row, by fingerprint (empty unless resuming)
        self.earlier: Mapping[str, Outcome] = {}
        if resuming:
            self.earlier, destinations = _read_earlier(self._journal)
            elsewhere = sorted(destinations - {destination})
            if elsewhere:
                if imported:  # the workbook stays the only copy, as it was
                    self._journal.unlink()
                raise sent_elsewhere(path, found=elsewhere[0], wanted=destination)
        # which rows this run wrote: only a resumed file can hold rows no longer in the input
        self._written: set[str] | None = set() if resuming else None
        #: flush every line to the OS as it is written (a run), or only at the end (validate)
        self._flush_each = not validation
        #: tidy the file to one line per row at the end (a validation's has one already)
        self._compacts = not validation
        self._width = len(self._headers)
        self._file = self._open("a" if resuming else "w")
        if not resuming and self._format.has_header:
            try:
                self._put(self._format.line(self._headers, self._headers))
            except ResultsError:
                self.abandon()
                raise

    def _open(self, mode: str) -> IO[str]:
        try:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            if self._format.encoding != "utf-8-sig":
                return self._journal.open(mode, encoding=self._format.encoding, newline="")
            # the BOM by hand: Python's utf-8-sig encoder is Python code, run on every write
            file = self._journal.open(mode, encoding="utf-8", newline="")
            if file.tell() == 0:
                file.write("\ufeff")
            return file
        except OSError as error:
            raise ResultsError(
                f"cannot write the results file {self._journal}: {error.strerror}; "
                "choose another place with --results"
            ) from None

    def write(self, row: Row, outcome: Outcome, fingerprint: str) -> None:
        """A line's outcome: written and flushed now, fsynced with the next batch."""
        if self._written is not None:
            self._written.add(fingerprint)
        cells = line_cells(row, outcome, fingerprint, self.destination)
        if len(cells) < self._width:
            cells += [""] * (self._width - len(cells))  # columns only older lines have
        try:
            self._format.put(self._file, self._headers, cells)
            if self._flush_each:
                self._file.flush()
        except OSError as error:
            raise self._failure(error) from None

    def tasks_among(self, task_ids: Set[str]) -> set[str]:
        """The ones of ``task_ids`` that a line of the file names, read from the disk now
        (every line written is flushed): the file is where a run keeps the tasks it knows,
        so their number costs no memory."""
        if not task_ids:
            return set()
        with read_lines(self._journal) as (_, lines):
            return {line["remote_id"] for line in lines if line.get("remote_id") in task_ids}

    @property
    def headers(self) -> list[str]:
        """The file's columns: ours, then the input's."""
        return list(self._headers)

    @property
    def file(self) -> Path:
        """The file lines are appended to: the results file, or its partial CSV beside an XLSX."""
        return self._journal

    def sending(self, lines: Iterable[tuple[Row, str, str]]) -> None:
        """Mark lines (row, prospect id, fingerprint) as on their way; returns once the marks
        would survive a power cut.

        The fsync runs here, on the event loop's own thread, right before the request goes
        out: at a vendor's pace (tens of requests a second) its wait costs little.
        """
        for row, prospect_id, fingerprint in lines:
            self.write(row, Outcome(status=Status.SENDING, prospect_id=prospect_id), fingerprint)
        try:
            os.fsync(self._file.fileno())
        except OSError as error:
            raise self._failure(error) from None

    def _put(self, text: str) -> None:
        try:
            self._file.write(text)
            if self._flush_each:
                self._file.flush()
        except OSError as error:
            raise self._failure(error) from None

    def _failure(self, error: OSError) -> ResultsError:
        return ResultsError(
            f"cannot write to {self._journal}: {error.strerror}; every line already written "
            "is kept: make room, then run again with --resume"
        )

    def close(self) -> None:
        """Make every line durable, compact the file to one line per row, export XLSX."""
        try:
            os.fsync(self._file.fileno())
        except OSError as error:
            self.abandon()
            raise self._failure(error) from None
        self._file.close()
        try:
            if self._compacts:
                compact(self._journal, headers=self._headers, current=self._written)
        except OSError as error:
            raise ResultsError(
                f"every row is recorded in {self._journal}, but tidying it failed "
                f"({error.strerror}); run again with --resume to tidy it"
            ) from None
        if is_xlsx(self.path):
            export_xlsx(self._journal, self.path)

    def abandon(self) -> None:
        """Close without tidying (the disk is full, say): the journal stays as it is."""
        with contextlib.suppress(OSError):
            self._file.close()
