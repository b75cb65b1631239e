"""Read a CSV or spreadsheet file as a header and rows of text, with spreadsheet row numbers.

Every cell comes out as trimmed text (so ids like ``00123`` survive), except real date
cells of a spreadsheet, which stay ``datetime``: the specs decide what a cell means.
:func:`open_table` picks the reader by the file's extension: :mod:`.csv_file` or
:mod:`.sheet`; either gives a :class:`Table` whose rows are a stream of :class:`Row`.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from ...errors import InputError, OptionError
from ..safe_cells import restore
from .csv_file import delimiter_option, open_csv
from .sheet import SHEET_EXTENSIONS, open_sheet, read_ahead
from .table import FOLDER, Cell, Row, Table, cell_text, is_blank, os_problem

__all__ = [
    "CSV_EXTENSIONS",
    "SHEET_EXTENSIONS",
    "Cell",
    "Row",
    "Table",
    "cell_text",
    "is_blank",
    "open_table",
    "read_ahead",
]

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")


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

    return dataclasses.replace(table, _source=rows)


def _restored(row: Row) -> Row:
    cells = tuple(restore(cell) if isinstance(cell, str) else cell for cell in row.cells)
    return Row(row.number, cells, row.extra)


def _open_table(
    path: Path,
    *,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
) -> Table:
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise InputError(f"{path}: {os_problem(error)}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: {FOLDER}")
    suffix = path.suffix.lower()
    if suffix not in CSV_EXTENSIONS + SHEET_EXTENSIONS:
        kind = f"{suffix!r} files" if suffix else "files without an extension"
        accepted = ", ".join(CSV_EXTENSIONS + SHEET_EXTENSIONS)
        raise InputError(f"{path}: cannot read {kind}; save it as one of {accepted}")
    if suffix in CSV_EXTENSIONS:
        if sheet is not None:
            raise OptionError(f"--sheet only applies to spreadsheets, and {path} is a CSV file")
        return open_csv(path, encoding, delimiter_option(delimiter))
    for name, value in (("--encoding", encoding), ("--delimiter", delimiter)):
        if value is not None:
            raise OptionError(f"{name} only applies to CSV files, and {path} is a spreadsheet")
    return open_sheet(path, sheet)
