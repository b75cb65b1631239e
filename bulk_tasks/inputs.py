"""Read a CSV or spreadsheet file as a header and rows of text, with spreadsheet row numbers.

Every cell comes out as trimmed text (so ids like ``00123`` survive), except real date
cells of a spreadsheet, which stay ``datetime``: the specs decide what a cell means.
CSV files are streamed twice (count, then read) as a chain of generators::

    bytes --decode--> lines --csv--> (number, cells) --> Row

Spreadsheets are read with python-calamine, which holds one sheet in memory.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime
import functools
import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import python_calamine

from bulk_tasks.errors import InputError, OptionError
from bulk_tasks.safe_cells import restore

Cell = str | datetime.datetime
# What python-calamine gives for a cell (bool and int are floats, datetime a date, to mypy)
_SheetValue = str | float | datetime.date | datetime.time | datetime.timedelta

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
SHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods")
_DELIMITERS = (",", ";", "\t")
_FIELD_LIMIT = 10 * 1024 * 1024  # a long message fits; a runaway quote still stops
_HEADER_SCAN_LIMIT = 1024 * 1024
# Bytes the codec could not decode come through as lone surrogates (errors="surrogateescape").
_UNDECODED = re.compile("[\udc80-\udcff]")
_BLOCK = 1 << 20  # characters read at a time by the quick check of a whole file
SPAN = 2_000  # records a part (see Table.parts)


@dataclass(slots=True)  # not frozen: built per row, a third of the cost
class Row:
    number: int
    cells: tuple[Cell, ...]
    extra: tuple[str, ...] = ()


#: a part of a table that a helper process reads on its own: a function (which pickles)
#: and its arguments, giving a list of rows
Part = tuple[Callable[..., list["Row"]], tuple[Any, ...]]


@dataclass
class Table:
    path: Path
    headers: tuple[str, ...]
    total: int | None
    notes: list[str]
    encoding: str | None
    delimiter: str | None
    _source: Callable[[], Iterator[Row]] = field(repr=False, compare=False)
    #: the rows again, as parts of about SPAN rows in order, each for a helper process to
    #: read: a CSV file's records from a position the first pass marked, a sheet's raw
    #: values (None: the rows are read through :meth:`rows` only)
    parts: Callable[[], Iterator[Part]] | None = field(default=None, repr=False, compare=False)

    def rows(self) -> Iterator[Row]:
        """Every record after the header, blank ones included, streamed afresh."""
        return self._source()


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


def open_table(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Table:
    table = _open_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter)
    return _restoring(table) if _written_by_us(table.headers) else table


def _written_by_us(headers: Sequence[str]) -> bool:
    """A results or failed-rows file of this tool's, come back as input."""
    return {"error_code", "error_message"} <= set(headers)


def _restoring(table: Table) -> Table:
    """The table with the cells this tool defused when it wrote them given back as they were."""
    source = table.rows

    def rows() -> Iterator[Row]:
        return map(_restored, source())

    parts = None if table.parts is None else functools.partial(_restored_parts, table.parts)
    return dataclasses.replace(table, _source=rows, parts=parts)


def _restored(row: Row) -> Row:
    cells = tuple(restore(cell) if isinstance(cell, str) else cell for cell in row.cells)
    return Row(row.number, cells, row.extra)


def _restored_parts(parts: Callable[[], Iterator[Part]]) -> Iterator[Part]:
    for read, arguments in parts():
        yield functools.partial(_read_restored, read), arguments


def _read_restored(read: Callable[..., list[Row]], *arguments: Any) -> list[Row]:
    return [_restored(row) for row in read(*arguments)]


def _open_table(
    path: Path,
    *,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
) -> Table:
    suffix = path.suffix.lower()
    if suffix not in CSV_EXTENSIONS + SHEET_EXTENSIONS:
        kind = f"{suffix!r} files" if suffix else "files without an extension"
        accepted = ", ".join(CSV_EXTENSIONS + SHEET_EXTENSIONS)
        raise InputError(f"{path}: cannot read {kind}; save it as one of {accepted}")
    if suffix in CSV_EXTENSIONS:
        if sheet is not None:
            raise OptionError(f"--sheet only applies to spreadsheets, and {path} is a CSV file")
        return _open_csv(path, encoding, _delimiter_option(delimiter))
    for name, value in (("--encoding", encoding), ("--delimiter", delimiter)):
        if value is not None:
            raise OptionError(f"{name} only applies to CSV files, and {path} is a spreadsheet")
    return _open_sheet(path, sheet)


# --- options and file checks ---


def _codec(encoding: str) -> str:
    """The codec to read with; an explicit UTF-8 still drops a BOM (it would stick to a header)."""
    try:
        io.TextIOWrapper(io.BytesIO(), encoding=encoding)  # refuses base64 and such, too
    except LookupError:
        raise OptionError(
            f"--encoding {encoding!r} is not a known text encoding; try utf-8, cp1252 or latin-1"
        ) from None
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _delimiter_option(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    value = "\t" if delimiter.lower() in ("tab", "\\t") else delimiter
    if len(value) != 1 or value in '"\r\n':
        raise OptionError(
            f"--delimiter {delimiter!r} cannot be used; give one character such as , or ; or tab"
        )
    return value


def _first_bytes(path: Path) -> bytes:
    """Open the file once so that every way it cannot be read becomes a one-line message."""
    try:
        with path.open("rb") as file:
            start = file.read(4)
    except OSError as error:
        raise InputError(f"{path}: {_os_problem(error)}") from None
    if not start:
        raise InputError(f"{path}: the file is empty; save the sheet again with its header row")
    return start


def _os_problem(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file; check the path and the current folder"
    if isinstance(error, IsADirectoryError):
        return "is a folder; give the path of a CSV or spreadsheet file"
    if isinstance(error, PermissionError):
        return "permission denied; make the file readable and retry"
    return f"cannot be read ({error.strerror}); check the file"


# --- CSV ---


class _Undecodable(InputError):
    """A record holds bytes the chosen encoding cannot decode."""

    def __init__(self, path: Path, number: int, encoding: str) -> None:
        super().__init__(
            f"{path}: row {number} is not valid {encoding} text; "
            "pass --encoding with the file's real encoding (e.g. --encoding cp1252)"
        )
        self.number = number


def _open_csv(path: Path, encoding: str | None, delimiter: str | None) -> Table:
    codec = None if encoding is None else _codec(encoding)
    start = _first_bytes(path)
    if codec is None and start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = codec = "utf-16"  # Excel's "Unicode Text" export
    delimiter = delimiter or _detect_delimiter(path, codec or "utf-8-sig")
    if codec is not None:
        return _csv_table(path, encoding or codec, codec, delimiter, [])
    try:
        return _csv_table(path, "utf-8", "utf-8-sig", delimiter, [])
    except _Undecodable:
        pass  # somewhere in the file: fall back to what Excel on Windows writes
    note = "read as Windows-1252 because the file is not UTF-8 (pass --encoding to override)"
    try:
        return _csv_table(path, "cp1252", "cp1252", delimiter, [note])
    except _Undecodable as error:
        raise InputError(
            f"{path}: row {error.number} is neither UTF-8 nor Windows-1252 text; "
            "pass --encoding with the file's encoding (e.g. --encoding utf-16)"
        ) from None


def _csv_table(path: Path, shown: str, codec: str, delimiter: str, notes: list[str]) -> Table:
    # a file with no NUL and nothing undecodable, as most are, is read without a check per line
    checked = not _clean(path, codec)
    marks: list[tuple[int, int]] = []
    header_number, header, total = _survey(path, codec, delimiter, checked=checked, marks=marks)
    headers = _unique_headers(cell.strip() for cell in header)
    where = (path, codec, delimiter, header_number, len(headers))
    source = functools.partial(_csv_rows, *where, checked=checked)
    spans = functools.partial(_csv_spans, functools.partial(_csv_span, *where, checked), marks)
    return Table(path, headers, total, notes, shown, delimiter, source, spans)


def _clean(path: Path, encoding: str) -> bool:
    """Whether the text holds no NUL and nothing undecodable (a quick pass, a block at a time);
    when it does, the records are read line by line to name the row."""
    try:
        with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
            while block := file.read(_BLOCK):
                if "\x00" in block or (not block.isascii() and _UNDECODED.search(block)):
                    return False
    except (UnicodeError, OSError):
        return False
    return True


def _detect_delimiter(path: Path, encoding: str) -> str:
    """The candidate seen most often outside quotes in the first non-blank line; else a comma."""
    line = ""
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as file:
            while not line.strip() and (line := file.readline(_HEADER_SCAN_LIMIT)):
                pass
    except UnicodeError:  # utf-16 without a BOM, say: the full read will name the row
        line = ""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _survey(
    path: Path, encoding: str, delimiter: str, *, checked: bool, marks: list[tuple[int, int]]
) -> tuple[int, list[str], int]:
    """First pass: the header (first non-blank record), its number, and how many records
    follow; ``marks`` gets where each span of records begins."""
    header: tuple[int, list[str]] | None = None
    last = 0
    marks.append((0, 1))
    for last, cells in _records(path, encoding, delimiter, checked=checked, marks=marks):
        if header is None and any(cell.strip() for cell in cells):
            header = (last, cells)
    if header is None:
        raise InputError(f"{path}: has only blank lines; save the sheet again with its header row")
    return header[0], header[1], last - header[0]


def _csv_rows(
    path: Path, encoding: str, delimiter: str, header_number: int, width: int, *, checked: bool
) -> Iterator[Row]:
    for number, cells in _records(path, encoding, delimiter, checked=checked):
        if number > header_number:
            yield _csv_row(number, cells, width)


def _csv_spans(
    read_span: Callable[[int, int, int | None], list[Row]], marks: Sequence[tuple[int, int]]
) -> Iterator[Part]:
    """A part per span between two marks: its start, first record and number of records."""
    for index, (start, first) in enumerate(marks):
        following = marks[index + 1][1] if index + 1 < len(marks) else None
        yield read_span, (start, first, None if following is None else following - first)


def _csv_span(
    path: Path,
    encoding: str,
    delimiter: str,
    header_number: int,
    width: int,
    checked: bool,
    start: int,
    first: int,
    count: int | None,
) -> list[Row]:
    """The rows of one span: ``count`` records (None: to the end) from a mark of the survey."""
    rows: list[Row] = []
    end = None if count is None else first + count
    for number, cells in _records(
        path, encoding, delimiter, checked=checked, start=start, first=first
    ):
        if end is not None and number >= end:
            break
        if number > header_number:
            rows.append(_csv_row(number, cells, width))
    return rows


def _records(
    path: Path,
    encoding: str,
    delimiter: str,
    *,
    checked: bool = True,
    start: int = 0,
    first: int = 1,
    marks: list[tuple[int, int]] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """(row number, raw cells) of every record; a quoted newline does not start a new row.

    ``checked``: each line is checked for NUL and undecodable bytes on the way (else the
    file is known to be clean). ``start`` and ``first``: where to begin (a position a
    ``marks`` list collected) and that record's number. ``marks`` collects, every
    :data:`SPAN` records, where the next record begins and its number.
    """
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    number = first - 1
    try:
        with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
            if start:
                file.seek(start)
            # readline, not iteration: tell() works between the lines it reads
            lines: Iterable[str] = iter(file.readline, "")
            if checked:
                lines = _checked_lines(lines)
            # strict: an unclosed quote at the end of the file is an error, not a swallowed tail
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            for number, cells in enumerate(reader, first):
                yield number, cells
                if marks is not None and number % SPAN == 0:
                    marks.append((file.tell(), number + 1))
    except UnicodeError:  # from the codec, or from _checked_lines
        raise _Undecodable(path, number + 1, encoding.removesuffix("-sig")) from None
    except csv.Error as error:
        raise InputError(f"{path}: row {number + 1} {_csv_problem(str(error))}") from None
    except OSError as error:
        raise InputError(f"{path}: {_os_problem(error)}") from None


def _checked_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:  # the csv module accepts NUL since 3.11; no text file has one
            raise csv.Error("line contains NUL")
        # isascii() is O(1) on CPython, so plain lines cost nothing to check
        if not line.isascii() and _UNDECODED.search(line):
            raise UnicodeError
        yield line


def _csv_problem(message: str) -> str:
    """What went wrong in a record and what to do, from the csv module's terse message."""
    if "field limit" in message or "end of data" in message:
        return 'has a quote (") that is never closed; close it, or remove it'
    if "expected after" in message:
        return (
            'has text after a closing quote; quote the whole cell and double quotes inside it ("")'
        )
    if "NUL" in message:
        return "contains a NUL byte; save the sheet again as CSV, or pass --encoding utf-16"
    return f"cannot be read as CSV ({message}); save the sheet again as CSV"


def _csv_row(number: int, cells: list[str], width: int) -> Row:
    texts = tuple(map(str.strip, cells))
    if len(texts) <= width:
        return Row(number, texts + ("",) * (width - len(texts)))
    extra = list(texts[width:])
    while extra and not extra[-1]:  # trailing separators are not extra data
        extra.pop()
    return Row(number, texts[:width], tuple(extra))


def _unique_headers(names: Iterable[str]) -> tuple[str, ...]:
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


# --- spreadsheets ---


def _open_sheet(path: Path, sheet_name: str | None) -> Table:
    _first_bytes(path)
    sheet = _load_sheet(path, sheet_name)
    if sheet.start is None:
        raise InputError(f"{path}: sheet {sheet.name!r} is empty; choose another with --sheet")
    header_number = sheet.start[0] + 1
    rows = _used_rows(sheet, sheet.start[0])
    headers = _unique_headers(str(_sheet_cell(value)) for value in next(rows, ()))
    total = max(sheet.height - 1, 0)
    source = functools.partial(_sheet_rows, sheet, header_number, len(headers))
    parts = functools.partial(_sheet_parts, sheet, header_number, len(headers))
    return Table(path, headers, total, [], None, None, source, parts)


def read_ahead(path: Path) -> None:
    """Start loading a spreadsheet's first sheet in a thread, for :func:`open_table` to take
    up: python-calamine lets go of the GIL while it parses, so the loading overlaps whatever
    this process does meanwhile (the command's own imports). Anything that goes wrong is
    left for :func:`open_table` to find and say."""
    try:
        stamp = _stamp(path)
    except OSError:
        return
    if path.suffix.lower() not in SHEET_EXTENSIONS or path in _AHEAD:
        return
    loaded: list[python_calamine.CalamineSheet] = []

    def load() -> None:
        opened = python_calamine.CalamineWorkbook.from_path
        with contextlib.suppress(Exception), opened(path) as workbook:
            loaded.append(workbook.get_sheet_by_index(0))

    thread = threading.Thread(target=load, name="read-ahead", daemon=True)
    thread.start()
    _AHEAD[path] = (stamp, thread, loaded)


#: sheets being loaded ahead, by path: the file's stamp then, the thread, the sheet once loaded
_AHEAD: dict[
    Path, tuple[tuple[int, int], threading.Thread, list[python_calamine.CalamineSheet]]
] = {}


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size


def _loaded_ahead(path: Path) -> python_calamine.CalamineSheet | None:
    """The first sheet :func:`read_ahead` loaded, if the file has not changed since."""
    ahead = _AHEAD.pop(path, None)
    if ahead is None:
        return None
    stamp, thread, loaded = ahead
    thread.join()
    try:
        same = _stamp(path) == stamp
    except OSError:
        return None
    return loaded[0] if loaded and same else None


def _load_sheet(path: Path, sheet_name: str | None) -> python_calamine.CalamineSheet:
    ahead = _loaded_ahead(path) if sheet_name is None else None
    if ahead is not None:
        return ahead
    try:
        with python_calamine.CalamineWorkbook.from_path(path) as workbook:
            if sheet_name is None:
                return workbook.get_sheet_by_index(0)
            if sheet_name not in workbook.sheet_names:
                names = ", ".join(repr(name) for name in workbook.sheet_names)
                raise InputError(f"{path}: no sheet named {sheet_name!r}; the sheets are {names}")
            return workbook.get_sheet_by_name(sheet_name)
    except python_calamine.PasswordError:
        raise InputError(f"{path}: is password-protected; save a copy without one") from None
    except (python_calamine.CalamineError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"{path}: cannot be opened as a spreadsheet ({reason}); "
            "check that it is a real, undamaged spreadsheet, or save it again from Excel"
        ) from None


def _used_rows(sheet: python_calamine.CalamineSheet, above: int) -> Iterator[Sequence[_SheetValue]]:
    """Rows from the header down.

    iter_rows() starts at row 0 rather than at the used range (python-calamine issue #177),
    so skip up to `above` empty rows; this stays right if a release starts at the header.
    """
    rows = sheet.iter_rows()
    for values in rows:
        if above and all(value == "" for value in values):
            above -= 1
            continue
        yield values
        break
    yield from rows


def _sheet_rows(
    sheet: python_calamine.CalamineSheet, header_number: int, width: int
) -> Iterator[Row]:
    for read, arguments in _sheet_parts(sheet, header_number, width):
        yield from read(*arguments)


def _sheet_parts(
    sheet: python_calamine.CalamineSheet, header_number: int, width: int
) -> Iterator[Part]:
    """The rows below the header, SPAN at a time, as python-calamine gives them: whoever
    reads the part turns them into cells."""
    rows = _used_rows(sheet, header_number - 1)
    next(rows, None)  # the header
    first = header_number + 1
    read = functools.partial(_sheet_span, width)
    while values := list(islice(rows, SPAN)):
        yield read, (first, values)
        first += len(values)


def _sheet_span(width: int, first: int, values: list[Sequence[_SheetValue]]) -> list[Row]:
    rows = []
    for number, row in enumerate(values, first):
        # most cells are text: stripped here without a call per cell
        cells = tuple([v.strip() if v.__class__ is str else _sheet_cell(v) for v in row])
        rows.append(Row(number, cells + ("",) * (width - len(cells))))
    return rows


def _sheet_cell(value: _SheetValue | None) -> Cell:
    """A cell as Excel shows it, except that dates stay datetime for the specs to read."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # 12345.0 is how a number-formatted id arrives: give back its digits
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, datetime.timedelta):
        return str(value)
    return ""
