"""Spreadsheets (XLSX and kin), read with python-calamine, which holds one sheet in memory.

A cell comes out as Excel shows it, as text, except a real date cell, which stays a
``datetime`` for the specs to read.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import python_calamine

from ...errors import InputError
from .table import (
    Cell,
    Row,
    Table,
    content_kind,
    first_bytes,
    refuse_pdf,
    unique_headers,
)

# What python-calamine gives for a cell (bool and int are floats, datetime a date, to mypy)
_SheetValue = str | float | datetime.date | datetime.time | datetime.timedelta
SHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods")


def open_sheet(path: Path, sheet_name: str | None) -> Table:
    _check_content(path, content_kind(first_bytes(path)))
    sheet = _load_sheet(path, sheet_name)
    if sheet.start is None:
        raise InputError(f"{path}: sheet {sheet.name!r} is empty; choose another with --sheet")
    header_number = sheet.start[0] + 1
    rows = _used_rows(sheet, sheet.start[0])
    headers = unique_headers(str(_sheet_cell(value)) for value in next(rows, ()))
    total = max(sheet.height - 1, 0)
    source = functools.partial(_sheet_rows, sheet, header_number, len(headers))
    return Table(path, headers, total, [], None, None, source)


def _check_content(path: Path, kind: str) -> None:
    """A file named like a spreadsheet that is something else gets a message that says what."""
    if kind in ("zip", "ole2"):
        return  # python-calamine reads it, or says why not
    refuse_pdf(path, kind)
    named = f"though its name ends in {path.suffix}"
    if kind == "text":
        raise InputError(
            f"{path}: looks like a CSV file (plain text), {named}; rename it to "
            f"{path.with_suffix('.csv').name} and run that file"
        )
    what = "a web page (HTML)" if kind == "html" else "not a spreadsheet"
    raise InputError(
        f"{path}: is {what}, {named}; open it in Excel and save it as .xlsx or .csv, "
        "then run that file"
    )


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
    except (python_calamine.CalamineError, OSError):
        raise InputError(
            f"{path}: cannot be opened as a spreadsheet: it is damaged or incomplete (cut "
            "short while copying, say); open it in Excel and save it again, or export it as .csv"
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
    rows = _used_rows(sheet, header_number - 1)
    next(rows, None)  # the header
    for number, values in enumerate(rows, header_number + 1):
        # most cells are text: stripped here without a call per cell
        cells = tuple([v.strip() if v.__class__ is str else _sheet_cell(v) for v in values])
        yield Row(number, cells + ("",) * (width - len(cells)))


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
