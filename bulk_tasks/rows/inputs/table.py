"""What a table read from a file is: its header and a stream of :class:`Row`."""

from __future__ import annotations

import codecs
import datetime
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ...errors import InputError

Cell = str | datetime.datetime
FOLDER = (
    "is a folder; give the path of a CSV or spreadsheet file (to run each spreadsheet dropped "
    "in a folder, use bulk-tasks run-folder)"
)


@dataclass(slots=True)  # not frozen: built per row, a third of the cost
class Row:
    number: int
    cells: tuple[Cell, ...]
    extra: tuple[str, ...] = ()


@dataclass
class Table:
    path: Path
    headers: tuple[str, ...]
    total: int | None
    notes: list[str]
    encoding: str | None
    delimiter: str | None
    _source: Callable[[], Iterator[Row]] = field(repr=False, compare=False)

    def rows(self) -> Iterator[Row]:
        """Every record after the header, blank ones included, streamed afresh."""
        return self._source()

    def first(self, rows: int) -> Table:
        """This table up to its ``rows``-th non-blank record: nothing after it is read."""

        def source() -> Iterator[Row]:
            left = rows
            for row in self._source():
                yield row
                left -= not is_blank(row)
                if not left:
                    return

        total = rows if self.total is None else min(self.total, rows)
        return replace(self, total=total, _source=source)


def cell_text(cell: Cell) -> str:
    """A cell as text: a date cell as ``2026-04-03 09:30:00``."""
    if not isinstance(cell, datetime.datetime):
        return cell
    return _date_text(cell) if cell.tzinfo is None else cell.isoformat(sep=" ")


@functools.lru_cache(maxsize=4096)  # a sheet repeats its dates: each is written once
def _date_text(when: datetime.datetime) -> str:
    return when.isoformat(sep=" ")


def is_blank(row: Row) -> bool:
    return not row.extra and not any(row.cells)  # cells are trimmed text or dates


#: how the files a spreadsheet program saves begin
ZIP = b"PK\x03\x04"  # XLSX, XLSM, ODS
OLE2 = b"\xd0\xcf\x11\xe0"  # XLS
PDF = b"%PDF-"
_SNIFFED = 4096  # bytes enough to tell text from a binary file
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13}  # what no text file holds, but tab and kin


def first_bytes(path: Path) -> bytes:
    """The file's first few kilobytes; opening the file once here makes every way it cannot
    be read a one-line message."""
    try:
        with path.open("rb") as file:
            start = file.read(_SNIFFED)
    except OSError as error:
        raise InputError(f"{path}: {os_problem(error)}") from None
    if not start:
        raise InputError(f"{path}: the file is empty; save the sheet again with its header row")
    return start


def content_kind(start: bytes) -> str:
    """What a file's first bytes say it is, whatever its name: "zip" (XLSX, XLSM, ODS),
    "ole2" (XLS), "pdf", "html" (a web page, as some "export to Excel" buttons save), "text"
    (CSV and kin), or "binary" (anything else)."""
    if start.startswith(ZIP):
        return "zip"
    if start.startswith(OLE2):
        return "ole2"
    if start.startswith(PDF):
        return "pdf"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "text"  # Excel's "Unicode Text"
    if sum(byte in _CONTROL for byte in start) > len(start) // 100:
        return "binary"
    text = start.removeprefix(codecs.BOM_UTF8).lstrip()
    return "html" if text[:1] == b"<" else "text"


def refuse_pdf(path: Path, kind: str) -> None:
    """A PDF named like a table (a report printed from the sheet, say) is called one."""
    if kind == "pdf":
        raise InputError(
            f"{path}: is a PDF document, though its name ends in {path.suffix}; a PDF cannot be "
            "read as a table: export the spreadsheet as .csv or .xlsx instead, then run that file"
        )


def os_problem(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file; check the path and the current folder"
    if isinstance(error, IsADirectoryError):
        return FOLDER
    if isinstance(error, PermissionError):
        return "permission denied; make the file readable and retry"
    return f"cannot be read ({error.strerror}); check the file"


def unique_headers(names: Iterable[str]) -> tuple[str, ...]:
    named = [name or f"column {position}" for position, name in enumerate(names, 1)]
    taken = set(named)
    unique: list[str] = []
    for name in named:
        candidate, copy = name, 1
        while candidate in unique or (candidate != name and candidate in taken):
            copy += 1
            candidate = f"{name} ({copy})"
        unique.append(candidate)
    return tuple(unique)
