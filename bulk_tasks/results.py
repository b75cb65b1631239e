"""The results file: one line per input row saying what happened to it.

Lines are written and flushed as outcomes arrive, so a crash keeps everything already done.
The format follows the extension: ``.csv`` (the default), ``.jsonl``, or ``.xlsx``; an XLSX
cannot be appended to, so its lines go to a CSV beside it (``NAME.xlsx.partial.csv``) until
the run ends and the workbook is written from it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

from .errors import ResultsError
from .inputs import Row

RESULT_COLUMNS = (
    "row",
    "status",
    "remote_id",
    "prospect_id",
    "http_status",
    "error_code",
    "error_message",
    "attempts",
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


DONE = frozenset({Status.CREATED, Status.UPDATED, Status.SKIPPED})


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: Status
    remote_id: str = ""
    prospect_id: str = ""
    http_status: int | None = None
    error_code: str = ""
    error_message: str = ""
    attempts: int = 0


class ResultsWriter(Protocol):
    path: Path

    def write(self, row: Row, outcome: Outcome) -> None: ...

    def close(self) -> None: ...


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


def open_results(path: Path, input_headers: Sequence[str]) -> ResultsWriter:
    check_format(path)
    headers = result_headers(input_headers)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _JsonLinesWriter(path, headers)
    if suffix == ".xlsx":
        return _XlsxWriter(path, headers)
    return _CsvWriter(path, headers)


def _cells(row: Row, outcome: Outcome) -> list[str]:
    ours = [
        str(row.number),
        outcome.status.value,
        outcome.remote_id,
        outcome.prospect_id,
        "" if outcome.http_status is None else str(outcome.http_status),
        outcome.error_code,
        outcome.error_message,
        str(outcome.attempts),
    ]
    return ours + [_text(cell) for cell in row.cells]


def _text(cell: str | datetime) -> str:
    return cell.isoformat(sep=" ") if isinstance(cell, datetime) else cell


def _open_text(path: Path, *, encoding: str) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding=encoding, newline="")
    except OSError as error:
        raise ResultsError(
            f"cannot write the results file {path}: {error.strerror}; "
            "choose another place with --results"
        ) from None


class _CsvWriter:
    # utf-8-sig: Excel, where ops teams open these files, needs the BOM to see UTF-8
    encoding = "utf-8-sig"

    def __init__(self, path: Path, headers: Sequence[str]) -> None:
        self.path = path
        self._file = _open_text(path, encoding=self.encoding)
        self._csv = csv.writer(self._file)
        self._put(list(headers))

    def write(self, row: Row, outcome: Outcome) -> None:
        self._put(_cells(row, outcome))

    def _put(self, cells: list[str]) -> None:
        try:
            self._csv.writerow(cells)
            self._file.flush()
        except OSError as error:
            raise ResultsError(
                f"cannot write to {self.path}: {error.strerror}; the lines already written "
                "are kept: free space, then run again"
            ) from None

    def close(self) -> None:
        self._file.close()


class _JsonLinesWriter:
    def __init__(self, path: Path, headers: Sequence[str]) -> None:
        self.path = path
        self._headers = list(headers)
        self._file = _open_text(path, encoding="utf-8")

    def write(self, row: Row, outcome: Outcome) -> None:
        line = dict(zip(self._headers, _cells(row, outcome), strict=True))
        try:
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError as error:
            raise ResultsError(f"cannot write to {self.path}: {error.strerror}") from None

    def close(self) -> None:
        self._file.close()


class _XlsxWriter:
    """Lines go to a CSV beside the workbook as they come; the workbook is written at close."""

    def __init__(self, path: Path, headers: Sequence[str]) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial.csv")
        self._lines = _CsvWriter(self.partial, headers)

    def write(self, row: Row, outcome: Outcome) -> None:
        self._lines.write(row, outcome)

    def close(self) -> None:
        from openpyxl import Workbook  # imported late: only XLSX results need it

        self._lines.close()
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("results")
        lines = _read_csv(self.partial)
        sheet.append(next(lines))
        for line in lines:
            sheet.append([_number(cell) if i in _NUMERIC else cell for i, cell in enumerate(line)])
        try:
            workbook.save(self.path)
        except OSError as error:
            raise ResultsError(
                f"cannot write {self.path}: {error.strerror}; every line is kept in {self.partial}"
            ) from None
        os.remove(self.partial)


_NUMERIC = {RESULT_COLUMNS.index(name) for name in ("row", "http_status", "attempts")}


def _number(cell: str) -> int | str:
    return int(cell) if cell.isdigit() else cell


def _read_csv(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        yield from csv.reader(file)
