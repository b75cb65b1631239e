"""The results file, which is also the run's journal.

The file reports on *lines*: one per row, or one per row and prospect for a vendor whose
task names many prospects (Saleshandy). While a run works, the file only grows. Before a
request goes out, a line with status ``sending`` is written for each line it carries and
made durable (flushed, and fsynced together with whatever else is pending, so the disk is
not asked once per line); when the answer comes, a second line with the outcome follows.
Whatever stops the run, even ``kill -9``, the file tells every line's state: a line whose
last entry says ``sending`` may have reached the vendor, and :func:`read_journal` reports it
as ``unknown``. When a run ends (finished, stopped, or interrupted), the file is compacted
in place: one entry per line, no ``sending`` entries.

Lines are known by their *fingerprint* (the ``fingerprint`` column): a hash of what the line
asks for, plus ``#2``, ``#3``... for identical lines after the first, so an edited row makes
new lines and an unchanged one is recognised even when rows were inserted above it.

The format follows the extension: ``.csv`` (the default), ``.jsonl``, or ``.xlsx``. An XLSX
cannot be appended to, so its journal is a CSV beside it (``NAME.xlsx.partial.csv``) until
the run ends and the workbook is written from it. CSV and XLSX files are safe to open in a
spreadsheet program: no cell can run as a formula (see :mod:`bulk_tasks.safe_cells`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from .errors import ResultsError
from .inputs import Row, cell_text
from .safe_cells import RISKY_STARTS, defuse_all, restore

RESULT_COLUMNS = (
    "row",
    "status",
    "remote_id",
    "prospect_id",
    "http_status",
    "error_code",
    "error_message",
    "attempts",
    "fingerprint",
)
FORMATS = (".csv", ".jsonl", ".xlsx")


class Status(StrEnum):
    CREATED = "created"  # done
    UPDATED = "updated"  # done
    INVALID = "invalid"  # refused by our own validation, never sent
    FAILED = "failed"  # refused by the vendor
    UNKNOWN = "unknown"  # sent, but the outcome could not be learned: it may exist
    NOT_SENT = "not_sent"  # the run stopped before it
    SKIPPED = "skipped"  # already done by an earlier run of the same results file
    SENDING = "sending"  # journal only: on its way; a later line for the row supersedes it


DONE = frozenset({Status.CREATED, Status.UPDATED, Status.SKIPPED})
#: what a line may say about a task that exists, or may: never dropped from the file
EXISTS_OR_MAY = frozenset({*DONE, Status.UNKNOWN, Status.SENDING})


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: Status
    remote_id: str = ""
    prospect_id: str = ""
    http_status: int | None = None
    error_code: str = ""
    error_message: str = ""
    attempts: int = 0


def default_path(input_path: Path, *, suffix: str = ".results.csv") -> Path:
    return input_path.with_name(input_path.stem + suffix)


def check_format(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ResultsError(
            f"--results {path}: the extension says the format; use .csv, .jsonl or .xlsx"
        )


def result_headers(input_headers: Sequence[str]) -> list[str]:
    """Our columns, then the input's own; an input column named like ours gets a suffix."""
    taken = {name.lower() for name in RESULT_COLUMNS}
    own = [f"{name} (input)" if name.lower() in taken else name for name in input_headers]
    return [*RESULT_COLUMNS, *own]


def journal_path(path: Path) -> Path:
    """Where lines go while a run works: the results file itself, or beside an XLSX."""
    return path.with_name(path.name + ".partial.csv") if _is_xlsx(path) else path


def _is_xlsx(path: Path) -> bool:
    return path.suffix.lower() == ".xlsx"


def _cells(
    row: Row, outcome: Outcome, fingerprint: str, prospect_id: str, message: str
) -> list[str]:
    return [
        str(row.number),
        *_said(outcome, prospect_id, message),
        fingerprint,
        *_input_cells(row),
    ]


def _said(outcome: Outcome, prospect_id: str, message: str) -> tuple[str, ...]:
    """The results columns between the row number and the fingerprint."""
    return (
        outcome.status.value,
        outcome.remote_id,
        prospect_id,
        "" if outcome.http_status is None else str(outcome.http_status),
        outcome.error_code,
        message,
        str(outcome.attempts),
    )


def _input_cells(row: Row) -> list[str]:
    return [cell if isinstance(cell, str) else cell_text(cell) for cell in row.cells]


class CsvLines:
    """A results line as CSV text in two parts around its fingerprint: a helper process
    renders lines, and the process that writes them (:meth:`Journal.write_lines`) may still
    tell a fingerprint from the same earlier one with a ``#2``.

    The text is what the csv writer makes of the whole line. The part after the fingerprint
    (the input's cells) is rendered once per row, however many lines the row has; the part
    before it once per outcome, message and prospect, the row number put in front.
    """

    def __init__(self, input_width: int) -> None:
        self._width = input_width
        self._csv = _Csv()
        self._row: Row | None = None
        self._tail = ""
        self._heads: dict[tuple[object, ...], str] = {}

    def __call__(
        self, row: Row, outcome: Outcome, prospect_id: str, message: str
    ) -> tuple[str, str]:
        if row is not self._row:
            cells = _input_cells(row)
            cells += [""] * (self._width - len(cells))
            # begins with an empty cell: the comma after the fingerprint
            self._row, self._tail = row, self._csv.line((), ["", *cells])
        ours = _said(outcome, prospect_id, message)
        rest = self._heads.get(ours)
        if rest is None:
            if len(self._heads) >= 256:  # invalid lines' messages differ from row to row
                self._heads.clear()
            # ends with an empty cell, then \r\n: the comma before the fingerprint
            rest = self._heads[ours] = self._csv.line((), ["", *ours, ""])[:-2]
        # the row number: digits, never quoted nor defused
        return f"{row.number}{rest}", self._tail


# --- line formats ----------------------------------------------------------------------------


class _Format:
    """How lines are written to and read from a journal file."""

    encoding = "utf-8"
    has_header = False

    def line(self, headers: Sequence[str], cells: Sequence[str]) -> str:
        raise NotImplementedError

    def put(self, file: IO[str], headers: Sequence[str], cells: Sequence[str]) -> None:
        """One line written to ``file``."""
        file.write(self.line(headers, cells))

    def again(self, line: dict[str, str], columns: Sequence[str]) -> str:
        """A line read back, written out again with ``columns``."""
        return self.line(columns, [line.get(name, "") for name in columns])

    def read(self, file: IO[str]) -> tuple[list[str], Iterator[dict[str, str]]]:
        """The headers and the whole lines; a torn last line (a killed run) is skipped."""
        raise NotImplementedError

    def statuses(self, file: IO[str]) -> Iterator[str]:
        """Only the status of each line, in order: a quick pass that keeps nothing."""
        return (line.get("status", "") for line in self.read(file)[1])


class _Appender:
    """A file for a csv writer whose ``write`` is a list's append."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[str], object]) -> None:
        self.write = write


class _Csv(_Format):
    # utf-8-sig: Excel, where ops teams open these files, needs the BOM to see UTF-8
    encoding = "utf-8-sig"
    has_header = True

    def __init__(self) -> None:
        # the writer hands over each line in one write() call: kept in a list, taken back
        self._lines: list[str] = []
        self._writer = csv.writer(_Appender(self._lines.append))
        self._file: IO[str] | None = None
        self._to_file = self._writer

    def line(self, headers: Sequence[str], cells: Sequence[str]) -> str:
        self._writer.writerow(defuse_all(cells))
        return self._lines.pop()

    def put(self, file: IO[str], headers: Sequence[str], cells: Sequence[str]) -> None:
        if file is not self._file:
            self._file, self._to_file = file, csv.writer(file)
        self._to_file.writerow(defuse_all(cells))

    @staticmethod
    def header(file: IO[str], reader: Iterator[list[str]]) -> list[str]:
        """The header line, which must start with our columns."""
        headers = next(reader, [])
        if tuple(headers[: len(RESULT_COLUMNS)]) != RESULT_COLUMNS:
            raise ResultsError(f"{file.name} is not a bulk-tasks results file (its header differs)")
        return headers

    def read(self, file: IO[str]) -> tuple[list[str], Iterator[dict[str, str]]]:
        reader = csv.reader(file)
        headers = self.header(file, reader)

        def lines() -> Iterator[dict[str, str]]:
            for cells in reader:
                if len(cells) == len(headers):
                    yield dict(zip(headers, map(restore, cells), strict=True))

        return headers, lines()

    def statuses(self, file: IO[str]) -> Iterator[str]:
        reader = csv.reader(file)
        self.header(file, reader)
        where = RESULT_COLUMNS.index("status")
        return (cells[where] for cells in reader if len(cells) > where)


class _JsonLines(_Format):
    def line(self, headers: Sequence[str], cells: Sequence[str]) -> str:
        return json.dumps(dict(zip(headers, cells, strict=True)), ensure_ascii=False) + "\n"

    def again(self, line: dict[str, str], columns: Sequence[str]) -> str:
        # each line has its own keys: keep those that ``columns`` does not name, too
        ordered = {name: line.get(name, "") for name in columns} | line
        return json.dumps(ordered, ensure_ascii=False) + "\n"

    def read(self, file: IO[str]) -> tuple[list[str], Iterator[dict[str, str]]]:
        def lines() -> Iterator[dict[str, str]]:
            for text in file:
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if isinstance(line, dict) and "status" in line:
                    yield {str(key): str(value) for key, value in line.items()}

        return [], lines()


def _format(path: Path) -> _Format:
    return _JsonLines() if path.suffix.lower() == ".jsonl" else _Csv()


@contextlib.contextmanager
def _lines(path: Path) -> Iterator[tuple[list[str], Iterator[dict[str, str]]]]:
    kind = _format(path)
    try:
        with path.open(encoding=kind.encoding, newline="") as file:
            yield kind.read(file)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ResultsError(
            f"cannot read the earlier results {path} ({error}); restore it, or start over "
            "with --force (the old file is kept as a backup)"
        ) from None


def _key(line: dict[str, str]) -> str:
    return line.get("fingerprint") or f"row {line.get('row', '')}"


# --- reading a journal -----------------------------------------------------------------------


def read_journal(path: Path) -> dict[str, Outcome]:
    """The last outcome per fingerprint in a results file, ``sending`` read as unknown."""
    state: dict[str, Outcome] = {}
    with _lines(path) as (_, lines):
        for line in lines:
            outcome = _outcome(_settled(line))
            if outcome is not None:
                state[_key(line)] = outcome
    return state


def may_hold_tasks(path: Path) -> bool:
    """Whether a file says that some task exists, or may (a file not ours: it may).

    A streaming pass that keeps nothing and stops at the first such line.
    """
    kind = _format(path)
    exists_or_may = {status.value for status in EXISTS_OR_MAY}
    try:
        if isinstance(kind, _Csv) and _plainly_csv(path):
            return _task_line_in(path)
        with path.open(encoding=kind.encoding, newline="") as file:
            return any(status in exists_or_may for status in kind.statuses(file))
    except (OSError, UnicodeDecodeError, csv.Error, ResultsError):
        return True


#: a line of a results file as this tool writes it, whose status says a task exists or may;
#: the patterns start at the newline before the line: anchored so, they run ten times faster
#: than with ``^`` (the first line is the header, checked on its own)
_TASK_LINE = re.compile(
    rb"\n\d+,(?:" + b"|".join(status.value.encode() for status in EXISTS_OR_MAY) + rb"),"
)
_QUOTED_LINE = re.compile(rb'\n"')


def _plainly_csv(path: Path) -> bool:
    """A results CSV whose lines all start as this tool writes them (no quoted first cell), so
    that :func:`_task_line_in` may scan its bytes; anything else is read cell by cell. A
    file whose header is not ours raises :class:`ResultsError`."""
    with path.open(encoding=_Csv.encoding, newline="") as file:
        _Csv.header(file, csv.reader(file))
    return not _scan(path, _QUOTED_LINE)


def _task_line_in(path: Path) -> bool:
    return _scan(path, _TASK_LINE)


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


def _outcome(line: dict[str, str]) -> Outcome | None:
    try:
        http = line.get("http_status", "")
        return Outcome(
            status=Status(line.get("status", "")),
            remote_id=line.get("remote_id", ""),
            prospect_id=line.get("prospect_id", ""),
            http_status=int(http) if http else None,
            error_code=line.get("error_code", ""),
            error_message=line.get("error_message", ""),
            attempts=int(line.get("attempts") or 0),
        )
    except ValueError:
        return None  # not a line this tool wrote whole


def _settled(line: dict[str, str]) -> dict[str, str]:
    """A ``sending`` mark that no outcome followed: the request may have arrived."""
    if line.get("status") != Status.SENDING:
        return line
    return line | {"status": "unknown", "error_code": "interrupted", "error_message": INTERRUPTED}


INTERRUPTED = (
    "the run was stopped while this row was being sent; it may have been applied: check "
    "in the vendor's app, then run again with --resume --retry-unknown to send it anyway"
)


def compact(
    path: Path, *, headers: Sequence[str] = (), current: Set[str] | None = None
) -> list[str]:
    """Rewrite a journal with one line per row; returns the headers it now has.

    The last line per fingerprint is kept, a ``sending`` mark with no outcome after it
    becomes ``unknown``, and a row no longer in the input (``current`` says which are) keeps
    its line only when it tells of a task that exists or may. Streams twice, so memory stays
    small; written to a temporary file and renamed, so a crash leaves the old file or the new.
    """
    last: dict[str, int] = {}
    with _lines(path) as (old_headers, lines):
        for index, line in enumerate(lines):
            last[_key(line)] = index
    columns = [*headers, *(name for name in old_headers if name not in headers)]
    kind = _format(path)
    temporary = path.with_name(path.name + ".tmp")
    with _lines(path) as (_, lines), temporary.open("w", encoding=kind.encoding, newline="") as out:
        if kind.has_header:
            out.write(kind.line(columns, columns))
        for index, line in enumerate(lines):
            key = _key(line)
            if last[key] != index:
                continue
            if current is not None and key not in current and line["status"] not in EXISTS_OR_MAY:
                continue
            out.write(kind.again(_settled(line), columns))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return columns


# --- writing ---------------------------------------------------------------------------------


class Journal:
    """The results file of one run: lines appended as rows settle, durable before sending.

    With ``resume``, the existing file is compacted (which also drops a line torn by a kill)
    and appended to; otherwise a new file is started.
    """

    def __init__(
        self,
        path: Path,
        input_headers: Sequence[str],
        *,
        resume: bool = False,
        durable: bool = True,
        flush_each: bool = True,
    ) -> None:
        check_format(path)
        self.path = path
        self._journal = journal_path(path)
        self._format = _format(self._journal)
        wanted = result_headers(input_headers)
        if resume and _is_xlsx(path) and not self._journal.exists() and path.exists():
            _import_xlsx(path, self._journal)
        resuming = resume and self._journal.exists()
        self._headers = compact(self._journal, headers=wanted) if resuming else wanted
        #: the last word of earlier runs on each row, by fingerprint (empty unless resuming)
        self.earlier: dict[str, Outcome] = read_journal(self._journal) if resuming else {}
        # which rows this run wrote: only a resumed file can hold rows no longer in the input
        self._written: set[str] | None = set() if resuming else None
        self._durable = durable
        #: flush every line to the OS as it is written (a run), or only at the end (validate)
        self._flush_each = flush_each
        self._width = len(self._headers)
        #: marks written and flushed, waiting for the next fsync
        self._waiting: list[asyncio.Future[None]] = []
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

    def write(
        self,
        row: Row,
        outcome: Outcome,
        fingerprint: str,
        *,
        prospect_id: str | None = None,
        message: str | None = None,
    ) -> None:
        """A line's outcome: written and flushed now, fsynced with the next batch.

        ``prospect_id`` and ``message``, when given, stand for the outcome's own.
        """
        if self._written is not None:
            self._written.add(fingerprint)
        cells = _cells(
            row,
            outcome,
            fingerprint,
            outcome.prospect_id if prospect_id is None else prospect_id,
            outcome.error_message if message is None else message,
        )
        if len(cells) < self._width:
            cells += [""] * (self._width - len(cells))  # columns only older lines have
        try:
            self._format.put(self._file, self._headers, cells)
            if self._flush_each:
                self._file.flush()
        except OSError as error:
            raise self._failure(error) from None

    @property
    def renders_csv(self) -> bool:
        """Whether lines rendered by :class:`CsvLines` may be written here."""
        return isinstance(self._format, _Csv) and self._written is None

    def write_lines(self, text: str) -> None:
        """Lines :class:`CsvLines` rendered, their fingerprints as they end up."""
        self._put(text)

    async def sending(self, lines: Iterable[tuple[Row, str, str]]) -> None:
        """Mark lines (row, prospect id, fingerprint) as on their way; returns once the marks
        would survive a power cut.

        Group commit: the first mark of a turn of the event loop asks for one fsync at the
        start of the next turn, which covers every mark written meanwhile. The fsync runs on
        the loop's own thread: handing it to another thread cost more CPU than the fsync.
        """
        if not self._durable:
            return
        for row, prospect_id, fingerprint in lines:
            self.write(row, Outcome(status=Status.SENDING, prospect_id=prospect_id), fingerprint)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._waiting.append(done)
        if len(self._waiting) == 1:
            loop.call_soon(self._sync)
        await done

    def _sync(self) -> None:
        waiting, self._waiting = self._waiting, []
        if self._file.closed:  # abandoned meanwhile: the run is ending, nothing is sent
            for done in waiting:
                done.cancel()
            return
        try:
            os.fsync(self._file.fileno())
        except OSError as error:
            for done in waiting:
                if not done.done():
                    done.set_exception(self._failure(error))
            return
        for done in waiting:
            if not done.done():
                done.set_result(None)

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
            if self._durable or self._written is not None:  # else one line per row already
                compact(self._journal, headers=self._headers, current=self._written)
        except OSError as error:
            raise ResultsError(
                f"every row is recorded in {self._journal}, but tidying it failed "
                f"({error.strerror}); run again with --resume to tidy it"
            ) from None
        if _is_xlsx(self.path):
            _export_xlsx(self._journal, self.path)

    def abandon(self) -> None:
        """Close without tidying (the disk is full, say): the journal stays as it is."""
        with contextlib.suppress(OSError):
            self._file.close()


# --- XLSX ------------------------------------------------------------------------------------


def _export_xlsx(journal: Path, path: Path) -> None:
    from openpyxl import Workbook  # imported late: only XLSX results need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    with _lines(journal) as (headers, lines):
        sheet.append(headers)
        for line in lines:
            sheet.append([_typed(sheet, name, line.get(name, "")) for name in headers])
    try:
        workbook.save(path)
    except OSError as error:
        raise ResultsError(
            f"cannot write {path}: {error.strerror}; every line is kept in {journal}"
        ) from None
    os.remove(journal)


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table of text (a failed-rows file) as CSV or XLSX by extension, safe to open."""
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise ResultsError(f"{path}: the extension says the format; use .csv or .xlsx")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if _is_xlsx(path):
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("rows")
            sheet.append(list(header))
            for row in rows:
                sheet.append([_typed(sheet, "", cell) for cell in row])
            workbook.save(path)
            return
        kind = _Csv()
        with path.open("w", encoding=kind.encoding, newline="") as out:
            out.write(kind.line(header, header))
            for row in rows:
                out.write(kind.line(header, row))
    except OSError as error:
        raise ResultsError(f"cannot write {path}: {error.strerror}; choose another path") from None


def _typed(sheet: Any, column: str, cell: str) -> object:
    """A number for our number columns; a text cell, never a formula, for risky text."""
    if column in ("row", "http_status", "attempts") and cell.isdigit():
        return int(cell)
    if not cell.startswith(RISKY_STARTS):
        return cell
    from openpyxl.cell import WriteOnlyCell

    text = WriteOnlyCell(sheet, value=cell)
    text.data_type = "s"  # openpyxl takes a string starting with = for a formula
    return text


def _import_xlsx(path: Path, journal: Path) -> None:
    """An earlier run's workbook back into a CSV journal, to resume from."""
    from openpyxl import load_workbook  # imported late: only XLSX results need it

    try:
        rows = load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)
        kind = _Csv()
        with journal.open("w", encoding=kind.encoding, newline="") as out:
            for values in rows:
                out.write(kind.line((), ["" if v is None else str(v) for v in values]))
    except (OSError, ValueError, KeyError) as error:
        raise ResultsError(f"cannot read the earlier results {path} ({error})") from None
