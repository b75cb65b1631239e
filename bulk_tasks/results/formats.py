"""How results lines are written and read: CSV (with a header) or JSON Lines.

A CSV file starts with a UTF-8 byte order mark, so that Excel, where ops teams open these
files, reads it as UTF-8; every cell that could run as a formula is defused. Its cells are
separated by commas, or by semicolons (:data:`DELIMITERS`), as Excel reads a CSV file where
the decimal mark is a comma (French, German, …); a file read back says which by its header,
whose first cell is always ``row``.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from ..errors import ResultsError
from ..rows.inputs import Row, cell_text
from ..rows.safe_cells import defuse_all, restore
from .outcomes import CORE_COLUMNS, Outcome, Status

#: a results line read back: its cells by column name
LineCells = dict[str, str]
#: what may separate the cells of a results CSV
DELIMITERS = (",", ";")


def outcome_cells(outcome: Outcome) -> tuple[str, ...]:
    """The results columns between the row number and the fingerprint."""
    return (
        outcome.status.value,
        outcome.remote_id,
        outcome.prospect_id,
        "" if outcome.http_status is None else str(outcome.http_status),
        outcome.error_code,
        outcome.error_message,
        str(outcome.attempts),
    )


def input_cells(row: Row) -> list[str]:
    return [cell if isinstance(cell, str) else cell_text(cell) for cell in row.cells]


def line_cells(row: Row, outcome: Outcome, fingerprint: str, destination: str) -> list[str]:
    """Every cell of a results line, the input's own last."""
    return [str(row.number), *outcome_cells(outcome), fingerprint, destination, *input_cells(row)]


class LineFormat:
    """How lines are written to and read from a journal file."""

    encoding = "utf-8"
    has_header = False

    def line(self, headers: Sequence[str], cells: Sequence[str]) -> str:
        raise NotImplementedError

    def put(self, file: IO[str], headers: Sequence[str], cells: Sequence[str]) -> None:
        """One line written to ``file``."""
        file.write(self.line(headers, cells))

    def again(self, line: LineCells, columns: Sequence[str]) -> str:
        """A line read back, written out again with ``columns``."""
        return self.line(columns, [line.get(name, "") for name in columns])

    def read(self, file: IO[str]) -> tuple[list[str], Iterator[LineCells]]:
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


class CsvFormat(LineFormat):
    # utf-8-sig: Excel, where ops teams open these files, needs the BOM to see UTF-8
    encoding = "utf-8-sig"
    has_header = True

    def __init__(self, delimiter: str = ",") -> None:
        self.delimiter = delimiter
        # the writer hands over each line in one write() call: kept in a list, taken back
        self._lines: list[str] = []
        self._writer = csv.writer(_Appender(self._lines.append), delimiter=delimiter)
        self._file: IO[str] | None = None
        self._to_file = self._writer

    def line(self, headers: Sequence[str], cells: Sequence[str]) -> str:
        self._writer.writerow(defuse_all(cells))
        return self._lines.pop()

    def put(self, file: IO[str], headers: Sequence[str], cells: Sequence[str]) -> None:
        if file is not self._file:
            self._file, self._to_file = file, csv.writer(file, delimiter=self.delimiter)
        self._to_file.writerow(defuse_all(cells))

    def reader(self, file: IO[str]) -> Iterator[list[str]]:
        return csv.reader(file, delimiter=self.delimiter)

    @staticmethod
    def header(file: IO[str], reader: Iterator[list[str]]) -> list[str]:
        """The header line, which must start with our columns."""
        headers = next(reader, [])
        if tuple(headers[: len(CORE_COLUMNS)]) != CORE_COLUMNS:
            raise ResultsError(f"{file.name} is not a bulk-tasks results file (its header differs)")
        return headers

    def read(self, file: IO[str]) -> tuple[list[str], Iterator[LineCells]]:
        reader = self.reader(file)
        headers = self.header(file, reader)

        def lines() -> Iterator[LineCells]:
            for cells in reader:
                if len(cells) == len(headers):
                    yield dict(zip(headers, map(restore, cells), strict=True))

        return headers, lines()

    def statuses(self, file: IO[str]) -> Iterator[str]:
        reader = self.reader(file)
        self.header(file, reader)
        where = CORE_COLUMNS.index("status")
        return (cells[where] for cells in reader if len(cells) > where)


class JsonLinesFormat(LineFormat):
    def line(self, headers: Sequence[str], cells: Sequence[str]) -> str:
        return json.dumps(dict(zip(headers, cells, strict=True)), ensure_ascii=False) + "\n"

    def again(self, line: LineCells, columns: Sequence[str]) -> str:
        # each line has its own keys: keep those that ``columns`` does not name, too
        ordered = {name: line.get(name, "") for name in columns} | line
        return json.dumps(ordered, ensure_ascii=False) + "\n"

    def read(self, file: IO[str]) -> tuple[list[str], Iterator[LineCells]]:
        def lines() -> Iterator[LineCells]:
            for text in file:
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if isinstance(line, dict) and "status" in line:
                    yield {str(key): str(value) for key, value in line.items()}

        return [], lines()


def format_of(path: Path) -> LineFormat:
    """How the results file ``path`` is read, and appended to: by its extension, and for a
    CSV file by its header's delimiter."""
    if path.suffix.lower() == ".jsonl":
        return JsonLinesFormat()
    return CsvFormat(delimiter_of(path) or ",")


def new_format(path: Path, *, delimiter: str = ",") -> LineFormat:
    """How a new results file ``path`` is written: a CSV file with ``delimiter``."""
    return JsonLinesFormat() if path.suffix.lower() == ".jsonl" else CsvFormat(delimiter)


def delimiter_of(path: Path) -> str | None:
    """The delimiter a results CSV was written with, as its header says (None: the file
    does not exist, or its header is not ours)."""
    try:
        with path.open(encoding=CsvFormat.encoding, newline="") as file:
            start = file.read(len(CORE_COLUMNS[0]) + 1)
    except (OSError, UnicodeDecodeError):
        return None
    found = start[len(CORE_COLUMNS[0]) :]
    return found if start.startswith(CORE_COLUMNS[0]) and found in DELIMITERS else None


@contextlib.contextmanager
def read_lines(path: Path) -> Iterator[tuple[list[str], Iterator[LineCells]]]:
    """The headers and lines of a results file written by this tool."""
    kind = format_of(path)
    try:
        with path.open(encoding=kind.encoding, newline="") as file:
            yield kind.read(file)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ResultsError(
            f"cannot read the earlier results {path} ({error}); restore it, or start over "
            "with --force (the old file is kept as a backup)"
        ) from None


def line_key(line: LineCells) -> str:
    """What a line read back is known by: its fingerprint (its row in a file without)."""
    return line.get("fingerprint") or f"row {line.get('row', '')}"


def outcome_of(line: LineCells) -> Outcome | None:
    """The outcome a line read back says (its message's facts are read from its words when
    they are asked for: :attr:`Outcome.said <bulk_tasks.results.Outcome.said>`); None for a
    line this tool did not write whole."""
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
        return None
