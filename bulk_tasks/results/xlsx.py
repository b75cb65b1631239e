"""Workbooks in and out: XLSX results written from their journal, read back to resume, and
tables of text (a failed-rows file) as CSV or XLSX. Every risky cell is a text cell, never a
formula (see :mod:`bulk_tasks.safe_cells`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..safe_cells import RISKY_STARTS
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if is_xlsx(path):
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("rows")
            sheet.append(list(header))
            for row in rows:
                sheet.append([_typed(sheet, "", cell) for cell in row])
            workbook.save(path)
            return
        kind = CsvFormat(delimiter)
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
