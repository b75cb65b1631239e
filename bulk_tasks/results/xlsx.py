"""Workbooks in and out: XLSX results written from their journal, read back to resume, and
tables of text (a failed-rows file) as CSV or XLSX. Every risky cell is a text cell, never a
formula (see :mod:`bulk_tasks.rows.safe_cells`)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ResultsError
from ..rows.safe_cells import RISKY_STARTS
from .formats import CsvFormat, read_lines
from .outcomes import is_xlsx


def export_xlsx(journal: Path, path: Path) -> None:
    from openpyxl import Workbook  # imported late: only XLSX results need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    with read_lines(journal) as (headers, lines):
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


def write_table(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], *, delimiter: str = ","
) -> None:
    """A table of text (a failed-rows file) as CSV (with ``delimiter``) or XLSX by
    extension, safe to open."""
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise ResultsError(f"{path}: the extension says the format; use .csv or .xlsx")
    with open_for_writing(path) as out:
        if is_xlsx(path):
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("rows")
            sheet.append(list(header))
            for row in rows:
                sheet.append([_typed(sheet, "", cell) for cell in row])
            workbook.save(out)
            return
        kind = CsvFormat(delimiter)
        with io.TextIOWrapper(out, encoding=kind.encoding, newline="") as text:
            text.write(kind.line(header, header))
            for row in rows:
                text.write(kind.line(header, row))


@contextmanager
def open_for_writing(path: Path) -> Iterator[BinaryIO]:
    """``path`` made (with its folder) and opened to write, before any work goes into it.

    A path that cannot be written fails here as one ResultsError that names it and says to
    choose another; a file left half written by a failure is removed.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = path.open("wb")
    except OSError as error:
        raise ResultsError(_cannot_write(path, error)) from None
    try:
        with out:
            yield out
    except BaseException as error:
        path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ResultsError(_cannot_write(path, error)) from None
        raise


def _cannot_write(path: Path, error: OSError) -> str:
    """Why ``path`` cannot be written, in our words when a file stands where a folder must."""
    existing = next((folder for folder in path.parents if folder.exists()), None)
    if existing is not None and not existing.is_dir():
        reason = f"{existing} is a file, not a folder"
    else:
        reason = error.strerror or str(error)
    return f"cannot write {path}: {reason}; choose another path"


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


def import_xlsx(path: Path, journal: Path) -> None:
    """An earlier run's workbook back into a CSV journal, to resume from."""
    from openpyxl import load_workbook  # imported late: only XLSX results need it

    try:
        rows = load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)
        kind = CsvFormat()
        with journal.open("w", encoding=kind.encoding, newline="") as out:
            for values in rows:
                out.write(kind.line((), ["" if v is None else str(v) for v in values]))
    except (OSError, ValueError, KeyError) as error:
        raise ResultsError(f"cannot read the earlier results {path} ({error})") from None
